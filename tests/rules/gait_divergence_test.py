"""Exact-inverse rules (gait, tp_exact) whose weights stop being invertible:
a divergence like any other rule's (exit 3, recorded, never checkpointed; under
--on_divergence=continue the run trains on), never an op error from the
factorization (`urfbtf.layers.factorization`)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.support.paths import REPO
from urfbtf import losses, nets, rules
from urfbtf.layers import InvertibleConv2D
from urfbtf.layers.factorization import guarded
from urfbtf.layers.invertible_dense import lu_factors
from urfbtf.metrics import ErrorRate
from urfbtf.nets.steps import Dense, InvDense, Layers, Output
from urfbtf.records import read_records

# gait_cifar_fc3 at its flagfile's settings, 3 steps an epoch. At
# --ortho_reg=1e30 the regulariser's gradient overflows in step 2, and step 3
# factorizes non-finite kernels.
RUN = [
    "--flagfile=flags/gait_cifar_fc3.cfg",
    "--net=gait_cifar_fc3",
    "--dataset=cifar10_sample",
    "--train_examples=150",
    "--val_examples=50",
    "--batch_size=50",
    "--eval_batch_size=100",
    "--ortho_reg=1e30",
]


def _cli(model_dir, rule, *extra):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "urfbtf",
            *RUN,
            f"--rule={rule}",
            *extra,
            f"--model_dir={model_dir}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["gait", "tp_exact"])
def test_weights_that_stop_being_invertible_stop_the_run_as_a_divergence(
    rule, tmp_path
):
    result = _cli(tmp_path, rule, "--epochs=1")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr and "not invertible" not in result.stderr
    error = result.stderr[result.stderr.index("urfbtf: error:") :]
    assert len(error.strip().splitlines()) == 1, error
    assert f"diverged in epoch 1, step 3 of 3 under rule {rule}" in error, error
    [record] = read_records(tmp_path)
    assert record["diverged"] is True and record["diverged_step"] == 3
    assert record["checkpointed"] is False
    assert not (tmp_path / "checkpoints").exists() or not any(
        (tmp_path / "checkpoints").iterdir()
    )


@pytest.mark.slow
def test_continue_trains_a_non_invertible_gait_run_on_and_records_it(tmp_path):
    result = _cli(tmp_path, "gait", "--epochs=2", "--on_divergence=continue")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "diverged in epoch 1 at step 3 and trained on" in result.stdout
    records = read_records(tmp_path)
    assert [r["epoch"] for r in records] == [1, 2]
    assert [r["diverged_step"] for r in records] == [3, 1]
    assert all(r["checkpointed"] is False for r in records)
    assert not (tmp_path / "model.keras").exists()
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["on_divergence"] == "continue"


def _gait_model(rule, kernel_initializer="orthogonal"):
    description = (
        Layers(bias=True, bias_init="zeros", kernel="orthogonal"),
        Dense("dense1", 6),
        InvDense("dense2"),
        Output(square=True),
    )
    rule = rules.get_rule(rule)
    settings = {s.name: s.default for s in rule.settings}
    keras.utils.set_random_seed(0)
    model = nets.build_net(
        description,
        input_shape=(2, 2, 1),
        num_classes=3,
        rule=rule,
        rule_settings=settings,
        activation="leaky_relu",
        kernel_initializer=kernel_initializer,
    )
    rule.compile(
        model,
        make_optimizer=lambda lr=None: keras.optimizers.Adam(1e-3),
        settings=settings,
        loss=losses.get_loss("softmax"),
        metrics=[ErrorRate()],
    )
    return model


@pytest.mark.parametrize("rule", ["gait", "tp_exact"])
@pytest.mark.parametrize(
    "kernel",
    [
        np.zeros((6, 6)),  # Every row zero.
        np.diag([1.0, 1, 1, 1, 1, 0]),  # One dead unit.
        np.full((6, 6), np.nan),
        np.diag([1.0, 1, 1, 1, 1, np.inf]),
    ],
    ids=["zeros", "dead_unit", "nan", "inf"],
)
def test_a_training_step_on_a_singular_kernel_reports_nan_and_does_not_raise(
    rule, kernel
):
    model = _gait_model(rule)
    model.get_layer("dense2").kernel.assign(kernel.astype(np.float32))
    x = np.random.default_rng(0).normal(size=(4, 2, 2, 1)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    logs = model.train_step((tf.constant(x), tf.constant(y)))
    assert np.isnan(float(logs["loss"]))


def test_the_guard_leaves_an_invertible_factorization_bit_for_bit():
    model = _gait_model("gait")
    layers = [model.get_layer("dense2"), model.get_layer("output")]
    found = lu_factors(layers)
    for layer, factors in zip(layers, found, strict=True):
        lu, permutation = tf.linalg.lu(tf.transpose(layer.kernel))
        np.testing.assert_array_equal(factors.lu, lu)
        np.testing.assert_array_equal(factors.permutation, permutation)
    matrix = np.random.default_rng(1).normal(size=(5, 5)).astype(np.float32)
    np.testing.assert_array_equal(guarded(tf.linalg.inv, matrix), tf.linalg.inv(matrix))


def test_an_invertible_conv_with_a_singular_kernel_gives_nan_filters():
    layer = InvertibleConv2D(2, strides=2, kernel_initializer="zeros")
    layer.build((None, 4, 4, 1))
    assert np.isnan(layer.inverse_filters().numpy()).all()
