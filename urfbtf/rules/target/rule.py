"""The base of the target rules: blocks that learn toward targets.

A target rule (Bartunov et al. 2018, sec. 2.1.2; GAIT-prop, Ahmad et al. 2020)
trains each block on a loss of its own, toward a target for its output, through
the training step of `urfbtf.rules.target.model.TargetModel`. `TargetRule` is
the rule protocol's side of it (`urfbtf.rules.base.Rule`): no error sent down,
the blocks' inverses placed on the net, the run's checks, the two optimizers
and the probes' gradients of the local losses. Its families give the targets:
learned inverses (`propagation`) and exact ones (`gait`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from urfbtf import graph
from urfbtf.backward import linear
from urfbtf.errors import UsageError
from urfbtf.layers.feedback_conv2d import FeedbackConv2D
from urfbtf.layers.inverse import LearnedInverse
from urfbtf.layers.tap import Tap
from urfbtf.layers.untied_conv2d import UntiedConv2D
from urfbtf.precision import loss_scaled
from urfbtf.rules.base import Rule
from urfbtf.rules.target.model import TargetModel, Targets


def _producer(tensor):
    """The layer that made a symbolic tensor, looking through reshapes and
    taps (identities)."""
    layer = tensor._keras_history.operation
    while isinstance(layer, (keras.layers.Flatten, keras.layers.Reshape, Tap)):
        layer = layer.input._keras_history.operation
    return layer


def _geometry(layer) -> tuple[str, dict]:
    """(kind, geometry) of a learning layer, as `LearnedInverse` takes them."""
    if isinstance(layer, UntiedConv2D):
        kind = "untied"
    elif isinstance(layer, FeedbackConv2D):
        kind = "conv"
    else:
        return "dense", {}
    return kind, {
        "kernel_size": list(layer.kernel_size),
        "strides": layer.strides,
        "padding": layer.padding,
        "implementation": getattr(layer, "implementation", "dense"),
    }


class TargetRule(Rule):
    """A rule whose blocks learn toward targets (`urfbtf.rules.target.model`).

    Subclasses give `targets` and, for learned inverses, `inverse_loss`.
    """

    sends_error = False
    # From zero weights every hidden unit is tanh(0) = 0 for every input, and no
    # target can tell two units apart.
    learns_from_zero = False
    model_class = TargetModel
    learned_inverses = True
    # A target rule needs inverses between blocks that follow each other
    # directly: it trains its own nets, not any converted model.
    converts = False

    def linear(self, linear_map):
        # The local losses reach only their own block: nothing is sent down.
        return linear.local_only(linear_map)

    # Nets --------------------------------------------------------------------

    def inverse_tap(self, block, aux_units: int = 0):
        """A `LearnedInverse` on `block`'s output, or None for the first block
        (whose input is the image: nothing to give a target)."""
        below = _producer(block.input)
        if isinstance(below, keras.layers.InputLayer):
            return None
        if not isinstance(below, graph.ACTIVATION_LAYERS):
            raise UsageError(
                f"Rule {self.name!r} needs learning blocks that follow each other "
                f"directly, but block {block.name!r} reads the output of "
                f"{below.name!r} ({type(below).__name__}), which has no inverse. "
                "Use a net without pooling, residual sums or dropout between its "
                "layers (the bartunov_* nets), or a rule that sends errors (bp, "
                "frfb, urfb, dfa)."
            )
        kind, geometry = _geometry(block.layer)
        return LearnedInverse(
            block.input.shape[1:],
            kind=kind,
            geometry=geometry,
            activation=keras.layers.serialize(below),
            aux_units=aux_units,
            name=f"{block.name}_inverse",
        )

    def attach(self, block, num_classes, settings):
        del num_classes, settings
        tap = self.inverse_tap(block)
        return block.output if tap is None else tap(block.output)

    def build_model(self, inputs, outputs, *, name, settings):
        model = self.model_class(inputs, outputs, name=name)
        model.schedule = settings.get("tp_schedule", "parallel")
        # Kept on the model, so that a plain `model.compile` trains it with them.
        model.rule_settings = dict(settings)
        # The setting's default when a caller gives only some settings.
        epoch = settings.get("tp_alternating_epoch", "inverse_and_forward")
        two = model.schedule == "alternating" and epoch == "inverse_and_forward"
        model.passes_per_epoch = 2 if two else 1
        return model

    # Configuration -----------------------------------------------------------

    def refuses(self, net):
        if net.without_inverse:
            return (
                "a target rule needs layers that follow each other directly, and "
                f"this net has {', '.join(net.without_inverse)} between them, which "
                "have no inverse"
            )
        if self.learned_inverses and net.narrowed:
            return (
                f"its layers {', '.join(net.narrowed)} pass on only some of their "
                "units (the rest kept for an exact inverse), and a learned inverse "
                "sees only those passed on"
            )
        return None

    def check(self, config, net):
        super().check(config, net)
        if config.untie_after:
            raise UsageError(
                f"rule={self.name!r} with untie_after={config.untie_after}: a "
                "target rule's inverses cannot be carried from tied to untied "
                "layers. Untie from the start (--untie_after=0)."
            )

    # Training ----------------------------------------------------------------

    def compile(self, model, *, make_optimizer, settings, **kwargs):
        model.rule_settings = dict(settings)
        # `TargetModel.compile` calls `prepare`.
        model.compile(optimizer=make_optimizer(), **kwargs)

    def prepare(self, model) -> None:
        """What a compiled `TargetModel` needs besides Keras' compile, whoever
        compiled it (the runner through `compile`, or a user's plain
        `model.compile`): its settings completed with the rule's defaults, the
        forward optimizer built on the forward weights only, and the inverses'
        own Adam (`inverse_lr`, `inverse_beta1`, `inverse_beta2`,
        `inverse_epsilon`)."""
        settings = {s.name: s.default for s in self.settings}
        settings.update(model.rule_settings)
        model.rule_settings = settings
        model.optimizer.build(model.forward_variables())
        if self.learned_inverses:
            inverse_adam = keras.optimizers.Adam(
                settings["inverse_lr"],
                beta_1=settings["inverse_beta1"],
                beta_2=settings["inverse_beta2"],
                epsilon=settings["inverse_epsilon"],
                name="inverse_adam",
            )
            # Loss-scaled under mixed_float16, as compile scales the model's own.
            model.inverse_optimizer = loss_scaled(inverse_adam, model)
            # Built now, in the strategy's scope (see tests/support/local_rule.py).
            model.inverse_optimizer.build(model.inverse_variables())
        model.inverse_error_metrics()

    def optimizers(self, model):
        found = [(model.optimizer, model.forward_variables())]
        if model.inverse_optimizer is not None:
            found.append((model.inverse_optimizer, model.inverse_variables()))
        return found

    def targets(self, model, activities, y) -> Targets:
        """The targets of every hidden block for one batch (`Targets`)."""
        raise NotImplementedError

    def inverse_loss(self, model, activities) -> tf.Tensor:
        """The scalar the inverse optimizer descends, for one batch."""
        raise NotImplementedError

    def penalty(self, model) -> tf.Tensor | None:
        """A term the forward weights descend besides their local losses (an
        orthogonality regulariser), or None."""
        del model
        return None

    # Measurement -------------------------------------------------------------

    def layer_gradients(self, model, x, y):
        """(δ, ΔW) of every learning layer: the gradient of its own loss at its
        field and kernel, the target held fixed. For a hidden block δ =
        2(h_l − ĥ_l) ⊙ σ'(a_l): the signal ĥ_l − h_l carried to the field by the
        block's own derivative, which backpropagation's δ is compared with."""
        stages = model.stages()
        kernels = [s.block.layer.kernel for s in stages]
        with tf.GradientTape(persistent=True) as tape:
            fields, activities = model.trace(x, training=False)
            found = self.targets(model, activities, y)
            objective, _ = model.local_objective(
                activities, found.hidden, y, found.weights, found.differences
            )
        errors = tape.gradient(objective, fields)
        updates = tape.gradient(objective, [k.value for k in kernels])
        del tape
        errors = [
            tf.zeros_like(f) if e is None else e
            for e, f in zip(errors, fields, strict=True)
        ]
        updates = [
            u
            if u is not None and s.block.layer.trainable
            else tf.zeros(k.shape, k.dtype)
            for u, k, s in zip(updates, kernels, stages, strict=True)
        ]
        return errors, updates

    def epoch_metrics(self, model):
        """The mean reconstruction error of every inverse over the epoch,
        ⟨(h_{l-1} − g_l(h_l))²⟩, as inverse_error/<layer>; under the
        alternating schedule, which of the epoch's steps trained what:
        schedule/inverse_steps (its first steps) and schedule/forward_steps
        (the steps after them)."""
        return {
            **{f"schedule/{k}": v for k, v in model.epoch_passes.items()},
            **{
                f"inverse_error/{name}": float(metric.result().numpy())
                for name, metric in model.inverse_error_metrics().items()
                if metric.count.numpy() > 0
            },
        }
