"""Whole-state checkpoints at epoch boundaries, written atomically.

A checkpoint holds every variable of the model (weights, feedback weights, masks
and the dropout layers' random-generator states) and of every optimizer its rule
trains it with (`urfbtf.rules.Rule.optimizers`: the model's own, and for rules
with layer-local losses, theirs), so that a run resumed from it continues exactly
as if it had never stopped. Keras'
`save_weights` leaves the dropout generators out, which would change the
dropout masks after a resume.

Each file is written to a temporary name and renamed into place, so a run killed
at any moment leaves either the previous complete checkpoint or the new one; a
write that fails (a full disk) removes its temporary file and raises
`urfbtf.errors.RunFilesError` (`replace_atomically`, which the run's other files
use too). The two newest are kept, in case the newest cannot be read, and the
last checkpoint of every earlier phase of a two-phase run (`urfbtf.runner.untying`):
the trained tied net. Non-finite state (a run that diverged, see
`urfbtf.runner.divergence`) is never written, so that it cannot push the last finite
checkpoints out, and one written before that rule is skipped when resuming.
"""

from __future__ import annotations

import dataclasses
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from urfbtf.errors import UsageError, files_error
from urfbtf.runner import divergence

_PATTERN = re.compile(r"epoch-(\d+)(?:-phase(\d+))?\.npz$")
_KEEP = 2


def _state_variables(model, optimizers=None) -> list:
    """The model's variables, then each optimizer's.

    `optimizers` is a list of (optimizer, the variables it trains), as
    `urfbtf.rules.Rule.optimizers` gives it; None means the model's own
    optimizer, for all its trainable variables.
    """
    if optimizers is None:
        optimizers = []
        if model.optimizer is not None:
            optimizers = [(model.optimizer, model.trainable_variables)]
    build_optimizers(optimizers)
    state = list(model.variables)
    for optimizer, _ in optimizers:
        state += list(optimizer.variables)
    return state


def build_optimizers(optimizers) -> None:
    """Builds each (optimizer, variables) pair not built yet on its variables.

    Optimizer slots (momentum, Adam moments) exist only after a build. A run
    builds them before it trains (`urfbtf.runner.run`), so that a fresh run and a
    resumed one hold the same slots: left to Keras, `fit` under a distribution
    strategy builds the model's optimizer on every trainable variable, while a
    resumed run would build it here on the variables the rule gives it.
    """
    for optimizer, variables in optimizers:
        if optimizer is not None and not optimizer.built:
            optimizer.build(variables)


@dataclasses.dataclass(frozen=True)
class Saved:
    """A checkpoint read from disk: its file, epoch, phase and arrays."""

    path: Path
    epoch: int
    phase: int
    arrays: dict


def save(
    model, directory: str | os.PathLike, epoch: int, phase: int = 0, optimizers=None
) -> Path:
    """Writes the state after `epoch` finished epochs (in untying phase `phase`,
    see `urfbtf.runner.untying`) to directory/epoch-N.npz; `optimizers` as in
    `_state_variables`.

    Raises:
        ValueError: the state is not finite (callers check `non_finite_state`
            first: a non-finite checkpoint would replace a finite one).
        urfbtf.errors.RunFilesError: the file could not be written.
    """
    directory = Path(directory)
    variables = _state_variables(model, optimizers)
    arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
    bad = divergence.non_finite(
        (v.path, arrays[f"v{i}"]) for i, v in enumerate(variables)
    )
    if bad:
        raise ValueError(
            f"Refusing to checkpoint epoch {epoch}: {', '.join(bad)} hold non-finite "
            "values, and a non-finite checkpoint would replace a finite one."
        )
    arrays["paths"] = np.array([v.path for v in variables])
    arrays["epoch"] = np.array(epoch)
    arrays["phase"] = np.array(phase)
    name = f"epoch-{epoch:06d}" + (f"-phase{phase + 1}" if phase else "")
    path = directory / f"{name}.npz"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise files_error(
            error, f"create the checkpoint directory {directory}"
        ) from error
    write_atomically(path, lambda f: np.savez(f, **arrays), "the checkpoint")
    same_phase = [p for p in checkpoints(directory) if _phase_of(p) == phase]
    for old in same_phase[:-_KEEP]:
        old.unlink(missing_ok=True)
    return path


def replace_atomically(path: Path, write, what: str, temporary: Path | None = None):
    """Makes the file `path` by `write(temporary)` and renaming the temporary
    file (default .<name>.tmp beside it) into place, so that `path` is either
    the old file or the whole new one, whenever the process stops. When the
    write fails the temporary file is removed, and an OSError (a full disk, a
    path inside a file) becomes a `RunFilesError` naming `what` and `path`."""
    path = Path(path)
    temporary = temporary or path.with_name(f".{path.name}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException as error:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass  # Nothing more can be done; the original error says why.
        if isinstance(error, OSError):
            raise files_error(error, f"write {what} {path}") from error
        raise


def write_atomically(path: Path, fill, what: str) -> None:
    """`replace_atomically` for a file written by `fill(binary_file)`, synced to
    disk before it replaces `path`."""

    def write(temporary):
        with open(temporary, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())

    replace_atomically(path, write, what)


def write_text_atomically(path: Path, text: str, what: str) -> None:
    """`write_atomically` for a text file (UTF-8)."""
    data = text.encode()
    write_atomically(path, lambda f: f.write(data), what)


def non_finite_state(model, optimizers=None) -> list[str]:
    """The paths of the variables of `model` and its optimizers (as in
    `_state_variables`) that hold a NaN or an infinity."""
    variables = _state_variables(model, optimizers)
    return divergence.non_finite((v.path, v.numpy()) for v in variables)


def newest_epoch(directory: str | os.PathLike) -> int | None:
    """The epoch of the newest checkpoint file in `directory` (by name), or None."""
    found = checkpoints(directory)
    return int(_PATTERN.search(found[-1].name).group(1)) if found else None


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
    """The newest readable checkpoint of finite state in `directory`, or None."""
    for path in reversed(checkpoints(directory)):
        try:
            with np.load(path) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            continue  # A damaged file: fall back to the previous checkpoint.
        if divergence.non_finite(arrays.items()):
            # Written by a diverged run before urfbtf refused to save one: it
            # would diverge again at once, so fall back to the last finite one.
            continue
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


def restore(
    model, saved: Saved, optimizers=None, *, keep_learning_rates: bool = False
) -> int:
    """Assigns a checkpoint's arrays to the variables of `model` and its
    optimizers (as in `_state_variables`); returns its epoch.

    Keras keeps an optimizer's learning rate in a variable, which the checkpoint
    holds; with `keep_learning_rates` the optimizers keep the rates they were
    made with (a diverged run resumed at a smaller lr, `urfbtf.runner.divergence`).
    """
    variables = _state_variables(model, optimizers)
    kept = []
    if keep_learning_rates:
        for optimizer, _ in optimizers or [(model.optimizer, None)]:
            if optimizer is not None:
                rates = [v for v in optimizer.variables if v.name == "learning_rate"]
                kept += [(v, v.numpy()) for v in rates]
    _assign(variables, saved.arrays, saved.path)
    for variable, value in kept:
        variable.assign(value)
    return saved.epoch


def restore_latest(model, directory: str | os.PathLike, optimizers=None) -> int:
    """Restores the newest readable checkpoint; returns its epoch (0 if none)."""
    saved = latest(directory)
    return 0 if saved is None else restore(model, saved, optimizers)


def _structure(paths) -> list[str]:
    # Keras numbers auto-named objects per process ("seed_generator_4"), so the
    # same model built twice in one process has different paths.
    return [re.sub(r"_\d+(?=/|$)", "", str(p)) for p in paths]


def _assign(variables: list, arrays: dict, path: Path) -> None:
    saved = [
        (p, tuple(arrays[f"v{i}"].shape))
        for i, p in enumerate(_structure(arrays["paths"]))
    ]
    current = [
        (p, tuple(v.shape))
        for p, v in zip(_structure(v.path for v in variables), variables, strict=True)
    ]
    if saved != current:
        first = next(
            (i for i, (a, b) in enumerate(zip(saved, current, strict=False)) if a != b),
            min(len(saved), len(current)),
        )
        theirs = saved[first] if first < len(saved) else "nothing"
        ours = current[first] if first < len(current) else "nothing"
        raise UsageError(
            f"Checkpoint {path} was written by a different model: it holds "
            f"{len(saved)} variables and this model {len(current)}, and variable "
            f"{first} is {theirs} there but {ours} here; use another model_dir."
        )
    for i, variable in enumerate(variables):
        variable.assign(arrays[f"v{i}"])
