"""The format of a run's records: JSON lines, one object per line.

A run of the runner (`urfbtf.runner`) leaves `metrics.jsonl` (one line per
finished epoch) and, with probes, `probes.jsonl` (one line per probe) in its
directory; `urfbtf.callbacks.Alignment` writes the same probes.jsonl for a model
trained with one's own `fit`. This module is what they share, and what tests and
tools read a run with: `read_records(run_dir)` is the list of its epochs'
records, `read_run(run_dir)` its settings beside them. It imports nothing of the runner.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from urfbtf.errors import files_error

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
PROBES_FILE = "probes.jsonl"


def jsonable(value):
    """`value` as a JSON number: a float, or None for a missing or non-finite
    value (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def append_line(path: Path, record: dict) -> None:
    """Appends `record` to the JSON-lines file `path` and syncs it to disk;
    raises `RunFilesError` when it cannot."""
    # A line cut short by a failed write is skipped by read_records, and the
    # runner drops it when the run resumes (`urfbtf.runner.recorder`).
    try:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as error:
        raise files_error(error, f"append to {path}") from error


def read_records(run_dir, name: str = METRICS_FILE) -> list[dict]:
    """The records of run_dir/metrics.jsonl (or of another record file such
    as probes.jsonl), oldest first: its lines that are JSON objects; a line cut
    short by a kill or a full disk, or that some other program wrote, is
    skipped. A missing file has no records."""
    path = Path(run_dir) / name
    if not path.exists():
        return []
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def read_run(run_dir) -> tuple[dict, list[dict]]:
    """(the settings of run_dir/config.json, the records of its metrics.jsonl).

    Raises FileNotFoundError when the run has no config.json (it never
    started), and ValueError when no epoch has finished yet.
    """
    run_dir = Path(run_dir)
    config = json.loads((run_dir / CONFIG_FILE).read_text())
    records = read_records(run_dir)
    if not records:
        raise ValueError(f"{run_dir / METRICS_FILE} has no finished epoch")
    return config, records
