"""README.md's example of the layers in one's own model runs as written."""

import re
from pathlib import Path

import keras
import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_layers_example_runs_and_trains(capsys):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
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
