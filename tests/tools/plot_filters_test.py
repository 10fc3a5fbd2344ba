"""tools/plot_filters.py on a run with an untied layer: it draws the layer's
filters and reports the run's untied similarity."""

import subprocess
import sys

import pytest

from tests.support.runs import QUIET, SAMPLE
from tests.support.tool_loader import tool_path
from urfbtf.records import read_records
from urfbtf.runner import train
from urfbtf.runner.config import Config


def test_plot_filters_draws_an_untied_layer(tmp_path):
    config = Config(net="simpnet_s", untie="conv1", batch_size=50, epochs=1, **SAMPLE)
    train.run(config, tmp_path, **QUIET)
    out = tmp_path / "filters.png"
    result = subprocess.run(
        [
            sys.executable,
            str(tool_path("plot_filters.py")),
            str(tmp_path),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.read_bytes().startswith(b"\x89PNG")
    similarity = float(result.stdout.split("untied_similarity ")[1].rstrip(")\n"))
    assert similarity == pytest.approx(
        read_records(tmp_path)[0]["untied_similarity/conv1"], abs=1e-3
    )
