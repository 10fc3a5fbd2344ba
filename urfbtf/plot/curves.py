"""Learning curves and the W-R correlation of runs, against epochs.

`curves` is Amit (2019) Figs. 4 and 7: train error solid, validation error
dotted, the final test error a star; `wr` is Figs. 10-11: the correlation of
each layer's forward weights W and feedback weights R. Both read only a run's
config.json and metrics.jsonl.
"""

from __future__ import annotations

import math

import numpy as np

from urfbtf.plot.figure import (
    new_figure,
    read_config,
    read_run_records,
    run_dirs,
    unique_labels,
)
from urfbtf.records import METRICS_FILE

WR_PREFIX = "wr_corr/"
LAYER_STYLES = ("-", "--", "-.", ":")
_NO_EPOCH = "the run has not finished an epoch yet."


class Run:
    """A run directory's settings and epoch records, as the plots read them."""

    def __init__(self, run_dir):
        self.dir = run_dirs(run_dir)[0]
        self.records = read_run_records(self.dir, METRICS_FILE, _NO_EPOCH)
        self.config = read_config(self.dir)

    def series(self, key: str) -> np.ndarray:
        """One metric over the epochs, NaN where a record lacks it (or is null)."""
        values = [record.get(key) for record in self.records]
        return np.array([np.nan if v is None else float(v) for v in values])

    def wr_layers(self) -> list[str]:
        """The layers with a W-R correlation, in the order the records give them."""
        layers: dict[str, None] = {}
        for record in self.records:
            for key in record:
                if key.startswith(WR_PREFIX):
                    layers.setdefault(key[len(WR_PREFIX) :])
        return list(layers)


def read(runs) -> list[Run]:
    return [Run(run_dir) for run_dir in run_dirs(runs)]


def labels(runs: list[Run]) -> list[str]:
    return unique_labels([run.dir for run in runs], [run.config for run in runs])


def curves(runs, *, wr: bool = False, title: str | None = None, max_error=1.0):
    """The learning curves of one run directory or several (a path or a list).

    Args:
        runs: run directories of `urfbtf` (config.json and metrics.jsonl).
        wr: also draw the W-R correlation panel beside the errors, when a run
            has feedback weights.
        title: the figure's title.
        max_error: the top of the error axis.

    Returns:
        A matplotlib Figure; `figure.axes[0]` is the error panel.
    """
    read_runs = read(runs)
    with_wr = wr and any(run.wr_layers() for run in read_runs)
    figure = new_figure(13 if with_wr else 7, 5)
    axes = figure.subplots(1, 2 if with_wr else 1, squeeze=False)[0]
    names = labels(read_runs)
    draw_errors(axes[0], read_runs, names, max_error)
    if with_wr:
        draw_wr(axes[1], read_runs, names)
    if title:
        figure.suptitle(title)
    return figure


def wr(runs, *, title: str | None = None):
    """The W-R correlation of each layer with feedback weights, against epochs;
    a `UsageError` if no run has any (a rule without feedback weights)."""
    from urfbtf.errors import UsageError

    read_runs = read(runs)
    if not any(run.wr_layers() for run in read_runs):
        rules = sorted({str(run.config.get("rule", "?")) for run in read_runs})
        raise UsageError(
            f"No run has a W-R correlation (wr_corr/* in metrics.jsonl; rules "
            f"{', '.join(rules)}): only layers with feedback weights R have one, "
            "under frfb and urfb."
        )
    figure = new_figure(7, 5)
    draw_wr(figure.subplots(), read_runs, labels(read_runs))
    if title:
        figure.suptitle(title)
    return figure


def draw_errors(ax, runs: list[Run], names: list[str], max_error: float) -> None:
    """Train (solid) and validation (dotted) error, and the final test error."""
    for index, (run, name) in enumerate(zip(runs, names, strict=True)):
        color = f"C{index % 10}"
        epochs = run.series("epoch")
        test = run.series("test_error")[-1]
        shown = "n/a" if math.isnan(test) else f"{test:.3f}"
        ax.plot(epochs, run.series("train_error"), "-", color=color)
        ax.lines[-1].set_label(f"{name} (test {shown})")
        ax.plot(epochs, run.series("val_error"), ":", color=color)
        if not math.isnan(test):
            # A scatter, so that ax.lines holds only the curves.
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
    _integer_epochs(ax)


def draw_wr(ax, runs: list[Run], names: list[str]) -> None:
    """One line per layer with feedback weights, lighter for higher layers."""
    from matplotlib.colors import to_rgb

    low = -0.2
    for index, (run, name) in enumerate(zip(runs, names, strict=True)):
        layers = run.wr_layers()
        for depth, layer in enumerate(layers):
            values = run.series(WR_PREFIX + layer)
            if np.isfinite(values).any():
                low = min(low, float(np.nanmin(values)))
            # The run's hue, lightened towards white with depth.
            mix = 0.0 if len(layers) <= 1 else 0.55 * depth / (len(layers) - 1)
            shade = tuple(c + (1 - c) * mix for c in to_rgb(f"C{index % 10}"))
            ax.plot(
                run.series("epoch"),
                values,
                LAYER_STYLES[depth % len(LAYER_STYLES)],
                color=shade,
                label=layer if len(runs) == 1 else f"{name}: {layer}",
            )
    ax.set(xlabel="epoch", ylabel="corr(W, R)", ylim=(low, 1.0))
    ax.set_title("W-R correlation per layer")
    with_wr = sum(1 for run in runs if run.wr_layers())
    if with_wr > 1:
        # "run: layer" labels are long: below the panel they hide no curve.
        ax.legend(
            fontsize="small",
            ncol=min(with_wr, 3),
            loc="upper center",
            bbox_to_anchor=(0.5, -0.14),
        )
    else:
        ax.legend(fontsize="small", loc="lower right")
    _integer_epochs(ax)


def _integer_epochs(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
