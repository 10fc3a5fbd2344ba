"""The direct feedback rules, DFA, sDFA, DRTP and shallow, and their training step.

Frenkel et al. (2021), Fig. 1C-D, and their reference code
(ChFrenkel/DirectRandomTargetProjection; function.py at faf2d4d, models.py and
train.py at b84e3fe; see tests/support/frenkel_reference.md). Every hidden layer
l learns from a signal s projected straight from the output by a fixed random matrix B_l
(a `urfbtf.layers.DirectFeedback` on its output), which takes the place of the
gradient with respect to the layer's (post-activation) output, δy_l = s B_l
(the reference's `HookFunction.backward`, function.py:56-66):

* dfa (Nøkland 2016): s = e = y - y*, the network's prediction minus the
  one-hot target (function.py:57-58; y is the *post-sigmoid* output,
  models.py:118-122), `output_error`;
* sdfa: s = sign(y - y*) (function.py:59-60);
* drtp: s = y*, the one-hot target (function.py:61-62). It is descended like a
  gradient, so the hidden update is ΔW_l = -η ((B_lᵀ y*) ⊙ f'(z_l)) y_{l-1}ᵀ:
  from zero weights, the paper's lemma W_1 = -s (B_1ᵀ y*) xᵀ. In the code's
  convention y* = (1 - sign(y - y*))/2, the negated, shifted sDFA sign;
* shallow: hidden layers are frozen; only the output layer learns.

Scale, as the reference: each example's signal is used as is (no 1/N, no 1/C)
and the weight gradient sums over the batch (nn.Linear's backward), so a hidden
layer's gradient is Σ_n ((s_n B_l) ⊙ f'(z_{l,n})) y_{l-1,n}ᵀ, and its bias's the
same sum without the input. Under tf.distribute the replicas' sums are summed,
which is the sum over the global batch. The output layer learns with the true
gradient of the loss (its own error; for the mean-over-N·C binary cross-entropy
(y - y*)/(N·C), models.py:102-105, train.py:106), unless `output_signal` is
"direct": its error is then replaced by the signal too, at the hidden layers'
scale (for dfa, N·C times its true gradient under that loss).

No layer passes an error down (`urfbtf.rules.local_only`), so a layer's update
needs only its own input and output and the signal: no update locking. The
step is the gradient of the loss (which reaches only the output layer) plus
Σ_l <h_l, stop_gradient(s B_l)> (which reaches each hidden layer through its own
activation only); `direct_gradients` returns it for the probes.

`DirectRule` is the rule protocol's side (`urfbtf.rules.base.Rule`): layers send
no error down, every hidden block gets a `DirectFeedback` tap, and nets train as
a `DirectFeedbackModel`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from urfbtf import graph, losses
from urfbtf.backward import linear
from urfbtf.errors import UsageError
from urfbtf.layers.direct_feedback import DirectFeedback
from urfbtf.precision import to_float32
from urfbtf.rules.base import Rule, step_metrics
from urfbtf.settings import Setting

OUTPUT_SIGNALS = ("error", "direct")
SIGNALS = ("error", "sign", "target", "none")


def _one_hot(labels: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """y*, [batch, classes]: the one-hot target of integer labels, or the
    labels themselves when they already hold one value per class (the one-hot
    targets of categorical cross-entropy)."""
    labels = tf.convert_to_tensor(labels)
    classes = like.shape[-1]
    one_per_class = len(labels.shape) == 2 and labels.shape[-1] == classes
    if one_per_class and classes not in (None, 1):
        return tf.cast(labels, like.dtype)
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    return tf.one_hot(labels, tf.shape(like)[-1], dtype=like.dtype)


def output_error(loss, outputs: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """e = y - y*, per example [batch, classes]: the DFA error of the reference
    code (function.py:57-58), the prediction y minus the target y*.

    `loss` is what the model was compiled with (`losses.compiled_loss`: a name,
    a loss object or a function); y is the prediction it scores, made from the
    model's outputs:
    * sigmoid cross-entropy (`losses.SigmoidCrossEntropy`): y = sigmoid(outputs),
      the reference's sigmoid output units (models.py:118-122);
    * categorical and sparse categorical cross-entropy: y = softmax(outputs)
      when the loss reads the outputs as logits (`from_logits=True`), as the
      reference at b84e3fe for CE without an output activation (models.py:48,
      119-120), and y = outputs otherwise (the net's own softmax); y* the
      one-hot target (the labels themselves for categorical cross-entropy);
    * binary cross-entropy: y = sigmoid(outputs) from logits, else outputs;
    * mean squared error: y = outputs (after the net's output activation) and y*
      the float targets (regression, train.py: `targets = label`).
    Other losses (Amit's hinge) have no prediction to subtract a target from:
    e is then the gradient of each example's own loss with respect to its
    outputs (for the hinge, eq. 5 of Amit 2019).
    """
    loss = losses.compiled_loss(loss)
    if isinstance(loss, losses.SigmoidCrossEntropy):
        return tf.sigmoid(outputs) - _one_hot(labels, outputs)
    function, from_logits = losses.loss_function(loss)
    if function is keras.losses.sparse_categorical_crossentropy:
        predicted = tf.nn.softmax(outputs) if from_logits else outputs
        return predicted - _one_hot(labels, outputs)
    if function is keras.losses.categorical_crossentropy:
        predicted = tf.nn.softmax(outputs) if from_logits else outputs
        return predicted - _one_hot(labels, outputs)
    if function is keras.losses.binary_crossentropy:
        predicted = tf.sigmoid(outputs) if from_logits else outputs
        return predicted - tf.cast(tf.reshape(labels, tf.shape(outputs)), outputs.dtype)
    if function is keras.losses.mean_squared_error:
        return outputs - tf.cast(tf.reshape(labels, tf.shape(outputs)), outputs.dtype)
    with tf.GradientTape() as tape:
        tape.watch(outputs)
        total = tf.reduce_sum(losses.per_example(loss)(labels, outputs))
    return tape.gradient(total, outputs)


def direct_signal(kind: str, error: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """The signal s projected to the hidden layers, per example [batch, classes]
    (function.py:56-66): no batch or class scaling.

    Args:
        kind: "error" (dfa: e), "sign" (sdfa: sign(e)), "target" (drtp: y*) or
            "none" (shallow: 0).
        error: e = y - y*, `output_error`.
        labels: integer class labels [batch], or one-hot targets [batch,
            classes].
    """
    if kind == "error":
        return error
    if kind == "sign":
        return tf.sign(error)
    if kind == "target":
        return _one_hot(labels, error)
    return tf.zeros_like(error)


@keras.saving.register_keras_serializable(package="urfbtf")
class DirectFeedbackModel(keras.Model):
    """A functional model trained by the direct rule of its layers.

    Build it from the same inputs and outputs as any functional model, with a
    `DirectFeedback` layer on the output of every hidden layer that learns (the
    nets of `urfbtf.nets` insert them for the direct rules).

    Attributes:
        output_signal: "error" (default): the output layer learns with its true
            local gradient, as in the DRTP code; "direct": with the signal, at
            the hidden layers' scale.
    """

    output_signal = "error"

    @property
    def rule(self):
        """The rule of the model's first learning layer (None without one)."""
        layers = graph.learning_layers(self)
        return layers[0].rule if layers else None

    def taps(self) -> list[DirectFeedback]:
        """The `DirectFeedback` taps of the hidden blocks, bottom to top."""
        return graph.tapped(self).taps

    def direct_objective(self, outputs, hidden, y):
        """(objective, loss): the objective's gradient is the rule's update.

        Call it inside a `tf.GradientTape` that recorded the forward pass giving
        `outputs` and the taps' outputs `hidden`.
        """
        taps = self.taps()
        loss = self.compute_loss(y=y, y_pred=outputs)
        # Under a mixed policy the error, the signal and every product summed
        # into the objective are float32; B_l projects in the layer's precision.
        error = tf.stop_gradient(output_error(self.loss, to_float32(outputs), y))
        signal = tf.stop_gradient(direct_signal(self.rule.signal, error, y))
        objective = loss
        if self.output_signal == "direct":
            objective = tf.reduce_sum(to_float32(outputs) * signal)
        for tap, h in zip(taps, hidden, strict=True):
            projected = tap.project(tf.cast(signal, h.dtype), h)
            objective += tf.reduce_sum(
                to_float32(h) * tf.stop_gradient(to_float32(projected))
            )
        return objective, loss

    def tap_outputs(self, x, training: bool = False):
        """(outputs, [output of every DirectFeedback layer])."""
        outputs, _, hidden = graph.tapped(self)(x, training=training)
        return outputs, hidden

    def direct_gradients(self, x, y, training: bool = True, scale_loss=None):
        """(gradients of the trainable weights, loss, outputs) for one batch;
        `scale_loss` (an optimizer's, under mixed_float16) scales the objective
        they are the gradients of."""
        with tf.GradientTape() as tape:
            outputs, hidden = self.tap_outputs(x, training=training)
            objective, loss = self.direct_objective(outputs, hidden, y)
            if scale_loss is not None:
                objective = scale_loss(objective)
        gradients = tape.gradient(objective, self.trainable_weights)
        return gradients, loss, outputs

    def train_step(self, data):
        x, y = data[0], data[1]
        gradients, loss, outputs = self.direct_gradients(
            x, y, scale_loss=self.optimizer.scale_loss
        )
        self.optimizer.apply_gradients(
            zip(gradients, self.trainable_weights, strict=True)
        )
        return step_metrics(self, loss, y, outputs)


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

    def attach(self, block, num_classes, settings):
        del settings
        # The learning signal of this layer arrives here, straight from the output.
        return DirectFeedback(num_classes, name=f"{block.name}_feedback")(block.output)

    def build_model(self, inputs, outputs, *, name, settings):
        model = DirectFeedbackModel(inputs, outputs, name=name)
        model.output_signal = settings.get("direct_output", DIRECT_OUTPUT.default)
        return model

    def check(self, config, net):
        del net
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
