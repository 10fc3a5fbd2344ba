"""A fully connected layer trained by a rule of `urfbtf.rules` (Amit 2019, eq. 1-2)."""

from __future__ import annotations

import keras
import tensorflow as tf

from urfbtf.backward import linear
from urfbtf.layers.feedback_layer import FeedbackLayer


@keras.saving.register_keras_serializable(package="urfbtf")
class FeedbackDense(FeedbackLayer):
    """Dense layer h = x W (+ b) with forward weights W and feedback weights R.

    Under rule "bp" the error below is δWᵀ (autodiff); under "frfb" and "urfb" it
    is δRᵀ, and under "urfb" R learns with W's gradient xᵀδ. Inputs of rank > 2
    are mapped along their last axis, like `keras.layers.Dense`.

    Example:
        >>> layer = FeedbackDense(10, rule="urfb")
        >>> layer(tf.ones([2, 784])).shape
        TensorShape([2, 10])

    Args:
        units: number of output units.
        **kwargs: see `FeedbackLayer` (rule, connectivity, use_bias, initializers,
            seed) and `keras.layers.Layer`.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def kernel_shape(self, input_shape):
        return (int(input_shape[-1]), self.units)

    def linear_map(self, input_shape):
        return linear.DENSE

    def call(self, inputs):
        if inputs.shape.rank == 2:
            return self.apply_linear(inputs)
        flat = tf.reshape(inputs, [-1, inputs.shape[-1]])
        outputs = self.apply_linear(flat)
        return tf.reshape(outputs, tf.concat([tf.shape(inputs)[:-1], [self.units]], 0))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
