"""The direct feedback rules, DFA, sDFA, DRTP and shallow, and their training step.

Frenkel et al. (2021), Fig. 1C-D and Algorithm 1. Every hidden layer l learns
from a signal projected straight from the output by a fixed random matrix B_l
(a `urfbtf.layers.DirectFeedback` on its output):

* dfa (Nøkland 2016): the output error e = ∂loss/∂(network output);
* sdfa: sign(e);
* drtp: the one-hot target y*. The paper's error is y* - y, whose sign,
  shifted and rescaled, is y*; in the convention of e here (the loss gradient)
  that is -y*, so the hidden update is +η (B_lᵀ y*) ⊙ f'(z) x, as in the paper;
* shallow: hidden layers are frozen; only the output layer learns.

The hidden layers' weight gradient is then (B_lᵀ s) ⊙ f'(z_l) times the layer's
input, and no layer passes an error down (`urfbtf.rules.local_only`), so a
layer's update needs only its own input and output and the signal: no update
locking. The sign and target signals are divided by the batch size, as the error
of a batch-mean loss already is. The output layer learns with its true local
gradient (its own error e) unless `output_signal` is "direct", in which case its
error is replaced by the signal too (for dfa that is the same thing).

The step is computed as the gradient of the loss (which reaches only the output
layer) plus Σ_l <h_l, stop_gradient(B_lᵀ s)> (which reaches each hidden layer
through its own activation only); `direct_gradients` returns it for the probes.

`DirectRule` is the rule protocol's side (`urfbtf.rules.base.Rule`): layers send
no error down, every hidden block gets a `DirectFeedback` tap, and nets train as
a `DirectFeedbackModel`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from urfbtf import blocks, losses
from urfbtf.errors import UsageError
from urfbtf.layers.direct_feedback import DirectFeedback
from urfbtf.rules import linear
from urfbtf.rules.base import Rule
from urfbtf.settings import Setting

OUTPUT_SIGNALS = ("error", "direct")
SIGNALS = ("error", "sign", "target", "none")


def direct_signal(kind: str, error: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """The signal projected to the hidden layers, per example [batch, classes].

    Args:
        kind: "error" (dfa), "sign" (sdfa), "target" (drtp) or "none" (shallow).
        error: ∂loss/∂(network output) for a batch-mean loss.
        labels: integer class labels [batch].
    """
    if kind == "error":
        return error
    # The global batch: a batch-mean loss under tf.distribute is also divided by
    # the number of replicas.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    batch = tf.cast(tf.shape(error)[0] * replicas, error.dtype)
    if kind == "sign":
        return tf.sign(error) / batch
    if kind == "target":
        target = tf.one_hot(
            tf.reshape(tf.cast(labels, tf.int32), [-1]),
            tf.shape(error)[-1],
            dtype=error.dtype,
        )
        return -target / batch
    return tf.zeros_like(error)


@keras.saving.register_keras_serializable(package="urfbtf")
class DirectFeedbackModel(keras.Model):
    """A functional model trained by the direct rule of its layers.

    Build it from the same inputs and outputs as any functional model, with a
    `DirectFeedback` layer on the output of every hidden layer that learns (the
    nets of `urfbtf.nets` insert them for the direct rules).

    Attributes:
        output_signal: "error" (default): the output layer learns with its true
            local gradient, as in the DRTP code; "direct": with the signal.
    """

    output_signal = "error"

    def _parts(self):
        """The taps, the rule and a model exposing the outputs of every tap."""
        if not hasattr(self, "_tapped"):
            taps = [x for x in self.layers if isinstance(x, DirectFeedback)]
            learners = blocks.learning_layers(self)
            rule = learners[0].rule if learners else None
            inputs = self.inputs[0] if len(self.inputs) == 1 else self.inputs
            # Not an attribute Keras tracks: it only re-exposes this model's graph.
            object.__setattr__(
                self,
                "_tapped",
                keras.Model(inputs, [self.outputs[0], *[t.output for t in taps]]),
            )
            object.__setattr__(self, "_taps", taps)
            object.__setattr__(self, "_rule", rule)
        return self._taps, self._rule, self._tapped

    def direct_objective(self, outputs, hidden, y):
        """(objective, loss): the objective's gradient is the rule's update.

        Call it inside a `tf.GradientTape` that recorded the forward pass giving
        `outputs` and the taps' outputs `hidden`.
        """
        taps, rule, _ = self._parts()
        with tf.GradientTape() as error_tape:
            error_tape.watch(outputs)
            loss = self.compute_loss(y=y, y_pred=outputs)
        error = tf.stop_gradient(error_tape.gradient(loss, outputs))
        signal = tf.stop_gradient(direct_signal(rule.signal, error, y))
        objective = loss
        if self.output_signal == "direct":
            objective = tf.reduce_sum(outputs * signal)
        for tap, h in zip(taps, hidden, strict=True):
            objective += tf.reduce_sum(h * tf.stop_gradient(tap.project(signal, h)))
        return objective, loss

    def tap_outputs(self, x, training: bool = False):
        """(outputs, [output of every DirectFeedback layer])."""
        _, _, tapped = self._parts()
        outputs, *hidden = tf.nest.flatten(tapped(x, training=training))
        return outputs, hidden

    def direct_gradients(self, x, y, training: bool = True):
        """(gradients of the trainable weights, loss, outputs) for one batch."""
        with tf.GradientTape() as tape:
            outputs, hidden = self.tap_outputs(x, training=training)
            objective, loss = self.direct_objective(outputs, hidden, y)
        gradients = tape.gradient(objective, self.trainable_weights)
        return gradients, loss, outputs

    def train_step(self, data):
        x, y = data[0], data[1]
        gradients, loss, outputs = self.direct_gradients(x, y)
        self.optimizer.apply_gradients(
            zip(gradients, self.trainable_weights, strict=True)
        )
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        for metric in self.metrics:
            if metric.name == "loss":
                # compute_loss divides by the replicas, whose gradients are summed.
                metric.update_state(loss * replicas)
            else:
                metric.update_state(y, outputs)
        return {metric.name: metric.result() for metric in self.metrics}


DIRECT_OUTPUT = Setting(
    "direct_output",
    str,
    "error",
    "dfa/sdfa/drtp: the output layer learns from its true error (error) or from "
    "the projected signal (direct).",
    choices=OUTPUT_SIGNALS,
)


class DirectRule(Rule):
    """A direct feedback rule: hidden layers learn from a signal projected
    straight from the output (Frenkel et al. 2021, Algorithm 1).

    Args:
        name, summary: see `Rule`.
        signal: "error" (dfa), "sign" (sdfa), "target" (drtp) or "none"
            (shallow: hidden layers are frozen).
    """

    sends_error = False
    model_class = DirectFeedbackModel
    settings = (DIRECT_OUTPUT,)

    def __init__(self, name: str, summary: str, signal: str):
        super().__init__(name, summary)
        if signal not in SIGNALS:
            raise ValueError(f"signal={signal!r}; valid: {', '.join(SIGNALS)}")
        self.signal = signal
        self.hidden_layers_learn = signal != "none"
        # Frozen hidden layers cannot leave 0.
        self.learns_from_zero = self.hidden_layers_learn

    def linear(self, linear_map):
        return linear.local_only(linear_map)

    def attach(self, block, num_classes):
        # The learning signal of this layer arrives here, straight from the output.
        return DirectFeedback(num_classes, name=f"{block.name}_feedback")(block.output)

    def build_model(self, inputs, outputs, *, name, settings):
        model = DirectFeedbackModel(inputs, outputs, name=name)
        model.output_signal = settings.get("direct_output", DIRECT_OUTPUT.default)
        return model

    def check(self, config):
        if self.signal == "target" and config.loss in losses.REGRESSION_LOSSES:
            raise UsageError(
                f"rule={self.name!r} with loss={config.loss!r}: DRTP projects the "
                "one-hot target of a class, which regression has not. Use dfa or "
                "sdfa (or any other rule) for regression."
            )

    def objective(self, model, outputs, taps, y):
        objective, _ = model.direct_objective(outputs, taps, y)
        return objective


DFA = DirectRule("dfa", "direct feedback alignment: B_l e to each layer", "error")
SDFA = DirectRule("sdfa", "sign-DFA: B_l sign(e) to each layer", "sign")
DRTP = DirectRule("drtp", "direct random target projection: B_l y*", "target")
SHALLOW = DirectRule("shallow", "only the output layer learns", "none")
