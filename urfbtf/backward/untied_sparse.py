"""The untied convolution on its sparse layout, as in Amit (2019)'s code.

A value vector w [nnz] over the connections (`urfbtf.backward.untied_connections`),
sorted by (output, input) unit, used through `tf.SparseTensor` products as the
original code did (it built the matrices by convolving one-hot images).
`SparseTensorDenseMatMul` has no XLA kernel, so this layout cannot be compiled.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from urfbtf.backward.linear import LinearMap, explicit_gradient
from urfbtf.backward.untied_connections import Connections

# Connections per chunk of the sparse weight gradient: each chunk gathers two
# [chunk, batch] blocks (about 130 MB each at batch 500) instead of the original's
# two [nnz, batch] blocks (4.5 GB each for simpnet_s at batch 500).
SPARSE_GRAD_CHUNK = 2**16


def sparse_map(conns: Connections, chunk: int = SPARSE_GRAD_CHUNK) -> LinearMap:
    """The untied convolution on a value vector w [nnz], with `tf.SparseTensor`s.

    forward: h = W x with W the [n_out, n_in] sparse matrix of w.
    input_grad: Wᵀδ with the given values (the current R under frfb/urfb; the
        original used a transposed copy refreshed once per epoch).
    weight_grad: Σ_b x[b, in_e]·δ[b, out_e] for every connection e, by gathering
        both columns, chunk by chunk (`chunk` connections at a time).

    About 20x slower than `dense_map` on CPU (simpnet_s's layer at batch 500:
    2.4 s against 0.1 s for forward + both gradients), as the paper found the
    sparse layers "significantly slower" than convolutions.
    """
    n_in, n_out = conns.n_in, conns.n_out
    in_shape = [-1, *conns.input_shape]
    out_shape = [-1, *conns.output_size, conns.filters]
    # Eager tensors, captured by reference (not copied as constants) by every
    # tf.function that uses the map.
    with tf.init_scope():
        indices = tf.constant(np.stack([conns.out_index, conns.in_index], axis=1))
        chunks = [
            (
                tf.constant(conns.in_index[s : s + chunk].astype(np.int32)),
                tf.constant(conns.out_index[s : s + chunk].astype(np.int32)),
            )
            for s in range(0, conns.nnz, chunk)
        ]

    def matrix(w):
        return tf.SparseTensor(indices, w, [n_out, n_in])

    def forward(x, w):
        # [n_out, n_in] @ [n_in, B]: TF's sparse-dense product takes the sparse
        # operand first.
        h_t = tf.sparse.sparse_dense_matmul(
            matrix(w), tf.reshape(x, [-1, n_in]), adjoint_b=True
        )
        return tf.reshape(tf.transpose(h_t), out_shape)

    def input_grad(dh, w, x):
        del x  # The shape is static.
        dx_t = tf.sparse.sparse_dense_matmul(
            matrix(w), tf.reshape(dh, [-1, n_out]), adjoint_a=True, adjoint_b=True
        )
        return tf.reshape(tf.transpose(dx_t), in_shape)

    def weight_grad(x, dh, w):
        del w
        # Unit-major [n, B]: each gathered row is one unit's batch, contiguous.
        x_t = tf.transpose(tf.reshape(x, [-1, n_in]))
        dh_t = tf.transpose(tf.reshape(dh, [-1, n_out]))
        parts = []
        for in_index, out_index in chunks:
            # Chain the chunks so that a graph runs them one after the other and
            # only one chunk's gathers are alive at a time.
            with tf.control_dependencies(parts[-1:]):
                product = tf.gather(x_t, in_index) * tf.gather(dh_t, out_index)
                parts.append(tf.reduce_sum(product, axis=1))
        return tf.concat(parts, axis=0)

    return explicit_gradient(forward, input_grad, weight_grad)
