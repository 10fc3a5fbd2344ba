"""Whole-state checkpoints at epoch boundaries, written atomically.

A checkpoint holds every variable of the model (weights, feedback weights, masks
and the dropout layers' random-generator states) and of its optimizer, so that a
run resumed from it continues exactly as if it had never stopped. Keras'
`save_weights` leaves the dropout generators out, which would change the
dropout masks after a resume.

Each file is written to a temporary name and renamed into place, so a run killed
at any moment leaves either the previous complete checkpoint or the new one. The
two newest are kept, in case the newest cannot be read, and the last checkpoint of
every earlier phase of a two-phase run (`urfbtf.protocol`): the trained tied net.
"""

from __future__ import annotations

import dataclasses
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from urfbtf.errors import UsageError

_PATTERN = re.compile(r"epoch-(\d+)(?:-phase(\d+))?\.npz$")
_KEEP = 2


def _state_variables(model) -> list:
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        # Optimizer slots (momentum, Adam moments) exist only after a build.
        optimizer.build(model.trainable_variables)
    optimizer_variables = list(optimizer.variables) if optimizer is not None else []
    return list(model.variables) + optimizer_variables


@dataclasses.dataclass(frozen=True)
class Saved:
    """A checkpoint read from disk: its file, epoch, phase and arrays."""

    path: Path
    epoch: int
    phase: int
    arrays: dict


def save(model, directory: str | os.PathLike, epoch: int, phase: int = 0) -> Path:
    """Writes the state after `epoch` finished epochs (in protocol phase `phase`,
    see `urfbtf.protocol`) to directory/epoch-N.npz."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    variables = _state_variables(model)
    arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
    arrays["paths"] = np.array([v.path for v in variables])
    arrays["epoch"] = np.array(epoch)
    arrays["phase"] = np.array(phase)
    name = f"epoch-{epoch:06d}" + (f"-phase{phase + 1}" if phase else "")
    path = directory / f"{name}.npz"
    temporary = directory / f".{name}.npz.tmp"
    with open(temporary, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    same_phase = [p for p in checkpoints(directory) if _phase_of(p) == phase]
    for old in same_phase[:-_KEEP]:
        old.unlink(missing_ok=True)
    return path


def _phase_of(path: Path) -> int:
    suffix = _PATTERN.search(path.name).group(2)
    return int(suffix) - 1 if suffix else 0


def checkpoints(directory: str | os.PathLike) -> list[Path]:
    """The checkpoint files in `directory`, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _PATTERN.search(p.name)]
    return sorted(found, key=lambda p: int(_PATTERN.search(p.name).group(1)))


def latest(directory: str | os.PathLike) -> Saved | None:
    """The newest readable checkpoint in `directory`, or None."""
    for path in reversed(checkpoints(directory)):
        try:
            with np.load(path) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            continue  # A damaged file: fall back to the previous checkpoint.
        phase = int(arrays.get("phase", 0))
        return Saved(path, int(arrays["epoch"]), phase, arrays)
    return None


def variables_at(directory: str | os.PathLike, epoch: int) -> dict[str, np.ndarray]:
    """The variables saved after `epoch`, by path, in model order.

    `directory` is a checkpoint directory or a run's directory (which holds
    `checkpoints/`). Paths drop Keras' per-process numbering of auto-named objects
    ("seed_generator_4" reads "seed_generator"); a repeated path gets "#2", "#3".
    """
    if (Path(directory) / "checkpoints").is_dir():
        directory = Path(directory) / "checkpoints"
    matches = [
        p
        for p in checkpoints(directory)
        if int(_PATTERN.search(p.name).group(1)) == epoch
    ]
    if not matches:
        raise FileNotFoundError(f"no checkpoint of epoch {epoch} in {directory}")
    with np.load(matches[-1]) as data:
        variables = {}
        for i, path in enumerate(_structure(data["paths"])):
            key, count = path, 1
            while key in variables:
                count += 1
                key = f"{path}#{count}"
            variables[key] = data[f"v{i}"]
    return variables


def restore(model, saved: Saved) -> int:
    """Assigns a checkpoint's arrays to `model`'s variables; returns its epoch."""
    _assign(model, saved.arrays, saved.path)
    return saved.epoch


def restore_latest(model, directory: str | os.PathLike) -> int:
    """Restores the newest readable checkpoint; returns its epoch (0 if none)."""
    saved = latest(directory)
    return 0 if saved is None else restore(model, saved)


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
