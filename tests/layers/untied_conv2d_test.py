"""The untied convolution layer (urfbtf.layers.UntiedConv2D) under `fit`: one SGD
step unties the locations, masks, XLA, a spatial task, and serialization (Amit
2019, section 4.1)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.support.untied import (
    IMPLEMENTATIONS,
    as_connections,
    grads,
)
from urfbtf import layers
from urfbtf.errors import UsageError
from urfbtf.layers.untied_conv2d import UntiedConv2D

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
        as_connections(m.numpy(), layer)
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
        values = as_connections(variable.numpy(), layer)
        assert np.all(values[~mask] == 0)
        tiled = tied.ravel()[conns.kernel_index]
        np.testing.assert_array_equal(values[mask], tiled[mask])
    model.fit(*_data(), batch_size=4, epochs=2, verbose=0)
    kernel, feedback = (
        as_connections(v.numpy(), layer) for v in (layer.kernel, layer.feedback)
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
    eager = grads(layer, x)
    compiled = tf.function(grads, jit_compile=True)(layer, x)
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
