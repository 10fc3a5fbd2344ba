"""An untied (locally connected) convolution trained by a rule of `urfbtf.rules`.

Amit (2019), section 4.1: the sparsity pattern of a convolution, but every
connection has its own weight, updated by its own Hebbian product (eq. 2 without
the sum over space). The mathematics and the two weight layouts are in
`urfbtf.backward.untied`; this module only makes them a Keras layer.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from urfbtf.backward import untied
from urfbtf.errors import UsageError
from urfbtf.layers.feedback_conv2d import FeedbackConv2D


@keras.saving.register_keras_serializable(package="urfbtf")
class UntiedConv2D(FeedbackConv2D):
    """Locally connected layer with the support of a convolution (NHWC).

    It shares `FeedbackConv2D`'s geometry (kernel, stride, padding, output shape)
    and replaces its one shared kernel by a weight for every connection.

    W and, under frfb and urfb, R are untied matrices on the convolution's support
    (only taps inside the image are connections). Under bp the error below is Wᵀδ,
    under frfb and urfb it is Rᵀδ, and under urfb R learns with W's gradient.
    With `connectivity` p < 1, W's and R's supports are sampled independently per
    connection, so they differ.

    Example:
        >>> layer = UntiedConv2D(32, 5, rule="urfb")
        >>> layer(tf.zeros([2, 32, 32, 3])).shape
        TensorShape([2, 32, 32, 32])

    Args:
        filters: number of output channels.
        kernel_size: an int or a (height, width) pair.
        strides: the stride in both spatial dimensions.
        padding: "same" or "valid", as TensorFlow defines them.
        implementation: "dense" (per-location kernels [H_out, W_out, kh, kw, C_in,
            C_out], compiles with XLA) or "sparse" (a value vector over the
            connections used through `tf.SparseTensor`, as the original code; no
            XLA).
        tie_init: True draws one conv kernel [kh, kw, C_in, C_out] with
            `kernel_initializer` and copies it to every location, as the original
            code did (R likewise with `feedback_initializer`, independently of W).
            False draws every connection independently from the distribution of
            that conv kernel's entries (for variance-scaling initializers such as
            Glorot, with the conv's fan-in and fan-out).
        **kwargs: see `FeedbackLayer` (rule, connectivity, use_bias, initializers,
            seed) and `keras.layers.Layer`.
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides: int = 1,
        padding: str = "same",
        implementation: str = "dense",
        tie_init: bool = True,
        **kwargs,
    ):
        self.implementation = untied.check_layout(implementation)
        self.tie_init = bool(tie_init)
        # Built from the input shape in `build`; not saved (the config rebuilds it).
        self.connections: untied.Connections | None = None
        super().__init__(filters, kernel_size, strides, padding, **kwargs)
        # Keras compiles a model with XLA only if every layer supports it.
        self.supports_jit = self.implementation == "dense"

    # --- FeedbackLayer hooks ------------------------------------------------------

    def build(self, input_shape):
        if len(input_shape) != 4 or any(n is None for n in input_shape[1:]):
            raise UsageError(
                "UntiedConv2D needs inputs of static shape (batch, height, width, "
                f"channels); got {tuple(input_shape)}."
            )
        self.connections = untied.connections(
            input_shape, self.kernel_size, self.filters, self.strides, self.padding
        )
        super().build(input_shape)

    def kernel_shape(self, input_shape):
        if self.implementation == "sparse":
            return (self.connections.nnz,)
        return self.connections.dense_shape

    def linear_map(self, input_shape):
        return untied.linear_map(self.connections, self.implementation)

    def bias_shape(self, input_shape):
        return (self.filters,)

    def layout_initializer(self, conv_initializer):
        """W's (or R's) initializer in this layer's layout, from the initializer
        of the equivalent conv kernel."""
        conns, layout = self.connections, self.implementation

        def initializer(shape, dtype=None):
            del shape  # Always `kernel_shape`.
            if self.tie_init:
                kernel = conv_initializer(conns.conv_shape, dtype=dtype)
                return untied.tile_kernel(kernel, conns, layout)
            # Drawn in the dense layout for both layouts, so that a sparse and a
            # dense layer with the same seeds start with the same weights.
            values = _per_connection(conv_initializer)(conns.dense_shape, dtype=dtype)
            if layout == "sparse":
                return untied.to_sparse(values, conns)
            return tf.where(conns.dense_support(), values, tf.zeros_like(values))

        return initializer

    # --- Untied-specific API ------------------------------------------------------

    def set_from_conv(self, kernel, feedback=None) -> None:
        """Copies a conv kernel [kh, kw, C_in, C_out] to W at every location (and
        `feedback` to R), keeping masked entries at 0.

        Used to untie the layers of a trained tied net, as the original code did.

        Raises:
            UsageError: for a kernel of the wrong shape, or feedback under a rule
                without feedback weights.
        """
        self._check_built()
        self._assign_tiled(self.kernel, self.kernel_mask, kernel)
        if feedback is not None:
            if self.feedback is None:
                raise UsageError(
                    f"Rule {self.rule.name!r} has no feedback weights to set; pass "
                    "feedback=None or use rule frfb or urfb."
                )
            self._assign_tiled(self.feedback, self.feedback_mask, feedback)

    def _assign_tiled(self, variable, mask, kernel):
        values = untied.tile_kernel(
            tf.cast(kernel, variable.dtype), self.connections, self.implementation
        )
        if mask is not None:
            values = tf.where(tf.convert_to_tensor(mask), values, tf.zeros_like(values))
        variable.assign(values)

    def location_filters(self, feedback: bool = False) -> np.ndarray:
        """W (or R if `feedback`) as the forward (backward) pass uses it, as
        per-location filters [H_out, W_out, kh, kw, C_in, C_out] for either
        implementation: 0 on masked entries and on padding taps."""
        self._check_built()
        values = self.effective_feedback() if feedback else self.effective_kernel()
        if values is None:
            raise UsageError(f"Rule {self.rule.name!r} has no feedback weights.")
        if self.implementation == "sparse":
            return untied.to_dense(values, self.connections).numpy()
        support = self.connections.dense_support()
        return np.where(support, values, 0).astype(values.dtype)

    def _check_built(self):
        if not self.built:
            raise UsageError(
                f"Layer {self.name!r} is not built yet: call it on an input (or "
                "build it with the input shape) first."
            )

    # --- Keras ----------------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "implementation": self.implementation,
            "tie_init": self.tie_init,
        }


def _per_connection(conv_initializer):
    """An initializer for the dense layout that draws every entry independently
    from the distribution the conv kernel's entries have under `conv_initializer`.

    Variance-scaling initializers (Glorot, He, LeCun) scale with the fans, which
    Keras would compute from the 6-D shape; give them the conv's axes instead
    (fan-in kh·kw·C_in, fan-out kh·kw·C_out). Other initializers (uniform, normal,
    constant) draw each entry with shape-independent parameters, so are used as is.
    """
    if not isinstance(conv_initializer, keras.initializers.VarianceScaling):
        return conv_initializer
    if conv_initializer.input_axes is None or conv_initializer.output_axes is None:
        # compute_fans' default for a kernel (kh, kw, C_in, C_out).
        input_axes, output_axes = (0, 1, 2), (0, 1, 3)
    else:
        input_axes = conv_initializer.input_axes
        output_axes = conv_initializer.output_axes

    def shifted(axes):
        # Two location axes come first; negative axes count from the end already.
        return [a + 2 if a >= 0 else a for a in axes]

    return keras.initializers.VarianceScaling(
        scale=conv_initializer.scale,
        mode=conv_initializer.mode,
        distribution=conv_initializer.distribution,
        seed=conv_initializer.seed,
        input_axes=shifted(input_axes),
        output_axes=shifted(output_axes),
    )
