"""The base of urfbtf's trainable layers: forward weights W, feedback weights R.

Amit (2019) section 3.1: each layer holds its forward weights W and, for the
random-feedback rules, feedback weights R of W's shape, drawn independently
(Glorot uniform, as in the paper). Both are ordinary Keras weights, so they are
checkpointed, saved in `.keras` files and mirrored across replicas; R is trainable
only under urfb, where its gradient is W's.

Random connectivity (the paper's "50%" runs): with `connectivity` p < 1, fixed
Bernoulli(p) masks, drawn independently for W and for R when the layer is built,
remove connections for good. The masks are stored as boolean weights (never
inferred from a weight being 0.0), applied to W and R on every call, and masked
entries start at exactly 0, so they stay 0 under any optimizer whose update is
zero for a zero gradient. Backpropagation has no feedback weights to prune, and
the original code never pruned under it, so asking for both is an error.

Under urfb, R's gradient is the Hebbian product δ ⊗ x itself, which does not
depend on W's mask. So R − W stays constant exactly on the entries both masks
keep (every entry at connectivity 1); where W is pruned and R kept, W stays 0
while R still moves, and where R is pruned and W kept, R stays 0 while W moves.

Frenkel et al.'s nets give every layer a bias (`use_bias`), drawn as the DRTP
reference code's nn.Linear and nn.Conv2d draw theirs (`FanInUniform`).
"""

from __future__ import annotations

import math
import random

import keras
import numpy as np
import tensorflow as tf

from urfbtf import arguments, registry
from urfbtf.backward import linear
from urfbtf.errors import UsageError
from urfbtf.layers.initializers import (
    BernoulliMask,
    FanInUniform,
    zero_where_masked,
)


class FeedbackLayer(keras.layers.Layer):
    """Base class: a map linear in W whose backward pass follows a learning rule.

    Subclasses supply `kernel_shape(input_shape)`, `linear_map(input_shape)` (a
    `urfbtf.backward.linear.LinearMap`) and the output shape; they may adapt the
    initializers to their weight layout (`layout_initializer`) and the shape of
    the bias (`bias_shape`).

    Args:
        rule: the name of a rule in `urfbtf.registry.RULES` (or a `Rule`); None
            is `urfbtf.registry.default_rule()`, Amit (2019)'s urfb.
        connectivity: fraction p in (0, 1] of forward and of feedback connections
            kept; p < 1 draws fixed independent masks for W and R.
        use_bias: add a bias (the original code has none).
        kernel_initializer: initializer of W.
        feedback_initializer: initializer of R, drawn independently of W.
        bias_initializer: initializer of the bias; a `FanInUniform` without a
            fan_in gets this layer's.
        feedback_clip: b > 0 clips the error this layer sends down to
            clip(b·g, -1, 1) (Amit's `b_nonlin_scale`, `backward.linear.clip_error`);
            0 sends it unchanged. Exact backpropagation (`linear.exact_backprop`)
            never clips.
        seed: integer seed of the connectivity masks (W's mask uses `seed`, R's
            `seed + 1`); None draws one from Python's `random`, which
            `keras.utils.set_random_seed` seeds (as Keras' initializers do).
        **kwargs: standard `keras.layers.Layer` arguments (name, dtype, ...).
    """

    def __init__(
        self,
        rule: str | None = None,
        connectivity: float = 1.0,
        use_bias: bool = False,
        kernel_initializer="glorot_uniform",
        feedback_initializer="glorot_uniform",
        bias_initializer="zeros",
        feedback_clip: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rule = (
            registry.get_rule(rule) if rule is not None else registry.default_rule()
        )
        check_connectivity(connectivity, self.rule)
        arguments.check_bool("use_bias", use_bias)
        arguments.check_number("feedback_clip", feedback_clip, "a scale >= 0")
        arguments.check_integer("seed", seed, "an integer or None", optional=True)
        self.connectivity = float(connectivity)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.feedback_initializer = keras.initializers.get(feedback_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.feedback_clip = float(feedback_clip)
        # A concrete seed now, like Keras' initializers: the masks then depend
        # only on `keras.utils.set_random_seed` and the order layers are made in.
        self.seed = int(seed) if seed is not None else random.randint(1, 10**9)

    def kernel_shape(self, input_shape) -> tuple[int, ...]:
        """The shape of W (and of R)."""
        raise NotImplementedError

    def linear_map(self, input_shape) -> linear.LinearMap:
        """The map h = W ⊛ x with its backward halves, for inputs of this shape."""
        raise NotImplementedError

    def layout_initializer(self, initializer):
        """Turns an initializer of the layer's conventional kernel into one of W's
        layout (the identity here; untied layers tile a conv kernel)."""
        return initializer

    def bias_shape(self, input_shape) -> tuple[int, ...]:
        return (self.kernel_shape(input_shape)[-1],)

    def fan_in(self, input_shape) -> int:
        """Inputs each output unit reads: a kh x kw window of every input channel
        for a convolution (tied or untied), the last axis for a dense layer."""
        window = math.prod(getattr(self, "kernel_size", ()))
        return window * int(input_shape[-1])

    def build(self, input_shape):
        shape = self.kernel_shape(input_shape)
        linear_map = self.linear_map(input_shape)
        self._linear_map = linear_map
        self._apply = self.rule.linear(linear_map)
        self._apply_backprop = linear.backprop(linear_map)
        self.kernel_mask = self._add_mask("kernel_mask", shape, self.seed)
        self.kernel = self.add_weight(
            name="kernel",
            shape=shape,
            initializer=self._masked(
                self.layout_initializer(self.kernel_initializer), self.kernel_mask
            ),
        )
        self.feedback_mask = self.feedback = None
        if self.rule.has_feedback:
            self.feedback_mask = self._add_mask("feedback_mask", shape, self.seed + 1)
            self.feedback = self.add_weight(
                name="feedback",
                shape=shape,
                initializer=self._masked(
                    self.layout_initializer(self.feedback_initializer),
                    self.feedback_mask,
                ),
                trainable=self.rule.feedback_learns,
            )
        self.bias = None
        if self.use_bias:
            bias_initializer = self.bias_initializer
            if (
                isinstance(bias_initializer, FanInUniform)
                and bias_initializer.fan_in is None
            ):
                bias_initializer = FanInUniform(
                    self.fan_in(input_shape), seed=bias_initializer.seed
                )
            self.bias = self.add_weight(
                name="bias",
                shape=self.bias_shape(input_shape),
                initializer=bias_initializer,
            )

    def _add_mask(self, name, shape, seed):
        if self.connectivity == 1.0:
            return None
        return self.add_weight(
            name=name,
            shape=shape,
            dtype="bool",
            initializer=BernoulliMask(self.connectivity, seed),
            trainable=False,
        )

    @staticmethod
    def _masked(initializer, mask):
        return initializer if mask is None else zero_where_masked(initializer, mask)

    def _read(self, variable, mask, dtype=None):
        # Read the weights into tensors before the custom-gradient call (it must
        # not see Keras variables), in the layer's compute dtype (or `dtype`), as
        # Keras' own layers do: under a mixed policy the variable's gradient
        # comes back through this cast in float32 (`urfbtf.precision`).
        value = tf.cast(tf.convert_to_tensor(variable), dtype or self.compute_dtype)
        if mask is not None:
            value = tf.where(tf.convert_to_tensor(mask), value, tf.zeros_like(value))
        return value

    def apply_linear(self, inputs):
        """W ⊛ inputs (+ bias), with the backward pass of this layer's rule."""
        kernel = self._read(self.kernel, self.kernel_mask)
        if linear.backprop_forced():
            outputs = self._apply_backprop(inputs, kernel, None)
        else:
            if self.feedback_clip > 0:
                inputs = linear.clip_error(inputs, self.feedback_clip)
            feedback = None
            if self.feedback is not None:
                feedback = self._read(self.feedback, self.feedback_mask)
            outputs = self._apply(inputs, kernel, feedback)
        if self.bias is not None:
            outputs = outputs + tf.cast(self.bias, self.compute_dtype)
        return outputs

    def call(self, inputs):
        return self.apply_linear(inputs)

    def error_below(self, error, inputs):
        """Wᵀδ: the error backpropagation sends from this layer's output (its
        field) to its input (Amit 2019, eq. 2), through W itself, whatever the
        rule. Target rules that take one gradient step at the top (DTP's
        penultimate target) use it; `inputs` only supplies the shape."""
        kernel = self._read(self.kernel, self.kernel_mask)
        return self._linear_map.input_grad(error, kernel, inputs)

    def effective_kernel(self) -> np.ndarray:
        """W as the forward pass uses it (masked entries are 0)."""
        return keras.ops.convert_to_numpy(self._read(self.kernel, self.kernel_mask))

    def effective_feedback(self) -> np.ndarray | None:
        """R as the backward pass uses it, or None when the rule has no feedback."""
        if self.feedback is None:
            return None
        return keras.ops.convert_to_numpy(self._read(self.feedback, self.feedback_mask))

    def get_config(self):
        return {
            **super().get_config(),
            "rule": self.rule.name,
            "connectivity": self.connectivity,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "feedback_initializer": keras.initializers.serialize(
                self.feedback_initializer
            ),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "feedback_clip": self.feedback_clip,
            "seed": self.seed,
        }


def check_connectivity(connectivity: float, rule) -> None:
    """Raises `UsageError` unless `connectivity` is valid for `rule` (an
    `urfbtf.rules.Rule`)."""
    arguments.check_number(
        "connectivity", connectivity, "a number in (0, 1]: the fraction kept"
    )
    if not 0.0 < connectivity <= 1.0:
        raise UsageError(
            f"connectivity={connectivity!r} is outside (0, 1]: it is the fraction of "
            "forward and of feedback connections kept (1 keeps all; the paper's "
            "pruned runs use 0.5)."
        )
    if connectivity < 1.0 and not rule.has_feedback:
        raise UsageError(
            f"connectivity={connectivity!r} prunes forward and feedback connections, "
            f"which only the random-feedback rules have; rule {rule.name!r} has no "
            "feedback weights (the original code never pruned under "
            "backpropagation). Use connectivity=1 with bp, or rule frfb or urfb."
        )
