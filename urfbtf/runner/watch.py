"""Watching a run for divergence, step by step (`urfbtf.runner.divergence`).

`DivergenceWatch` is the part of `urfbtf.runner.recorder.RunRecorder` that
decides whether a run diverged: after every training step it is shown the
training loss (Keras' running mean over the epoch, which stays non-finite once
a step's loss was), at the end of every epoch the non-finite variables of the
state, and it returns the epoch's first `Divergence` when it finds one. What the
run then does (stop, or train on) is the recorder's.
"""

from __future__ import annotations

import math

from urfbtf.runner.divergence import Divergence


class DivergenceWatch:
    """Finds the first step of each epoch at which the run diverged.

    Args:
        loss_ceiling: a finite training loss above it counts as divergence as
            a non-finite one does (`urfbtf.runner.build.loss_ceiling`); None:
            only a non-finite loss.

    Attributes:
        first: the run's first `Divergence` in this process, or None.
        current: the current epoch's first `Divergence`, or None.
        last_finite_loss: (loss, epoch, step) of the last finite training loss
            (step None: at the end of that epoch, as metrics.jsonl has it).
    """

    def __init__(self, loss_ceiling: float | None = None):
        self.loss_ceiling = loss_ceiling
        self.first = None
        self.current = None
        self.last_finite_loss = None

    def continue_from(self, records: list[dict]) -> None:
        """A resumed run (or its next phase) continues the earlier epochs'
        losses, which this process did not see: `records` are its
        metrics.jsonl's."""
        if self.last_finite_loss is not None:
            return
        earlier = [r for r in records if r.get("train_loss") is not None]
        if earlier:
            self.last_finite_loss = (
                earlier[-1]["train_loss"],
                earlier[-1]["epoch"],
                None,
            )

    def start_epoch(self) -> None:
        self.current = None

    def check_loss(
        self, loss, epoch: int, step: int, steps: int | None
    ) -> Divergence | None:
        """The epoch's first divergence, if the training loss after step `step`
        (1-based) of epoch `epoch` (1-based) is non-finite or above the
        ceiling; None if it is not, or the epoch already diverged."""
        if loss is None or self.current is not None:
            return None
        finite = math.isfinite(loss)
        exploded = finite and self.loss_ceiling is not None and loss > self.loss_ceiling
        if finite and not exploded:
            self.last_finite_loss = (float(loss), epoch, step)
            return None
        return self._found(
            Divergence(
                epoch,
                step,
                steps,
                loss=float(loss),
                ceiling=self.loss_ceiling if exploded else None,
                last_finite_loss=self.last_finite_loss,
            )
        )

    def check_state(
        self, bad: list[str], epoch: int, step: int, steps: int | None
    ) -> Divergence | None:
        """The epoch's first divergence, if the state at its end holds the
        non-finite variables `bad` (a non-finite gradient whose weights do not
        reach the loss); None if none, or the epoch already diverged."""
        if not bad or self.current is not None:
            return None
        return self._found(
            Divergence(
                epoch,
                step,
                steps,
                variables=tuple(bad),
                last_finite_loss=self.last_finite_loss,
            )
        )

    def _found(self, found: Divergence) -> Divergence:
        self.current = found
        self.first = self.first or found
        return found


def diverged_record(record: dict, found: Divergence, checkpointed: bool) -> dict:
    """A diverged epoch's record: where it diverged, whether its state was
    checkpointed, and no error rate where the loss is not finite (the argmax
    of NaN outputs is an artefact, not a classification)."""
    record = {**record, **found.record(), "checkpointed": checkpointed}
    for split in ("train", "val", "test"):
        if record.get(f"{split}_loss") is None:
            record[f"{split}_error"] = None
            if f"{split}_top5_error" in record:
                record[f"{split}_top5_error"] = None
    return record
