"""Prints the Markdown table of GAIT-prop runs (the GAIT-prop ImageNet paper's
Figs. 4-5 report these quantities as curves, with no numbers in the text).

    .venv/bin/python tools/gait/summary.py RUN_DIR [RUN_DIR ...]

One row per run directory: the method, what the run changes from its
flagfile cell, the epochs run, the final train and test
error, the best test error, the median update angle to backprop of every layer
over all the run's probes (probes.jsonl; the paper's Fig. 4B/5B plot them per
step), and the median seconds per epoch. Reads only config.json, metrics.jsonl
and probes.jsonl, with `urfbtf.records`.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

from urfbtf.records import read_run


def method(config: dict) -> str:
    rule = config["rule"]
    if rule == "gait":
        if config.get("gait_norm"):
            return f"GAIT-prop, normalized (η {config['gait_norm']:g})"
        return f"GAIT-prop (γ {config['gait_gamma']:g})"
    return {"bp": "BP", "frfb": "FA", "tp_exact": "TP, exact inverses"}.get(rule, rule)


def median_angles(run_dir: Path) -> dict:
    """{layer: median update angle over every probe of the run}."""
    path = run_dir / "probes.jsonl"
    found: dict[str, list] = {}
    if path.exists():
        for line in path.open():
            for key, value in json.loads(line).items():
                layer = key.removeprefix("update_angle/")
                if layer != key and value == value:  # Not NaN.
                    found.setdefault(layer, []).append(value)
    return {layer: statistics.median(values) for layer, values in found.items()}


def variant(config: dict) -> str:
    """What a run changes from its flagfile cell (flags/gait/): the paper's
    arithmetic, λ = 0.1, Adam 1e-4, batch 100, pixels in [0, 1], eq. 4's
    incremental factor, seed 0."""
    changes = []
    if config["rule"] in ("gait", "tp_exact"):
        if config.get("gait_differences"):
            changes.append("differences carried")
        if config.get("gait_row_lengths"):
            changes.append("row lengths")
        if config.get("ortho_reg", 0.1) != 0.1:
            changes.append(f"λ = {config['ortho_reg']:g}")
    if config["optimizer"] != "adam" or config["lr"] != 1e-4:
        changes.append(f"{config['optimizer']} {config['lr']:g}")
    if config.get("batch_size", 100) != 100:
        changes.append(f"batch {config['batch_size']}")
    if config.get("normalize", "none") != "none":
        changes.append(f"inputs normalized ({config['normalize']})")
    if config.get("seed", 0) != 0:
        changes.append(f"seed {config['seed']}")
    return ", ".join(changes) or "–"


def percent(value) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def table(run_dirs) -> str:
    runs = []
    for run_dir in map(Path, run_dirs):
        config, records = read_run(run_dir)
        runs.append((config, records, median_angles(run_dir)))
    # The columns of the first run that was probed; a run without probes (or
    # of another net) shows "–" where it has no angle.
    layers = next((list(angles) for _, _, angles in runs if angles), [])
    rows = []
    for config, records, angles in runs:
        last = records[-1] if records else {}
        tests = [r["test_error"] for r in records if "test_error" in r]
        seconds = [r["epoch_seconds"] for r in records if "epoch_seconds" in r]
        rows.append(
            [
                config["net"],
                method(config),
                variant(config),
                str(last.get("epoch", 0)),
                percent(last.get("train_error")),
                percent(last.get("test_error")),
                percent(min(tests) if tests else None),
                *(f"{angles[n]:.1f}" if n in angles else "–" for n in layers),
                f"{statistics.median(seconds):.0f}" if seconds else "–",
            ]
        )
    header = [
        "net",
        "method",
        "changed",
        "epochs",
        "train err %",
        "test err %",
        "best test err %",
        *(f"angle {n} (°)" for n in layers),
        "s/epoch",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+")
    args = parser.parse_args(argv)
    print(table(args.run_dirs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
