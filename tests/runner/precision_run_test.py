"""Runs under a mixed precision policy: recorded, resumed bit for bit, saved."""

import json

import keras
import numpy as np
import pytest

from tests.support.runs import QUIET, SAMPLE
from urfbtf.errors import UsageError
from urfbtf.runner import checkpoint, train
from urfbtf.runner.config import Config


def _config(**settings) -> Config:
    return Config(
        net="fc2_100",
        rule="urfb",
        **{"batch_size": 50, "precision": "mixed_bfloat16", **SAMPLE, **settings},
    )


def test_an_unknown_precision_is_refused_naming_the_valid_ones():
    with pytest.raises(
        UsageError, match=r"float16.*float32, mixed_bfloat16, mixed_float16"
    ):
        _config(precision="float16").validate()


def test_a_mixed_bfloat16_run_resumes_bit_for_bit_and_saves_its_policy(tmp_path):
    train.run(_config(epochs=1), tmp_path / "resumed", **QUIET)
    train.run(_config(epochs=2), tmp_path / "resumed", **QUIET)
    train.run(_config(epochs=2), tmp_path / "whole", **QUIET)
    whole = checkpoint.variables_at(tmp_path / "whole", 2)
    resumed = checkpoint.variables_at(tmp_path / "resumed", 2)
    assert list(whole) == list(resumed)
    for path, value in whole.items():
        assert value.dtype != np.dtype("bfloat16"), path  # Variables stay float32.
        np.testing.assert_array_equal(value, resumed[path], err_msg=path)
    recorded = json.loads((tmp_path / "whole" / "config.json").read_text())
    assert recorded["precision"] == "mixed_bfloat16"
    model = keras.models.load_model(tmp_path / "whole" / "model.keras")
    assert model.get_layer("dense1").dtype_policy.name == "mixed_bfloat16"
    # The global policy is the process's again after the run.
    assert keras.config.dtype_policy().name == "float32"


def test_a_run_cannot_resume_under_another_precision(tmp_path):
    train.run(_config(epochs=1), tmp_path, **QUIET)
    with pytest.raises(UsageError, match="precision"):
        train.run(_config(epochs=2, precision="float32"), tmp_path, **QUIET)
