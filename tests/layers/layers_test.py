"""The feedback layers: autodiff equivalence, the rules under `fit`, masks, modes,
and serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from urfbtf import layers
from urfbtf.errors import UsageError

RULES = ("bp", "frfb", "urfb")


def _conv_model(rule, connectivity=1.0, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            layers.FeedbackConv2D(
                4, 3, rule=rule, connectivity=connectivity, name="conv"
            ),
            layers.SaturatedLinear(0.5),
            keras.layers.Flatten(),
            layers.FeedbackDense(8, rule=rule, connectivity=connectivity, name="dense"),
            layers.SaturatedLinear(0.5),
            layers.FeedbackDense(3, rule=rule, name="out"),
        ]
    )


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, 6, 6, 2)).astype("float32"), rng.integers(0, 3, n)


def _compile(model, optimizer=None):
    model.compile(
        optimizer or keras.optimizers.SGD(0.5),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _input_and_weight_grads(layer, x):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(tf.sin(y))
    return y, tape.gradient(loss, [x, *layer.trainable_variables])


@pytest.mark.parametrize("use_bias", [False, True])
def test_bp_dense_equals_keras_dense(use_bias):
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    ours = layers.FeedbackDense(3, rule="bp", use_bias=use_bias)
    reference = keras.layers.Dense(3, use_bias=use_bias)
    ours.build(x.shape)
    reference.build(x.shape)
    reference.set_weights([w + 0.1 for w in ours.get_weights()])
    ours.set_weights(reference.get_weights())
    y, grads = _input_and_weight_grads(ours, x)
    y_ref, grads_ref = _input_and_weight_grads(reference, x)
    np.testing.assert_array_equal(y, y_ref)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        np.testing.assert_array_equal(g, g_ref)


@pytest.mark.parametrize(
    "kernel,strides,padding", [(3, 1, "same"), (2, 1, "same"), (5, 2, "valid")]
)
def test_bp_conv_equals_keras_conv2d(kernel, strides, padding):
    x = np.random.default_rng(1).normal(size=(2, 9, 9, 3)).astype("float32")
    ours = layers.FeedbackConv2D(4, kernel, strides=strides, padding=padding, rule="bp")
    reference = keras.layers.Conv2D(
        4, kernel, strides=strides, padding=padding, use_bias=False
    )
    ours.build(x.shape)
    reference.build(x.shape)
    ours.set_weights(reference.get_weights())
    y, grads = _input_and_weight_grads(ours, x)
    y_ref, grads_ref = _input_and_weight_grads(reference, x)
    assert ours.compute_output_shape(x.shape) == tuple(y_ref.shape)
    np.testing.assert_array_equal(y, y_ref)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        np.testing.assert_array_equal(g, g_ref)


def test_frfb_never_changes_feedback_during_fit():
    model = _compile(_conv_model("frfb"))
    feedback = {
        layer.name: layer.feedback.numpy()
        for layer in model.layers
        if hasattr(layer, "feedback")
    }
    kernels = {
        layer.name: layer.kernel.numpy()
        for layer in model.layers
        if hasattr(layer, "feedback")
    }
    x, y = _data()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    for name, before in feedback.items():
        layer = model.get_layer(name)
        assert not layer.feedback.trainable
        np.testing.assert_array_equal(layer.feedback.numpy(), before)
        assert np.abs(layer.kernel.numpy() - kernels[name]).max() > 1e-4


@pytest.mark.parametrize(
    "optimizer", [keras.optimizers.SGD(0.5), keras.optimizers.Adam(0.01)]
)
def test_urfb_keeps_feedback_minus_weights_constant(optimizer):
    model = _compile(_conv_model("urfb"), optimizer)
    trained = [
        layer for layer in model.layers if getattr(layer, "feedback", None) is not None
    ]
    before = {
        layer.name: layer.feedback.numpy() - layer.kernel.numpy() for layer in trained
    }
    kernels = {layer.name: layer.kernel.numpy() for layer in trained}
    x, y = _data()
    model.fit(x, y, batch_size=4, epochs=3, verbose=0)
    for layer in trained:
        assert np.abs(layer.kernel.numpy() - kernels[layer.name]).max() > 1e-3
        np.testing.assert_allclose(
            layer.feedback.numpy() - layer.kernel.numpy(), before[layer.name], atol=2e-6
        )


def test_urfb_started_with_feedback_equal_to_weights_is_backprop_step_for_step():
    urfb = _compile(_conv_model("urfb", seed=3))
    bp = _compile(_conv_model("bp", seed=4))
    for ours, reference in zip(urfb.layers, bp.layers, strict=True):
        if isinstance(ours, layers.FeedbackLayer):
            ours.feedback.assign(ours.kernel)
            reference.kernel.assign(ours.kernel)
    x, y = _data(n=12)
    for step in range(4):
        batch = slice(4 * (step % 3), 4 * (step % 3) + 4)
        urfb.train_on_batch(x[batch], y[batch])
        bp.train_on_batch(x[batch], y[batch])
        for ours, reference in zip(urfb.layers, bp.layers, strict=True):
            if isinstance(ours, layers.FeedbackLayer):
                # Two different graphs: equal up to the last bits of float sums.
                np.testing.assert_allclose(
                    ours.kernel.numpy(), reference.kernel.numpy(), rtol=1e-5, atol=1e-6
                )
                # One gradient applied to two equal tensors: equal to the bit.
                np.testing.assert_array_equal(
                    ours.feedback.numpy(), ours.kernel.numpy()
                )


def test_connectivity_masks_are_independent_fixed_and_keep_masked_entries_zero():
    model = _compile(_conv_model("urfb", connectivity=0.5))
    dense = model.get_layer("dense")
    kernel_mask, feedback_mask = dense.kernel_mask.numpy(), dense.feedback_mask.numpy()
    assert kernel_mask.dtype == bool and feedback_mask.dtype == bool
    assert 0.4 < kernel_mask.mean() < 0.6 and 0.4 < feedback_mask.mean() < 0.6
    # Independent draws: they agree on about half the entries, not on all.
    assert 0.35 < (kernel_mask == feedback_mask).mean() < 0.65
    assert model.get_layer("out").kernel_mask is None  # Built with connectivity 1.
    x, y = _data()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    for name in ("conv", "dense"):
        layer = model.get_layer(name)
        mask_w, mask_r = layer.kernel_mask.numpy(), layer.feedback_mask.numpy()
        assert np.all(layer.kernel.numpy()[~mask_w] == 0)
        assert np.all(layer.feedback.numpy()[~mask_r] == 0)
        assert np.all(layer.kernel.numpy()[mask_w] != 0)
    np.testing.assert_array_equal(dense.kernel_mask.numpy(), kernel_mask)


def test_connectivity_is_validated_and_absent_under_backprop():
    with pytest.raises(UsageError, match=r"connectivity=1\.5.*\(0, 1\]"):
        layers.FeedbackDense(3, rule="urfb", connectivity=1.5)
    with pytest.raises(UsageError, match=r"connectivity=0\.0"):
        layers.FeedbackDense(3, rule="urfb", connectivity=0.0)
    with pytest.raises(UsageError, match=r"'bp' has no feedback"):
        layers.FeedbackDense(3, rule="bp", connectivity=0.5)
    bp = layers.FeedbackDense(3, rule="bp")
    bp.build((2, 4))
    assert [w.name for w in bp.weights] == ["kernel"]


def test_same_mask_seed_gives_same_masks():
    first, second = (
        layers.FeedbackDense(50, rule="frfb", connectivity=0.5, seed=7)
        for _ in range(2)
    )
    first.build((1, 40))
    second.build((1, 40))
    np.testing.assert_array_equal(first.kernel_mask.numpy(), second.kernel_mask.numpy())
    assert not np.array_equal(first.kernel_mask.numpy(), first.feedback_mask.numpy())


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_eager_function_and_xla_agree(rule, kind):
    keras.utils.set_random_seed(0)
    connectivity = 1.0 if rule == "bp" else 0.5
    if kind == "dense":
        layer = layers.FeedbackDense(5, rule=rule, connectivity=connectivity)
        x = tf.random.normal((3, 7))
    else:
        layer = layers.FeedbackConv2D(4, 3, rule=rule, connectivity=connectivity)
        x = tf.random.normal((2, 5, 5, 3))
    eager = _input_and_weight_grads(layer, x)
    traced = tf.function(_input_and_weight_grads)(layer, x)
    compiled = tf.function(_input_and_weight_grads, jit_compile=True)(layer, x)
    for other in (traced, compiled):
        np.testing.assert_allclose(other[0], eager[0], rtol=1e-5, atol=1e-6)
        for g, g_eager in zip(other[1], eager[1], strict=True):
            np.testing.assert_allclose(g, g_eager, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rule", RULES)
def test_keras_save_and_load_reproduce_predictions_and_gradients(rule, tmp_path):
    connectivity = 1.0 if rule == "bp" else 0.5
    model = _compile(_conv_model(rule, connectivity))
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [
        type(layer) for layer in model.layers
    ]
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def grads(m):
        inputs = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            value = loss(y, m(inputs))
        return tape.gradient(value, [inputs, *m.trainable_variables])

    for g, g_loaded in zip(grads(model), grads(loaded), strict=True):
        np.testing.assert_array_equal(g, g_loaded)


def test_get_config_round_trip():
    layer = layers.FeedbackConv2D(
        6,
        (2, 3),
        strides=2,
        padding="valid",
        rule="frfb",
        connectivity=0.25,
        use_bias=True,
        seed=5,
        name="c",
    )
    config = layer.get_config()
    clone = layers.FeedbackConv2D.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(restored) is layers.FeedbackConv2D
    assert restored.get_config() == config


def test_saturated_linearity_and_its_derivative():
    scale = 0.5
    h = tf.constant([-5.0, -2.0, -1.0, 0.0, 0.3, 2.0, 2.5, 7.0])
    with tf.GradientTape() as tape:
        tape.watch(h)
        y = layers.saturated_linear(h, scale)
    slope = tape.gradient(y, h)
    np.testing.assert_allclose(y, [-1, -1, -0.5, 0, 0.15, 1, 1, 1], rtol=1e-6)
    # σ' = s where |s·h| <= 1 (boundary included), 0 where it saturates.
    np.testing.assert_allclose(slope, [0, scale, scale, scale, scale, scale, 0, 0])
