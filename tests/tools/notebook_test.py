"""tools/colab.ipynb is a valid notebook whose code cells run top to bottom on a
CPU, by the conventions its introduction states: the cells are plain Python (no
shell or magic lines) run in one process, every form field is overridden through
$URFBTF_<FIELD>, and the install cell installs nothing when urfbtf is importable
(as here). Its TPU detection falls back to the default strategy, and its ImageNet
cell runs on generated TFRecords in the standard layout
(`tests/support/stream_run.py`)."""

import json
import os
import re
import subprocess
import sys

import pytest

from tests.support.paths import REPO
from tests.support.stream_run import write_imagenet

NOTEBOOK = REPO / "tools" / "colab.ipynb"
# A Colab form field: `NAME = value  # @param ...` on one line.
FORM_FIELD = re.compile(r"^([A-Z_]+) = .*# @param", re.MULTILINE)


def _cells(kind):
    notebook = json.loads(NOTEBOOK.read_text())
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == kind]


def test_notebook_is_valid_nbformat_4_of_plain_python_cells():
    notebook = json.loads(NOTEBOOK.read_text())
    assert notebook["nbformat"] == 4
    kinds = [cell["cell_type"] for cell in notebook["cells"]]
    assert kinds[0] == "markdown" and kinds.count("code") >= 4
    for cell in notebook["cells"]:
        assert isinstance(cell["source"], list) and cell["source"]
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
            source = "".join(cell["source"])
            compile(source, "cell", "exec")  # Plain Python.
            assert not re.search(r"^\s*[!%]", source, re.MULTILINE)


def test_every_form_field_can_be_set_from_the_environment():
    code = "\n".join(_cells("code"))
    fields = FORM_FIELD.findall(code)
    assert {"PACKAGE_SOURCE", "EPOCHS", "DATA_FLAGS", "RUN_DIR", "IMAGENET_DIR"} <= set(
        fields
    )
    for name in fields:
        assert f'{name} = field("{name}", {name})' in code, name


def test_the_introduction_cites_the_tpu_reports_and_the_cloud_tpu_route():
    intro = _cells("markdown")[0]
    for thread in (
        "googlecolab/colabtools/issues/5164",
        "googlecolab/colabtools/issues/5174",
        "googlecolab/colabtools/issues/5185",
        "googlecolab/colabtools/issues/5228",
        "googlecolab/colabtools/issues/5419",
        "tensorflow/tensorflow/issues/96203",
        "cloud.google.com/tpu/docs/supported-tpu-versions",
    ):
        assert thread in intro, thread
    assert "No later public report shows TensorFlow reaching a Colab TPU" in intro
    install = _cells("code")[0]
    # tensorflow and tensorflow-tpu of one version, from the libtpu index.
    versions = re.findall(r'"tensorflow(?:-tpu)?==([\d.]+)"', install)
    assert len(versions) == 2 and len(set(versions)) == 1
    assert "libtpu-tf-releases/index.html" in install


def _run(cells, env, cwd):
    return subprocess.run(
        [sys.executable, "-c", "\n\n".join(cells)],
        cwd=cwd,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_install_cell_refuses_an_empty_or_made_up_source(tmp_path):
    # As on a fresh runtime: urfbtf hidden from the import system.
    hide = "import importlib.util as u\nu.find_spec = lambda name, *a: None\n"
    install = _cells("code")[0]
    for source in ("", "/content/missing.whl", "urfbtf"):
        result = _run([hide + install], {"URFBTF_PACKAGE_SOURCE": source}, tmp_path)
        assert result.returncode == 1
        assert f"PACKAGE_SOURCE={source!r} is neither an uploaded wheel" in (
            result.stderr
        )


@pytest.mark.slow
def test_notebook_cells_run_top_to_bottom_on_cpu(tmp_path):
    write_imagenet(tmp_path / "imagenet")
    env = {
        "URFBTF_EPOCHS": "1",
        # Offline and small: the shipped sample, as the notebook's default.
        "URFBTF_RUN_DIR": str(tmp_path / "run"),
        "URFBTF_IMAGENET_DIR": str(tmp_path / "imagenet"),
        # Tiny images and batches: the generated shards hold 96 training records.
        "URFBTF_IMAGENET_FLAGS": "--image_size=16 --val_examples=16 --batch_size=16 "
        "--eval_batch_size=8",
        "URFBTF_IMAGENET_RUN_DIR": str(tmp_path / "imagenet_run"),
        "URFBTF_CACHE_DIR": str(tmp_path / "cache"),
        "MPLBACKEND": "Agg",
    }
    result = _run(_cells("code"), env, tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "urfbtf is already importable: nothing to install." in result.stdout
    assert "strategy: default (no TPU found)" in result.stdout
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1
    assert "epochs: 1; final test error" in result.stdout
    assert (tmp_path / "run" / "curves.png").read_bytes().startswith(b"\x89PNG")
    # The ImageNet cell: Bartunov's LC net, streamed, top-5 error (12 classes).
    config = json.loads((tmp_path / "imagenet_run" / "config.json").read_text())
    assert config["net"] == "bartunov_imagenet_lc" and config["image_size"] == 16
    metrics = (tmp_path / "imagenet_run" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 1 and "test_top5_error" in json.loads(metrics[0])
