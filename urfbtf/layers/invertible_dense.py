"""A square dense layer with its exact inverse (GAIT-prop; Ahmad et al. 2020).

GAIT-prop (the GAIT-prop ImageNet paper, sec. 2.1, eq. 3) inverts every layer
exactly, a_{l-1} = W⁻¹(f⁻¹(a_l) − b): the weight matrix is square and starts
orthogonal, so its inverse starts equal to its transpose, which is what makes
the targets carry backpropagation's error. A net narrows by passing on only the
first units of a layer (`urfbtf.layers.Narrow`); the others stay behind as
auxiliary units, read again only by the inverse.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf

from urfbtf.layers.factorization import compiled_by_xla, guarded
from urfbtf.layers.feedback_dense import FeedbackDense


class LUFactors(NamedTuple):
    """The LU factorization of a kernel's transpose (`tf.linalg.lu`): what
    `InvertibleDense.invert_linear` solves with, in place of the inverse."""

    lu: tf.Tensor
    permutation: tf.Tensor


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
        """W⁻¹ from the current weights, as a matrix (NaN where W is not
        invertible: `urfbtf.layers.factorization`)."""
        return guarded(
            tf.linalg.inv, self._read(self.kernel, self.kernel_mask, tf.float32)
        )

    def inverse_factors(self) -> LUFactors:
        """The LU factors that `invert_linear` solves with, from the current
        weights (one factorization, shared by every example of a step)."""
        return lu_factors([self])[0]

    def invert(self, field, inverse=None) -> tf.Tensor:
        """x from the field z = x W + b: (z − b) W⁻¹."""
        if self.bias is not None:
            field = field - tf.cast(self.bias, field.dtype)
        return self.invert_linear(field, inverse)

    def invert_linear(self, dfield, inverse=None) -> tf.Tensor:
        """dz W⁻¹: the derivative of `invert` in its field.

        Args:
            dfield: [batch, units].
            inverse: this step's `inverse_factors()` (the default, computed
                here if not given), or a matrix to multiply by instead.
        """
        inverse = self.inverse_factors() if inverse is None else inverse
        dtype = dfield.dtype
        dfield = tf.cast(dfield, tf.float32)  # Solved in float32, whatever the policy.
        if isinstance(inverse, LUFactors):
            # dz W⁻¹ = (W⁻ᵀ dzᵀ)ᵀ: an LU factorization (2n³/3) and two
            # triangular solves per batch cost less than forming W⁻¹ (2n³)
            # when the batch is narrower than the layer, and are as exact.
            solved = tf.linalg.lu_solve(*inverse, tf.transpose(dfield))
            return tf.cast(tf.transpose(solved), dtype)
        return tf.cast(tf.matmul(dfield, tf.cast(inverse, tf.float32)), dtype)


def lu_factors(layers) -> list[LUFactors | tf.Tensor]:
    """`inverse_factors()` of every one of `layers` (InvertibleDense), in one
    batched factorization per kernel shape: each factorization is
    single-threaded, and when TensorFlow runs one op at a time (the runner's
    deterministic mode) separate ones would not overlap. In float32, under
    every policy. Under XLA, which has no LU kernel, the inverse matrices
    (`inverse_matrix`) instead, which `invert_linear` multiplies by."""
    if compiled_by_xla():
        return [layer.inverse_matrix() for layer in layers]
    groups = {}
    for i, layer in enumerate(layers):
        groups.setdefault(tuple(layer.kernel.shape), []).append(i)
    found = [None] * len(layers)
    for indices in groups.values():
        kernels = [
            layers[i]._read(layers[i].kernel, layers[i].kernel_mask, tf.float32)
            for i in indices
        ]
        transposed = tf.transpose(tf.stack(kernels), [0, 2, 1])
        lu, permutation = guarded(tf.linalg.lu, transposed)
        for j, i in enumerate(indices):
            found[i] = LUFactors(lu[j], permutation[j])
    return found
