"""Prints the Markdown table of Bartunov et al. (2018) runs beside their Table 1.

    .venv/bin/python tools/bartunov/summary.py RUN_DIR [RUN_DIR ...]

One row per run directory: the method (rule, schedule, shared or untied
weights), the epochs run ("k of N" while a run has not finished), the final
train and test error, the best test error over the epochs (the paper reports
the best within 500 epochs), how far the test error rose above its best after
it (in points: a collapse shows here), the paper's train and test error for that cell,
the median update angle to backprop of the hidden layers at the last probe, and
the median seconds per epoch. Reads only config.json and metrics.jsonl
(`urfbtf.records.read_run`); a directory without a finished epoch (or
not yet made) is left out.
"""

import argparse
import statistics
import sys
from pathlib import Path

from urfbtf.records import read_run

# Table 1 of Bartunov et al. (2018), train / test error (%), MNIST, as
# ../shared/research/paper_numbers.md sec. 2.1 transcribes it (it extracted
# cleanly, and a second transcription agrees).
PAPER = {
    ("fc", "DTP, parallel"): (0.44, 2.86),
    ("fc", "DTP, alternating"): (0.00, 1.83),
    ("fc", "SDTP, parallel"): (1.14, 3.52),
    ("fc", "SDTP, alternating"): (0.00, 2.28),
    ("fc", "AO-SDTP, parallel"): (0.96, 2.93),
    ("fc", "AO-SDTP, alternating"): (0.00, 1.86),
    ("fc", "FA"): (0.00, 1.85),
    ("fc", "DFA"): (0.85, 2.75),
    ("fc", "BP"): (0.00, 1.48),
    ("lc", "DTP, parallel"): (0.00, 1.52),
    ("lc", "DTP, alternating"): (0.00, 1.46),
    ("lc", "SDTP, parallel"): (0.00, 1.98),
    ("lc", "SDTP, alternating"): (0.00, 1.90),
    ("lc", "AO-SDTP, parallel"): (0.00, 1.92),
    ("lc", "AO-SDTP, alternating"): (0.00, 1.91),
    ("lc", "FA"): (0.00, 1.26),
    ("lc", "DFA"): (0.23, 2.05),
    ("lc", "BP"): (0.00, 1.17),
    ("lc", "BP ConvNet"): (0.00, 1.01),
}
NAMES = {"bp": "BP", "frfb": "FA", "dfa": "DFA", "dtp": "DTP", "sdtp": "SDTP"}


def method(config: dict) -> str:
    rule = config["rule"]
    name = NAMES.get(rule, "AO-SDTP" if rule == "aosdtp" else rule.upper())
    if "tp_schedule" in config:
        name += f", {config['tp_schedule']}"
    if rule == "bp" and config["net"].endswith("_lc") and not config["untie"]:
        name = "BP ConvNet"
    return name


def epochs(done: int, planned) -> str:
    """The epochs run, "k of N" for a run that has not finished its N."""
    return str(done) if planned is None or done >= planned else f"{done} of {planned}"


def percent(value) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def rise_after_best(errors) -> str:
    """The most the test error rose above its best in the epochs after it,
    in percentage points."""
    best = min(range(len(errors)), key=errors.__getitem__)
    return f"{100 * (max(errors[best:]) - errors[best]):.2f}"


def hidden_angle(record: dict) -> str:
    angles = [
        v
        for k, v in record.items()
        if k.startswith("update_angle/") and not k.endswith("/output")
    ]
    return f"{statistics.median(angles):.0f}" if angles else "–"


def table(run_dirs) -> str:
    header = [
        "net",
        "method",
        "epochs",
        "train err %",
        "test err %",
        "best test err %",
        "rise after best (points)",
        "paper train / test %",
        "update angle, hidden (°)",
        "s/epoch",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run_dir in run_dirs:
        try:
            config, records = read_run(Path(run_dir))
        except (FileNotFoundError, ValueError):
            continue  # Not started, or no finished epoch yet.
        last = records[-1]
        arch = "lc" if config["net"].endswith("_lc") else "fc"
        name = method(config)
        paper = PAPER.get((arch, name))
        if config.get("tp_layer_loss") == "mean":
            name += ", layer losses averaged over units"
        probed = [r for r in records if any(k.startswith("update_angle/") for k in r)]
        cells = [
            config["net"],
            name,
            epochs(last["epoch"], config.get("epochs")),
            percent(last.get("train_error")),
            percent(last.get("test_error")),
            percent(min(r["test_error"] for r in records)),
            rise_after_best([r["test_error"] for r in records]),
            "–" if paper is None else f"{paper[0]:.2f} / {paper[1]:.2f}",
            hidden_angle(probed[-1]) if probed else "–",
            f"{statistics.median(r['epoch_seconds'] for r in records):.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+")
    args = parser.parse_args()
    print(table(args.run_dirs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
