"""Keras callbacks for one's own training: how closely a rule follows backprop.

`Alignment` gives a model trained with one's own `model.fit` what the runner
records: the alignment probes of `--probe_every` (`urfbtf.probes.Prober`;
Frenkel et al. 2021, Figs. 2C-D and 3C-D) and the W-R alignment of every
feedback layer (`urfbtf.alignment.feedback_alignment`; Amit 2019, Figs. 10-11),
computed by the same code, on the same schedule (`urfbtf.probes.due`) and
written in the same format as the runner's probes.jsonl (`urfbtf.records`).
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from urfbtf import alignment, arguments, probes
from urfbtf.errors import UsageError
from urfbtf.records import PROBES_FILE, append_line, jsonable


class Alignment(keras.callbacks.Callback):
    """Probes a model of urfbtf layers against backpropagation on a fixed batch.

    Every `every` training steps, and once before the first step of a fresh
    optimizer, it measures on the batch `data`, for every learning layer:

    * `update_angle/<layer>`, `signal_angle/<layer>`, `signal_angle_std/<layer>`
      (degrees; `urfbtf.probes`, the runner's probes);
    * `wr_corr/<layer>` and `wr_angle/<layer>` where the layer has feedback
      weights R (`urfbtf.alignment.feedback_alignment`, the runner's W-R
      metrics).

    Each probe is a dict {"step", "epoch", name: value, ...} appended to
    `records`; with `log_dir`, also a line of `log_dir/probes.jsonl` (the
    runner's file, which `urfbtf.plot.alignment` draws) and TensorBoard
    scalars `probe/<name>` at that step in `log_dir`. After every epoch the
    `History` that `fit` returns gets the epoch's last probe and the W-R
    metrics and the rule's own per-epoch metrics at the epoch's end (as the
    runner's metrics.jsonl), and with `log_dir` they are also TensorBoard
    scalars `epoch/<name>` at the epoch's index. They stay out of the epoch's
    logs, and so out of Keras' progress bar (five numbers a layer), unless
    `in_logs`.

    Args:
        data: (x, y), the fixed probe batch. The probes run eagerly on all of
            it, twice (the rule, then exact backpropagation): the runner uses
            256 examples.
        every: training steps between probes.
        log_dir: directory for probes.jsonl and the TensorBoard events; None
            keeps the probes in `records` and the History only.
        in_logs: also put the epoch's numbers in the epoch's logs, where every
            later callback reads them (Keras' progress bar prints them; its
            `TensorBoard`, `CSVLogger` and `EarlyStopping` can use them).

    Attributes:
        records: every probe so far, oldest first (`epoch` 0: before training).
    """

    def __init__(self, data, every: int = 100, log_dir=None, in_logs: bool = False):
        super().__init__()
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise arguments.refuse(
                "data", data, "a pair (x, y): the fixed batch the probes use"
            )
        steps = "an integer >= 1: the training steps between probes"
        arguments.check_integer("every", every, steps)
        if every < 1:
            raise arguments.refuse("every", every, steps)
        arguments.check_path(
            "log_dir", log_dir, "a directory (str or path), or None for no files"
        )
        if not isinstance(in_logs, bool):
            raise arguments.refuse("in_logs", in_logs, "True or False")
        self.x, self.y = data
        self.every = every
        self.in_logs = in_logs
        self.log_dir = None if log_dir is None else Path(log_dir)
        self.records: list[dict] = []
        self._prober = None
        self._writer = None
        self._epoch = 0
        self._step = 0

    def _iterations(self) -> int:
        # .numpy() reads a MirroredVariable too, which int() cannot.
        return int(self.model.optimizer.iterations.numpy())

    def on_train_begin(self, logs=None):
        if self._prober is None or self._prober.model is not self.model:
            try:
                self._prober = probes.Prober(self.model)
            except UsageError as error:
                raise UsageError(
                    f"Alignment needs a model whose layers learn by one urfbtf "
                    f"rule (urfbtf.layers, or urfbtf.convert(model, rule)): {error}"
                ) from None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._writer = tf.summary.create_file_writer(str(self.log_dir))
        self._step = self._iterations()
        if self._step == 0:
            self._probe(epoch=0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        previous, self._step = self._step, self._iterations()
        if probes.due(previous, self._step, self.every):
            self._probe(self._epoch)

    def on_epoch_end(self, epoch, logs=None):
        if not self.records:
            return
        # As the runner's metrics.jsonl: W-R as the epoch ends, the rest from
        # the epoch's last probe.
        last = self.records[-1]
        found = {
            key: value
            for key, value in last.items()
            if key not in ("step", "epoch") and not key.startswith("wr_")
        }
        found.update(self.weight_alignment())
        if self.in_logs and logs is not None:
            logs.update(found)
        else:
            # The History of this fit (Keras sets it on the model as fit
            # starts), written beside the logs it records.
            history = getattr(self.model, "history", None)
            if isinstance(history, keras.callbacks.History):
                for key, value in found.items():
                    history.history.setdefault(key, []).append(value)
        if self._writer is not None:
            with self._writer.as_default(step=epoch):
                for key, value in found.items():
                    if jsonable(value) is not None:
                        tf.summary.scalar(f"epoch/{key}", value)
            self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def weight_alignment(self) -> dict[str, float]:
        """`wr_corr/<layer>` and `wr_angle/<layer>` of every feedback layer, and
        the rule's own per-epoch metrics (`Rule.epoch_metrics`), now."""
        return {
            **alignment.feedback_alignment(self.model),
            **self._prober.rule.epoch_metrics(self.model),
        }

    def _probe(self, epoch: int) -> None:
        stats = {
            **alignment.feedback_alignment(self.model),
            **self._prober(self.x, self.y),
        }
        record = {"step": self._step, "epoch": epoch, **stats}
        self.records.append(record)
        if self.log_dir is None:
            return
        line = {key: jsonable(value) for key, value in record.items()}
        line["step"], line["epoch"] = self._step, epoch
        append_line(self.log_dir / PROBES_FILE, line)
        with self._writer.as_default(step=self._step):
            for key, value in stats.items():
                if line[key] is not None:
                    tf.summary.scalar(f"probe/{key}", value)
        self._writer.flush()
