"""The alignment probes: backpropagation is 0 degrees, unrelated directions 90."""

import keras
import numpy as np
import pytest

from tests.support.runs import QUIET
from urfbtf import losses, nets, probes
from urfbtf.layers import FeedbackLayer
from urfbtf.records import read_records
from urfbtf.runner import train
from urfbtf.runner.config import Config


def _model(rule):
    keras.utils.set_random_seed(0)
    model = nets.build_net(
        "conv_mnist",
        input_shape=(8, 8, 3),
        num_classes=10,
        rule=rule,
        activation="tanh",
    )
    model.compile(keras.optimizers.SGD(0.1), losses.get_loss("bce"))
    return model


def _batch():
    rng = np.random.default_rng(0)
    return rng.uniform(size=(16, 8, 8, 3)).astype("float32"), rng.integers(0, 10, 16)


def _angles(stats, kind):
    return {k.split("/")[1]: v for k, v in stats.items() if k.startswith(kind + "/")}


def test_backprop_is_at_zero_degrees_at_every_level():
    stats = probes.Prober(_model("bp"))(*_batch())
    for kind in ("update_angle", "signal_angle"):
        angles = _angles(stats, kind)
        assert set(angles) == {"conv1", "dense1", "output"}
        assert max(angles.values()) < 1e-2, angles
    assert not any(k.startswith("wr_angle/") for k in stats)  # bp has no R.


def test_random_feedback_equal_to_the_weights_is_at_zero_degrees():
    model = _model("frfb")
    for layer in model.layers:
        if isinstance(layer, FeedbackLayer):
            layer.feedback.assign(layer.kernel)  # R = W in our orientation.
    stats = probes.Prober(model)(*_batch())
    for kind in ("update_angle", "signal_angle", "wr_angle"):
        assert max(_angles(stats, kind).values()) < 1e-2, kind


def test_untrained_random_feedback_is_near_ninety_degrees_in_hidden_layers():
    stats = probes.Prober(_model("frfb"))(*_batch())
    assert 60 < _angles(stats, "update_angle")["dense1"] < 120
    assert _angles(stats, "update_angle")["output"] < 1e-2  # Its own true error.


def test_unrelated_directions_are_about_ninety_degrees():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=10_000), rng.normal(size=10_000)
    assert probes.angle_degrees(a, b) == pytest.approx(90, abs=2)
    assert probes.angle_degrees(a, -a) == pytest.approx(180)
    per_example = probes.example_angles(
        rng.normal(size=(50, 400)), rng.normal(size=(50, 400))
    )
    assert abs(per_example.mean() - 90) < 3


def test_angles_are_finite_when_a_gradient_is_zero():
    assert probes.angle_degrees(np.zeros(5), np.ones(5)) == 90.0
    angles = probes.example_angles(np.zeros((3, 4)), np.ones((3, 4)))
    np.testing.assert_array_equal(angles, [90.0, 90.0, 90.0])
    stats = probes.Prober(_model("shallow"))(*_batch())  # Frozen hidden layers.
    assert all(np.isfinite(v) for v in stats.values())
    assert _angles(stats, "update_angle")["dense1"] == 90.0


def test_runs_write_probes_every_n_steps_and_resume_them(tmp_path):
    config = Config(
        dataset="cifar10_sample",
        net="fc1_500",
        rule="dfa",
        activation="tanh",
        loss="bce",
        optimizer="adam",
        lr=1e-4,
        train_examples=200,
        val_examples=100,
        batch_size=50,
        eval_batch_size=250,
        epochs=2,
        probe_every=3,
    )
    train.run(Config(**{**config.to_dict(), "epochs": 1}), tmp_path, **QUIET)
    train.run(config, tmp_path, **QUIET)
    lines = read_records(tmp_path, "probes.jsonl")
    assert [r["step"] for r in lines] == [3, 6]  # 4 steps an epoch.
    assert [r["epoch"] for r in lines] == [1, 2]
    metrics = read_records(tmp_path)
    assert metrics[1]["update_angle/dense1"] == lines[1]["update_angle/dense1"]
    assert 0 <= metrics[1]["signal_angle/dense1"] <= 180
