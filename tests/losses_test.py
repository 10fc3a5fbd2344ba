"""The hinge loss (Amit 2019, eq. 4-5), cross-entropy, and the error metric."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from urfbtf import losses
from urfbtf.errors import UsageError
from urfbtf.metrics import ErrorRate


def _hinge_by_hand(labels, outputs, off_class_fac):
    """Eq. 4 and eq. 5, written out example by example and unit by unit."""
    batch, classes = outputs.shape
    mu = off_class_fac / (classes - 1)
    loss, grad = 0.0, np.zeros_like(outputs)
    for b in range(batch):
        for i in range(classes):
            x = outputs[b, i]
            if i == labels[b]:
                loss += max(1 - x, 0)
                grad[b, i] = -1.0 if x < 1 else 0.0
            else:
                loss += mu * max(1 + x, 0)
                grad[b, i] = mu if x > -1 else 0.0
    return loss / batch, grad / batch  # Batch mean.


@pytest.mark.parametrize("off_class_fac", [1.0, 10.0])
def test_hinge_loss_and_gradient_match_equations_4_and_5(off_class_fac):
    rng = np.random.default_rng(0)
    outputs = rng.uniform(-2.5, 2.5, size=(6, 10)).astype("float32")
    labels = rng.integers(0, 10, 6)
    loss_fn = losses.get_loss("hinge", off_class_fac)
    x = tf.constant(outputs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = loss_fn(tf.constant(labels), x)
    expected_loss, expected_grad = _hinge_by_hand(labels, outputs, off_class_fac)
    np.testing.assert_allclose(value, expected_loss, rtol=1e-5)
    np.testing.assert_allclose(
        tape.gradient(value, x), expected_grad, rtol=1e-5, atol=1e-7
    )


def test_hinge_loss_is_zero_beyond_the_margins():
    outputs = tf.constant([[1.5, -1.2, -3.0], [-2.0, 1.0, -1.0]])
    per_example = losses.multiclass_hinge(tf.constant([0, 1]), outputs)
    np.testing.assert_array_equal(per_example, [0.0, 0.0])


def test_softmax_loss_is_cross_entropy_of_logits():
    outputs = np.array([[2.0, 0.5, -1.0]], "float32")
    value = losses.get_loss("softmax")(np.array([1]), outputs)
    expected = -np.log(np.exp(0.5) / np.exp(outputs).sum())
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_unknown_loss_names_the_choices():
    with pytest.raises(UsageError, match=r"'l1'.*hinge.*softmax.*bce.*mse"):
        losses.get_loss("l1")


def test_hinge_loss_serializes():
    loss = losses.MulticlassHinge(off_class_fac=3.0)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss)
    )
    assert (
        isinstance(restored, losses.MulticlassHinge) and restored.off_class_fac == 3.0
    )


def test_error_rate_is_one_minus_argmax_accuracy():
    metric = ErrorRate()
    metric.update_state(np.array([0, 1, 2, 2]), np.eye(3)[[0, 2, 2, 1]])
    assert metric.result().numpy() == pytest.approx(0.5)
