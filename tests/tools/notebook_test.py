"""tools/colab_tpu.ipynb is a valid notebook whose code cells run top to bottom on a
CPU, where its TPU detection falls back to the default strategy, its ImageNet cell
on generated TFRecords in the standard layout (`tests/support/stream_run.py`)."""

import json
import os
import subprocess
import sys

import pytest

from tests.support.paths import REPO
from tests.support.stream_run import write_imagenet

NOTEBOOK = REPO / "tools" / "colab_tpu.ipynb"


def test_notebook_is_valid_nbformat_4():
    notebook = json.loads(NOTEBOOK.read_text())
    assert notebook["nbformat"] == 4
    kinds = [cell["cell_type"] for cell in notebook["cells"]]
    assert kinds[0] == "markdown" and kinds.count("code") >= 3
    for cell in notebook["cells"]:
        assert isinstance(cell["source"], list) and cell["source"]
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
            compile("".join(cell["source"]), "cell", "exec")  # Plain Python.


@pytest.mark.slow
def test_notebook_cells_run_top_to_bottom_on_cpu(tmp_path):
    write_imagenet(tmp_path / "imagenet")
    notebook = json.loads(NOTEBOOK.read_text())
    script = "\n\n".join(
        "".join(cell["source"])
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
    )
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "URFBTF_EPOCHS": "1",
        # Offline and small: the shipped sample, a smaller batch.
        "URFBTF_DATA_FLAGS": "--dataset=cifar10_sample --batch_size=100 "
        "--eval_batch_size=100",
        "URFBTF_RUN_DIR": str(tmp_path / "run"),
        "URFBTF_IMAGENET_DIR": str(tmp_path / "imagenet"),
        # Tiny images and batches: the generated shards hold 96 training records.
        "URFBTF_IMAGENET_FLAGS": "--image_size=16 --val_examples=16 --batch_size=16 "
        "--eval_batch_size=8 --epochs=1",
        "URFBTF_IMAGENET_RUN_DIR": str(tmp_path / "imagenet_run"),
        "URFBTF_CACHE_DIR": str(tmp_path / "cache"),
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "strategy: default (no TPU found)" in result.stdout
    assert "urfbtf: deepernet urfb hinge" in result.stdout + result.stderr
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 1
    assert (tmp_path / "run" / "curves.png").read_bytes().startswith(b"\x89PNG")
    # The ImageNet cell: Bartunov's LC net, streamed, top-5 error (12 classes).
    config = json.loads((tmp_path / "imagenet_run" / "config.json").read_text())
    assert config["net"] == "bartunov_imagenet_lc" and config["image_size"] == 16
    metrics = (tmp_path / "imagenet_run" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 1 and "test_top5_error" in json.loads(metrics[0])
