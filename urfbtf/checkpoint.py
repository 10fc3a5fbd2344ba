"""Whole-state checkpoints at epoch boundaries, written atomically.

A checkpoint holds every variable of the model (weights, feedback weights, masks
and the dropout layers' random-generator states) and of its optimizer, so that a
run resumed from it continues exactly as if it had never stopped. Keras'
`save_weights` leaves the dropout generators out, which would change the
dropout masks after a resume.

Each file is written to a temporary name and renamed into place, so a run killed
at any moment leaves either the previous complete checkpoint or the new one. The
two newest are kept, in case the newest cannot be read.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np

from urfbtf.errors import UsageError

_PATTERN = re.compile(r"epoch-(\d+)\.npz$")
_KEEP = 2


def _state_variables(model) -> list:
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        # Optimizer slots (momentum, Adam moments) exist only after a build.
        optimizer.build(model.trainable_variables)
    optimizer_variables = list(optimizer.variables) if optimizer is not None else []
    return list(model.variables) + optimizer_variables


def save(model, directory: str | os.PathLike, epoch: int) -> Path:
    """Writes the state after `epoch` finished epochs to directory/epoch-N.npz."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    variables = _state_variables(model)
    arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
    arrays["paths"] = np.array([v.path for v in variables])
    arrays["epoch"] = np.array(epoch)
    path = directory / f"epoch-{epoch:06d}.npz"
    temporary = directory / f".epoch-{epoch:06d}.npz.tmp"
    with open(temporary, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    for old in checkpoints(directory)[:-_KEEP]:
        old.unlink(missing_ok=True)
    return path


def checkpoints(directory: str | os.PathLike) -> list[Path]:
    """The checkpoint files in `directory`, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _PATTERN.search(p.name)]
    return sorted(found, key=lambda p: int(_PATTERN.search(p.name).group(1)))


def restore_latest(model, directory: str | os.PathLike) -> int:
    """Restores the newest readable checkpoint; returns its epoch (0 if none)."""
    for path in reversed(checkpoints(directory)):
        try:
            with np.load(path) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            continue  # A damaged file: fall back to the previous checkpoint.
        _assign(model, arrays, path)
        return int(arrays["epoch"])
    return 0


def _structure(paths) -> list[str]:
    # Keras numbers auto-named objects per process ("seed_generator_4"), so the
    # same model built twice in one process has different paths.
    return [re.sub(r"_\d+(?=/|$)", "", str(p)) for p in paths]


def _assign(model, arrays: dict, path: Path) -> None:
    variables = _state_variables(model)
    saved_paths = _structure(arrays["paths"])
    current_paths = _structure(v.path for v in variables)
    if saved_paths != current_paths or any(
        tuple(arrays[f"v{i}"].shape) != tuple(v.shape) for i, v in enumerate(variables)
    ):
        raise UsageError(
            f"Checkpoint {path} was written by a different model: its variables are "
            f"{saved_paths[:4]}... but this model has {current_paths[:4]}...; use "
            "another model_dir."
        )
    for i, variable in enumerate(variables):
        variable.assign(arrays[f"v{i}"])
