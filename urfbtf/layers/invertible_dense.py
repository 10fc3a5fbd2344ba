"""A square dense layer with its exact inverse (GAIT-prop; Ahmad et al. 2020).

GAIT-prop (the GAIT-prop ImageNet paper, sec. 2.1, eq. 3) inverts every layer
exactly, a_{l-1} = W⁻¹(f⁻¹(a_l) − b): the weight matrix is square and starts
orthogonal, so its inverse starts equal to its transpose, which is what makes
the targets carry backpropagation's error. A net narrows by passing on only the
first units of a layer (`urfbtf.layers.Narrow`); the others stay behind as
auxiliary units, read again only by the inverse.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from urfbtf.layers.feedback_dense import FeedbackDense


@keras.saving.register_keras_serializable(package="urfbtf")
class InvertibleDense(FeedbackDense):
    """h = x W (+ b) with W square: as many outputs as inputs.

    Args:
        units: None (the default) takes the input width; a number must equal it.
        **kwargs: see `FeedbackDense`; W starts orthogonal unless a
            `kernel_initializer` is given, and connectivity must be 1 (a pruned
            matrix need not be invertible).
    """

    def __init__(self, units: int | None = None, **kwargs):
        kwargs.setdefault("kernel_initializer", "orthogonal")
        if kwargs.get("connectivity", 1.0) != 1.0:
            raise ValueError(
                f"connectivity={kwargs['connectivity']!r}: an invertible layer "
                "keeps every connection (connectivity=1)."
            )
        super().__init__(0 if units is None else units, **kwargs)
        self.units = None if units is None else int(units)

    def kernel_shape(self, input_shape):
        width = int(input_shape[-1])
        if self.units is not None and self.units != width:
            raise ValueError(
                f"InvertibleDense {self.name!r}: units={self.units} but its input "
                f"has {width}; an invertible layer is square (leave units unset)."
            )
        self.units = width
        return (width, width)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def inverse_matrix(self) -> tf.Tensor:
        """W⁻¹ from the current weights (one inversion, shared by every example
        of a step)."""
        return tf.linalg.inv(self._read(self.kernel, self.kernel_mask))

    def invert(self, field, inverse=None) -> tf.Tensor:
        """x from the field z = x W + b: (z − b) W⁻¹."""
        if self.bias is not None:
            field = field - tf.cast(self.bias, field.dtype)
        return self.invert_linear(field, inverse)

    def invert_linear(self, dfield, inverse=None) -> tf.Tensor:
        """dz W⁻¹: the derivative of `invert` in its field."""
        inverse = self.inverse_matrix() if inverse is None else inverse
        return tf.matmul(dfield, inverse)
