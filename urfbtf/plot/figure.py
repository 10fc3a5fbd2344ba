"""What the plots share: matplotlib (an optional extra), figures drawn without
pyplot's global state, and the run directories they read.

matplotlib is not a dependency of urfbtf: `pip install "urfbtf[plot]"` adds it.
Without it, every plot ends with a `PlotDependencyError` that says so, not
with an ImportError from deep inside.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from urfbtf.errors import RunFilesError, UrfbtfError
from urfbtf.records import CONFIG_FILE, read_records


class PlotDependencyError(UrfbtfError):
    """matplotlib, which only the plots need, is not installed (exit status 1)."""

    exit_code = 1


def new_figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas, outside pyplot (no window, and
    nothing left open in pyplot's list of figures)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise PlotDependencyError(
            f"The plots need matplotlib, which is not installed ({error}). "
            'Install urfbtf with its plot extra: pip install "urfbtf[plot]" '
            '(from a checkout: pip install -e ".[plot]"; ./run.sh installs it).'
        ) from None
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save(figure, out: str | Path, dpi: int = 120) -> Path:
    """Writes `figure` to `out` (a .png, or any format matplotlib knows by
    the name's suffix), creating its directory; returns the path."""
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, dpi=dpi)
    except OSError as error:
        raise RunFilesError(f"Could not write the figure {out}: {error}.") from None
    return out


def run_dirs(runs) -> list[Path]:
    """One run directory or several, as a list of paths."""
    if isinstance(runs, (str, Path)):
        return [Path(runs)]
    return [Path(run) for run in runs]


def read_config(run_dir: Path) -> dict[str, Any]:
    """The run's config.json, or {} when it is missing or unreadable (a run
    is still worth drawing; only its label suffers)."""
    try:
        config = json.loads((run_dir / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def read_run_records(run_dir: Path, name: str, advice: str) -> list[dict]:
    """The records of run_dir/`name`, or `RunFilesError` naming what is
    missing: the directory, the file, or any finished record."""
    if not run_dir.is_dir():
        raise RunFilesError(f"{run_dir} is not a directory: pass a run directory.")
    if not (run_dir / name).is_file():
        raise RunFilesError(f"{run_dir} has no {name}: {advice}")
    records = [r for r in read_records(run_dir, name) if _has_its_key(r, name)]
    if not records:
        raise RunFilesError(f"{run_dir / name} holds no complete record: {advice}")
    return records


def _has_its_key(record: dict, name: str) -> bool:
    return ("step" if name.startswith("probes") else "epoch") in record


def run_label(config: dict[str, Any]) -> str:
    """A legend label such as "simpnet urfb hinge c=0.5" from a run's config."""
    parts = [str(config[k]) for k in ("net", "rule", "loss") if k in config]
    connectivity = config.get("connectivity")
    try:
        if connectivity is not None and float(connectivity) != 1.0:
            parts.append(f"c={float(connectivity):g}")
    except (TypeError, ValueError):
        parts.append(f"c={connectivity}")
    return " ".join(parts)


def unique_labels(run_dirs: list[Path], configs: list[dict]) -> list[str]:
    """Each run's label, with its directory's name where labels would clash."""
    labels = [run_label(config) for config in configs]
    clashes = {label for label in labels if not label or labels.count(label) > 1}
    return [
        f"{label} [{run_dir.name}]".lstrip() if label in clashes else label
        for label, run_dir in zip(labels, run_dirs, strict=True)
    ]
