"""The saturated linearity of Amit (2019), section 3.1, Remark 2.

σ(h) = clip(s·h, -1, 1), with σ'(h) = s where |s·h| <= 1 and 0 where it saturates,
so the error passes a unit unchanged (times s) unless its input is too large in
magnitude. The paper writes s = 1; the code that produced its results used
s = 0.5 throughout, which is the default here.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def saturated_linear(h: tf.Tensor, scale: float = 0.5) -> tf.Tensor:
    """clip(scale·h, -1, 1); its gradient is scale inside [-1, 1] (boundaries
    included, as TensorFlow's clip) and 0 outside."""
    return tf.clip_by_value(scale * h, -1.0, 1.0)


@keras.saving.register_keras_serializable(package="urfbtf")
class SaturatedLinear(keras.layers.Layer):
    """Applies `saturated_linear` elementwise.

    Args:
        scale: the slope s (0.5 in the original code, 1 in the paper's text).
    """

    def __init__(self, scale: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        return saturated_linear(inputs, self.scale)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
