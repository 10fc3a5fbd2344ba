"""What a run records after every epoch, in the order that makes resuming safe.

After each finished epoch `RunRecorder` measures the validation and test errors
and the rule's own metrics (the W-R alignment of every feedback layer), appends
one JSON line to `metrics.jsonl`, writes the same scalars to TensorBoard, and
only then saves the checkpoint: a checkpoint for epoch k therefore always has its
metrics line, and a run resumed from it drops any line written after it (see
`truncate_metrics`). In a multi-worker cluster every worker evaluates (the sums
are all-reduced) but only the chief writes.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from urfbtf import alignment, checkpoint, rules

METRICS_FILE = "metrics.jsonl"
PROBES_FILE = "probes.jsonl"


class RunRecorder(keras.callbacks.Callback):
    """Writes metrics.jsonl, TensorBoard scalars and a checkpoint after each epoch.

    Args:
        model_dir: the run's directory.
        evaluate: dataset -> {"loss", "error"} (an `urfbtf.evaluation.Evaluator`).
        val_data: the validation set, or None.
        test_data: the test set.
        examples_per_epoch: training examples seen in one epoch.
        write: whether this process writes files (the chief).
        phase: the protocol phase (`urfbtf.protocol`), 0 for one-phase runs.
        probe: (x, y) -> {name: value}, an `urfbtf.probes.Prober` bound to a
            fixed probe batch, run every `probe_every` training steps; each run
            is a line of probes.jsonl and TensorBoard scalars at that step, and
            the epoch's last one joins its metrics line. Its time is not
            counted as training time.
        probe_every: training steps between probes (0: no probes).
        rule: the `urfbtf.rules.Rule` the model trains by (default: its layers'),
            asked for its per-epoch metrics and for the optimizers whose state
            the checkpoints hold.
    """

    def __init__(
        self,
        model_dir,
        evaluate,
        val_data,
        test_data,
        examples_per_epoch: int,
        write: bool = True,
        phase: int = 0,
        probe=None,
        probe_every: int = 0,
        rule: rules.Rule | None = None,
    ):
        super().__init__()
        self.rule = rule
        self.model_dir = Path(model_dir)
        self.evaluate = evaluate
        self.val_data = val_data
        self.test_data = test_data
        self.examples_per_epoch = examples_per_epoch
        self.write = write
        self.phase = phase
        self.probe = probe
        self.probe_every = probe_every
        self._writer = None
        self._last_probe = {}

    def on_train_begin(self, logs=None):
        if self.rule is None:
            self.rule = rules.rule_of(self.model)
        if self.write:
            self._writer = tf.summary.create_file_writer(
                str(self.model_dir / "tensorboard")
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = self._train_end = time.perf_counter()
        self._probe_seconds = 0.0
        self._step = self._iterations()

    def _iterations(self) -> int:
        # .numpy() reads a MirroredVariable too, which int() cannot.
        return int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        self._train_end = time.perf_counter()
        if not self.probe_every:
            return
        previous, self._step = self._step, self._iterations()
        if self._step // self.probe_every > previous // self.probe_every:
            self._record_probe()
        self._probe_seconds += time.perf_counter() - self._train_end

    def _record_probe(self) -> None:
        stats = {key: _jsonable(value) for key, value in self.probe().items()}
        self._last_probe = stats
        if not self.write:
            return
        _append_line(
            self.model_dir / PROBES_FILE,
            {"step": self._step, "epoch": self._epoch + 1, **stats},
        )
        with self._writer.as_default(step=self._step):
            for key, value in stats.items():
                if value is not None:
                    tf.summary.scalar(f"probe/{key}", value)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        train_seconds = self._train_end - self._epoch_start - self._probe_seconds
        val = self.evaluate(self.val_data) if self.val_data is not None else {}
        test = self.evaluate(self.test_data)
        record = {
            "epoch": epoch + 1,
            "train_loss": logs.get("loss"),
            "train_error": logs.get("error"),
            "val_loss": val.get("loss"),
            "val_error": val.get("error"),
            "test_loss": test["loss"],
            "test_error": test["error"],
            "epoch_seconds": time.perf_counter() - self._epoch_start,
            "train_seconds": train_seconds,
            "examples_per_second": self.examples_per_epoch / max(train_seconds, 1e-9),
            "peak_rss_mb": peak_rss_mb(),
            **self.rule.epoch_metrics(self.model),
            **alignment.untied_similarity(self.model),
            **{k: v for k, v in self._last_probe.items() if not k.startswith("wr_")},
        }
        record = {key: _jsonable(value) for key, value in record.items()}
        record["epoch"] = epoch + 1
        record["phase"] = self.phase + 1
        # Shown on Keras' progress line, which prints after this callback.
        for key in ("val_loss", "val_error", "test_loss", "test_error"):
            if record[key] is not None:
                logs[key] = record[key]
        if not self.write:
            return
        _append_line(self.model_dir / METRICS_FILE, record)
        with self._writer.as_default(step=epoch + 1):
            for key, value in record.items():
                if key not in ("epoch", "phase") and value is not None:
                    tf.summary.scalar(key, value)
        self._writer.flush()
        checkpoint.save(
            self.model,
            self.model_dir / "checkpoints",
            epoch + 1,
            phase=self.phase,
            optimizers=self.rule.optimizers(self.model),
        )

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()


def peak_rss_mb() -> float:
    """The most memory this process has held so far (resident set, MiB)."""
    # Linux keeps getrusage's maxrss across fork and exec, so a process started
    # by a large one would report its parent's peak; VmHWM belongs to this
    # process image alone.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _jsonable(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _append_line(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_metrics(model_dir, name: str = METRICS_FILE) -> list[dict]:
    """The parseable lines of model_dir/metrics.jsonl (or of another record file
    such as probes.jsonl); a line cut short by a kill is skipped."""
    path = Path(model_dir) / name
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_metrics(model_dir, last_epoch: int) -> None:
    """Keeps only the records of epochs <= last_epoch (those the checkpoint
    holds), in metrics.jsonl and probes.jsonl."""
    for name in (METRICS_FILE, PROBES_FILE):
        path = Path(model_dir) / name
        if not path.exists():
            continue
        kept = [
            r for r in read_metrics(model_dir, name) if r.get("epoch", 0) <= last_epoch
        ]
        temporary = path.with_suffix(".jsonl.tmp")
        temporary.write_text("".join(json.dumps(r) + "\n" for r in kept))
        os.replace(temporary, path)
