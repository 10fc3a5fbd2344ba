"""Ctrl-C: exit status 130 and one line (at which epoch, and that the same
command resumes), never a traceback, wherever the interrupt lands; and the same
command then resumes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from absl import flags

from tests.support import command
from tests.support.paths import REPO
from urfbtf import data
from urfbtf.runner import checkpoint, interrupt

FLAGS = flags.FLAGS
SMALL = dict(
    dataset="cifar10_sample",
    batch_size=50,
    train_examples=100,
    val_examples=50,
    eval_batch_size=500,
    epochs=3,
)


def _line(stderr: str) -> str:
    """The one line an interrupted command prints, after asserting it is one."""
    assert "Traceback" not in stderr, stderr
    said = [line for line in stderr.splitlines() if line.startswith("urfbtf:")]
    assert len(said) == 1, stderr
    assert stderr.rstrip().endswith(said[0]), stderr
    return said[0]


# In this process: the command line's handler and a SIGINT sent to ourselves.


@pytest.fixture
def sigint_restored():
    """The command line leaves SIGINT ignored as it exits; pytest needs it back."""
    previous = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, previous)


def _interrupt_while_loading(monkeypatch, converted_to=None):
    """Makes loading the data receive a SIGINT; with `converted_to`, the
    interrupt comes out as that exception, as it may from TensorFlow's code."""

    def load_inputs(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(60)  # The handler interrupts this.
        except KeyboardInterrupt:
            if converted_to is None:
                raise
            raise converted_to from None
        raise AssertionError("the SIGINT did not interrupt")

    monkeypatch.setattr(data, "load_inputs", load_inputs)


def _command_line(capsys, model_dir) -> tuple[int, str]:
    args = [f"--{k}={v}" for k, v in SMALL.items()]
    return command.run_in_process(
        [*args, f"--model_dir={model_dir}"], capsys, handled=True
    )


@pytest.mark.parametrize(
    "converted_to",
    [None, RuntimeError("an interrupt TensorFlow wrapped"), ValueError("another")],
    ids=["keyboard-interrupt", "runtime-error", "value-error"],
)
def test_an_interrupt_before_the_first_epoch_is_one_line_and_status_130(
    tmp_path, capsys, monkeypatch, sigint_restored, converted_to
):
    _interrupt_while_loading(monkeypatch, converted_to)
    status, stderr = _command_line(capsys, tmp_path / "run")
    assert status == 130
    assert _line(stderr) == (
        f"urfbtf: interrupted at epoch 1/3 in {tmp_path / 'run'}; rerun the same "
        "command to resume from there."
    )
    # Stopped before its first epoch, the run removed the directory it made.
    assert not (tmp_path / "run").exists()


def test_an_interrupt_outside_a_run_is_one_line_and_status_130(capsys, sigint_restored):
    with pytest.raises(SystemExit) as exit_:
        with interrupt.handled():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(60)
    assert exit_.value.code == 130
    assert _line(capsys.readouterr().err) == (
        "urfbtf: interrupted; rerun the same command to resume."
    )


def test_without_an_interrupt_the_handler_changes_nothing():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(SystemExit) as exit_:
        with interrupt.handled():
            sys.exit(3)  # A diverged run's status passes through.
    assert exit_.value.code == 3
    with interrupt.handled():
        pass
    assert signal.getsignal(signal.SIGINT) is before


def test_while_training_a_first_ctrl_c_waits_for_the_step_to_end(
    capsys, sigint_restored
):
    steps_after_the_signal = []
    with pytest.raises(SystemExit) as exit_:
        with interrupt.handled(), interrupt.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # Inside a step, which the signal must not break.
            steps_after_the_signal.append("finished")
            interrupt.RaisedBetweenSteps().on_train_batch_end(0)
            steps_after_the_signal.append("next")
    assert exit_.value.code == 130 and steps_after_the_signal == ["finished"]
    assert _line(capsys.readouterr().err).startswith("urfbtf: interrupted")


def test_a_second_ctrl_c_while_training_raises_at_once(capsys, sigint_restored):
    with pytest.raises(SystemExit) as exit_:
        with interrupt.handled(), interrupt.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(60)  # The second signal interrupts this.
    assert exit_.value.code == 130
    assert _line(capsys.readouterr().err).startswith("urfbtf: interrupted")


# A real run, interrupted twice, then resumed (slow).


def _start(model_dir):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "urfbtf",
            *(f"--{k}={v}" for k, v in SMALL.items()),
            f"--model_dir={model_dir}",
        ],
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _interrupt(process, when) -> tuple[str, str]:
    """Sends SIGINT to `process` once `when(stdout line)` is true; returns its
    whole stdout and stderr."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if when(line):
            break
    else:
        raise AssertionError(f"the run ended first:\n{process.communicate()[1]}")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    return "".join(lines) + out, err


def _expected(model_dir) -> str:
    epoch = (checkpoint.newest_epoch(model_dir / "checkpoints") or 0) + 1
    return (
        f"urfbtf: interrupted at epoch {epoch}/3 in {model_dir}; rerun the same "
        "command to resume from there."
    )


@pytest.mark.slow
def test_ctrl_c_while_tracing_and_mid_run_then_the_same_command_resumes(tmp_path):
    model_dir = tmp_path / "run"
    # Keras announces the epoch, then traces and compiles the training step.
    tracing = _start(model_dir)
    _, stderr = _interrupt(tracing, lambda line: line.startswith("Epoch 1/"))
    assert tracing.returncode == 130, stderr[-3000:]
    assert _line(stderr) == _expected(model_dir)

    first_checkpoint = model_dir / "checkpoints" / "epoch-000001.npz"
    mid_run = _start(model_dir)
    _, stderr = _interrupt(mid_run, lambda line: first_checkpoint.exists())
    assert mid_run.returncode == 130, stderr[-3000:]
    said = _line(stderr)
    assert said == _expected(model_dir) and "at epoch 1/" not in said

    resumed = _start(model_dir)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    epoch = checkpoint.newest_epoch(model_dir / "checkpoints")
    announced = [line for line in out.splitlines() if line.startswith("Epoch ")]
    resumed_at = int(said.split("at epoch ")[1].split("/")[0])
    assert announced[0] == f"Epoch {resumed_at}/3" and epoch == 3
    records = [json.loads(r) for r in (model_dir / "metrics.jsonl").open()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
