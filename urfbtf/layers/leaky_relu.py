"""The leaky rectifier with its exact inverse, for rules that invert their layers.

f(h) = h for h > 0 and a·h otherwise, with 0 < a; f is a bijection of the reals
with f⁻¹(y) = y for y > 0 and y/a otherwise. Target propagation with exact
inverses (the GAIT-prop paper, sec. 2.1, leaky-ReLU with slope 0.1) needs both;
the saturated linearity (not invertible where it saturates) and tanh are the
other hidden nonlinearities of `urfbtf.nets`.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def leaky_relu(h: tf.Tensor, slope: float = 0.1) -> tf.Tensor:
    """h where h > 0, slope·h elsewhere (its gradient is 1 or slope)."""
    return tf.where(h > 0, h, slope * h)


def leaky_relu_inverse(y: tf.Tensor, slope: float = 0.1) -> tf.Tensor:
    """The exact inverse of `leaky_relu`: y where y > 0, y/slope elsewhere."""
    return tf.where(y > 0, y, y / slope)


@keras.saving.register_keras_serializable(package="urfbtf")
class LeakyReLU(keras.layers.Layer):
    """Applies `leaky_relu` elementwise; `inverse` undoes it exactly.

    Args:
        slope: the slope a in (0, 1] for negative inputs (0.1 in GAIT-prop).
    """

    def __init__(self, slope: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        if not slope > 0:
            raise ValueError(
                f"slope={slope!r}: a leaky ReLU is invertible only for slope > 0."
            )
        self.slope = float(slope)

    def call(self, inputs):
        return leaky_relu(inputs, self.slope)

    def inverse(self, outputs):
        return leaky_relu_inverse(outputs, self.slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "slope": self.slope}
