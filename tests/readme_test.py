"""README.md's examples of urfbtf in one's own model run as written.

The checks on the rest of the text (links, anchors, length, the flags reference)
are in docs_test.py."""

import re

import keras
import numpy as np
import pytest

from tests.support.paths import REPO
from urfbtf.layers import FeedbackLayer

README = REPO / "README.md"


def _section_code(heading: str) -> str:
    """The first python block of README.md's section `heading`."""
    section = README.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ")[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_layers_example_runs_and_trains(capsys):
    code = _section_code("The layers in your own Keras model")
    namespace = {}
    # conftest.py makes TensorFlow deterministic, which wants seeded random ops
    # (fit shuffles NumPy inputs); a user's session needs no seed.
    keras.utils.set_random_seed(0)
    exec(compile(code, "README.md", "exec"), namespace)
    model, dense = namespace["model"], namespace["dense"]
    assert dense.kernel_mask is not None and dense.feedback.shape == dense.kernel.shape
    assert np.all(dense.kernel.numpy()[~dense.kernel_mask.numpy()] == 0)
    assert model.history.history["loss"][-1] < model.history.history["loss"][0]
    assert "(3872, 500) (3872, 500) bool" in capsys.readouterr().out


@pytest.mark.slow
def test_readme_own_model_example_converts_trains_and_plots(tmp_path, monkeypatch):
    code = _section_code("Convert a model you already have")
    # Fewer examples, one epoch and a smaller probe batch, probed every step.
    for large, small in {
        "[:500]": "[:100]",
        "(x[:64], y[:64])": "(x[:8], y[:8])",
        "epochs=2": "epochs=1",
        "every=5": "every=1",
    }.items():
        assert large in code, large
        code = code.replace(large, small)
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    model, alignment = namespace["model"], namespace["alignment"]
    assert type(model.get_layer("block_8_project")).__name__ == "FeedbackConv2D"
    assert [r["step"] for r in alignment.records] == [0, 1, 2]
    # R starts as an independent draw; the output layer gets its own true error.
    assert abs(alignment.records[0]["wr_corr/Conv1"]) < 0.3
    assert alignment.records[-1]["update_angle/predictions"] < 1e-2
    learning = [x.name for x in model.layers if isinstance(x, FeedbackLayer)]
    assert len(learning) == 35 + 17 + 1  # Conv2D, DepthwiseConv2D, Dense.
    history = namespace["history"].history
    for kind in ("update_angle", "signal_angle", "wr_corr", "wr_angle"):
        assert {f"{kind}/{name}" for name in learning} <= set(history), kind
    assert (tmp_path / "alignment.png").stat().st_size > 0
    logs = tmp_path / "logs" / "mobilenet_urfb"
    assert len((logs / "probes.jsonl").read_text().splitlines()) == 3
    assert list(logs.glob("events.out.tfevents.*"))
