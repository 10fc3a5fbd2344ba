"""The classification error rates, top-1 and top-k, as Keras metrics.

The paper reports error rates (1 - accuracy by argmax of the output layer), and so
does every log and table of urfbtf, as fractions in [0, 1]. With more than 10
classes the top-5 error (the label not among the five largest outputs, as
ImageNet results report it) is recorded too.
"""

import keras
import tensorflow as tf


def classification_error(labels, outputs):
    """1.0 where argmax(outputs) differs from the integer label, else 0.0."""
    labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
    predicted = tf.argmax(outputs, axis=-1, output_type=tf.int64)
    return tf.cast(tf.not_equal(predicted, labels), tf.float32)


@keras.saving.register_keras_serializable(package="urfbtf")
class ErrorRate(keras.metrics.MeanMetricWrapper):
    """Mean classification error over the examples seen (logged as "error")."""

    def __init__(self, name: str = "error", dtype=None):
        super().__init__(classification_error, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


# Top-5 error is reported next to the top-1 error for more than this many classes
# (ImageNet's usual second number; with 10 classes or fewer it says little).
TOP5_MIN_CLASSES = 11


def top_k_error(labels, outputs, k: int = 5):
    """1.0 where the label is not among the k largest outputs, else 0.0.

    A label counts as among them when fewer than k outputs are strictly larger
    than its own (ties are in, as in `tf.math.in_top_k`); a non-finite output
    of the label's class is an error.
    """
    labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
    outputs = tf.cast(outputs, tf.float32)
    own = tf.gather(outputs, labels, axis=1, batch_dims=1)
    larger = tf.reduce_sum(tf.cast(outputs > own[:, None], tf.int32), axis=-1)
    missed = tf.logical_or(larger >= k, tf.logical_not(tf.math.is_finite(own)))
    return tf.cast(missed, tf.float32)


@keras.saving.register_keras_serializable(package="urfbtf")
class TopKError(keras.metrics.MeanMetricWrapper):
    """Mean top-k error over the examples seen (logged as "top5_error" for k=5)."""

    def __init__(self, k: int = 5, name: str | None = None, dtype=None):
        super().__init__(top_k_error, name=name or f"top{k}_error", dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"k": self.k, "name": self.name, "dtype": self.dtype}
