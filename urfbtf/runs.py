"""A Markdown table of finished runs, as on the papers' pages.

    python -m urfbtf.runs RUN_DIR [RUN_DIR ...] [--brief | --angles]

One row per run directory: the protocol from its config.json, then from the
last line of its metrics.jsonl the epochs, the train, validation and test errors
(in %), the W-R correlation of each layer with feedback weights (or, with
--brief, the mean `untied_similarity` of the untied layers), the median seconds
per epoch and the peak memory of the process. `--angles` gives each layer's last
update angle to backprop instead. Reads only those two files
(`urfbtf.records.read_run`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from urfbtf.errors import RunFilesError
from urfbtf.records import read_run


def protocol(config: dict) -> str:
    """The rule in capitals, then the loss unless it is Amit (2019)'s hinge, and
    the connectivity below 1: "URFB 50%", "FRFB (softmax)"."""
    name = config["rule"].upper()
    if config["loss"] != "hinge":
        name += f" ({config['loss']})"
    if config.get("connectivity", 1) < 1:
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


def read(run_dirs) -> list[tuple[dict, list[dict]]]:
    """(config, records) of each run, or `RunFilesError` naming the one that
    cannot be read."""
    runs = []
    for run_dir in run_dirs:
        try:
            runs.append(read_run(run_dir))
        except FileNotFoundError:
            raise RunFilesError(
                f"{run_dir} has no config.json: it is not a run directory, or its "
                "run never started."
            ) from None
        except (OSError, ValueError) as error:
            raise RunFilesError(f"{run_dir} cannot be read as a run: {error}") from None
    return runs


def _layers(runs, prefix: str) -> list[str]:
    layers: list[str] = []
    for _, records in runs:
        for key in records[-1]:
            if key.startswith(prefix) and key[len(prefix) :] not in layers:
                layers.append(key[len(prefix) :])
    return layers


def _rows(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _seconds(records) -> str:
    return f"{statistics.median(r.get('epoch_seconds') or 0 for r in records):.0f}"


def table(run_dirs, brief: bool = False) -> str:
    """The runs' table: errors, W-R correlations (or the untied similarity)."""
    runs = read(run_dirs)
    layers = [] if brief else _layers(runs, "wr_corr/")
    header = ["net", "protocol", "untied", "epochs"]
    header += ["train err %", "val err %", "test err %"]
    header += [f"W-R corr {layer}" for layer in layers]
    header += ["untied similarity"] if brief else []
    header += ["s/epoch", "peak GB"]
    rows = []
    for config, records in runs:
        last = records[-1]
        row = [config["net"], protocol(config), untied(config), str(last["epoch"])]
        row += [percent(last.get(k)) for k in ("train_error", "val_error")]
        row += [percent(last.get("test_error"))]
        for layer in layers:
            corr = last.get(f"wr_corr/{layer}")
            row.append("–" if corr is None else f"{corr:.2f}")
        if brief:
            found = [v for k, v in last.items() if k.startswith("untied_similarity/")]
            row.append(f"{statistics.mean(found):.4f}" if found else "–")
        peak = max((r.get("peak_rss_mb") or 0) for r in records)
        row += [_seconds(records), f"{peak / 1024:.1f}" if peak else "–"]
        rows.append(row)
    return _rows(header, rows)


def angle_table(run_dirs) -> str:
    """Test error and, per layer, the last update angle to backprop (degrees)."""
    runs = read(run_dirs)
    layers = _layers(runs, "update_angle/")
    header = ["net", "rule", "epochs", "train err %", "test err %"]
    header += [f"update angle {layer} (°)" for layer in layers] + ["s/epoch"]
    rows = []
    for config, records in runs:
        last = records[-1]
        row = [config["net"], config["rule"], str(last["epoch"])]
        row += [percent(last.get("train_error")), percent(last.get("test_error"))]
        for layer in layers:
            angle = last.get(f"update_angle/{layer}")
            row.append("–" if angle is None else f"{angle:.0f}")
        rows.append(row + [_seconds(records)])
    return _rows(header, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m urfbtf.runs", description=__doc__.splitlines()[0]
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument(
        "--brief", action="store_true", help="the mean untied similarity, no W-R"
    )
    kind.add_argument(
        "--angles", action="store_true", help="each layer's update angle to backprop"
    )
    args = parser.parse_args(argv)
    try:
        if args.angles:
            print(angle_table(args.run_dirs))
        else:
            print(table(args.run_dirs, args.brief))
    except RunFilesError as error:
        print(f"urfbtf.runs: error: {error}", file=sys.stderr)
        return 1
    except KeyError as error:
        print(
            f"urfbtf.runs: error: a run's config.json lacks the setting {error}; "
            "is it a run directory of urfbtf?",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
