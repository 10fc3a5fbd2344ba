"""Ctrl-C: one line and exit status 130, never a traceback.

A run stopped by Ctrl-C (SIGINT) loses at most its unfinished epoch: every file
is written atomically and the state checkpointed after each epoch, so the same
command resumes it exactly (`urfbtf.runner.checkpoint`). The user is told so
in one line, whichever code the interrupt lands in.

Python raises `KeyboardInterrupt` in whatever Python code runs when the signal
arrives; inside TensorFlow's tracing, or Python called back from its C++ code,
that may come out as another exception. So the command line records every
SIGINT (`handled`), and around a run (`reported`) any exception that follows
one becomes a `RunInterrupted` that says where the run stopped.

While the run trains (`deferred`), the first Ctrl-C is only recorded, and
raised between two steps (`RaisedBetweenSteps`): a `KeyboardInterrupt` raised
inside TensorFlow's tracing was sometimes swallowed (the run went on to its
end) and sometimes left a half-built graph that crashed the interpreter's
garbage collector (SIGSEGV). A second Ctrl-C raises at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import keras

from urfbtf.runner import checkpoint

# 128 + SIGINT: what shells report for a command ended by Ctrl-C.
EXIT_STATUS = 128 + signal.SIGINT

# Set by the command line's SIGINT handler; read by `reported`.
_received = False
# Inside `deferred`: a first SIGINT waits in `_pending` for the next step's end.
_deferring = False
_pending = False


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C; its message says at which epoch and that the
    same command resumes it. Still a `KeyboardInterrupt`, for code (and
    notebooks) that handle those."""

    def __init__(self, model_dir: Path, epoch: int, epochs: int):
        super().__init__(
            f"interrupted at epoch {epoch}/{epochs} in {model_dir}; rerun the same "
            "command to resume from there."
        )


@contextlib.contextmanager
def reported(model_dir: Path, epochs: int) -> Iterator[None]:
    """Turns an interrupt inside the block (a `KeyboardInterrupt`, or any
    exception after a SIGINT) into a `RunInterrupted` of the run in
    `model_dir`, at the epoch after its newest checkpoint."""
    try:
        yield
    except BaseException as error:
        if isinstance(error, RunInterrupted):
            raise
        if not (_received or isinstance(error, KeyboardInterrupt)):
            raise
        newest = checkpoint.newest_epoch(Path(model_dir) / "checkpoints") or 0
        raise RunInterrupted(model_dir, min(newest + 1, epochs), epochs) from None


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """For the command line: inside the block every SIGINT is recorded and
    raises `KeyboardInterrupt`, and an interrupt ends the process with one
    line on stderr and `EXIT_STATUS`."""
    global _received
    previous = signal.signal(signal.SIGINT, _on_sigint)
    exiting = False
    try:
        yield
    except BaseException as error:
        if not _interrupted_by(error):
            raise
        # A second Ctrl-C must not interrupt the message with a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        exiting = True
        if sys.stdout.isatty():
            print(flush=True)  # Off the line of Keras' progress bar.
        if isinstance(error, RunInterrupted):
            line = str(error)
        else:
            line = "interrupted; rerun the same command to resume."
        print(f"urfbtf: {line}", file=sys.stderr, flush=True)
        sys.exit(EXIT_STATUS)
    finally:
        if not exiting:
            signal.signal(signal.SIGINT, previous)
        _received = False


def _interrupted_by(error: BaseException) -> bool:
    if isinstance(error, SystemExit):
        # The run's own exit, unless an interrupt came first and ended as an error.
        return _received and bool(error.code)
    return _received or isinstance(error, KeyboardInterrupt)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Inside the block (a run's training), a first SIGINT the command line
    handles is raised by `RaisedBetweenSteps` at the next step's end, or at the
    block's end, instead of wherever the interpreter happens to be."""
    global _deferring, _pending
    _deferring, _pending = True, False
    try:
        yield
    finally:
        _deferring = False
    raise_pending()


def raise_pending() -> None:
    """Raises the `KeyboardInterrupt` of a deferred SIGINT, if one came."""
    global _pending
    if _pending:
        _pending = False
        raise KeyboardInterrupt


class RaisedBetweenSteps(keras.callbacks.Callback):
    """Raises a deferred Ctrl-C (`deferred`) where Keras calls back between
    steps, out of any traced or compiled code. Listed after the callback that
    checkpoints, so that an epoch it finished stays finished."""

    def on_train_batch_end(self, batch, logs=None):
        raise_pending()

    def on_epoch_begin(self, epoch, logs=None):
        raise_pending()

    def on_epoch_end(self, epoch, logs=None):
        raise_pending()


def _on_sigint(signum, frame) -> None:
    global _received, _pending
    if _deferring and not _pending:
        _received = _pending = True
        return
    _received = True
    raise KeyboardInterrupt


def exit_now() -> None:
    """Ends the process with `EXIT_STATUS` at once: output flushed, no
    interpreter teardown (see `urfbtf.runner.main.cli`)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_STATUS)
