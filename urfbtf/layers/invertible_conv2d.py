"""A convolution with its exact inverse, patch by patch (GAIT-prop ImageNet paper,
sec. 2.2.2-2.2.3, Fig. 2).

GAIT-prop inverts every layer exactly. Inverting a convolution as one huge sparse
matrix is out of reach, so the layer is made invertible patch by patch: it has
C_out = kh·kw·C_in output channels, so that its kernel, reshaped to
M = reshape(K, [kh·kw·C_in, C_out]) (the order `tf.nn.conv2d` flattens a patch
in), is square. Each output vector z_p = patch_p(x) M + b then gives its patch
back as (z_p − b) M⁻¹, and one transposed convolution with the filters
F = reshape((M⁻¹)ᵀ, K's shape) puts every patch back in place at once. M is only
kept near-orthogonal by a regularizer, so M⁻¹ is the exact inverse, not Mᵀ.

Where receptive fields overlap, the transposed convolution rebuilds a pixel once
per field covering it. Dividing by that count would also divide the error the
targets carry; the paper instead subtracts the forward input count − 1 times, so
the input is rebuilt exactly once while a change in any covering field reaches
the pixel in full:

    x_rebuilt = conv2d_transpose(z − b, F) − (count − 1) · x_forward
"""

from __future__ import annotations

import keras
import tensorflow as tf

from urfbtf.layers.factorization import guarded
from urfbtf.layers.feedback_conv2d import FeedbackConv2D


@keras.saving.register_keras_serializable(package="urfbtf")
class InvertibleConv2D(FeedbackConv2D):
    """A convolution with as many output channels as a patch has inputs,
    C_out = C_in·kh·kw (sec. 2.2.3), and its patch-by-patch inverse (sec. 2.2.2,
    Fig. 2). A net narrows with `urfbtf.layers.Narrow`; `invert` takes the whole
    field, auxiliary channels included.

    Args:
        kernel_size: an int or a (height, width) pair.
        strides: the stride in both spatial dimensions.
        padding: "same" or "valid".
        filters: None (the default) takes kh·kw·C_in when the layer is built; a
            number must equal it.
        **kwargs: see `FeedbackConv2D`; the kernel starts orthogonal unless a
            `kernel_initializer` is given (Keras' Orthogonal flattens all but the
            last axis, which is M), and connectivity must be 1 (a pruned kernel
            need not be invertible).
    """

    def __init__(
        self,
        kernel_size,
        strides: int = 1,
        padding: str = "same",
        filters: int | None = None,
        **kwargs,
    ):
        kwargs.setdefault("kernel_initializer", "orthogonal")
        if kwargs.get("connectivity", 1.0) != 1.0:
            raise ValueError(
                f"connectivity={kwargs['connectivity']!r}: an invertible layer "
                "keeps every connection (connectivity=1)."
            )
        super().__init__(
            0 if filters is None else filters, kernel_size, strides, padding, **kwargs
        )
        self.filters = None if filters is None else int(filters)
        self._input_size = None

    def _square_filters(self, input_shape) -> int:
        width = self.kernel_size[0] * self.kernel_size[1] * int(input_shape[-1])
        if self.filters is not None and self.filters != width:
            raise ValueError(
                f"InvertibleConv2D {self.name!r}: filters={self.filters} but a "
                f"{self.kernel_size[0]}x{self.kernel_size[1]} patch of "
                f"{int(input_shape[-1])} channels has {width} inputs; an invertible "
                "convolution is square (leave filters unset)."
            )
        return width

    def build(self, input_shape):
        # invert_linear has only the field, and with strides > 1 the field does
        # not fix the input's size; the built one is its default.
        self._input_size = tuple(input_shape[1:])
        super().build(input_shape)

    def kernel_shape(self, input_shape):
        self.filters = self._square_filters(input_shape)
        return super().kernel_shape(input_shape)

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        return (*shape[:-1], self._square_filters(input_shape))

    def matrix(self) -> tf.Tensor:
        """M: the kernel the forward pass uses, as a square matrix (one row per
        entry of a flattened patch, one column per output channel)."""
        return tf.reshape(self._read(self.kernel, self.kernel_mask), [-1, self.filters])

    def inverse_filters(self, kernel=None) -> tf.Tensor:
        """F = reshape((M⁻¹)ᵀ, [kh, kw, C_in, C_out]) from the current weights, or
        from `kernel` (one inversion, shared by every example of a step; NaN
        where M is not invertible: `urfbtf.layers.factorization`)."""
        if kernel is None:  # Inverted in float32, whatever the policy.
            kernel = self._read(self.kernel, self.kernel_mask, tf.float32)
        kernel = tf.cast(kernel, tf.float32)
        inverse = guarded(tf.linalg.inv, tf.reshape(kernel, [-1, kernel.shape[-1]]))
        return tf.reshape(tf.transpose(inverse), kernel.shape)

    def coverage(self, input_shape) -> tf.Tensor:
        """How many receptive fields cover each input pixel, shape [1, H, W, 1]
        (0 where none does: a VALID border, or a stride larger than the kernel)."""
        ones = tf.ones([1, input_shape[1], input_shape[2], 1], self.compute_dtype)
        window = tf.ones([*self.kernel_size, 1, 1], self.compute_dtype)
        fields = tf.ones_like(self._conv(ones, window))
        return self._conv_transpose(fields, window, tf.shape(ones))

    def invert(self, field, inputs, filters=None) -> tf.Tensor:
        """x rebuilt from the field z = conv(x, K) + b and the forward input x:
        conv2d_transpose(z − b, F) − (count − 1)·x, which is x itself when z is
        x's field."""
        if self.bias is not None:
            field = field - tf.cast(self.bias, field.dtype)
        input_shape = tf.shape(inputs)
        rebuilt = self.invert_linear(field, filters, input_shape)
        return rebuilt - (self.coverage(input_shape) - 1) * inputs

    def invert_linear(self, dfield, filters=None, input_shape=None) -> tf.Tensor:
        """conv2d_transpose(dz, F): the derivative of `invert` in its field, each
        field's patch dz_p M⁻¹ added in full to every pixel it covers.

        `input_shape` is the forward input's (any batch); None takes the size the
        layer was built for.
        """
        filters = self.inverse_filters() if filters is None else filters
        if input_shape is None:
            if None in self._input_size:
                raise ValueError(
                    f"InvertibleConv2D {self.name!r} was built for inputs of "
                    f"size {self._input_size}; pass input_shape to invert_linear."
                )
            input_shape = tf.concat([tf.shape(dfield)[:1], self._input_size], 0)
        # In float32, as the inverse filters (`inverse_filters`).
        rebuilt = self._conv_transpose(
            tf.cast(dfield, tf.float32), tf.cast(filters, tf.float32), input_shape
        )
        return tf.cast(rebuilt, dfield.dtype)

    def _conv(self, inputs, kernel):
        return tf.nn.conv2d(inputs, kernel, self.strides, self.padding.upper())

    def _conv_transpose(self, field, kernel, input_shape):
        # The output shape is the forward input's: with strides > 1 several input
        # sizes give one field size, and SAME may pad one side more than the other.
        return tf.nn.conv2d_transpose(
            field, kernel, input_shape, self.strides, self.padding.upper()
        )
