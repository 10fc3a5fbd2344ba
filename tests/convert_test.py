"""urfbtf.convert: an existing Keras model, its layers swapped for the rule's."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import urfbtf
from urfbtf import nets, rules
from urfbtf.errors import UsageError
from urfbtf.layers import (
    DirectFeedback,
    FeedbackConv2D,
    FeedbackDense,
    FeedbackDepthwiseConv2D,
    FeedbackLayer,
)


def _residual_net():
    """A functional net with a residual branch through a nested Sequential
    block, called with training=False as transfer learning calls a base model."""
    keras.utils.set_random_seed(0)
    block = keras.Sequential(
        [
            keras.layers.DepthwiseConv2D(3, padding="same", name="block_dw"),
            keras.layers.Conv2D(4, 1, activation="relu", name="block_conv"),
            keras.layers.BatchNormalization(name="block_bn"),
        ],
        name="block",
    )
    x = keras.Input((8, 8, 3), name="image")
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(x)
    h = keras.layers.Add(name="sum")([h, block(h, training=False)])
    h = keras.layers.Conv2D(6, 3, strides=2, use_bias=False, name="conv2")(h)
    h = keras.layers.Activation("tanh", name="conv2_tanh")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(16, activation="relu", name="dense1")(h)
    return keras.Model(x, keras.layers.Dense(10, name="output")(h), name="residual")


def _mobilenet():
    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), classes=10
    )


def _batch(model, n=8):
    rng = np.random.default_rng(0)
    shape = (n, *model.inputs[0].shape[1:])
    return rng.uniform(size=shape).astype("float32"), rng.integers(0, 10, n)


def _key(variable):
    # Nested layers lose their model's name in the flat copy: "block/x/kernel"
    # is "x/kernel" there.
    return "/".join(variable.path.split("/")[-2:])


def _flat_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer


def _loss_of(model):
    # MobileNetV2 ends in a softmax: its outputs are probabilities.
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=model.name == "residual"
    )


def _gradients(model, x, y):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = _loss_of(model)(y, model(x, training=True))
    variables = model.trainable_variables
    grads = tape.gradient(value, [x, *variables])
    return grads[0], {_key(v): g for v, g in zip(variables, grads[1:], strict=True)}


KERAS_LINEAR = (keras.layers.Dense, keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


@pytest.mark.parametrize("make", [_residual_net, _mobilenet], ids=["residual", "mbv2"])
def test_backprop_conversion_computes_the_original_outputs_and_gradients(make):
    original = make()
    converted = urfbtf.convert(original, "bp")
    x, y = _batch(original)
    swapped = [layer for layer in converted.layers if isinstance(layer, FeedbackLayer)]
    assert len(swapped) == sum(type(x) in KERAS_LINEAR for x in _flat_layers(original))
    assert not any(type(layer) in KERAS_LINEAR for layer in converted.layers)
    np.testing.assert_allclose(converted(x), original(x), rtol=1e-5, atol=1e-6)
    dx, grads = _gradients(original, x, y)
    dx_converted, grads_converted = _gradients(converted, x, y)
    assert grads_converted.keys() == grads.keys()
    np.testing.assert_allclose(dx_converted, dx, rtol=1e-4, atol=1e-6)
    for key, grad in grads.items():
        np.testing.assert_allclose(
            grads_converted[key], grad, rtol=1e-4, atol=1e-6, err_msg=key
        )
    # The original is untouched.
    assert type(original.layers[-1]) is keras.layers.Dense


def test_a_layers_own_activation_is_kept_after_it():
    converted = urfbtf.convert(_residual_net(), "bp")
    found = {b.name: b for b in nets.blocks(converted)}
    relu = found["dense1"].activation
    assert relu.name == "dense1_relu"
    h = np.linspace(-2, 2, 16, dtype="float32")[None]
    np.testing.assert_array_equal(relu(h), np.maximum(h, 0))
    # A separate activation layer ends the block it follows.
    assert found["conv2"].activation.name == "conv2_tanh"
    assert found["output"].activation is None
    assert found["output"].output is converted.outputs[0]


def _train_twice(model, x, y):
    # Tracing MobileNetV2's training step takes longer than two eager steps;
    # the residual net trains in a graph, as fit does.
    eager = model.name != "residual"
    model.compile(keras.optimizers.SGD(0.1), _loss_of(model), run_eagerly=eager)
    for _ in range(2):
        model.train_on_batch(x, y)
    return {_key(v): v.numpy() for v in model.weights}


@pytest.mark.parametrize("make", [_residual_net, _mobilenet], ids=["residual", "mbv2"])
def test_urfb_from_copied_feedback_trains_as_backprop_does(make):
    original = make()
    converted = urfbtf.convert(original, "urfb", feedback="copy")
    x, y = _batch(original)
    initial = {_key(v): v.numpy() for v in original.weights}
    expected = _train_twice(original, x, y)
    trained = _train_twice(converted, x, y)
    for key, value in expected.items():
        np.testing.assert_allclose(
            trained[key], value, rtol=1e-4, atol=1e-5, err_msg=key
        )
    assert all(
        not np.array_equal(expected[key], initial[key])
        for key in expected
        if key.endswith("/kernel")
    )
    for layer in converted.layers:
        if isinstance(layer, FeedbackLayer):
            # R got exactly W's increments.
            np.testing.assert_allclose(layer.feedback, layer.kernel, atol=1e-6)


def test_frfb_draws_feedback_unlike_the_weights_and_computes_the_same_outputs():
    original = _residual_net()
    converted = urfbtf.convert(original, "frfb", seed=3)
    x, _ = _batch(original)
    np.testing.assert_allclose(converted(x), original(x), rtol=1e-5, atol=1e-6)
    swapped = [layer for layer in converted.layers if isinstance(layer, FeedbackLayer)]
    originals = {layer.name: layer for layer in _flat_layers(original)}
    assert {type(layer) for layer in swapped} == {
        FeedbackConv2D,
        FeedbackDense,
        FeedbackDepthwiseConv2D,
    }
    for layer in swapped:
        w, r = layer.kernel.numpy(), layer.feedback.numpy()
        assert r.shape == w.shape and not layer.feedback.trainable
        assert abs(np.corrcoef(w.ravel(), r.ravel())[0, 1]) < 0.6, layer.name
        np.testing.assert_array_equal(w, originals[layer.name].kernel)
    # The seed fixes R; another seed draws another.
    again = urfbtf.convert(original, "frfb", seed=3)
    other = urfbtf.convert(original, "frfb", seed=4)
    for name in ("conv1", "dense1"):
        r = converted.get_layer(name).feedback.numpy()
        np.testing.assert_array_equal(again.get_layer(name).feedback, r)
        assert not np.allclose(other.get_layer(name).feedback, r)


def test_layers_that_would_transport_weights_are_named_in_one_error():
    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3))
    h = keras.layers.SeparableConv2D(4, 3, name="separable")(x)
    h = keras.layers.Conv2D(4, 3, dilation_rate=2, name="dilated")(h)
    h = keras.layers.Conv2D(4, 1, name="plain")(h)
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(10, kernel_regularizer="l2", name="regularized")(h)
    model = keras.Model(x, out, name="odd")
    with pytest.raises(UsageError) as raised:
        urfbtf.convert(model, "urfb")
    message = str(raised.value)
    for named in (
        "'separable' (SeparableConv2D) holds weights",
        "'dilated' (Conv2D) has dilation_rate=(2, 2)",
        "'regularized' (Dense) has a kernel_regularizer",
        "strict=False",
    ):
        assert named in message
    assert "'plain'" not in message  # That one converts.
    # strict=False keeps them, with their weights.
    kept = urfbtf.convert(model, "bp", strict=False)
    assert type(kept.get_layer("separable")) is keras.layers.SeparableConv2D
    assert isinstance(kept.get_layer("plain"), FeedbackConv2D)
    data, _ = _batch(model)
    np.testing.assert_allclose(kept(data), model(data), rtol=1e-5, atol=1e-6)


def test_only_the_layers_named_are_converted():
    original = _residual_net()
    converted = urfbtf.convert(original, "frfb", layers=["dense1", "block_conv"])
    swapped = {x.name for x in converted.layers if isinstance(x, FeedbackLayer)}
    assert swapped == {"dense1", "block_conv"}
    assert type(converted.get_layer("conv1")) is keras.layers.Conv2D
    with pytest.raises(
        UsageError, match=r"'block_bn' is a BatchNormalization; 'nope' is not a layer"
    ):
        urfbtf.convert(original, "frfb", layers=["nope", "block_bn"])


def test_pruning_spares_the_output_layer_and_zeroes_pruned_weights():
    converted = urfbtf.convert(_residual_net(), "urfb", connectivity=0.5, seed=0)
    for layer in converted.layers:
        if not isinstance(layer, FeedbackLayer):
            continue
        if layer.name == "output":
            assert layer.kernel_mask is None
            continue
        mask = layer.kernel_mask.numpy()
        assert 0.2 < mask.mean() < 0.8
        assert np.all(layer.kernel.numpy()[~mask] == 0)
        assert np.all(layer.feedback.numpy()[~layer.feedback_mask.numpy()] == 0)
    with pytest.raises(UsageError, match="connectivity"):
        urfbtf.convert(_residual_net(), "bp", connectivity=0.5)


@pytest.mark.parametrize("rule", ["dfa", "sdfa", "drtp", "shallow"])
def test_direct_rules_get_their_model_class_and_taps_and_train(rule):
    original = _residual_net()
    converted = urfbtf.convert(original, rule)
    assert type(converted) is rules.get_rule(rule).model_class
    x, y = _batch(original)
    np.testing.assert_allclose(converted(x), original(x), rtol=1e-5, atol=1e-6)
    found = nets.blocks(converted)
    learns = rule != "shallow"
    for block in found[:-1]:
        assert block.layer.trainable == learns
        assert isinstance(block.tap, DirectFeedback) == learns
    assert found[-1].tap is None and found[-1].layer.trainable
    before = {b.name: b.layer.kernel.numpy() for b in found}
    converted.compile(keras.optimizers.SGD(0.1), _loss_of(converted))
    loss = converted.train_on_batch(x, y)
    assert np.isfinite(loss)
    for block in found:
        changed = not np.array_equal(block.layer.kernel.numpy(), before[block.name])
        assert changed == (learns or block is found[-1]), block.name


def test_a_nested_models_training_argument_reaches_its_layers():
    """As in Keras: the nested call's training=True holds unless the outer
    call gives its own."""
    inner = keras.Sequential([keras.Input((400,)), keras.layers.Dropout(0.5)])
    x = keras.Input((400,))
    model = keras.Model(x, inner(x, training=True))
    converted = urfbtf.convert(model, "bp")
    ones = np.ones((2, 400), "float32")
    for each in (model, converted):
        assert 0.3 < np.mean(each(ones).numpy() == 0) < 0.7
        np.testing.assert_array_equal(each(ones, training=False), ones)


class _NeedsNets(rules.Rule):
    converts = False


def test_a_rule_that_needs_nets_of_its_own_is_refused():
    rule = _NeedsNets("needs_nets", "a rule with inverses between its blocks")
    with pytest.raises(UsageError, match=r"'needs_nets'.*needs nets of its own"):
        urfbtf.convert(_residual_net(), rule)


def test_sequential_models_and_nested_names_that_collide():
    keras.utils.set_random_seed(0)
    inner = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(6, name="dense")], name="inner"
    )
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(6, name="dense"), inner]
    )
    converted = urfbtf.convert(model, "urfb", feedback="copy")
    assert [x.name for x in converted.layers[1:]] == ["dense", "inner_dense"]
    x = np.ones((2, 6), "float32")
    np.testing.assert_allclose(converted(x), model(x), rtol=1e-6)


def test_bad_arguments_and_models_without_a_graph_are_refused():
    with pytest.raises(UsageError, match="feedback='mirror'"):
        urfbtf.convert(_residual_net(), "frfb", feedback="mirror")

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(UsageError, match="subclassed model has no graph"):
        urfbtf.convert(Subclassed(), "bp")


def test_the_depthwise_layer_sends_its_error_down_through_r():
    """Its forward map and weight gradient are Keras' DepthwiseConv2D's; the
    error it sends down is that map's input gradient with R in place of W."""
    keras.utils.set_random_seed(0)
    x = tf.random.normal((2, 9, 9, 3))
    options = dict(strides=2, padding="valid", depth_multiplier=2)
    layer = FeedbackDepthwiseConv2D(3, rule="frfb", use_bias=True, **options)
    with_w = keras.layers.DepthwiseConv2D(3, **options)
    with_r = keras.layers.DepthwiseConv2D(3, **options)
    for built in (layer, with_w, with_r):
        built(x)
    for reference, kernel in ((with_w, layer.kernel), (with_r, layer.feedback)):
        reference.kernel.assign(kernel)
        reference.bias.assign(layer.bias)
    # A fixed error at the output, whatever the forward pass gives.
    error = tf.random.normal(layer.compute_output_shape(x.shape))

    def gradients(apply, kernel):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = apply(x)
            value = tf.reduce_sum(out * error)
        return out, *tape.gradient(value, [x, kernel])

    out, dx, dw = gradients(layer, layer.kernel)
    expected, backprop_dx, expected_dw = gradients(with_w, with_w.kernel)
    _, feedback_dx, _ = gradients(with_r, with_r.kernel)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dw, expected_dw, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, feedback_dx, rtol=1e-5, atol=1e-5)
    assert not np.allclose(dx, backprop_dx, atol=1e-2)
    copy = FeedbackDepthwiseConv2D.from_config(layer.get_config())
    assert copy.get_config() == layer.get_config()
