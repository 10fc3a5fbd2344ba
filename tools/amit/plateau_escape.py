"""When a run under the multi-class hinge loss leaves its starting plateau.

    .venv/bin/python tools/amit/plateau_escape.py RUN_DIR [RUN_DIR ...] [--left 0.1]
        [--fit_below 0.01]

At a zero output field the hinge loss of Amit (2019) eq. 4 is 1 + off_class_fac
(every margin at 1): the plateau Amit's nets start on (tools/amit/plateau_signal.py).
Off it, the training loss's deficit d = plateau − loss grows about
geometrically at first, as a small signal does near a saddle. From each run's
metrics.jsonl this prints the epoch at which the deficit first reaches `--left`
(the run has left the plateau), the deficit's growth per epoch fitted (least
squares on log d) over the epochs in which it is still below `--fit_below` (and
above 0: a loss at or over the plateau has no logarithm), and,
for a run that has not left, the epoch at which that growth would reach
`--left`. The fit describes only the start: a deficit may grow faster as the
signal grows (a run that left can be checked against its own early fit, the
table shows it) or stall below `--left` (FRFB's on deepnet), so the predicted
epoch is a guess to test by running on.
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np


def escape(records: list[dict], plateau: float, left: float, fit_below: float) -> dict:
    """The plateau numbers of one run's epoch records (see the module docstring)."""
    epochs = np.array([r["epoch"] for r in records], "f8")
    deficit = plateau - np.array([r["train_loss"] for r in records], "f8")
    reached = np.flatnonzero(deficit >= left)
    on_plateau = np.flatnonzero((deficit > 0) & (deficit < fit_below))
    if reached.size:  # Fit only the epochs before it left.
        on_plateau = on_plateau[on_plateau < reached[0]]
    result = {
        "epochs": int(epochs[-1]),
        "left": int(epochs[reached[0]]) if reached.size else None,
    }
    if on_plateau.size < 2:
        return {**result, "growth": None, "predicted": None}
    slope, intercept = np.polyfit(epochs[on_plateau], np.log(deficit[on_plateau]), 1)
    # Where the fitted line, not the last (noisy) deficit, reaches `left`.
    predicted = (math.log(left) - intercept) / slope if slope > 0 else None
    return {
        **result,
        "growth": math.exp(slope),
        "fit": epochs[on_plateau],
        "predicted": predicted,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--left", type=float, default=0.1)
    parser.add_argument("--fit_below", type=float, default=0.01)
    args = parser.parse_args(argv)
    print(
        f"| run | epochs | left the plateau (deficit ≥ {args.left:g}) in epoch "
        f"| deficit growth per epoch, fitted | on epochs "
        f"| predicted epoch of leaving, from the fit |"
    )
    print("|---|---|---|---|---|---|")
    for run in args.runs:
        config = json.loads((run / "config.json").read_text())
        if config.get("loss") != "hinge":
            print(f"| {run} | – | not a hinge-loss run | | | |")
            continue
        plateau = 1.0 + config.get("off_class_fac", 1.0)
        lines = (run / "metrics.jsonl").read_text().splitlines()
        result = escape(
            [json.loads(line) for line in lines], plateau, args.left, args.fit_below
        )
        growth = "–" if result["growth"] is None else f"×{result['growth']:.2f}"
        fit = "–" if result["growth"] is None else _span(result["fit"])
        predicted = "–" if result["predicted"] is None else f"{result['predicted']:.0f}"
        left = "not yet" if result["left"] is None else str(result["left"])
        print(
            f"| {run} | {result['epochs']} | {left} | {growth} | {fit} | {predicted} |"
        )
    return 0


def _span(epochs) -> str:
    first, last = int(epochs[0]), int(epochs[-1])
    return f"{first}-{last}" if last > first else str(first)


if __name__ == "__main__":
    sys.exit(main())
