"""The classification error rate, as a Keras metric.

The paper reports error rates (1 - accuracy by argmax of the output layer), and so
does every log and table of urfbtf, as fractions in [0, 1].
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
