"""The initializers of urfbtf's layers: connectivity masks, PyTorch's default
bias, and initial weights that are exactly 0 where a mask prunes.

Amit (2019)'s pruned runs ("50%" connectivity) keep each connection of W and of
R with probability p, by fixed Bernoulli masks drawn when a layer is built
(`BernoulliMask`); Frenkel et al.'s nets draw their biases as the DRTP
reference code's nn.Linear and nn.Conv2d (`FanInUniform`).
"""

from __future__ import annotations

import math
import random

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="urfbtf")
class BernoulliMask(keras.initializers.Initializer):
    """Boolean mask whose entries are True (kept) with probability `keep_prob`.

    Args:
        keep_prob: probability that a connection is kept.
        seed: an integer for a reproducible mask, or None to draw from Keras'
            global generator (seeded by `keras.utils.set_random_seed`).
    """

    def __init__(self, keep_prob: float, seed: int | None = None):
        self.keep_prob = keep_prob
        self.seed = seed

    def __call__(self, shape, dtype=None):
        del dtype  # Always boolean.
        return keras.random.uniform(shape, seed=self.seed) < self.keep_prob

    def get_config(self):
        return {"keep_prob": self.keep_prob, "seed": self.seed}


@keras.saving.register_keras_serializable(package="urfbtf")
class FanInUniform(keras.initializers.Initializer):
    """U(±1/√fan_in): PyTorch's default bias of nn.Linear and nn.Conv2d
    (torch/nn/modules/linear.py and conv.py, `reset_parameters`), which every layer
    of the DRTP reference code keeps (ChFrenkel/DirectRandomTargetProjection,
    models.py:79, 99, `bias=True`).

    Args:
        fan_in: inputs each output unit reads (the kernel's fan-in); None lets
            `FeedbackLayer` set its own when it builds its bias.
        seed: an integer, or None to draw one from Python's `random` (which
            `keras.utils.set_random_seed` seeds), as `FeedbackLayer` does.
    """

    def __init__(self, fan_in: int | None = None, seed: int | None = None):
        self.fan_in = fan_in
        self.seed = seed if seed is not None else random.randint(1, 10**9)

    def __call__(self, shape, dtype=None):
        if self.fan_in is None:
            raise ValueError("FanInUniform needs the layer's fan_in to draw a bias.")
        bound = 1.0 / math.sqrt(self.fan_in)
        return keras.random.uniform(
            shape, -bound, bound, dtype=dtype or "float32", seed=self.seed
        )

    def get_config(self):
        return {"fan_in": self.fan_in, "seed": self.seed}


def zero_where_masked(initializer, mask):
    """Wraps `initializer` so that entries outside `mask` start at exactly 0."""

    def masked_initializer(shape, dtype=None):
        values = initializer(shape, dtype=dtype)
        return tf.where(tf.convert_to_tensor(mask), values, tf.zeros_like(values))

    return masked_initializer
