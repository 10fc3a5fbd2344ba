"""Prints a Markdown table of finished runs, for README.md.

    python tools/summarize_runs.py RUN_DIR [RUN_DIR ...]

One row per run directory (as written by `python -m urfbtf`): the protocol
from config.json, then from the last line of metrics.jsonl the epoch count, the
train, validation and test errors (in %), the W-R correlation of each layer with
feedback weights (or, with --brief, the mean `untied_similarity` of the untied
layers), the median seconds per epoch and the peak memory of the process. Reads
only those two files (`urfbtf.records.read_run`).
"""

import argparse
import statistics
import sys
from pathlib import Path

from urfbtf.records import read_run


def protocol(config: dict) -> str:
    """The paper's names: BP (softmax), BP-H (hinge), URFB, FRFB, "50%"."""
    name = {"bp": "BP" if config["loss"] == "softmax" else "BP-H"}.get(
        config["rule"], config["rule"].upper()
    )
    if config["rule"] != "bp" and config["loss"] != "hinge":
        name += f" ({config['loss']})"
    if config["connectivity"] < 1:
        name += f" {config['connectivity']:.0%}"
    return name


def percent(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def untied(config: dict) -> str:
    """Which convolutions are untied, and from which epoch."""
    layers = config.get("untie") or ""
    if not layers:
        return "–"
    after = config.get("untie_after") or 0
    return layers.replace(",", " ") + (f" after epoch {after}" if after else "")


def table(run_dirs: list[Path], brief: bool = False, angles: bool = False) -> str:
    runs = [read_run(d) for d in run_dirs]
    if angles:
        return angle_table(runs)
    layers = []
    for _, records in runs:
        for key in records[-1]:
            if key.startswith("wr_corr/") and key[8:] not in layers:
                layers.append(key[8:])
    if brief:
        layers = []
    header = [
        "net",
        "protocol",
        "untied",
        "epochs",
        "train err %",
        "val err %",
        "test err %",
    ]
    header += [f"W-R corr {layer}" for layer in layers]
    if brief:
        header.append("untied similarity")
    header += ["s/epoch", "peak GB"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for config, records in runs:
        last = records[-1]
        cells = [
            config["net"],
            protocol(config),
            untied(config),
            str(last["epoch"]),
            percent(last["train_error"]),
            percent(last.get("val_error")),
            percent(last["test_error"]),
        ]
        for layer in layers:
            corr = last.get(f"wr_corr/{layer}")
            cells.append("–" if corr is None else f"{corr:.2f}")
        if brief:
            similarities = [
                v for k, v in last.items() if k.startswith("untied_similarity/")
            ]
            cells.append(
                f"{statistics.mean(similarities):.4f}" if similarities else "–"
            )
        cells.append(f"{statistics.median(r['epoch_seconds'] for r in records):.0f}")
        peak = max((r.get("peak_rss_mb") or 0) for r in records)
        cells.append(f"{peak / 1024:.1f}" if peak else "–")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def angle_table(runs) -> str:
    """Test error and, per layer, the last update angle to backprop (degrees)."""
    layers = []
    for _, records in runs:
        for key in records[-1]:
            if key.startswith("update_angle/") and key[13:] not in layers:
                layers.append(key[13:])
    header = ["net", "rule", "epochs", "train err %", "test err %"]
    header += [f"update angle {layer} (°)" for layer in layers] + ["s/epoch"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for config, records in runs:
        last = records[-1]
        cells = [
            config["net"],
            config["rule"],
            str(last["epoch"]),
            percent(last["train_error"]),
            percent(last["test_error"]),
        ]
        for layer in layers:
            angle = last.get(f"update_angle/{layer}")
            cells.append("–" if angle is None else f"{angle:.0f}")
        cells.append(f"{statistics.median(r['epoch_seconds'] for r in records):.0f}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument(
        "--brief",
        action="store_true",
        help="no W-R column per layer; the mean untied similarity",
    )
    parser.add_argument(
        "--angles",
        action="store_true",
        help="the rules' update angles to backprop per layer",
    )
    args = parser.parse_args()
    try:
        print(table(args.run_dirs, args.brief, args.angles))
    except (OSError, ValueError, KeyError) as error:
        print(f"summarize_runs: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
