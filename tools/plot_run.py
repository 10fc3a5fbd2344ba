"""Plot learning curves and W-R alignment of one or more urfbtf run directories.

Panel 1 is Amit (2019) Figs. 4/7 (train error solid, validation dotted, final test
error starred); panel 2 is Figs. 10-11 (correlation of forward W and feedback R per
layer). Only config.json and metrics.jsonl are read, so neither TensorFlow nor urfbtf
is imported and the tool starts fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

CORR_PREFIX = "wr_corr/"
LAYER_STYLES = ("-", "--", "-.", ":")


class RunError(Exception):
    """A run directory cannot be plotted (missing directory, file or data)."""


def _stderr(message: str) -> None:
    """Prints a diagnostic to stderr so stdout keeps only the 'wrote' line."""
    print(f"plot_run: {message}", file=sys.stderr)


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """Reads a run directory written by the trainer.

    Args:
        run_dir: Directory holding ``config.json`` and ``metrics.jsonl``.

    Returns:
        A dict with ``dir`` (Path), ``config`` (dict, empty if config.json is
        missing or unreadable) and ``records`` (list of per-epoch dicts, in order).

    Raises:
        RunError: If the directory or metrics.jsonl is missing, or no line parses.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: run directory does not exist")
    metrics_path = run_dir / "metrics.jsonl"
    if not metrics_path.is_file():
        raise RunError(f"{run_dir}: no metrics.jsonl in run directory")

    config: dict[str, Any] = {}
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError) as exc:
        # The curves are still worth plotting; only the legend label suffers.
        _stderr(f"warning: {run_dir}: no usable config.json ({exc})")
    if not isinstance(config, dict):
        config = {}

    try:
        lines = metrics_path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise RunError(f"{run_dir}: cannot read metrics.jsonl ({exc})") from exc
    records = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        # A run killed mid-write leaves a truncated last line; skip, don't die.
        if not isinstance(record, dict) or "epoch" not in record:
            _stderr(f"warning: {metrics_path}:{lineno}: skipping unparseable line")
            continue
        records.append(record)
    if not records:
        raise RunError(f"{run_dir}: metrics.jsonl has no parseable line")
    return {"dir": run_dir, "config": config, "records": records}


def series(run: dict[str, Any], key: str) -> np.ndarray:
    """Returns one metric over epochs as floats, with null/missing mapped to NaN."""
    values = [r.get(key) for r in run["records"]]
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def corr_layers(run: dict[str, Any]) -> list[str]:
    """Returns the layers that have ``wr_corr/<layer>`` keys, bottom to top."""
    layers: dict[str, None] = {}  # dict keeps first-seen (network) order
    for record in run["records"]:
        for key in record:
            if key.startswith(CORR_PREFIX):
                layers.setdefault(key[len(CORR_PREFIX) :])
    return list(layers)


def run_label(config: dict[str, Any]) -> str:
    """Builds a legend label such as ``simpnet urfb hinge c=0.5`` from a config."""
    parts = [str(config[k]) for k in ("net", "rule", "loss") if k in config]
    conn = config.get("connectivity")
    try:
        if conn is not None and float(conn) != 1.0:
            parts.append(f"c={float(conn):g}")
    except (TypeError, ValueError):
        parts.append(f"c={conn}")
    return " ".join(parts)


def unique_labels(runs: list[dict[str, Any]]) -> list[str]:
    """Labels each run, appending the directory name where labels would clash."""
    labels = [run_label(run["config"]) for run in runs]
    clashes = {label for label in labels if not label or labels.count(label) > 1}
    return [
        f"{label} [{run['dir'].name}]".lstrip() if label in clashes else label
        for label, run in zip(labels, runs, strict=True)
    ]


def _shade(color: Any, index: int, count: int) -> tuple[float, float, float]:
    """Lightens ``color`` towards white for higher layers, keeping the run's hue."""
    mix = 0.0 if count <= 1 else 0.55 * index / (count - 1)
    return tuple(c + (1.0 - c) * mix for c in to_rgb(color))


def plot_runs(
    runs: list[dict[str, Any]],
    out_path: str | Path | None = None,
    title: str | None = None,
    max_error: float = 1.0,
) -> Figure:
    """Draws the error panel and, if any run has W-R correlations, the W-R panel.

    Args:
        runs: Results of :func:`read_run`.
        out_path: PNG to write (parent directories are created); None to skip.
        title: Optional figure title.
        max_error: Upper limit of the error axis.

    Returns:
        The Figure; ``fig.axes[0]`` is the error panel, ``fig.axes[1]`` (if
        present) the W-R correlation panel.
    """
    has_corr = any(corr_layers(run) for run in runs)
    fig = Figure(figsize=(13 if has_corr else 7, 5), layout="constrained")
    FigureCanvasAgg(fig)  # headless Agg rendering without touching pyplot state
    axes = fig.subplots(1, 2 if has_corr else 1, squeeze=False)[0]
    colors = [f"C{i % 10}" for i in range(len(runs))]
    labels = unique_labels(runs)

    ax = axes[0]
    for run, color, label in zip(runs, colors, labels, strict=True):
        epochs = series(run, "epoch")
        test = series(run, "test_error")[-1]
        test_text = "n/a" if math.isnan(test) else f"{test:.3f}"
        train = series(run, "train_error")
        ax.plot(epochs, train, "-", color=color, label=f"{label} (test {test_text})")
        ax.plot(epochs, series(run, "val_error"), ":", color=color)
        if not math.isnan(test):
            # scatter, not plot, so ax.lines holds only the train/val curves.
            ax.scatter(
                [epochs[-1]],
                [test],
                marker="*",
                s=120,
                color=color,
                edgecolors="black",
                linewidths=0.6,
                zorder=3,
            )
    ax.set(xlabel="epoch", ylabel="error", ylim=(0.0, max_error))
    ax.set_title("train (solid), validation (dotted), final test (star)")
    ax.legend(fontsize="small")

    if has_corr:
        ax = axes[1]
        low = -0.2
        for run, color, label in zip(runs, colors, labels, strict=True):
            layers = corr_layers(run)
            for i, layer in enumerate(layers):
                values = series(run, CORR_PREFIX + layer)
                if np.isfinite(values).any():
                    low = min(low, float(np.nanmin(values)))
                name = layer if len(runs) == 1 else f"{label}: {layer}"
                style, shade = LAYER_STYLES[i % 4], _shade(color, i, len(layers))
                ax.plot(series(run, "epoch"), values, style, color=shade, label=name)
        ax.set(xlabel="epoch", ylabel="corr(W, R)", ylim=(low, 1.0))
        ax.set_title("W-R correlation per layer")
        corr_runs = sum(1 for run in runs if corr_layers(run))
        if corr_runs > 1:
            # "run: layer" labels are long; below the panel, one column per run,
            # they stay readable and never hide the curves.
            ax.legend(
                fontsize="small",
                ncol=min(corr_runs, 3),
                loc="upper center",
                bbox_to_anchor=(0.5, -0.14),
            )
        else:
            ax.legend(fontsize="small", loc="lower right")
    else:
        _stderr("no run has wr_corr/* keys; W-R panel omitted")

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    if out_path is not None:
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_path, dpi=120)
    return fig


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--title", default=None, help="figure title")
    parser.add_argument("--max_error", type=float, default=1.0, help="error axis top")
    args = parser.parse_args(argv)
    try:
        runs = [read_run(d) for d in args.run_dirs]
    except RunError as exc:
        _stderr(f"error: {exc}")
        return 2
    plot_runs(runs, args.out, title=args.title, max_error=args.max_error)
    print(f"wrote {args.out} ({len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
