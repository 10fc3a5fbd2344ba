"""What a run records after every epoch, in the order that makes resuming safe.

After each finished epoch `RunRecorder` measures the validation and test errors
(and top-5 errors, with more than 10 classes) and the rule's own metrics (the
W-R alignment of every feedback layer), appends one JSON line to
`metrics.jsonl`, writes the same scalars to TensorBoard, and
only then saves the checkpoint: a checkpoint for epoch k therefore always has its
metrics line, and a run resumed from it drops any line written after it (see
`truncate_metrics`). In a multi-worker cluster every worker evaluates (the sums
are all-reduced) but only the chief writes.

It also watches for divergence (`urfbtf.runner.watch`): the training loss after
every step, non-finite or above the loss ceiling (Keras reports it to
callbacks; the multi-worker loop only at the end of each epoch), and the whole
state before every checkpoint. A diverged epoch's line carries "diverged":
true, its step and the last finite loss; non-finite state is never
checkpointed; with on_divergence="stop" the run stops at that step, before its
epoch is checkpointed, with a `DivergenceError`. A write that fails raises
`RunFilesError` (TensorBoard's too, `urfbtf.runner.tensorboard`).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import keras

from urfbtf import alignment, probes, rules
from urfbtf.errors import DivergenceError
from urfbtf.records import (
    METRICS_FILE,
    PROBES_FILE,
    append_line,
    jsonable,
    read_records,
)
from urfbtf.runner import checkpoint, divergence
from urfbtf.runner.tensorboard import ScalarWriter
from urfbtf.runner.watch import DivergenceWatch, diverged_record


class RunRecorder(keras.callbacks.Callback):
    """Writes metrics.jsonl, TensorBoard scalars and a checkpoint after each epoch.

    Args:
        model_dir: the run's directory.
        evaluate: dataset -> {"loss", "error", "top5_error"} (an
            `urfbtf.runner.evaluation.Evaluator`).
        val_data: the validation set, or None.
        test_data: the test set.
        examples_per_epoch: training examples seen in one epoch.
        write: whether this process writes files (the chief).
        phase: the untying phase (`urfbtf.runner.untying`), 0 for one-phase runs.
        probe: (x, y) -> {name: value}, an `urfbtf.probes.Prober` bound to a
            fixed probe batch, run every `probe_every` training steps; each run
            is a line of probes.jsonl and TensorBoard scalars at that step, and
            the epoch's last one joins its metrics line. Its time is not
            counted as training time.
        probe_every: training steps between probes (0: no probes).
        rule: the `urfbtf.rules.Rule` the model trains by (default: its layers'),
            asked for its per-epoch metrics and for the optimizers whose state
            the checkpoints hold.
        on_divergence: "stop" raises `DivergenceError` at the step the loss (or,
            at the end of an epoch, the state) is first non-finite, or the loss
            above `loss_ceiling`; "continue" trains on. Either way non-finite
            state is not checkpointed.
        lr: the run's learning rate, for the divergence message.
        loss_ceiling: a finite training loss above it counts as divergence as
            a non-finite one does (`urfbtf.runner.build.loss_ceiling`); None: only a
            non-finite loss.

    Attributes:
        watch: its `urfbtf.runner.watch.DivergenceWatch`.
        diverged: the run's first `urfbtf.runner.divergence.Divergence`, or None.
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
        on_divergence: str = "stop",
        lr: float | None = None,
        loss_ceiling: float | None = None,
    ):
        super().__init__()
        self.on_divergence = on_divergence
        self.lr = lr
        self.watch = DivergenceWatch(loss_ceiling)
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

    @property
    def diverged(self):
        return self.watch.first

    def on_train_begin(self, logs=None):
        if self.rule is None:
            self.rule = rules.rule_of(self.model)
        self.watch.continue_from(read_records(self.model_dir))
        if self.write:
            self._writer = ScalarWriter(self.model_dir)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = self._train_end = time.perf_counter()
        self._probe_seconds = 0.0
        self._step = self._iterations()
        self.watch.start_epoch()

    def _iterations(self) -> int:
        # .numpy() reads a MirroredVariable too, which int() cannot.
        return int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        self._train_end = time.perf_counter()
        self._check_loss((logs or {}).get("loss"), batch + 1, logs)
        if not self.probe_every:
            return
        previous, self._step = self._step, self._iterations()
        if probes.due(previous, self._step, self.probe_every):
            self._record_probe()
        self._probe_seconds += time.perf_counter() - self._train_end

    def _record_probe(self) -> None:
        stats = {key: jsonable(value) for key, value in self.probe().items()}
        self._last_probe = stats
        if not self.write:
            return
        append_line(
            self.model_dir / PROBES_FILE,
            {"step": self._step, "epoch": self._epoch + 1, **stats},
        )
        self._writer.write(
            {f"probe/{k}": v for k, v in stats.items() if v is not None}, self._step
        )

    def _steps(self) -> int | None:
        return (self.params or {}).get("steps")

    def _check_loss(self, loss, step: int, logs) -> None:
        """Watches the training loss after training step `step` (1-based)."""
        found = self.watch.check_loss(loss, self._epoch + 1, step, self._steps())
        if found is not None:
            self._diverge(found, logs)

    def _diverge(self, found: divergence.Divergence, logs) -> None:
        """Under "stop", records the diverged epoch and stops the run."""
        if self.on_divergence != "stop":
            return
        # The run stops mid-epoch; evaluating a diverged model tells nothing.
        record = self._record(self._epoch, logs or {}, partial=True)
        self._write(diverged_record(record, found, False), checkpoint_it=False)
        self.on_train_end()
        raise DivergenceError(
            divergence.message(
                found,
                rule=self.rule.name,
                lr=self.lr,
                model_dir=self.model_dir,
                checkpoint_epoch=checkpoint.newest_epoch(
                    self.model_dir / "checkpoints"
                ),
            )
        )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        steps = self._steps() or 0
        # The multi-worker loop reports the loss only here.
        self._check_loss(logs.get("loss"), steps, logs)
        # Also finds a non-finite gradient whose weights do not reach the loss.
        bad = checkpoint.non_finite_state(self.model, self.rule.optimizers(self.model))
        found = self.watch.check_state(bad, epoch + 1, steps, self._steps())
        if found is not None:
            self._diverge(found, logs)
        record = self._record(epoch, logs)
        if self.watch.current is not None:
            record = diverged_record(record, self.watch.current, not bad)
        # Shown on Keras' progress line, which prints after this callback.
        for key in ("val_loss", "val_error", "test_loss", "test_error"):
            if record[key] is not None:
                logs[key] = record[key]
        for key in ("val_top5_error", "test_top5_error"):
            if record.get(key) is not None:
                logs[key] = record[key]
        self._write(record, checkpoint_it=not bad)

    def _record(self, epoch: int, logs: dict, partial: bool = False) -> dict:
        """The line of metrics.jsonl for `epoch` (0-based); for a `partial` epoch
        (a run stopped by divergence), without evaluations, rule metrics and
        throughput (null)."""
        train_seconds = self._train_end - self._epoch_start - self._probe_seconds
        val, test, measured = {}, {"loss": None, "error": None}, {}
        if not partial:
            if self.val_data is not None:
                val = self.evaluate(self.val_data)
            test = self.evaluate(self.test_data)
            measured = {
                **self.rule.epoch_metrics(self.model),
                **alignment.untied_similarity(self.model),
            }
        # Top-5 errors are recorded where they are measured: with more than 10
        # classes (`urfbtf.metrics.TOP5_MIN_CLASSES`).
        top5 = "top5_error" in logs or test.get("top5_error") is not None
        record = {
            "epoch": epoch + 1,
            "train_loss": logs.get("loss"),
            "train_error": logs.get("error"),
            "val_loss": val.get("loss"),
            "val_error": val.get("error"),
            "test_loss": test["loss"],
            "test_error": test["error"],
            **(
                {
                    "train_top5_error": logs.get("top5_error"),
                    "val_top5_error": val.get("top5_error"),
                    "test_top5_error": test.get("top5_error"),
                }
                if top5
                else {}
            ),
            "epoch_seconds": time.perf_counter() - self._epoch_start,
            "train_seconds": train_seconds,
            "examples_per_second": self.examples_per_epoch / max(train_seconds, 1e-9),
            "peak_rss_mb": peak_rss_mb(),
            **measured,
            **{k: v for k, v in self._last_probe.items() if not k.startswith("wr_")},
        }
        if partial:
            record["examples_per_second"] = None
        record = {key: jsonable(value) for key, value in record.items()}
        record["epoch"] = epoch + 1
        record["phase"] = self.phase + 1
        return record

    def _write(self, record: dict, checkpoint_it: bool) -> None:
        """Appends `record` to metrics.jsonl and TensorBoard, then checkpoints
        the state (if `checkpoint_it`): a checkpoint always has its line."""
        if not self.write:
            return
        append_line(self.model_dir / METRICS_FILE, record)
        numeric = {
            key: value
            for key, value in record.items()
            if key not in ("epoch", "phase")
            and value is not None
            and not isinstance(value, bool)
        }
        self._writer.write(numeric, record["epoch"], flush=True)
        if checkpoint_it:
            checkpoint.save(
                self.model,
                self.model_dir / "checkpoints",
                record["epoch"],
                phase=self.phase,
                optimizers=self.rule.optimizers(self.model),
            )

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


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


def truncate_metrics(model_dir, last_epoch: int) -> None:
    """Keeps only the records of epochs <= last_epoch (those the checkpoint
    holds), in metrics.jsonl and probes.jsonl."""
    for name in (METRICS_FILE, PROBES_FILE):
        path = Path(model_dir) / name
        if not path.exists():
            continue
        kept = [
            r for r in read_records(model_dir, name) if r.get("epoch", 0) <= last_epoch
        ]
        text = "".join(json.dumps(r) + "\n" for r in kept)
        checkpoint.write_text_atomically(path, text, f"the record {name}")
