"""Untied (locally connected) convolutions as backward maps (urfbtf.backward.untied):
the connection list against the original's one-hot construction, both layouts
against `tf.nn.conv2d`, against each other and against autodiff of the explicit
matrix (Amit 2019, section 4.1)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.support.untied import (
    IMPLEMENTATIONS,
    as_connections,
    copy_weights,
    explicit_matrix,
    grads,
)
from urfbtf import rules
from urfbtf.backward import untied
from urfbtf.layers.untied_conv2d import UntiedConv2D

# --- The connection list ----------------------------------------------------------


@pytest.mark.parametrize(
    "size,kernel,stride,padding",
    [
        ((5, 5), 3, 1, "SAME"),
        ((6, 7), 2, 1, "SAME"),
        ((7, 6), 3, 2, "SAME"),
        ((8, 8), 5, 2, "SAME"),
        ((7, 8), 3, 2, "VALID"),
        ((6, 6), 2, 1, "VALID"),
    ],
)
def test_connections_are_the_nonzeros_of_the_conv_matrix(size, kernel, stride, padding):
    """The original built the matrix by convolving one-hot images (§5.1)."""
    shape = (*size, 2)
    conns = untied.connections(shape, kernel, 3, stride, padding)
    # A kernel without zeros: every connection shows up as a nonzero.
    conv_kernel = np.random.default_rng(0).uniform(1, 2, (kernel, kernel, 2, 3))
    basis = np.eye(conns.n_in, dtype=np.float32).reshape(-1, *shape)
    matrix = tf.nn.conv2d(basis, conv_kernel.astype(np.float32), stride, padding)
    matrix = matrix.numpy().reshape(conns.n_in, -1)  # [n_in, n_out]
    assert matrix.shape[1] == conns.n_out
    inputs, outputs = np.nonzero(matrix)
    order = np.lexsort((inputs, outputs))  # By (output, input), as the list.
    np.testing.assert_array_equal(conns.out_index, outputs[order])
    np.testing.assert_array_equal(conns.in_index, inputs[order])
    np.testing.assert_allclose(
        untied.tile_kernel(conv_kernel, conns, "sparse"),
        matrix[conns.in_index, conns.out_index],
        rtol=1e-6,
    )
    # Positions agree with the unit indices.
    i, j, p, q, c_in, c_out = conns.position
    np.testing.assert_array_equal(
        conns.out_index, (i * conns.output_size[1] + j) * 3 + c_out
    )
    assert np.all(c_in == conns.in_index % 2)
    assert conns.nnz == conns.dense_support().sum()


def test_connection_counts_match_the_original_layers():
    # urfb_original.md §2.11: simpnet_s conv1R 2.28 M, deepnet_s conv0aR 2.26 M.
    assert untied.connections((32, 32, 3), 5, 32).nnz == 2_276_736
    assert untied.connections((32, 32, 16), 3, 16).nnz == 2_262_016


def test_layout_conversions_round_trip_values_and_masks():
    conns = untied.connections((5, 4, 2), 3, 3, 2, "SAME")
    values = np.random.default_rng(1).normal(size=conns.nnz).astype(np.float32)
    dense = untied.to_dense(values, conns).numpy()
    assert dense.shape == conns.dense_shape
    assert np.all(dense[~conns.dense_support()] == 0)
    np.testing.assert_array_equal(untied.to_sparse(dense, conns), values)
    mask = values > 0
    dense_mask = untied.to_dense(mask, conns).numpy()
    assert dense_mask.dtype == bool and dense_mask.sum() == mask.sum()
    np.testing.assert_array_equal(untied.to_sparse(dense_mask, conns), mask)


# --- Equivalence with the convolution -----------------------------------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kernel", [2, 3, 5])
@pytest.mark.parametrize("size", [7, 8])
def test_untied_copy_of_a_conv_kernel_is_the_convolution(
    implementation, padding, stride, kernel, size
):
    """Outputs and input gradients equal the conv's, and the untied weight
    gradient summed over locations is the conv's filter gradient (bp)."""
    rng = np.random.default_rng(size * 100 + kernel * 10 + stride)
    x = tf.constant(rng.normal(size=(2, size, size + 1, 2)), tf.float32)
    conv_kernel = tf.constant(rng.normal(size=(kernel, kernel, 2, 3)), tf.float32)
    layer = UntiedConv2D(
        3,
        kernel,
        strides=stride,
        padding=padding,
        rule="bp",
        implementation=implementation,
    )
    layer.build(x.shape)
    layer.set_from_conv(conv_kernel)
    y, (dx, dw) = grads(layer, x)
    with tf.GradientTape() as tape:
        tape.watch([x, conv_kernel])
        y_ref = tf.nn.conv2d(x, conv_kernel, stride, padding.upper())
        loss = tf.reduce_sum(tf.sin(y_ref))
    dx_ref, dw_ref = tape.gradient(loss, [x, conv_kernel])
    assert layer.compute_output_shape(x.shape) == tuple(y_ref.shape)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=1e-5)
    per_location = untied.to_dense(as_connections(dw, layer), layer.connections)
    np.testing.assert_allclose(
        tf.reduce_sum(per_location, [0, 1]), dw_ref, rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_tie_init_copies_one_drawn_kernel_to_every_location(implementation):
    rng = np.random.default_rng(2)
    known = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
    shapes = []

    def conv_initializer(shape, dtype=None):
        shapes.append(tuple(shape))
        return tf.constant(known, dtype)

    layer = UntiedConv2D(
        4,
        3,
        rule="frfb",
        implementation=implementation,
        kernel_initializer=conv_initializer,
    )
    x = rng.normal(size=(2, 6, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(layer(x), tf.nn.conv2d(x, known, 1, "SAME"), atol=1e-5)
    assert shapes == [(3, 3, 2, 4)]  # One conv kernel, drawn once.
    # R: its own (Glorot) draw, also tied across locations but not equal to W.
    filters = layer.location_filters(feedback=True)
    np.testing.assert_array_equal(filters[2, 2], filters[3, 1])
    assert not np.allclose(filters[2, 2], known)


@pytest.mark.parametrize("tie_init", [True, False])
def test_both_layouts_start_with_the_same_glorot_weights(tie_init):
    filters = []
    for implementation in IMPLEMENTATIONS:
        keras.utils.set_random_seed(5)
        layer = UntiedConv2D(8, 3, implementation=implementation, tie_init=tie_init)
        layer.build((None, 6, 6, 4))
        filters.append((layer.location_filters(), layer.location_filters(True)))
    (w_dense, r_dense), (w_sparse, r_sparse) = filters
    np.testing.assert_array_equal(w_dense, w_sparse)
    np.testing.assert_array_equal(r_dense, r_sparse)
    support = layer.connections.dense_support()
    assert np.all(w_dense[~support] == 0)
    # The conv's Glorot limit: sqrt(6 / (fan_in + fan_out)), fans 3·3·4 and 3·3·8.
    limit = np.sqrt(6 / (36 + 72))
    values = w_dense[support]
    assert np.abs(values).max() <= limit
    np.testing.assert_allclose(values.std(), limit / np.sqrt(3), rtol=0.05)
    interior_differ = not np.array_equal(w_dense[1, 1], w_dense[2, 3])
    assert interior_differ != tie_init
    assert not np.allclose(w_dense, r_dense)


# --- The two layouts, the explicit matrix and the rules ------------------------------


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize(
    "rule,connectivity",
    [(name, 1.0) for name in rules.RULES]
    + [(rule.name, 0.5) for rule in rules.RULES.values() if rule.has_feedback],
)
def test_sparse_and_dense_give_the_same_outputs_and_gradients(
    rule, connectivity, stride
):
    keras.utils.set_random_seed(7)
    sparse, dense = (
        UntiedConv2D(
            3,
            3,
            strides=stride,
            rule=rule,
            connectivity=connectivity,
            implementation=implementation,
            tie_init=False,
            seed=11,
        )
        for implementation in ("sparse", "dense")
    )
    x = tf.random.normal((3, 7, 6, 2))
    sparse.build(x.shape)
    dense.build(x.shape)
    copy_weights(sparse, dense)
    y_sparse, grads_sparse = grads(sparse, x)
    y_dense, grads_dense = grads(dense, x)
    np.testing.assert_allclose(y_dense, y_sparse, atol=1e-5)
    if rules.RULES[rule].sends_error:
        np.testing.assert_allclose(grads_dense[0], grads_sparse[0], atol=1e-5)
    else:  # The direct rules send no error to the layer below.
        assert grads_dense[0] is None and grads_sparse[0] is None
    n_trainable = 1 + rules.RULES[rule].feedback_learns  # W, and R under urfb.
    assert len(grads_dense) == len(grads_sparse) == 1 + n_trainable
    support = dense.connections.dense_support()
    for g_dense, g_sparse in zip(grads_dense[1:], grads_sparse[1:], strict=True):
        assert np.all(g_dense.numpy()[~support] == 0)  # Padding taps: exactly 0.
        np.testing.assert_allclose(as_connections(g_dense, dense), g_sparse, atol=1e-5)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("rule", ["bp", "frfb"])
def test_gradients_against_the_explicit_matrix(implementation, rule):
    """bp: TensorFlow autodiff of x_flat @ M; frfb: the error goes down as δ M_Rᵀ."""
    keras.utils.set_random_seed(3)
    layer = UntiedConv2D(
        3, 3, strides=2, rule=rule, implementation=implementation, tie_init=False
    )
    x = tf.random.normal((4, 7, 7, 2))
    y, (dx, dw) = grads(layer, x)
    conns = layer.connections
    w_matrix = tf.constant(explicit_matrix(conns, as_connections(layer.kernel, layer)))
    x_flat = tf.reshape(x, [4, -1])
    with tf.GradientTape() as tape:
        tape.watch([x_flat, w_matrix])
        h = x_flat @ w_matrix
        loss = tf.reduce_sum(tf.sin(h))
    dx_ref, dw_matrix = tape.gradient(loss, [x_flat, w_matrix])
    np.testing.assert_allclose(tf.reshape(y, [4, -1]), h, atol=1e-5)
    np.testing.assert_allclose(
        as_connections(dw, layer),
        dw_matrix.numpy()[conns.in_index, conns.out_index],
        atol=1e-5,
    )
    if rule == "frfb":
        r_matrix = explicit_matrix(conns, as_connections(layer.feedback, layer))
        dx_ref = np.cos(h.numpy()) @ r_matrix.T
    np.testing.assert_allclose(tf.reshape(dx, [4, -1]), dx_ref, atol=1e-5)
