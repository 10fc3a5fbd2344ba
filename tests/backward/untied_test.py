"""Untied (locally connected) convolutions: the connection list against the
original's one-hot construction, both layouts against `tf.nn.conv2d`, against each
other and against autodiff of the explicit matrix, and the layer under `fit`,
masks, XLA and serialization (Amit 2019, section 4.1)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from urfbtf import layers, rules
from urfbtf.backward import untied
from urfbtf.errors import UsageError
from urfbtf.layers.untied_conv2d import UntiedConv2D

IMPLEMENTATIONS = ("dense", "sparse")


def _grads(layer, x):
    """Output, and gradients of Σ sin(output) for the input and the trainable
    weights (a non-uniform upstream error δ = cos(output))."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(tf.sin(y))
    return y, tape.gradient(loss, [x, *layer.trainable_variables])


def _matrix(conns, values):
    """The untied map as an explicit [n_in, n_out] matrix: h_flat = x_flat @ M."""
    matrix = np.zeros((conns.n_in, conns.n_out), np.float32)
    matrix[conns.in_index, conns.out_index] = values
    return matrix


def _as_connections(values, layer):
    """A weight or gradient of `layer` as a value vector over the connections."""
    if layer.implementation == "dense":
        return untied.to_sparse(values, layer.connections).numpy()
    return np.asarray(values)


def _copy_weights(source, target):
    """Copies W, R and the masks of a built sparse layer into a dense one."""
    conns = source.connections
    for name in ("kernel", "feedback", "kernel_mask", "feedback_mask"):
        variable = getattr(source, name)
        if variable is not None:
            getattr(target, name).assign(untied.to_dense(variable, conns))


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
    y, (dx, dw) = _grads(layer, x)
    with tf.GradientTape() as tape:
        tape.watch([x, conv_kernel])
        y_ref = tf.nn.conv2d(x, conv_kernel, stride, padding.upper())
        loss = tf.reduce_sum(tf.sin(y_ref))
    dx_ref, dw_ref = tape.gradient(loss, [x, conv_kernel])
    assert layer.compute_output_shape(x.shape) == tuple(y_ref.shape)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=1e-5)
    per_location = untied.to_dense(_as_connections(dw, layer), layer.connections)
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
    _copy_weights(sparse, dense)
    y_sparse, grads_sparse = _grads(sparse, x)
    y_dense, grads_dense = _grads(dense, x)
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
        np.testing.assert_allclose(_as_connections(g_dense, dense), g_sparse, atol=1e-5)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("rule", ["bp", "frfb"])
def test_gradients_against_the_explicit_matrix(implementation, rule):
    """bp: TensorFlow autodiff of x_flat @ M; frfb: the error goes down as δ M_Rᵀ."""
    keras.utils.set_random_seed(3)
    layer = UntiedConv2D(
        3, 3, strides=2, rule=rule, implementation=implementation, tie_init=False
    )
    x = tf.random.normal((4, 7, 7, 2))
    y, (dx, dw) = _grads(layer, x)
    conns = layer.connections
    w_matrix = tf.constant(_matrix(conns, _as_connections(layer.kernel, layer)))
    x_flat = tf.reshape(x, [4, -1])
    with tf.GradientTape() as tape:
        tape.watch([x_flat, w_matrix])
        h = x_flat @ w_matrix
        loss = tf.reduce_sum(tf.sin(h))
    dx_ref, dw_matrix = tape.gradient(loss, [x_flat, w_matrix])
    np.testing.assert_allclose(tf.reshape(y, [4, -1]), h, atol=1e-5)
    np.testing.assert_allclose(
        _as_connections(dw, layer),
        dw_matrix.numpy()[conns.in_index, conns.out_index],
        atol=1e-5,
    )
    if rule == "frfb":
        r_matrix = _matrix(conns, _as_connections(layer.feedback, layer))
        dx_ref = np.cos(h.numpy()) @ r_matrix.T
    np.testing.assert_allclose(tf.reshape(dx, [4, -1]), dx_ref, atol=1e-5)


# --- The layer under training -------------------------------------------------------


def _model(implementation, rule="urfb", connectivity=1.0, **untied_args):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            UntiedConv2D(
                4,
                3,
                rule=rule,
                connectivity=connectivity,
                implementation=implementation,
                name="untied",
                **untied_args,
            ),
            layers.SaturatedLinear(0.5),
            keras.layers.Flatten(),
            layers.FeedbackDense(3, rule=rule, name="out"),
        ]
    )
    model.compile(
        keras.optimizers.SGD(0.5),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, 6, 6, 2)).astype("float32"), rng.integers(0, 3, n)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_one_sgd_step_unties_locations_and_urfb_keeps_feedback_minus_weights(
    implementation,
):
    model = _model(implementation)
    layer = model.get_layer("untied")
    rng = np.random.default_rng(4)
    layer.set_from_conv(rng.normal(size=(3, 3, 2, 4)), rng.normal(size=(3, 3, 2, 4)))
    before = layer.location_filters()
    np.testing.assert_array_equal(before[1, 1], before[3, 4])
    difference = layer.feedback.numpy() - layer.kernel.numpy()
    model.train_on_batch(*_data())
    after = layer.location_filters()
    assert np.abs(after - before).max() > 1e-3
    assert np.abs(after[1, 1] - after[3, 4]).max() > 1e-4  # Untied.
    np.testing.assert_allclose(
        layer.feedback.numpy() - layer.kernel.numpy(), difference, atol=1e-6
    )


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_masks_are_independent_and_masked_entries_stay_zero(implementation):
    model = _model(implementation, rule="frfb", connectivity=0.5)
    layer = model.get_layer("untied")
    conns = layer.connections
    w_mask, r_mask = (
        _as_connections(m.numpy(), layer)
        for m in (layer.kernel_mask, layer.feedback_mask)
    )
    assert 0.4 < w_mask.mean() < 0.6 and 0.4 < r_mask.mean() < 0.6
    # Independent draws: the supports of W and R agree on about half the entries.
    assert 0.4 < (w_mask == r_mask).mean() < 0.6
    # Untying a trained conv keeps the pruned connections pruned.
    rng = np.random.default_rng(6)
    conv_kernel, conv_feedback = rng.normal(size=(2, 3, 3, 2, 4)).astype(np.float32)
    layer.set_from_conv(conv_kernel, conv_feedback)
    for variable, mask, tied in (
        (layer.kernel, w_mask, conv_kernel),
        (layer.feedback, r_mask, conv_feedback),
    ):
        values = _as_connections(variable.numpy(), layer)
        assert np.all(values[~mask] == 0)
        tiled = tied.ravel()[conns.kernel_index]
        np.testing.assert_array_equal(values[mask], tiled[mask])
    model.fit(*_data(), batch_size=4, epochs=2, verbose=0)
    kernel, feedback = (
        _as_connections(v.numpy(), layer) for v in (layer.kernel, layer.feedback)
    )
    assert np.all(kernel[~w_mask] == 0) and np.all(kernel[w_mask] != 0)
    assert np.all(feedback[~r_mask] == 0)
    filters = layer.location_filters()
    assert filters.shape == conns.dense_shape
    assert np.count_nonzero(filters) == w_mask.sum()


@pytest.mark.parametrize("tie_init", [True, False])
def test_padding_taps_of_the_dense_layout_start_and_stay_zero(tie_init):
    model = _model("dense", tie_init=tie_init)
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    layer = model.get_layer("untied")
    padding_taps = ~layer.connections.dense_support()
    assert padding_taps.sum() > 0
    kernel_before = layer.kernel.numpy()
    for variable in (layer.kernel, layer.feedback):
        assert np.all(variable.numpy()[padding_taps] == 0)
    model.fit(*_data(), batch_size=4, epochs=2, verbose=0)
    assert np.abs(layer.kernel.numpy() - kernel_before).max() > 1e-3
    for variable in (layer.kernel, layer.feedback):
        assert np.all(variable.numpy()[padding_taps] == 0)


def test_dense_compiles_with_xla_and_sparse_does_not_claim_to():
    keras.utils.set_random_seed(1)
    layer = UntiedConv2D(3, 3, strides=2, rule="urfb", connectivity=0.5, tie_init=False)
    x = tf.random.normal((2, 7, 8, 2))
    eager = _grads(layer, x)
    compiled = tf.function(_grads, jit_compile=True)(layer, x)
    assert layer.supports_jit
    np.testing.assert_allclose(compiled[0], eager[0], rtol=1e-5, atol=1e-6)
    for g, g_eager in zip(compiled[1], eager[1], strict=True):
        np.testing.assert_allclose(g, g_eager, rtol=1e-5, atol=1e-5)
    assert not UntiedConv2D(3, 3, implementation="sparse").supports_jit


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_fit_learns_a_spatial_task(implementation):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(96, 6, 6, 2)).astype("float32")
    # The class is the brightest of three vertical bands of the image.
    y = x.reshape(96, 6, 3, 2, 2).mean(axis=(1, 3, 4)).argmax(axis=1)
    model = _model(implementation)
    model.compile(
        keras.optimizers.SGD(0.5),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0).history
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    # Above the majority class (40 of 96).
    assert history["accuracy"][-1] > 0.55


# --- Configuration and serialization -------------------------------------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_get_config_round_trip(implementation):
    layer = UntiedConv2D(
        6,
        (2, 3),
        strides=2,
        padding="valid",
        implementation=implementation,
        tie_init=False,
        rule="frfb",
        connectivity=0.25,
        use_bias=True,
        seed=5,
        name="u",
    )
    config = layer.get_config()
    assert config["implementation"] == implementation and config["tie_init"] is False
    clone = UntiedConv2D.from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is UntiedConv2D and restored.get_config() == config


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_keras_save_and_load_reproduce_predictions(implementation, tmp_path):
    model = _model(implementation, connectivity=0.5, use_bias=True, tie_init=False)
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    for feedback in (False, True):
        np.testing.assert_array_equal(
            loaded.get_layer("untied").location_filters(feedback),
            model.get_layer("untied").location_filters(feedback),
        )


def test_invalid_arguments_are_usage_errors():
    with pytest.raises(UsageError, match=r"'csr'.*'dense'.*'sparse'"):
        UntiedConv2D(3, 3, implementation="csr")
    with pytest.raises(UsageError, match=r"padding='full'"):
        UntiedConv2D(3, 3, padding="full")
    with pytest.raises(UsageError, match=r"static shape"):
        UntiedConv2D(3, 3).build((None, None, None, 2))
    with pytest.raises(UsageError, match=r"does not fit"):
        UntiedConv2D(3, 5, padding="valid").build((None, 4, 4, 1))
    layer = UntiedConv2D(3, 3, rule="bp")
    layer.build((None, 5, 5, 2))
    with pytest.raises(UsageError, match=r"shape \(2, 2, 2, 3\)"):
        layer.set_from_conv(np.zeros((2, 2, 2, 3)))
    with pytest.raises(UsageError, match=r"'bp' has no feedback"):
        layer.set_from_conv(np.zeros((3, 3, 2, 3)), np.zeros((3, 3, 2, 3)))
