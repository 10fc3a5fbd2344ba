"""The arithmetic of targets carried through exact inverses (`gait`): the leaky
ReLU's slope and inverse applied to differences, each unit's row length, and
Ahmad et al. (2020)'s orthogonality regulariser."""

from __future__ import annotations

import tensorflow as tf


def _square(layer) -> tf.Tensor:
    """W as a matrix [inputs of one output, outputs]: a dense kernel, or a
    convolution's kh·kw·C_in × C_out patch matrix."""
    kernel = tf.convert_to_tensor(layer.kernel)
    return tf.reshape(kernel, [-1, kernel.shape[-1]])


def squared_row_lengths(layer) -> tf.Tensor:
    """‖w_i‖² of every output unit i: the squared length of its incoming
    weights, the paper's row of W (a column of the square matrix)."""
    return tf.reduce_sum(tf.square(_square(layer)), axis=0)


def orthogonality_penalty(layer) -> tf.Tensor:
    """‖WWᵀ − diag(WWᵀ)‖² for W = (the layer's matrix)ᵀ, one row per output
    unit: zero when the rows are orthogonal (Ahmad et al.'s regulariser)."""
    return _off_diagonal_energy(_square(layer))


@tf.custom_gradient
def _off_diagonal_energy(matrix):
    """Σ of the squared off-diagonal entries of MᵀM, with its gradient
    4 M (MᵀM − diag(MᵀM)) in one product (autodiff would take two more: one
    per factor of the Gram matrix; each costs as much as the layer's inverse)."""
    gram = tf.matmul(matrix, matrix, transpose_a=True)
    off = gram - tf.linalg.diag(tf.linalg.diag_part(gram))

    def grad(upstream):
        return upstream * 4.0 * tf.matmul(matrix, off)

    return tf.reduce_sum(tf.square(off)), grad


def activation_slope(activation, a) -> tf.Tensor:
    """D(a): the derivative of the block's nonlinearity where its output is a."""
    if activation is None:
        return tf.ones_like(a)
    return tf.where(a > 0, tf.ones_like(a), tf.cast(activation.slope, a.dtype))


def field_of(activation, a) -> tf.Tensor:
    """f⁻¹(a): the field the block's nonlinearity turned into a."""
    return a if activation is None else activation.inverse(a)


def field_change(activation, a, moved) -> tf.Tensor:
    """f⁻¹(a + m) − f⁻¹(a), without forming a + m: m/D(a) where a + m stays on
    a's side of the kink (exact whatever m's size), and the two sides' values
    apart only where it crosses (where m is as large as a)."""
    if activation is None:
        return moved
    slope = activation_slope(activation, a)
    crossed = tf.not_equal(a + moved > 0, a > 0)
    across = field_of(activation, a + moved) - field_of(activation, a)
    return tf.where(crossed, across, moved / slope)


def per_example(scalars, like) -> tf.Tensor:
    """[batch] values shaped to multiply tensors like `like`."""
    return tf.reshape(scalars, [-1] + [1] * (like.shape.rank - 1))


def example_norms(t) -> tf.Tensor:
    """‖t_n‖ of every example n: the L2 norm over all its units, [batch]."""
    return tf.norm(tf.reshape(t, [tf.shape(t)[0], -1]), axis=1)
