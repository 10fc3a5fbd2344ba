"""The arithmetic of targets carried through exact inverses (`gait`): the leaky
ReLU's slope and inverse applied to differences, each input unit's row length,
and Ahmad et al. (2020)'s orthogonality regulariser."""

from __future__ import annotations

import math

import tensorflow as tf


def _square(layer) -> tf.Tensor:
    """W as the authors' matrix W[in, out]: a dense kernel, or a convolution's
    kh·kw·C_in × C_out patch matrix (one row per input unit of a field)."""
    kernel = tf.convert_to_tensor(layer.kernel)
    return tf.reshape(kernel, [-1, kernel.shape[-1]])


def is_square(layer) -> bool:
    """Whether the layer's W[in, out] is square: the layers the authors'
    code regularises (GAIT_prop_scaling `inv_net.add_ortho_gradients` skips
    the non-square first layer; every layer of nasiryahm/GAIT-prop is square)."""
    kernel = layer.kernel
    return math.prod(kernel.shape[:-1]) == kernel.shape[-1]


def squared_input_lengths(layer) -> tf.Tensor:
    """‖w_i‖² of every input unit i of a field: the squared length of row i of
    W[in, out], its weights onto the layer's outputs, [in]."""
    return tf.reduce_sum(tf.square(_square(layer)), axis=1)


def orthogonality_penalty(layer) -> tf.Tensor:
    """Σ_{i≠j} ((W Wᵀ)_ij)² for W[in, out]: zero when the rows of W (one per
    input unit) are orthogonal. This is the loss of the authors'
    `ortho_gradients` (nasiryahm/GAIT-prop `inv_net.py`: einsum('ik,jk->ij')
    on the weight matrix [in, out], minus its diagonal, squared, summed)."""
    return _off_diagonal_energy(_square(layer))


@tf.custom_gradient
def _off_diagonal_energy(matrix):
    """Σ of the squared off-diagonal entries of M Mᵀ, with its gradient
    4 (M Mᵀ − diag(M Mᵀ)) M in one product (autodiff would take two more: one
    per factor of the Gram matrix; each costs as much as the layer's inverse)."""
    gram = tf.matmul(matrix, matrix, transpose_b=True)
    off = gram - tf.linalg.diag(tf.linalg.diag_part(gram))

    def grad(upstream):
        return upstream * 4.0 * tf.matmul(off, matrix)

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
