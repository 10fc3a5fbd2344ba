"""End-to-end runs on the shipped cifar10_sample: artefacts, learning, resuming."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.support import killed_run
from tests.support.paths import REPO
from tests.support.runs import QUIET
from urfbtf import rules
from urfbtf.errors import UsageError
from urfbtf.records import read_records
from urfbtf.rules.gradient import GradientRule
from urfbtf.runner import checkpoint, train, trials
from urfbtf.runner.config import Config

# Small enough for seconds per epoch, large enough that the loss falls in two.
QUICK = dict(dataset="cifar10_sample", batch_size=20, lr=0.1, eval_batch_size=500)
EPOCH_KEYS = {
    "epoch",
    "train_loss",
    "train_error",
    "val_error",
    "test_error",
    "epoch_seconds",
    "examples_per_second",
}


def _without_timings(records):
    """The records without what measures the machine (time, memory), which two
    runs of the same training need not share."""
    return [
        {k: v for k, v in r.items() if "second" not in k and k != "peak_rss_mb"}
        for r in records
    ]


def test_two_epochs_leave_every_artefact_and_the_loss_falls(tmp_path):
    lines = []
    summary = train.run(
        Config(epochs=2, **QUICK), tmp_path, verbose=0, log=lines.append
    )
    records = read_records(tmp_path)
    assert [r["epoch"] for r in records] == [1, 2]
    layers = ("conv1", "dense1", "output")
    for record in records:
        assert EPOCH_KEYS | {
            f"wr_{k}/{layer}" for k in ("corr", "angle") for layer in layers
        } <= set(record)
        for key in ("train_error", "val_error", "test_error"):
            assert 0.0 <= record[key] <= 1.0
        assert -1.0 <= record["wr_corr/dense1"] <= 1.0
        assert 0.0 <= record["wr_angle/dense1"] <= 180.0
        assert record["examples_per_second"] > 0
    assert records[1]["train_loss"] < records[0]["train_loss"]
    assert records[1]["val_loss"] < records[0]["val_loss"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["rule"] == "urfb" and config["versions"]["tensorflow"]
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    model = keras.models.load_model(tmp_path / "model.keras")
    assert model.get_layer("conv1").rule.name == "urfb"
    assert summary["test_error"] == records[-1]["test_error"]
    assert lines[-1].endswith(f"model_dir {tmp_path}") and "test_error 0." in lines[-1]

    # The plot command draws the run.
    out = tmp_path / "curves.png"
    subprocess.run(
        [sys.executable, "-m", "urfbtf.plot", "curves", "--wr", str(tmp_path)]
        + ["--out", str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes().startswith(b"\x89PNG")


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    config = Config(epochs=3, connectivity=0.5, **QUICK)
    train.run(config, tmp_path / "whole", **QUIET)
    train.run(
        Config(**{**config.to_dict(), "epochs": 1}),
        tmp_path / "parts",
        **QUIET,
    )
    train.run(config, tmp_path / "parts", **QUIET)
    whole = checkpoint.variables_at(tmp_path / "whole", 3)
    parts = checkpoint.variables_at(tmp_path / "parts", 3)
    assert list(whole) == list(parts) and whole
    for path, value in whole.items():
        np.testing.assert_array_equal(value, parts[path], err_msg=path)
    assert _without_timings(read_records(tmp_path / "whole")) == _without_timings(
        read_records(tmp_path / "parts")
    )


def _cli(model_dir, epochs):
    return [
        str(REPO / "run.sh"),
        "--dataset=cifar10_sample",
        "--batch_size=20",
        "--eval_batch_size=500",
        f"--epochs={epochs}",
        f"--model_dir={model_dir}",
    ]


@pytest.mark.slow
def test_run_killed_mid_training_resumes_to_the_uninterrupted_result(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        _cli(killed, 3),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # In the second epoch, so that the second start resumes from a checkpoint.
    killed_run.kill_after_first_checkpoint([process], killed)
    assert len(read_records(killed)) < 3, "the run finished before it could be killed"
    subprocess.run(_cli(killed, 3), env=env, check=True, capture_output=True)
    whole = tmp_path / "whole"
    subprocess.run(_cli(whole, 3), env=env, check=True, capture_output=True)
    assert [r["epoch"] for r in read_records(killed)] == [1, 2, 3]
    resumed = checkpoint.variables_at(killed, 3)
    for path, value in checkpoint.variables_at(whole, 3).items():
        np.testing.assert_array_equal(value, resumed[path], err_msg=path)


def test_a_directory_holding_another_run_is_refused(tmp_path):
    train.run(Config(epochs=1, **QUICK), tmp_path, **QUIET)
    with pytest.raises(UsageError, match=r"rule: 'urfb' -> 'frfb'.*--model_dir"):
        train.run(Config(epochs=2, rule="frfb", **QUICK), tmp_path, verbose=0)


def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    train.run(Config(epochs=2, **QUICK), tmp_path, **QUIET)
    files = checkpoint.checkpoints(tmp_path / "checkpoints")
    assert [f.name for f in files] == ["epoch-000001.npz", "epoch-000002.npz"]
    files[-1].write_bytes(b"truncated")
    model = train.build_model(Config(**QUICK), (32, 32, 3), 10)
    assert checkpoint.restore_latest(model, tmp_path / "checkpoints") == 1


class _OutputOnlyModel(keras.Model):
    """A rule with its own training step: only the output layer learns."""

    def train_step(self, data):
        x, y = data
        output = self.get_layer("output")
        with tf.GradientTape() as tape:
            loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
        variables = output.trainable_variables
        self.optimizer.apply_gradients(
            zip(tape.gradient(loss, variables), variables, strict=True)
        )
        return self.compute_metrics(x, y, self(x, training=False), sample_weight=None)


def test_a_rule_can_bring_its_own_training_step(tmp_path):
    rule = rules.register(
        GradientRule(
            "test_output_only",
            "test rule",
            has_feedback=True,
            feedback_learns=True,
            model_class=_OutputOnlyModel,
        )
    )
    try:
        config = Config(epochs=1, rule=rule.name, **QUICK)
        train.run(config, tmp_path, **QUIET)
    finally:
        del rules.RULES[rule.name]
    keras.utils.set_random_seed(0)  # As train.run does: the same initial weights.
    before = train.build_model(Config(**QUICK), (32, 32, 3), 10)
    after = checkpoint.variables_at(tmp_path, 1)
    assert 0.0 <= read_records(tmp_path)[0]["train_error"] <= 1.0
    # Only the output layer learned.
    np.testing.assert_array_equal(
        after["conv1/kernel"], before.get_layer("conv1").kernel
    )
    assert np.abs(after["output/kernel"] - before.get_layer("output").kernel).max() > 0


def test_trials_run_one_seed_each_and_summarise_the_last_epochs(tmp_path):
    lines = []
    config = Config(epochs=2, train_examples=200, val_examples=100, **QUICK)
    summary = trials.run_trials(config, 2, tmp_path, verbose=0, log=lines.append)
    seeds = [
        json.loads((tmp_path / f"trial-{k}" / "config.json").read_text())["seed"]
        for k in range(2)
    ]
    assert seeds == [0, 1]
    for k, score in enumerate(summary["test_errors"]):
        records = read_records(tmp_path / f"trial-{k}")
        assert score == pytest.approx(np.mean([r["test_error"] for r in records]))
    assert summary["mean_test_error"] == pytest.approx(np.mean(summary["test_errors"]))
    assert summary["std_test_error"] == pytest.approx(np.std(summary["test_errors"]))
    assert json.loads((tmp_path / "trials.json").read_text()) == summary
    assert "2 trials" in lines[-1] and "±" in lines[-1]


@pytest.mark.parametrize(
    "rule,zero", [("drtp", True), ("frfb", True), ("bp", False), ("shallow", False)]
)
def test_zero_init_starts_the_feedback_alignment_family_at_zero(rule, zero):
    config = Config(
        net="fc2_500", rule=rule, zero_init=True, activation="tanh", loss="bce", **QUICK
    )
    model = train.build_model(config, (32, 32, 3), 10)
    kernel = model.get_layer("dense1").kernel.numpy()
    assert np.all(kernel == 0) == zero


def test_the_summary_line_prints_a_perfect_score_and_marks_a_missing_one():
    config = Config(epochs=3)
    perfect = train._summary_line(config, {"epoch": 3, "test_error": 0.0}, "runs/x")
    assert "epoch 3/3, test_error 0.0000, model_dir runs/x" in perfect
    missing = train._summary_line(config, {}, "runs/x")
    assert "epoch 0/3, test_error n/a," in missing


def test_trials_of_a_regression_task_are_scored_by_the_test_loss(tmp_path):
    # flags/synthetic_regression.cfg's settings, in miniature.
    config = Config(
        net="fc2_100",
        dataset="synthetic_regression",
        loss="mse",
        activation="tanh",
        output_activation="tanh",
        val_examples=0,
        batch_size=50,
        epochs=1,
        train_examples=200,
    )
    lines = []
    summary = trials.run_trials(config, 2, tmp_path, verbose=0, log=lines.append)
    assert summary["score"] == "test_loss"
    for k, score in enumerate(summary["test_losses"]):
        [record] = read_records(tmp_path / f"trial-{k}")
        assert record["test_error"] is None and score == record["test_loss"] > 0
    assert summary["mean_test_loss"] == pytest.approx(np.mean(summary["test_losses"]))
    assert summary["std_test_loss"] == pytest.approx(np.std(summary["test_losses"]))
    assert json.loads((tmp_path / "trials.json").read_text()) == summary
    assert "test loss over the last 10 epochs" in lines[-1] and "±" in lines[-1]
    # Each trial says what it starts, then how it ended.
    assert lines[0].endswith(f"model_dir {tmp_path / 'trial-0'}")
    assert "test_loss" in lines[1] and "n/a" not in lines[1]
