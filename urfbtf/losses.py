"""Losses: the multi-class hinge loss of Amit (2019) and softmax cross-entropy.

Eq. 4 of the paper, for an example of class c with outputs x (no nonlinearity on
the output layer):

    L(x, c) = max(1 - x_c, 0) + μ Σ_{i≠c} max(1 + x_i, 0),   μ = off_class_fac/(C-1)

Its derivative (eq. 5) is -1 on the correct class while x_c < 1 and μ on each wrong
class while x_i > -1: a signal each output unit can compute from its own activity
and the target alone, so the output layer's update is Hebbian too. Losses are
averaged over the batch, as in the original code. ("BP" in the paper's figures is
backpropagation with softmax cross-entropy, "BP-H" with this hinge loss.)

The rules that read a model's loss themselves take whatever `model.compile` was
given (a name, a loss object, a function) through `compiled_loss`,
`per_example` and `loss_function`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from urfbtf.errors import UsageError

LOSSES = ("hinge", "softmax", "bce", "mse")
# Losses of regression: their labels are float targets, and no error rate exists.
REGRESSION_LOSSES = ("mse",)


def multiclass_hinge(labels: tf.Tensor, outputs: tf.Tensor, off_class_fac: float = 1.0):
    """Per-example multi-class hinge loss, Amit (2019) eq. 4.

    Args:
        labels: integer class indices, shape [batch] (or [batch, 1]).
        outputs: the linear output layer's activity, shape [batch, C], C >= 2.
        off_class_fac: numerator of the balancing factor μ = off_class_fac/(C-1).

    Returns:
        The loss of each example, shape [batch].
    """
    num_classes = outputs.shape[-1]
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    on_class = tf.one_hot(labels, num_classes, dtype=outputs.dtype)
    mu = off_class_fac / (num_classes - 1)
    # relu'(0) = 0 in TensorFlow: a unit exactly at its margin gets no update, as
    # in the original code (the paper's eq. 5 writes <=; it matters on a null set).
    correct = tf.nn.relu(1.0 - outputs) * on_class
    wrong = tf.nn.relu(1.0 + outputs) * (1.0 - on_class)
    return tf.reduce_sum(correct + mu * wrong, axis=-1)


@keras.saving.register_keras_serializable(package="urfbtf")
class MulticlassHinge(keras.losses.Loss):
    """Amit (2019) eq. 4 as a Keras loss (mean over the batch by default).

    Args:
        off_class_fac: numerator of μ = off_class_fac/(C-1); 1 in all the paper's
            runs.
    """

    def __init__(
        self, off_class_fac: float = 1.0, name: str = "multiclass_hinge", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.off_class_fac = off_class_fac

    def call(self, y_true, y_pred):
        return multiclass_hinge(y_true, y_pred, self.off_class_fac)

    def get_config(self):
        return {**super().get_config(), "off_class_fac": self.off_class_fac}


@keras.saving.register_keras_serializable(package="urfbtf")
class SigmoidCrossEntropy(keras.losses.Loss):
    """Binary cross-entropy of sigmoid outputs against one-hot targets, averaged
    over the classes (Frenkel et al. 2021, J_BCE): the loss of their DFA and DRTP
    experiments. Takes integer labels and the output layer's logits."""

    def __init__(self, name: str = "sigmoid_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        labels = tf.reshape(tf.cast(y_true, tf.int32), [-1])
        targets = tf.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
        return tf.reduce_mean(
            tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=y_pred),
            axis=-1,
        )


def compiled_loss(loss):
    """The one loss a one-output model was compiled with (`model.loss`), as
    Keras scores it: a name resolved by `keras.losses.get`
    ("sparse_categorical_crossentropy", "mse", ...), a `keras.losses.Loss`, or
    a function (labels, outputs) -> each example's loss; a list or dict of one
    loss is that loss. The rules that read the loss themselves (the direct
    rules' output error, the target rules' task error) take it from here."""
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]
    elif isinstance(loss, dict) and len(loss) == 1:
        loss = next(iter(loss.values()))
    if isinstance(loss, str):
        try:
            return keras.losses.get(loss)
        except ValueError:
            pass
    elif isinstance(loss, keras.losses.Loss) or callable(loss):
        return loss
    raise UsageError(
        f"loss={loss!r}: a model that learns by a urfbtf rule takes one loss, as "
        "model.compile(loss=...) does for one output: a Keras loss name (such as "
        '"sparse_categorical_crossentropy", "categorical_crossentropy" or "mse"), '
        "a keras.losses.Loss, or a function (labels, outputs) returning each "
        "example's loss."
    )


def per_example(loss):
    """The function (labels, outputs) -> each example's loss of the compiled
    `loss` (`compiled_loss`), unreduced."""
    loss = compiled_loss(loss)
    return loss.call if isinstance(loss, keras.losses.Loss) else loss


def loss_function(loss) -> tuple:
    """(function, from_logits) of the compiled `loss` (`compiled_loss`): the
    Keras loss function it applies (`keras.losses.sparse_categorical_crossentropy`,
    ...; None for a `Loss` of another kind) and whether it reads the outputs as
    logits (a function's own default, False, when called bare)."""
    loss = compiled_loss(loss)
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
        return getattr(loss, "fn", None), bool(config.get("from_logits", False))
    return loss, False


def zero_output_loss(loss: keras.losses.Loss, num_classes: int) -> float:
    """The loss of an all-zero output, the same for every label: what a net
    that has learnt nothing scores (ln C for softmax cross-entropy, and
    1 + off_class_fac for the hinge loss, eq. 4 at x = 0). `urfbtf.runner.divergence`
    measures an exploding training loss against it. Classification losses
    only: a regression loss at zero output depends on the targets."""
    labels = tf.zeros([1], tf.int32)
    outputs = tf.zeros([1, num_classes], tf.float32)
    return float(loss(labels, outputs))


def get_loss(name: str, off_class_fac: float = 1.0) -> keras.losses.Loss:
    """Returns the loss called `name` ("hinge", "softmax" or "bce") for integer
    labels."""
    if name == "hinge":
        return MulticlassHinge(off_class_fac)
    if name == "softmax":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if name == "bce":
        return SigmoidCrossEntropy()
    if name == "mse":
        return keras.losses.MeanSquaredError()
    raise UsageError(
        f"Unknown loss {name!r}. Valid losses: hinge (the multi-class hinge loss of "
        "Amit 2019, eq. 4), softmax (softmax cross-entropy) and bce (sigmoid "
        "outputs with binary cross-entropy, Frenkel et al. 2021) and mse (mean squared "
        "error, for regression)."
    )
