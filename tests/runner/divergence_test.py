"""Runs whose loss or state becomes non-finite, or whose loss explodes above
--loss_ceiling: stopped at that step with a one-paragraph message and exit
status 3, never checkpointed, resumable from the last finite checkpoint at a
smaller lr; --on_divergence=continue trains on."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.support.paths import REPO
from tests.support.runs import QUIET
from urfbtf import losses
from urfbtf.errors import DivergenceError, UsageError
from urfbtf.records import read_records
from urfbtf.runner import checkpoint, divergence, recorder, train
from urfbtf.runner.config import Config

# simpnet with leaky ReLUs, which do not saturate: at lr=1 the training loss
# (Keras' running mean) goes 2, 3, 12, 1e3 over the four steps of epoch 1 and
# 5e8, 4e17, inf over the first three of epoch 2. The growth is
# super-exponential, so the epoch it overflows in does not hang on the last
# bits of the arithmetic. (Under the saturated linearity a huge lr only scales
# the loss: 1e30 stays finite.)
DIVERGING = dict(
    dataset="cifar10_sample",
    activation="leaky_relu",
    batch_size=50,
    train_examples=200,
    val_examples=100,
    eval_batch_size=500,
    epochs=3,
    # These tests are of a loss that becomes non-finite: no ceiling stops it
    # before (the ceiling's own tests are at the end).
    loss_ceiling=0.0,
)
# Small enough to recover from the blown-up weights of epoch 1 at lr=1.
RECOVERING_LR = 1e-6


def _cli(model_dir, lr):
    args = [f"--{k}={v}" for k, v in DIVERGING.items()]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "urfbtf",
            *args,
            f"--lr={lr}",
            f"--model_dir={model_dir}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def _error_paragraph(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    error = stderr[stderr.index("urfbtf: error:") :]
    assert len(error.strip().splitlines()) == 1, error  # One paragraph.
    return error


def _finite(variables: dict) -> bool:
    return not divergence.non_finite(variables.items())


@pytest.mark.slow
def test_a_run_diverging_in_epoch_2_stops_and_resumes_at_a_smaller_lr(tmp_path):
    run_dir = tmp_path / "run"
    result = _cli(run_dir, 1)
    assert result.returncode == 3, result.stderr
    error = _error_paragraph(result.stderr)
    assert re.search(
        r"diverged in epoch 2, step [1-4] of 4 under rule urfb at lr=1: the "
        r"training loss became (nan|inf); it was last finite at .*The last "
        r"checkpoint, of epoch 1, is intact.*smaller --lr",
        error,
    ), error
    files = checkpoint.checkpoints(run_dir / "checkpoints")
    assert [f.name for f in files] == ["epoch-000001.npz"]
    assert _finite(checkpoint.variables_at(run_dir, 1))
    first, diverged = read_records(run_dir)
    assert first["epoch"] == 1 and not first.get("diverged")
    assert diverged["epoch"] == 2 and diverged["diverged"] is True
    assert 1 <= diverged["diverged_step"] <= 4
    assert diverged["checkpointed"] is False and diverged["train_loss"] is None

    result = _cli(run_dir, RECOVERING_LR)
    assert result.returncode == 0, result.stderr
    assert "epoch 3/3" in result.stdout.strip().splitlines()[-1]
    records = read_records(run_dir)
    # Epoch 1 was not trained again: its line is the one from before.
    assert records[0] == first
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert all(np.isfinite(r["train_loss"]) for r in records)
    assert not any(r.get("diverged") for r in records)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["lr"] == RECOVERING_LR
    assert config["lr_history"] == [
        {
            "lr": 1.0,
            "from_epoch": 1,
            "diverged": {"epoch": 2, "step": diverged["diverged_step"]},
        },
        {"lr": RECOVERING_LR, "from_epoch": 2},
    ]
    # The resumed optimizer trained at the new rate, not the checkpoint's.
    final = checkpoint.variables_at(run_dir, 3)
    assert final["sgd/learning_rate"] == np.float32(RECOVERING_LR)
    assert _finite(final)


def test_a_huge_lr_from_the_start_stops_in_the_first_epoch(tmp_path):
    with pytest.raises(DivergenceError) as stopped:
        train.run(Config(lr=1e30, **DIVERGING), tmp_path, **QUIET)
    assert stopped.value.exit_code == 3
    message = str(stopped.value)
    assert "\n" not in message
    assert re.search(r"diverged in epoch 1, step [1-4] of 4 under rule urfb", message)
    assert "there is no checkpoint" in message and "--lr=1e+29" in message
    assert checkpoint.checkpoints(tmp_path / "checkpoints") == []
    [record] = read_records(tmp_path)
    assert record["epoch"] == 1 and record["diverged"] is True
    assert not (tmp_path / "model.keras").exists()


@pytest.mark.slow
def test_continue_trains_on_records_the_divergence_and_never_checkpoints_it(
    tmp_path,
):
    lines = []
    config = Config(lr=1.0, on_divergence="continue", **DIVERGING)
    summary = train.run(config, tmp_path, verbose=0, log=lines.append)
    records = read_records(tmp_path)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert [bool(r.get("diverged")) for r in records] == [False, True, True]
    assert records[2]["diverged_step"] == 1  # Non-finite from its first step.
    for record in records[1:]:
        assert record["checkpointed"] is False
        # No error rate for non-finite outputs (the argmax of NaNs).
        assert record["test_loss"] is None and record["test_error"] is None
    # The last finite checkpoint stays; nothing non-finite was written.
    files = checkpoint.checkpoints(tmp_path / "checkpoints")
    assert [f.name for f in files] == ["epoch-000001.npz"]
    assert not (tmp_path / "model.keras").exists()
    assert summary["diverged_at"] == {
        "epoch": 2,
        "step": records[1]["diverged_step"],
    }
    assert re.search(
        r"epoch 3/3, test_error n/a, diverged in epoch 2 at step \d and trained "
        r"on.*last finite checkpoint: epoch 1, model.keras not written",
        lines[-1],
    ), lines[-1]


def test_state_that_turns_non_finite_with_a_finite_loss_is_not_checkpointed(
    tmp_path, monkeypatch
):
    """A non-finite weight off the forward path leaves the loss finite; the
    check of the whole state before the checkpoint still stops the run."""
    original = recorder.RunRecorder.on_train_batch_end

    def poison_after_the_last_step_of_epoch_2(self, batch, logs=None):
        original(self, batch, logs)
        if self._epoch == 1 and batch + 1 == self.params["steps"]:
            feedback = self.model.get_layer("output").feedback
            feedback.assign(np.full(feedback.shape, np.nan, np.float32))

    monkeypatch.setattr(
        recorder.RunRecorder,
        "on_train_batch_end",
        poison_after_the_last_step_of_epoch_2,
    )
    config = Config(**{**DIVERGING, "activation": "saturated", "epochs": 2})
    with pytest.raises(DivergenceError, match=r"epoch 2, step 4 of 4") as stopped:
        train.run(config, tmp_path, **QUIET)
    assert "output/feedback" in str(stopped.value)
    assert "the training loss stayed finite" in str(stopped.value)
    files = checkpoint.checkpoints(tmp_path / "checkpoints")
    assert [f.name for f in files] == ["epoch-000001.npz"]
    last = read_records(tmp_path)[-1]
    assert last["epoch"] == 2 and last["diverged_step"] == 4
    assert np.isfinite(last["last_finite_loss"])


def test_checkpoints_refuse_non_finite_state_and_resuming_skips_an_old_one(
    tmp_path,
):
    model = train.build_model(Config(dataset="cifar10_sample"), (32, 32, 3), 10)
    checkpoint.save(model, tmp_path, 1)
    kernel = model.get_layer("dense1").kernel
    kernel.assign(np.where(np.eye(*kernel.shape) > 0, np.inf, kernel.numpy()))
    assert checkpoint.non_finite_state(model) == [kernel.path]
    with pytest.raises(ValueError, match="non-finite"):
        checkpoint.save(model, tmp_path, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["epoch-000001.npz"]
    # A checkpoint of non-finite state from before urfbtf refused to write
    # them: resuming falls back to the last finite one.
    with np.load(tmp_path / "epoch-000001.npz") as saved:
        arrays = {key: saved[key] for key in saved.files}
    arrays["v0"] = np.full_like(arrays["v0"], np.nan)
    arrays["epoch"] = np.array(2)
    np.savez(tmp_path / "epoch-000002.npz", **arrays)
    assert checkpoint.latest(tmp_path).epoch == 1


def test_the_lr_may_only_be_lowered_and_only_to_resume_a_diverged_run(tmp_path):
    previous = Config(lr=0.1).to_dict()
    assert Config(lr=0.01).changes_from(previous, diverged=True) == []
    assert Config(on_divergence="continue").changes_from(previous) == []
    for lr, diverged in [(0.01, False), (0.2, True), (0.2, False)]:
        [change] = Config(lr=lr).changes_from(previous, diverged=diverged)
        assert change.startswith(f"lr: 0.1 -> {lr}") and "diverged" in change

    quick = dict(DIVERGING, activation="saturated", epochs=1, lr=0.1)
    train.run(Config(**quick), tmp_path, **QUIET)
    with pytest.raises(UsageError, match=r"lr: 0\.1 -> 0\.01 \(lr may change only"):
        train.run(Config(**{**quick, "lr": 0.01, "epochs": 2}), tmp_path, **QUIET)


def test_the_lr_history_lists_each_rate_from_its_first_epoch():
    assert divergence.lr_history(None, 0.1, 0, None) == [{"lr": 0.1, "from_epoch": 1}]
    # A config.json from before lr_history: its lr ran from epoch 1.
    previous = {"lr": 1.0}
    assert divergence.lr_history(previous, 1.0, 4, None) == [
        {"lr": 1.0, "from_epoch": 1}
    ]
    diverged = {"epoch": 5, "diverged_step": 7}
    once = divergence.lr_history(previous, 0.1, 4, diverged)
    assert once == [
        {"lr": 1.0, "from_epoch": 1, "diverged": {"epoch": 5, "step": 7}},
        {"lr": 0.1, "from_epoch": 5},
    ]
    # It diverged again at 0.1 and resumes from the same checkpoint at 0.01.
    twice = divergence.lr_history(
        {"lr": 0.1, "lr_history": once}, 0.01, 4, {"epoch": 6, "diverged_step": 1}
    )
    assert twice[1:] == [
        {"lr": 0.1, "from_epoch": 5, "diverged": {"epoch": 6, "step": 1}},
        {"lr": 0.01, "from_epoch": 5},
    ]


def test_the_loss_of_a_zero_output_is_chance():
    """ln C for softmax cross-entropy; 1 + off_class_fac for the hinge loss
    (eq. 4 at x = 0: max(1, 0) + μ (C − 1), μ = off_class_fac / (C − 1))."""
    softmax = losses.get_loss("softmax")
    assert losses.zero_output_loss(softmax, 10) == pytest.approx(np.log(10))
    assert losses.zero_output_loss(softmax, 1000) == pytest.approx(np.log(1000))
    hinge = losses.get_loss("hinge", off_class_fac=0.5)
    assert losses.zero_output_loss(hinge, 10) == pytest.approx(1.5)


def test_a_finite_loss_above_the_ceiling_stops_the_run_before_its_checkpoint(
    tmp_path,
):
    """At lr=1 the running mean goes 2, 3, 12, 1e3 in epoch 1 (DIVERGING's
    comment), finite: above 10 times the hinge loss of a zero output (2) at
    step 4, so the run stops there with nothing checkpointed."""
    config = Config(**{**DIVERGING, "lr": 1.0, "loss_ceiling": 10.0})
    with pytest.raises(DivergenceError) as stopped:
        train.run(config, tmp_path, **QUIET)
    assert stopped.value.exit_code == 3
    message = str(stopped.value)
    assert "\n" not in message
    assert re.search(
        r"diverged in epoch 1, step [2-4] of 4 under rule urfb at lr=1: the "
        r"training loss rose to [0-9.e+]+ .*above its ceiling of 20, "
        r"--loss_ceiling times the loss of an all-zero output\. That epoch was "
        r"not checkpointed.*--loss_ceiling=0",
        message,
    ), message
    assert "No epoch had finished before it" in message
    assert checkpoint.checkpoints(tmp_path / "checkpoints") == []
    [record] = read_records(tmp_path)
    assert record["diverged"] is True and record["loss_ceiling"] == 20.0
    assert np.isfinite(record["train_loss"]) and record["train_loss"] > 20.0


def test_continue_trains_on_above_the_ceiling_and_checkpoints_the_finite_state(
    tmp_path,
):
    config = Config(
        **{**DIVERGING, "lr": 1.0, "loss_ceiling": 10.0, "epochs": 1},
        on_divergence="continue",
    )
    train.run(config, tmp_path, **QUIET)
    [record] = read_records(tmp_path)
    assert record["diverged"] is True and record["loss_ceiling"] == 20.0
    assert record["checkpointed"] is True and np.isfinite(record["test_loss"])
    files = checkpoint.checkpoints(tmp_path / "checkpoints")
    assert [f.name for f in files] == ["epoch-000001.npz"]


def test_the_loss_ceiling_rejects_a_factor_of_one_or_less():
    with pytest.raises(UsageError, match=r"loss_ceiling.*0\.5.*factor above 1"):
        Config(loss_ceiling=0.5).validate()
    Config(loss_ceiling=0.0).validate()  # Off.
