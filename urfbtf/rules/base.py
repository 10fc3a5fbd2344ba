"""The protocol every learning rule implements.

A rule answers every question the rest of urfbtf asks about learning, so that no
other module tests a rule's name or its model's class:

* layers: how a layer's linear map sends its error down (`linear`);
* nets: whether hidden layers learn, what the rule places on each learning
  block's output (`attach`, and `attach_output` for the output block), and
  which model trains the net (`build_model`);
* the configuration: its own hyperparameters (`settings`, declared once as
  `urfbtf.settings.Setting`s) and the combinations it cannot run (`check`,
  told of the run's net by the nets layer as a `NetSummary`);
* training: how the model is compiled and which optimizers it owns, each with
  the variables it trains (`compile`, `optimizers`: the checkpoints save and
  restore all of them);
* measurement: the error each learning layer receives and the update it
  makes for a batch (`layer_gradients`, what the probes compare with
  backpropagation), and its own per-epoch metrics (`epoch_metrics`).

Rules that only change gradients (bp, frfb, urfb, `urfbtf.rules.gradient`) train
with Keras' own training step; the direct rules (`urfbtf.rules.direct`) and
rules with layer-local losses bring a model whose `train_step` is theirs, and
still train with `fit`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import keras
import tensorflow as tf

from urfbtf import graph
from urfbtf.backward import linear
from urfbtf.errors import UsageError
from urfbtf.settings import Setting


@dataclasses.dataclass(frozen=True)
class NetSummary:
    """What a rule's `check` may ask of the run's net. The nets layer tells it
    (`urfbtf.nets.summary`), so that the rules need not know the nets.

    Attributes:
        without_inverse: "name (Kind)" of every step of the net that has no
            inverse (a pooling, a residual sum, a dropout that drops), in order.
        fixed_above_first: the names of the learning layers above the first
            that are not invertible (neither an invertible conv or dense layer
            nor a square output layer), in order.
        narrowed: the names of the hidden invertible layers that pass on only
            their first units, keeping the rest for an exact inverse, in order.
        square_output: the output layer is square, its classes the first of
            its units and the rest auxiliary (GAIT-prop's invertible nets).
    """

    without_inverse: tuple[str, ...] = ()
    fixed_above_first: tuple[str, ...] = ()
    narrowed: tuple[str, ...] = ()
    square_output: bool = False


class Rule:
    """A learning rule; subclasses override what differs from backpropagation.

    Attributes:
        name: the name given to `--rule` and to the layers.
        summary: one line for help texts and error messages.
        has_feedback: layers hold feedback weights R that carry the error down.
        feedback_learns: R is trainable (and gets W's gradient).
        sends_error: a layer passes an error to the layer below; False frees a
            layer from update locking (the direct rules, local losses).
        hidden_layers_learn: False freezes every layer but the output.
        learns_from_zero: the rule can leave forward weights that start at 0
            (`--zero_init`); backpropagation cannot (its errors Wᵀδ are 0 there).
        settings: the rule's own hyperparameters.
        model_class: the `keras.Model` subclass that trains a net under the rule.
        converts: `urfbtf.convert` can turn an existing model into one trained
            by the rule (swap its layers, `attach` the rule's taps, and
            `build_model`); False for a rule that needs nets of its own, which
            `convert` then refuses with a message naming the rule.
    """

    has_feedback = False
    feedback_learns = False
    sends_error = True
    hidden_layers_learn = True
    learns_from_zero = True
    settings: tuple[Setting, ...] = ()
    model_class: type = keras.Model
    converts = True

    def __init__(self, name: str, summary: str):
        self.name = name
        self.summary = summary

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # Layers ------------------------------------------------------------------

    def linear(self, linear_map: linear.LinearMap) -> Callable:
        """f(x, kernel, feedback) applying `linear_map` with this rule's backward
        pass; backpropagation's is plain autodiff."""
        return linear.backprop(linear_map)

    # Nets --------------------------------------------------------------------

    def attach(self, block: graph.Block, num_classes: int, settings: Mapping):
        """Returns the tensor that continues the net after `block`: its output,
        or the output of a `urfbtf.layers.Tap` the rule places on it. `settings`
        are the rule's own (`settings`), with their defaults filled in."""
        del num_classes, settings
        return block.output

    def attach_output(self, block: graph.Block, num_classes: int, settings: Mapping):
        """Returns the net's output after the output block `block`: its output,
        or that of a tap the rule places on it (target rules hold the inverse of
        the output layer there)."""
        del num_classes, settings
        return block.output

    def build_model(self, inputs, outputs, *, name: str, settings: Mapping):
        """The (uncompiled) model that trains the net from `inputs` to `outputs`."""
        del settings
        return self.model_class(inputs, outputs, name=name)

    # Configuration -----------------------------------------------------------

    def refuses(self, net: NetSummary) -> str | None:
        """Why the rule cannot train the net `net` summarizes, whatever the
        other settings, as a clause (None: it can). Being a property of the net
        alone, it lets the runner name every net the rule can train."""
        del net
        return None

    def check(self, config, net: NetSummary) -> None:
        """Raises `UsageError` for a run (an `urfbtf.runner.config.Config`, whose
        net `net` summarizes) the rule cannot train: by default, a net it
        `refuses`."""
        refusal = self.refuses(net)
        if refusal:
            raise UsageError(
                f"rule={self.name!r} cannot train net={config.net!r}: {refusal}."
            )

    # Training ----------------------------------------------------------------

    def compile(self, model, *, make_optimizer: Callable, settings: Mapping, **kwargs):
        """Compiles `model`; `make_optimizer(lr=None)` makes the run's optimizer
        (at the run's learning rate, or at `lr`) for every optimizer the rule
        owns. `kwargs` are `keras.Model.compile`'s (loss, metrics, ...)."""
        del settings
        model.compile(optimizer=make_optimizer(), **kwargs)

    def optimizers(self, model) -> list[tuple[keras.optimizers.Optimizer, list]]:
        """Every optimizer of `model` with the variables it trains, the model's
        own first; the checkpoints hold the state of all of them."""
        return [(model.optimizer, model.trainable_variables)]

    # Measurement -------------------------------------------------------------

    def objective(self, model, outputs, taps, y):
        """A scalar whose gradient is the rule's update, given the forward pass's
        `outputs` and the outputs of the block taps `taps`; by default the loss."""
        del taps
        return model.compute_loss(y=y, y_pred=outputs)

    def layer_gradients(self, model, x, y):
        """(δ, ΔW) of every learning layer for the batch (x, y), in inference mode:
        the error at the layer's field and the kernel's gradient (what the
        optimizer receives), zeros where the rule gives none."""
        return gradients_of(model, x, y, self.objective)

    def epoch_metrics(self, model) -> dict[str, float]:
        """Metrics of the rule recorded after every epoch (none by default)."""
        del model
        return {}


def step_metrics(model, loss, y, outputs, own: Mapping | None = None) -> dict:
    """Updates `model`'s metrics after a training step of a rule's own and
    returns them, as Keras' `train_step` does: the task loss and the compiled
    metrics of the outputs; a metric named in `own` (the rule's own means, such
    as a reconstruction error) takes the value given there.

    `loss` is `model.compute_loss`'s, which under `tf.distribute` is divided by
    the replicas (whose gradients are summed); the loss metric takes it back.
    """
    own = own or {}
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    for metric in model.metrics:
        if metric.name == "loss":
            metric.update_state(loss * replicas)
        elif metric.name in own:
            metric.update_state(own[metric.name])
        else:
            metric.update_state(y, outputs)
    return {metric.name: metric.result() for metric in model.metrics}


def rule_of(model) -> Rule:
    """The rule the learning layers of `model` follow; raises `UsageError` when
    they follow none or several."""
    found = {layer.rule.name: layer.rule for layer in graph.learning_layers(model)}
    if len(found) != 1:
        raise UsageError(
            f"Model {model.name!r} has layers following {len(found)} learning rules "
            f"({', '.join(sorted(found)) or 'none'}); one is needed."
        )
    return next(iter(found.values()))


def gradients_of(model, x, y, objective):
    """(δ at every learning layer's field, gradient of every learning layer's
    kernel) of `objective(model, outputs, taps, y)`, zeros where there is none.

    Frozen (non-trainable) kernels are not watched and get no gradient: a frozen
    layer does not move, whatever its gradient would be.
    """
    tapped = graph.tapped(model)
    layers = tapped.layers
    kernels = [layer.kernel for layer in layers]
    with tf.GradientTape(persistent=True) as tape:
        outputs, fields, taps = tapped(x, training=False)
        value = objective(model, outputs, taps, y)
    errors = tape.gradient(value, fields)
    updates = tape.gradient(value, [k.value for k in kernels])
    del tape
    errors = [
        tf.zeros_like(f) if e is None else e
        for e, f in zip(errors, fields, strict=True)
    ]
    updates = [
        u if u is not None and layer.trainable else tf.zeros(k.shape, k.dtype)
        for u, k, layer in zip(updates, kernels, layers, strict=True)
    ]
    return errors, updates
