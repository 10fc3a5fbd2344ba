"""tools/colab_tpu.ipynb is a valid notebook whose code cells run top to bottom on a
CPU, where its TPU detection falls back to the default strategy."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
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
