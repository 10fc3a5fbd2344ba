"""Training by targets: the machinery every target rule shares.

A target rule trains each learning block on a loss of its own, toward a target
for its output, instead of sending an error down the net (Bartunov et al. 2018,
sec. 2.1.2; GAIT-prop, Ahmad et al. 2020). Three steps make one training step,
and only the middle one differs between rules:

1. record every block's activity, h_0 = x, h_l = f_l(h_{l-1}) up to the output
   h_L (`TargetModel.activities`);
2. build the targets ĥ_l from the top down, each from the one above through the
   block's inverse map g_{l+1} (the rule's `targets`: learned inverses for
   target propagation, exact ones for GAIT-prop);
3. train each block on its own loss ‖f_l(h_{l-1}) − ĥ_l‖² with its input held
   fixed, and the output block on the task loss; no gradient crosses a block,
   because the layers of a target rule send no error down
   (`urfbtf.backward.linear.local_only`), so one gradient of the sum gives every
   block its local update. A rule with learned inverses also trains them, on
   its inverse loss, with an optimizer of their own.

A net is a chain of stages, stage l mapping h_{l-1} to h_l (`chain_of`): any
functional model whose blocks follow each other directly trains this way. The
net's output is what the last block passes on (`TargetModel.net_output`).

With `schedule` "alternating" the model trains its inverses and its forward
weights in alternate passes over the training set (Lee et al. 2015's code,
which Bartunov et al. follow: one full pass of each), inverses first, so that
the first forward pass already has trained inverses. With `passes_per_epoch` 2
(the runner's default, Lee's `conti_dtp.py` loop) an epoch is an inverse pass,
its first half of steps, then a forward pass; with 1 (runs made before that)
each pass is an epoch, epochs 0, 2, 4, ... inverse and 1, 3, 5, ... forward.
The epoch and the step within it alone decide, so a resumed run continues
exactly.
"""

from __future__ import annotations

import dataclasses
import types
import weakref
from collections.abc import Mapping

import keras
import numpy as np
import tensorflow as tf

from urfbtf.layers.tap import Tap
from urfbtf.precision import to_float32
from urfbtf.rules.base import rule_of, step_metrics
from urfbtf.rules.target.chain import Stage, chain_of
from urfbtf.rules.target.ops import mean_square, metric_name, per_example_sq

SCHEDULES = ("parallel", "alternating")

# What a training step trains, by schedule and epoch.
BOTH, FORWARD, INVERSE = "both", "forward", "inverse"


@dataclasses.dataclass
class Targets:
    """What a rule's `targets` gives a training step.

    Attributes:
        hidden: the target of every hidden block's output, bottom to top (None
            for a block without one, which then does not learn).
        reconstructions: {stage index k: g_k(h_k)}, the clean reconstruction of
            h_{k-1} by every inverse the rule uses (for its error metric).
        weights: per hidden block, None or the weight of each example's local
            loss, shape [batch] (GAIT-prop rescales each example's loss so that
            its gradient is backpropagation's).
        differences: per hidden block, None or ĥ_l − h_l itself, when the rule
            has it more precisely than the target minus the activity (a target
            a float32 rounding away from its activity); the local loss then
            reads it.
    """

    hidden: list
    reconstructions: dict
    weights: list | None = None
    differences: list | None = None


def phase_of(
    schedule: str, epoch: int, step: int = 0, steps: int = 0, passes: int = 1
) -> str:
    """What step `step` (0-based) of `epoch` (0-based, of `steps` steps) trains
    under `schedule`, with `passes` (1 or 2) passes over the data per epoch."""
    if schedule == "parallel":
        return BOTH
    if passes == 2:
        return INVERSE if step < _inverse_half(steps) else FORWARD
    return INVERSE if epoch % 2 == 0 else FORWARD


def _inverse_half(steps: int) -> int:
    # The runner feeds two passes, an even number of steps; a plain `fit`
    # splits its one pass, inverses first, so that an epoch of one step still
    # trains the inverses before any forward step.
    return (steps + 1) // 2


def pass_steps(schedule: str, epoch: int, steps: int, passes: int = 1) -> dict:
    """{"inverse_steps": n, "forward_steps": m} of an alternating epoch of
    `steps` steps: its first n steps train the inverses, the next m the forward
    weights (the epoch's record says so); {} for the parallel schedule."""
    if schedule == "parallel":
        return {}
    if passes == 2:
        first = _inverse_half(steps)
    else:
        first = steps if phase_of(schedule, epoch) == INVERSE else 0
    return {"inverse_steps": first, "forward_steps": steps - first}


class TargetSchedule(keras.callbacks.Callback):
    """Switches a `TargetModel` between forward and inverse passes
    (`phase_of`) at the start of each epoch and, when an epoch holds both, at
    its forward pass's first step; `TargetModel.fit` adds it."""

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._switch(0)

    def on_train_batch_begin(self, batch, logs=None):
        if self.model.passes_per_epoch == 2:
            self._switch(batch)

    def _switch(self, step):
        steps = (self.params or {}).get("steps") or 0
        model = self.model
        model.use_phase(
            phase_of(model.schedule, self._epoch, step, steps, model.passes_per_epoch)
        )
        model.epoch_passes = pass_steps(
            model.schedule, self._epoch, steps, model.passes_per_epoch
        )


# model -> {layer name: its inverse's error metric}, kept beside the model: as
# an attribute, Keras would track the metrics as the model's own.
_INVERSE_METRICS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@keras.saving.register_keras_serializable(package="urfbtf")
class TargetModel(keras.Model):
    """A functional model whose every block learns toward a target.

    The learning rule of its layers (a `urfbtf.rules.target.TargetRule`) gives
    the targets and, for learned inverses, their loss; see the module docstring.

    Attributes:
        schedule: "parallel" (forward weights and inverses every step) or
            "alternating" (in alternate passes over the data).
        passes_per_epoch: under "alternating", 2 (an epoch is an inverse pass
            then a forward pass) or 1 (each pass is an epoch); the runner
            feeds that many passes per epoch.
        epoch_passes: the current epoch's `pass_steps` (for its record).
        inverse_optimizer: the optimizer of the inverses (set by `compile`),
            or None when the inverses are not learned.
        rule_settings: the rule's own settings (set by the rule's
            `build_model` and `compile`, completed with their defaults by
            `compile`; its targets read them).
        phase: what the training steps train now (BOTH, FORWARD or INVERSE,
            set by `use_phase`), or None before the first epoch.
        phase_steps: {phase: its compiled training step}, for every phase
            left so far (`use_phase`).
    """

    schedule = "parallel"
    passes_per_epoch = 1
    epoch_passes: Mapping = types.MappingProxyType({})
    inverse_optimizer = None
    rule_settings: Mapping = types.MappingProxyType({})
    phase: str | None = None
    phase_steps: Mapping = types.MappingProxyType({})

    def get_config(self):
        return {**super().get_config(), "schedule": self.schedule}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        schedule = config.pop("schedule", cls.schedule)
        model = super().from_config(config, custom_objects=custom_objects)
        model.schedule = schedule
        return model

    # The graph -----------------------------------------------------------------

    @property
    def rule(self):
        """The rule of the model's learning layers (`urfbtf.rules.rule_of`)."""
        return rule_of(self)

    def stages(self) -> list[Stage]:
        """The chain of stages, bottom to top (`chain_of`)."""
        return chain_of(self).stages

    def head(self) -> keras.Model | None:
        """The model from the last stage's output to the net's output, or None
        when that output is the net's (`chain_of`)."""
        return chain_of(self).head

    def net_output(self, activities) -> tf.Tensor:
        """The net's output from the activities: the last block's output, or
        what it passes on (the classes of a square output layer)."""
        head = self.head()
        return activities[-1] if head is None else head(activities[-1])

    def trace(self, x, training: bool = False):
        """([a_1, ..., a_L], [h_0 = x, h_1, ..., h_L]): every block's field and
        output, h_L the net's output."""
        fields, activities = [], [x]
        for stage in self.stages():
            field, h = stage.trace(activities[-1], training=training)
            fields.append(field)
            activities.append(h)
        return fields, activities

    def activities(self, x, training: bool = False) -> list[tf.Tensor]:
        """[h_0 = x, h_1, ..., h_L]: every block's output, h_L the net's output."""
        return self.trace(x, training=training)[1]

    def inverses(self) -> list[Tap]:
        return [s.inverse for s in self.stages() if s.inverse is not None]

    def inverse_variables(self) -> list:
        return [v for tap in self.inverses() for v in tap.inverse_variables]

    def forward_variables(self) -> list:
        inverse = {id(v) for v in self.inverse_variables()}
        return [v for v in self.trainable_variables if id(v) not in inverse]

    # Training ------------------------------------------------------------------

    def compile(self, *args, **kwargs):
        """`keras.Model.compile`, then what the rule needs to train the model
        (`urfbtf.rules.target.rule.TargetRule.prepare`: its settings, the
        inverses' optimizer), so that a plain `compile` trains it as the
        runner does."""
        super().compile(*args, **kwargs)
        self.rule.prepare(self)

    def local_objective(self, activities, targets, y, weights=None, differences=None):
        """(task loss + Σ_l ‖h_l − ĥ_l‖², task loss).

        `targets[l]` is the target of hidden block l+1's output (None: that block
        has none and does not learn; `differences[l]`, when given, is ĥ − h
        itself); each local loss is the squared distance summed over the
        block's units (or averaged over them, with the rule setting
        tp_layer_loss "mean") and averaged over the batch (each example weighted by
        `weights[l]`, when given), divided by the replicas as `compute_loss`
        divides the task loss (their gradients are summed).
        """
        loss = self.compute_loss(y=y, y_pred=self.net_output(activities))
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        weights = weights or [None] * len(targets)
        differences = differences or [None] * len(targets)
        reduction = self.rule_settings.get("tp_layer_loss", "sum")
        objective = loss
        for h, target, weight, given in zip(
            activities[1:-1], targets, weights, differences, strict=True
        ):
            # Each local loss in float32, whatever the policy (`urfbtf.precision`).
            h = to_float32(h)
            if given is not None:
                given = to_float32(given)
                # ‖h − ĥ‖² with ĥ − h as given: the same value and gradient as
                # h − ĥ, without the subtraction that would round it away.
                difference = (h - tf.stop_gradient(h)) - tf.stop_gradient(given)
            elif target is not None:
                difference = h - tf.stop_gradient(to_float32(target))
            else:
                continue
            objective += per_example_sq(difference, weight, reduction) / replicas
        return objective, loss

    def train_step(self, data):
        x, y = data[0], data[1]
        rule = self.rule
        # A Python value, read when the step is traced: each phase has its own
        # compiled step (`use_phase`); tf.distribute cannot apply an optimizer
        # inside a tf.cond.
        phase = self.step_variant
        with tf.GradientTape() as tape:
            activities = self.activities(x, training=True)
            targets = rule.targets(self, activities, y)
            objective, loss = self.local_objective(
                activities, targets.hidden, y, targets.weights, targets.differences
            )
            if phase in (BOTH, FORWARD):
                penalty = rule.penalty(self)
                if penalty is not None:
                    replicas = tf.distribute.get_strategy().num_replicas_in_sync
                    objective += penalty / replicas
            # The identity but under mixed_float16 (`urfbtf.precision`).
            scaled = self.optimizer.scale_loss(objective)
        if phase in (BOTH, FORWARD):
            forward = self.forward_variables()
            gradients = tape.gradient(scaled, forward)
            self.optimizer.apply_gradients(zip(gradients, forward, strict=True))
        del tape
        if phase in (BOTH, INVERSE) and self.inverse_optimizer is not None:
            inverse = self.inverse_variables()
            with tf.GradientTape() as tape:
                inverse_loss = self.inverse_optimizer.scale_loss(
                    rule.inverse_loss(self, activities)
                )
            gradients = tape.gradient(inverse_loss, inverse)
            self.inverse_optimizer.apply_gradients(zip(gradients, inverse, strict=True))
        # A rule's own terms can turn non-finite while the task loss is still
        # finite: targets carried through a weight matrix that is no longer
        # invertible (`urfbtf.layers.factorization` makes them NaN rather than
        # raise), a regulariser that overflows. Their update makes the weights
        # non-finite; the step's loss is reported so too, and the runner's
        # divergence watch stops the run at this step, as it does any rule's
        # whose loss turns non-finite. A finite objective leaves it as it is.
        loss = tf.where(tf.math.is_finite(objective), loss, tf.cast(np.nan, loss.dtype))
        stages = self.stages()
        own = {
            metric_name(stages[k].name): mean_square(
                to_float32(activities[k]) - to_float32(reconstruction)
            )
            for k, reconstruction in targets.reconstructions.items()
        }
        return step_metrics(self, loss, y, self.net_output(activities), own=own)

    def use_phase(self, phase: str) -> None:
        """Makes the next training steps train `phase` (BOTH, FORWARD or
        INVERSE); one compiled step is kept for each."""
        current = self.phase
        if phase == current:
            return
        compiled = dict(self.phase_steps)
        if current is not None:
            compiled[current] = self.train_function
        self.phase_steps = compiled
        self.phase = phase
        self.train_function = compiled.get(phase)
        if self.train_function is None:
            self.make_train_function(force=True)

    @property
    def step_variant(self) -> str:
        """What the current training step trains (BOTH, FORWARD or INVERSE)."""
        return self.phase or phase_of(self.schedule, 0, 0, 0, self.passes_per_epoch)

    def training_callbacks(self) -> list:
        """The callbacks every training of this model needs: the schedule's."""
        return [TargetSchedule()]

    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`, with the callback that keeps the schedule."""
        callbacks = list(callbacks or [])
        if not any(isinstance(c, TargetSchedule) for c in callbacks):
            callbacks = [*self.training_callbacks(), *callbacks]
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def inverse_error_metrics(self) -> dict:
        """{layer name: mean metric of its inverse's reconstruction error}."""
        found = _INVERSE_METRICS.get(self)
        if found is None:
            found = {}
            for stage in self.stages():
                if stage.inverse is not None:
                    found[stage.name] = keras.metrics.Mean(name=metric_name(stage.name))
            _INVERSE_METRICS[self] = found
        return found

    @property
    def metrics(self):
        return [*super().metrics, *self.inverse_error_metrics().values()]
