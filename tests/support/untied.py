"""What the tests of untied convolutions share: both layouts, and a layer's
output, gradients and weights in the connection list's terms."""

import numpy as np
import tensorflow as tf

from urfbtf.backward import untied

IMPLEMENTATIONS = ("dense", "sparse")


def grads(layer, x):
    """Output, and gradients of Σ sin(output) for the input and the trainable
    weights (a non-uniform upstream error δ = cos(output))."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(tf.sin(y))
    return y, tape.gradient(loss, [x, *layer.trainable_variables])


def explicit_matrix(conns, values):
    """The untied map as an explicit [n_in, n_out] matrix: h_flat = x_flat @ M."""
    matrix = np.zeros((conns.n_in, conns.n_out), np.float32)
    matrix[conns.in_index, conns.out_index] = values
    return matrix


def as_connections(values, layer):
    """A weight or gradient of `layer` as a value vector over the connections."""
    if layer.implementation == "dense":
        return untied.to_sparse(values, layer.connections).numpy()
    return np.asarray(values)


def copy_weights(source, target):
    """Copies W, R and the masks of a built sparse layer into a dense one."""
    conns = source.connections
    for name in ("kernel", "feedback", "kernel_mask", "feedback_mask"):
        variable = getattr(source, name)
        if variable is not None:
            getattr(target, name).assign(untied.to_dense(variable, conns))
