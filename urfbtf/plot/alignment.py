"""The alignment probes of runs against training steps (Frenkel et al. 2021,
Figs. 2C-D and 3C-D).

Reads each run's probes.jsonl, which a run writes with `--probe_every` and the
`urfbtf.callbacks.Alignment` callback writes for one's own `fit`, and draws one
column per layer: the angle between the rule's weight update and
backpropagation's (top row), and the mean angle between the errors they deliver
at the layer's output, with a band of one standard deviation over the probe
batch (bottom row), one colour per run.
"""

from __future__ import annotations

import numpy as np

from urfbtf.errors import UsageError
from urfbtf.plot.figure import new_figure, read_config, read_run_records, run_dirs
from urfbtf.records import PROBES_FILE

_NO_PROBE = "probes are recorded by --probe_every (or the Alignment callback)."


def read_probes(run_dir) -> tuple[str, list[dict]]:
    """(the run's label, its probe records): "net rule" from its config.json,
    else the directory's name (the Alignment callback writes no config)."""
    run_dir = run_dirs(run_dir)[0]
    records = read_run_records(run_dir, PROBES_FILE, _NO_PROBE)
    config = read_config(run_dir)
    if "net" in config and "rule" in config:
        return f"{config['net']} {config['rule']}", records
    return run_dir.name, records


def smoothed(values: np.ndarray, momentum: float) -> np.ndarray:
    """The exponentially weighted moving average the paper's figures draw
    (momentum 0: the values themselves)."""
    if momentum <= 0:
        return values
    out, average = np.empty_like(values), values[0]
    for index, value in enumerate(values):
        average = momentum * average + (1 - momentum) * value
        out[index] = average
    return out


def alignment(runs, *, smooth: float = 0.0, ymax: float = 120.0, labels=None):
    """The probes of one run directory or several, as a matplotlib Figure.

    Args:
        runs: run directories with a probes.jsonl.
        smooth: momentum of an exponential moving average, in [0, 1).
        ymax: the top of the angle axis, in degrees.
        labels: one label per run, in order (default "net rule" or the
            directory's name).
    """
    directories = run_dirs(runs)
    if labels is not None and len(labels) != len(directories):
        raise UsageError(
            f"{len(labels)} labels for {len(directories)} runs: give one per run, "
            "in order."
        )
    if not ymax > 0:
        raise UsageError(f"ymax={ymax:g}: the angle axis's top must be positive.")
    if not 0 <= smooth < 1:
        raise UsageError(f"smooth={smooth:g}: a momentum in [0, 1) (0: none).")
    read_runs = [read_probes(directory) for directory in directories]
    if labels is not None:
        read_runs = [
            (label, r) for label, (_, r) in zip(labels, read_runs, strict=True)
        ]
    layers: list[str] = []
    for _, records in read_runs:
        for key in records[0]:
            if key.startswith("update_angle/") and key[13:] not in layers:
                layers.append(key[13:])
    if not layers:
        raise UsageError("The probes hold no update_angle/<layer>: nothing to draw.")
    figure = new_figure(3.6 * len(layers), 6.0)
    axes = figure.subplots(2, len(layers), squeeze=False, sharex=True)
    for colour, (label, records) in enumerate(read_runs):
        steps = np.array([record["step"] for record in records])
        for column, layer in enumerate(layers):
            update = smoothed(_series(records, "update_angle", layer), smooth)
            signal = smoothed(_series(records, "signal_angle", layer), smooth)
            spread = smoothed(_series(records, "signal_angle_std", layer), smooth)
            color = f"C{colour % 10}"
            axes[0, column].plot(steps, update, color=color, label=label)
            axes[1, column].plot(steps, signal, color=color, label=label)
            axes[1, column].fill_between(
                steps, signal - spread, signal + spread, color=color, alpha=0.2
            )
    for column, layer in enumerate(layers):
        axes[0, column].set_title(f"{layer}: update angle")
        axes[1, column].set_title(f"{layer}: error angle")
        axes[1, column].set_xlabel("step")
        for row in range(2):
            if ymax > 90:
                axes[row, column].axhline(90, color="gray", linewidth=0.5)
            axes[row, column].set_ylim(0, ymax)
    for row in range(2):
        axes[row, 0].set_ylabel("degrees to backprop")
    axes[0, 0].legend(fontsize=8)
    return figure


def _series(records: list[dict], key: str, layer: str) -> np.ndarray:
    values = [record.get(f"{key}/{layer}") for record in records]
    return np.array([np.nan if v is None else v for v in values], dtype=float)
