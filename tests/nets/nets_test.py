"""The paper's nets: shapes, pooling geometry, and backprop equal to autodiff."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from urfbtf import nets
from urfbtf.errors import UsageError
from urfbtf.layers import FeedbackLayer
from urfbtf.nets.keras_twin import build_keras_twin


@pytest.mark.parametrize(
    "net,flat_units",
    # Units entering the dense layer in the original code, for CIFAR (32x32x3).
    [("simpnet", 3872), ("deepnet", 512), ("deepernet", 2048), ("deepnet_s", 576)],
)
def test_nets_have_the_original_shapes(net, flat_units):
    model = nets.build_net(net, input_shape=(32, 32, 3), num_classes=10)
    assert model.get_layer("flatten").output.shape[-1] == flat_units
    assert model.output.shape[-1] == 10


def _corner_max_pool(x, size, stride):
    """The original overlapping pool: windows anchored at their top-left pixel
    every `stride` pixels, zeros beyond the bottom and right edges."""
    batch, height, width, channels = x.shape
    out_h, out_w = -(-height // stride), -(-width // stride)
    padded = np.zeros((batch, height + size, width + size, channels), x.dtype)
    padded[:, :height, :width] = x
    out = np.empty((batch, out_h, out_w, channels), x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = padded[
                :, i * stride : i * stride + size, j * stride : j * stride + size
            ]
            out[:, i, j] = window.max(axis=(1, 2))
    return out


@pytest.mark.parametrize(
    "size,stride,height", [(3, 2, 32), (3, 2, 11), (3, 2, 7), (2, 1, 5)]
)
def test_overlapping_pool_matches_the_original_geometry(size, stride, height):
    # Mostly negative values, so that the zero padding wins at the border.
    x = np.random.default_rng(0).normal(-1.0, 1.0, (2, height, height, 3)).astype("f4")
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, nets.max_pool(inputs, size, stride, "pool"))
    np.testing.assert_array_equal(model(x).numpy(), _corner_max_pool(x, size, stride))


def test_disjoint_pool_is_tensorflow_same_pooling():
    x = np.random.default_rng(1).normal(size=(1, 32, 32, 2)).astype("f4")
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, nets.max_pool(inputs, 3, 3, "pool"))
    expected = tf.nn.max_pool2d(x, 3, 3, "SAME")
    assert model.output.shape[1:3] == (11, 11)
    np.testing.assert_array_equal(model(x).numpy(), expected.numpy())


@pytest.mark.parametrize("net", list(nets.NETS))
def test_backprop_nets_have_exactly_the_gradients_of_the_plain_keras_twin(net):
    """Convolutions, pooling, seeded dropout and residual sums, against autodiff."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(4, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 4)
    ours = nets.build_net(
        net, input_shape=(32, 32, 3), num_classes=10, rule="bp", dropout_seed=11
    )
    twin = build_keras_twin(
        net, input_shape=(32, 32, 3), num_classes=10, dropout_seed=11
    )
    twin.set_weights(ours.get_weights())
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def grads(model):
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=True))
        return value, tape.gradient(value, model.trainable_variables)

    value, ours_grads = grads(ours)
    twin_value, twin_grads = grads(twin)
    assert value.numpy() == twin_value.numpy()
    assert len(ours_grads) == len(twin_grads) == len(ours.trainable_variables)
    for v, g, g_twin in zip(
        ours.trainable_variables, ours_grads, twin_grads, strict=True
    ):
        assert np.abs(g.numpy()).max() > 0
        if v.path.endswith("bias") and len(g_twin.shape) == 1 and "conv" in v.path:
            # A conv bias's gradient sums δ over batch and space, which Keras'
            # Conv2D and our broadcast add do in different orders (seen 2e-8 apart).
            np.testing.assert_allclose(g, g_twin, rtol=1e-5, atol=1e-7)
        else:
            np.testing.assert_array_equal(g, g_twin)


def test_connectivity_prunes_every_layer_but_the_output():
    model = nets.build_net(
        "deepnet_s",
        input_shape=(32, 32, 3),
        num_classes=10,
        rule="frfb",
        connectivity=0.5,
    )
    feedback_layers = nets.learning_layers(model)
    assert [layer.name for layer in feedback_layers][-1] == "output"
    for layer in feedback_layers[:-1]:
        assert 0.4 < layer.kernel_mask.numpy().mean() < 0.6
        assert 0.4 < layer.feedback_mask.numpy().mean() < 0.6
    output = feedback_layers[-1]
    assert output.kernel_mask is None and output.feedback_mask is None
    assert output.feedback is not None  # The output layer has its own R.
    assert all(isinstance(layer, FeedbackLayer) for layer in feedback_layers)


def test_unknown_net_names_the_valid_ones():
    with pytest.raises(UsageError, match=r"'resnet'.*simpnet.*deepnet_s"):
        nets.build_net("resnet", input_shape=(32, 32, 3), num_classes=10)
