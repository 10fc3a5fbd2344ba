"""Draws the alignment probes of runs against training steps (Frenkel et al. 2021,
Figs. 2C-D and 3C-D).

    python tools/plot_alignment.py RUN_DIR [RUN_DIR ...] --out F.png [--smooth 0.95]
        [--labels A B ...] [--ymax 120]

Reads each run's probes.jsonl (written with --probe_every) and config.json, and
draws one column per layer: the angle between the rule's weight update and
backpropagation's (top row), and the mean angle between the errors they deliver
at the layer's output, with a band of one standard deviation over the probe batch
(bottom row). One colour per run. `--smooth` applies the paper's exponentially
weighted moving average (0: none). Reads only those two files. Each run is
labelled "net rule" unless --labels names them (runs of one rule that differ in
a setting); --ymax sets the angle axis's top, for rules within a few degrees.
"""

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read_probes(run_dir: Path) -> tuple[str, list[dict]]:
    """(label, probe records) of a run directory."""
    path = run_dir / "probes.jsonl"
    if not path.exists():
        raise ValueError(f"{run_dir} has no probes.jsonl (run it with --probe_every)")
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # A line cut short by a kill.
    if not records:
        raise ValueError(f"{path} holds no probe")
    try:
        config = json.loads((run_dir / "config.json").read_text())
        label = f"{config['net']} {config['rule']}"
    except (OSError, ValueError, KeyError):
        label = run_dir.name
    return label, records


def smoothed(values: np.ndarray, momentum: float) -> np.ndarray:
    if momentum <= 0:
        return values
    out, average = np.empty_like(values), values[0]
    for i, value in enumerate(values):
        average = momentum * average + (1 - momentum) * value
        out[i] = average
    return out


def _series(records: list[dict], key: str, layer: str) -> np.ndarray:
    return np.array([r.get(f"{key}/{layer}", np.nan) for r in records], dtype=float)


def plot_alignment(
    runs: list[tuple[str, list[dict]]],
    out: Path,
    momentum: float = 0,
    ymax: float = 120,
):
    """Draws `runs` (label, records) into `out`, angles from 0 to `ymax`
    degrees; returns the figure."""
    layers = []
    for _, records in runs:
        for key in records[0]:
            if key.startswith("update_angle/") and key[13:] not in layers:
                layers.append(key[13:])
    figure, axes = plt.subplots(
        2, len(layers), squeeze=False, sharex=True, figsize=(3.6 * len(layers), 6.0)
    )
    for colour, (label, records) in enumerate(runs):
        steps = np.array([r["step"] for r in records])
        for column, layer in enumerate(layers):
            update = smoothed(_series(records, "update_angle", layer), momentum)
            signal = smoothed(_series(records, "signal_angle", layer), momentum)
            spread = smoothed(_series(records, "signal_angle_std", layer), momentum)
            axes[0, column].plot(steps, update, color=f"C{colour}", label=label)
            axes[1, column].plot(steps, signal, color=f"C{colour}", label=label)
            axes[1, column].fill_between(
                steps, signal - spread, signal + spread, color=f"C{colour}", alpha=0.2
            )
    for column, layer in enumerate(layers):
        axes[0, column].set_title(f"{layer}: update angle")
        axes[1, column].set_title(f"{layer}: error angle")
        axes[1, column].set_xlabel("step")
        for row in range(2):
            if ymax > 90:
                axes[row, column].axhline(90, color="gray", linewidth=0.5)
            axes[row, column].set_ylim(0, ymax)
    axes[0, 0].set_ylabel("degrees to backprop")
    axes[1, 0].set_ylabel("degrees to backprop")
    axes[0, 0].legend(fontsize=8)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return figure


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--smooth",
        type=float,
        default=0.0,
        help="momentum of an exponential moving average (0: none)",
    )
    parser.add_argument("--labels", nargs="+", help="one per run, in order")
    parser.add_argument("--ymax", type=float, default=120.0, help="degrees")
    args = parser.parse_args(argv)
    if args.labels is not None and len(args.labels) != len(args.run_dirs):
        parser.error(
            f"--labels: {len(args.labels)} labels for {len(args.run_dirs)} runs; "
            "give one per run, in order"
        )
    if args.ymax <= 0:
        parser.error(f"--ymax {args.ymax:g}: must be a positive number of degrees")
    try:
        runs = [read_probes(run_dir) for run_dir in args.run_dirs]
    except ValueError as error:
        print(f"plot_alignment: {error}", file=sys.stderr)
        return 2
    if args.labels is not None:
        runs = [
            (label, records)
            for label, (_, records) in zip(args.labels, runs, strict=True)
        ]
    plot_alignment(runs, args.out, args.smooth, args.ymax)
    print(f"wrote {args.out} ({len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
