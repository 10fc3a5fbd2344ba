"""A run's directory: where it is, and the files that say which run it holds.

`config.json` holds a run's settings (and the library versions); a directory
whose checkpoints belong to a run with other settings is refused rather than
mixed, and one whose files urfbtf did not write is refused rather than read.
Every file is written to a temporary name and renamed into place
(`urfbtf.runner.checkpoint.write_text_atomically`), and one run at a time
writes there (`claimed`, `urfbtf.runner.lock`).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import urfbtf
from urfbtf.errors import RunFilesError, UrfbtfError, UsageError, files_error
from urfbtf.records import read_records
from urfbtf.runner import checkpoint, divergence, lock
from urfbtf.runner.config import Config


def default(config: Config) -> Path:
    """runs/<net>-<rule>-<loss>-c<connectivity>-s<seed>, relative to the CWD."""
    return Path("runs") / config.run_name()


def versions() -> dict:
    return {
        "urfbtf": urfbtf.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }


@contextlib.contextmanager
def claimed(
    config: Config, model_dir: Path, *, write: bool = True
) -> Iterator[tuple[dict | None, dict | None]]:
    """`check_same_run` for a run of `config` in `model_dir`, and for a process
    that writes there, the directory created and locked inside the block.

    The files are checked before the lock file is made, so that a directory
    refused as another run's or as foreign stays untouched, and again under the
    lock, since a run that held it in between may have changed them. A process
    that only reads (a worker of a cluster other than the chief) takes no lock.

    A run that fails (or is interrupted) before it records its first epoch
    leaves nothing behind: the directories this call created are removed, so
    that a failed start (bad data, no network) leaves no empty run directory.

    Raises:
        urfbtf.runner.lock.RunInUseError: a live run holds model_dir.
        UsageError, RunFilesError: as `check_same_run`; or model_dir cannot be
            created.
    """
    if not write:
        yield check_same_run(config, model_dir)
        return
    try:
        check_same_run(config, model_dir)
    except UrfbtfError:
        lock.refuse_if_held(model_dir)  # A live run is the reason to give first.
        raise
    with made_and_locked(model_dir, _has_an_epoch):
        yield check_same_run(config, model_dir)


@contextlib.contextmanager
def made_and_locked(path: Path, kept) -> Iterator[None]:
    """`path` created (with its parents) and locked inside the block; if the
    block fails while `kept(path)` is false, the directories this call
    created are removed again, so that a failed start leaves nothing."""
    created = _missing(path)
    make(path)
    try:
        with lock.held(path):
            try:
                yield
            except BaseException:
                if created and not kept(path):
                    # Still under the lock: no other run can be writing there.
                    shutil.rmtree(path, ignore_errors=True)
                raise
    finally:
        for directory in created:
            _remove_if_empty(directory)


def _missing(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first:
    what `make(path)` creates."""
    missing = []
    for directory in (path, *path.parents):
        if directory.exists():
            break
        missing.append(directory)
    return missing


def _has_an_epoch(model_dir: Path) -> bool:
    """Whether the run in model_dir recorded an epoch (a finished one, or the
    epoch it diverged in) or checkpointed one: what a failed run leaves for
    the user to read or resume."""
    return bool(
        read_records(model_dir) or checkpoint.checkpoints(model_dir / "checkpoints")
    )


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass  # Not empty (or already gone): it holds something else.


def check_same_run(config: Config, model_dir: Path) -> tuple[dict | None, dict | None]:
    """Refuses a model_dir whose checkpoints belong to a run with other settings,
    or that holds checkpoints beside a config.json urfbtf did not write.

    Returns:
        (the run's config.json, the first diverged record of its metrics.jsonl
        or None), or (None, None) when there is no run to resume: a run that
        diverged may resume at a lower lr (`Config.changes_from`).
    """
    path = model_dir / "config.json"
    if not checkpoint.checkpoints(model_dir / "checkpoints"):
        return None, None
    previous = read_config(path)
    diverged = divergence.first(read_records(model_dir))
    changed = config.changes_from(previous, diverged=diverged is not None)
    if changed:
        raise UsageError(
            f"{model_dir} holds a run with other settings ({'; '.join(changed)}), "
            "so it cannot be resumed with these. Pass another --model_dir, or "
            "delete that directory to start over."
        )
    return previous, diverged


def read_config(path: Path) -> dict:
    """The config.json of a run that has checkpoints, or `RunFilesError`."""
    advice = (
        f"{path.parent / 'checkpoints'} holds checkpoints, but urfbtf cannot tell "
        "which run they belong to. Pass another --model_dir, or delete that "
        "directory to start over."
    )
    try:
        previous = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunFilesError(f"{path} is missing: {advice}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunFilesError(
            f"{path} is not the config.json of a run of urfbtf (it cannot be read "
            f"as JSON: {error}): {advice}"
        ) from None
    if not isinstance(previous, dict):
        kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number"}
        kind = "null" if previous is None else kinds.get(type(previous), "a number")
        raise RunFilesError(
            f"{path} is not the config.json of a run of urfbtf (it holds {kind}, "
            f"not a JSON object of settings): {advice}"
        )
    return previous


def make(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise files_error(error, f"create the run directory {path}") from error


def write_config(config: Config, model_dir: Path, lr_history=None) -> None:
    """Writes config.json: the settings, the learning rates used and from which
    epoch (`urfbtf.runner.divergence.lr_history`), and the library versions."""
    make(model_dir)
    settings = config.to_dict()
    history = lr_history or [{"lr": config.lr, "from_epoch": 1}]
    text = json.dumps(
        {**settings, "lr_history": history, "versions": versions()}, indent=2
    )
    checkpoint.write_text_atomically(
        model_dir / "config.json", text, "the run's settings"
    )


def save_model(model, path: Path) -> None:
    # Keras saves only to names that end in .keras.
    temporary = path.with_name(".tmp-" + path.name)
    checkpoint.replace_atomically(path, model.save, "the final model", temporary)
