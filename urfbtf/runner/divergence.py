"""Divergence: a run whose training loss or state stops being finite, or
whose loss explodes while it stays finite.

A loss that turns NaN or infinite stays so (non-finite weights give non-finite
outputs), yet Keras trains on to the last epoch and exits normally, and since a
run keeps only its two newest checkpoints, two non-finite epochs would replace
every checkpoint from before the divergence. So `urfbtf.runner.recorder.RunRecorder`
checks the training loss after every step and the whole state (weights, feedback
weights, optimizer slots) before every checkpoint; non-finite state is never
checkpointed (`urfbtf.runner.checkpoint.save` refuses it). By default
(`on_divergence="stop"`) the run stops at that step with a `DivergenceError`
(exit status 3) whose message says where it diverged and what to try. A
non-finite gradient makes the weights it updates non-finite, and with them the
next step's loss: it is caught there, or, for weights off the forward path,
before the checkpoint.

A loss can also explode and stay finite: a run that trains on with a loss of
hundreds, its error at chance, ends as if it had succeeded. So a training loss
above a ceiling, `--loss_ceiling` (10) times the loss of an all-zero output
(chance level), counts as a divergence too, caught at the step it crosses it,
before its epoch is checkpointed; the ceiling applies to classification losses.

With `on_divergence="continue"`, for those who study divergence, the run trains
on and records every diverged epoch in metrics.jsonl, but still checkpoints only
finite state. The same command with a smaller --lr resumes a diverged run from
its last finite checkpoint: `urfbtf.runner.config.Config.changes_from` allows lowering
the learning rate only for a run that diverged, and config.json's "lr_history"
(`lr_history`) lists every learning rate used and from which epoch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import numpy as np

# How many non-finite variables a message names before it says "and N more".
_NAMED = 3


def non_finite(named_arrays: Iterable[tuple[str, np.ndarray]]) -> list[str]:
    """The names of the floating-point arrays that hold a NaN or an infinity."""
    return [
        name
        for name, array in named_arrays
        if np.asarray(array).dtype.kind in "fc" and not np.isfinite(array).all()
    ]


@dataclasses.dataclass(frozen=True)
class Divergence:
    """Where a run diverged.

    Attributes:
        epoch: the epoch (1-based).
        step: the training step within the epoch (1-based) after which the loss
            was first non-finite, or, for `variables`, the epoch's last step.
        steps: the steps of the epoch (None if unknown).
        loss: the non-finite training loss, or the finite one above `ceiling`
            (None if the loss stayed finite and under any ceiling).
        ceiling: the loss ceiling that `loss` rose above (None: the loss, or
            the state, became non-finite).
        variables: the non-finite variables, when the state was found
            non-finite while the loss was finite.
        last_finite_loss: (loss, epoch, step) of the last finite training loss
            Keras reported (its running mean over the epoch; step None: at the
            end of that epoch, as metrics.jsonl has it), or None.
    """

    epoch: int
    step: int
    steps: int | None = None
    loss: float | None = None
    ceiling: float | None = None
    variables: tuple[str, ...] = ()
    last_finite_loss: tuple[float, int, int | None] | None = None

    def record(self) -> dict:
        """The fields a diverged epoch's line of metrics.jsonl carries."""
        last = self.last_finite_loss
        fields = {
            "diverged": True,
            "diverged_step": self.step,
            "last_finite_loss": last[0] if last else None,
        }
        if self.ceiling is not None:
            fields["loss_ceiling"] = self.ceiling
        return fields

    def where(self) -> str:
        of = f" of {self.steps}" if self.steps else ""
        return f"epoch {self.epoch}, step {self.step}{of}"

    def what(self) -> str:
        """What became non-finite, in words."""
        last = self.last_finite_loss
        if self.variables:
            names = ", ".join(self.variables[:_NAMED])
            if len(self.variables) > _NAMED:
                names += f" and {len(self.variables) - _NAMED} more"
            finite = f" (last {last[0]:.4g})" if last else ""
            return (
                f"the state became non-finite (NaN or infinite) in {names} while "
                f"the training loss stayed finite{finite}"
            )
        if self.ceiling is not None:
            return (
                f"the training loss rose to {self.loss:.4g} (Keras' running mean over "
                f"the epoch), above its ceiling of {self.ceiling:.4g}, --loss_ceiling "
                "times the loss of an all-zero output"
            )
        text = f"the training loss became {self.loss}"
        if last is None:
            return text + " and had not been finite in any step before"
        loss, epoch, step = last
        at = f"epoch {epoch}, step {step}" if step else f"the end of epoch {epoch}"
        return (
            f"{text}; it was last finite at {at}: {loss:.4g} (Keras' running mean "
            "over that epoch)"
        )


def message(
    divergence: Divergence,
    *,
    rule: str,
    lr: float | None,
    model_dir: Path,
    checkpoint_epoch: int | None,
) -> str:
    """The one-paragraph message of a run stopped by `divergence`."""
    at_lr = f" at lr={lr:g}" if lr is not None else ""
    smaller = f" (e.g. --lr={lr / 10:g})" if lr is not None else ""
    exploded = divergence.ceiling is not None  # Finite, above the ceiling.
    kept = (
        "That epoch was not checkpointed"
        if exploded
        else "No non-finite state was checkpointed"
    )
    text = (
        f"The run diverged in {divergence.where()} under rule {rule}{at_lr}: "
        f"{divergence.what()}. {kept}, and "
        f"{Path(model_dir) / 'metrics.jsonl'} records the divergence. "
    )
    if checkpoint_epoch:
        text += (
            f"The last checkpoint, of epoch {checkpoint_epoch}, is intact: the same "
            f"command with a smaller --lr{smaller} resumes from it"
        )
    else:
        text += (
            f"No epoch had finished {'before it' if exploded else 'with finite state'}"
            ", so there is no checkpoint: "
            f"the same command with a smaller --lr{smaller} starts the run again"
        )
    if exploded:
        return text + (
            "; or add --on_divergence=continue to train on, or --loss_ceiling=0 "
            "to let only a NaN or infinite loss count."
        )
    return text + (
        "; or add --on_divergence=continue to train on (non-finite state is still "
        "never checkpointed)."
    )


def first(records: Iterable[dict]) -> dict | None:
    """The first record of metrics.jsonl that marks a diverged epoch, or None."""
    return next((r for r in records if r.get("diverged")), None)


def summary(record: dict) -> str:
    """The closing summary's words for a run whose first diverged epoch's
    record is `record`."""
    return f"diverged in epoch {record['epoch']} at step {record.get('diverged_step')}"


def lr_history(
    previous: dict | None, lr: float, resumed_after: int, diverged: dict | None
) -> list[dict]:
    """config.json's "lr_history": [{"lr", "from_epoch"}, ...], the learning
    rates a run trained with, each from its first epoch (1-based); the lr of
    epoch e is that of the last entry with from_epoch <= e.

    Args:
        previous: the run's config.json when it resumes from a checkpoint,
            else None (a new history).
        lr: the learning rate it continues with.
        resumed_after: the epoch of the checkpoint it resumes from.
        diverged: the first diverged record of its metrics.jsonl (`first`); the
            entry it diverged under then says where ("diverged": {epoch, step}),
            which keeps it after metrics.jsonl drops the epochs the run retrains.
    """
    if previous is None:
        return [{"lr": lr, "from_epoch": 1}]
    history = [dict(entry) for entry in previous.get("lr_history") or ()]
    if not history:
        history = [{"lr": previous.get("lr", lr), "from_epoch": 1}]
    if history[-1]["lr"] == lr:
        return history
    if diverged is not None:
        history[-1]["diverged"] = {
            "epoch": diverged["epoch"],
            "step": diverged.get("diverged_step"),
        }
    history.append({"lr": lr, "from_epoch": resumed_after + 1})
    return history
