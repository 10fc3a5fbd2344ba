"""The fixed random projection from the output to one hidden layer (DFA, DRTP).

Frenkel et al. (2021), Fig. 1C-D: with direct feedback each hidden layer l gets
its learning signal straight from the output through a fixed random matrix B_l.
This layer sits on a hidden layer's output, passes it on unchanged and holds B_l;
the training step of `urfbtf.rules.direct.DirectFeedbackModel` uses it to
project the output error, its sign or the target onto that layer.

B_l is drawn as the DRTP reference code draws it
(ChFrenkel/DirectRandomTargetProjection, module.py:96-98, models.py:81, 102):
`torch.nn.init.kaiming_uniform_` with its defaults on a [C, units] tensor
([C, channels, height, width] for a convolution, i.e. [C, units] flattened).
PyTorch takes a 2-D tensor's fan_in from its *second* axis, so the bound is
√(6/units) (torch/nn/init.py, `_calculate_fan_in_and_fan_out`): Keras'
variance scaling with scale 2 on the fan_out of the same [C, units] shape
(`reference_projection`). Keras' own "he_uniform" would use C, the first axis.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from urfbtf.layers.tap import Tap


def reference_projection(seed=None) -> keras.initializers.Initializer:
    """U(±√(6/units)) for a [C, units] B_l, as the reference's kaiming_uniform_."""
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="uniform", seed=seed
    )


@keras.saving.register_keras_serializable(package="urfbtf")
class DirectFeedback(Tap):
    """Identity on its input; holds B_l of shape [num_classes, units].

    Args:
        num_classes: size of the output (of the signal projected).
        projection_initializer: initializer of B_l; None is the reference code's
            U(±√(6/units)) (`reference_projection`).
        **kwargs: standard `keras.layers.Layer` arguments.
    """

    def __init__(self, num_classes: int, projection_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        if projection_initializer is None:
            projection_initializer = reference_projection()
        self.projection_initializer = keras.initializers.get(projection_initializer)

    def build(self, input_shape):
        units = math.prod(input_shape[1:])
        self.projection = self.add_weight(
            name="projection",
            shape=(self.num_classes, units),
            initializer=self.projection_initializer,
            trainable=False,
        )

    def project(self, signal: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
        """signal [batch, num_classes] @ B_l, shaped like the layer's output."""
        projected = tf.matmul(signal, tf.cast(self.projection, signal.dtype))
        return tf.reshape(projected, tf.shape(like))

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "projection_initializer": keras.initializers.serialize(
                self.projection_initializer
            ),
        }
