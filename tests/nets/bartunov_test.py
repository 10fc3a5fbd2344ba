"""Bartunov et al. (2018): the nets of Table 3 (urfbtf.nets.bartunov), layer by
layer, their parameter counts and initialisation."""

import math

import numpy as np
import pytest
import tensorflow as tf

from urfbtf import nets
from urfbtf.layers import FeedbackConv2D, FeedbackDense, UntiedConv2D

# Table 3, layer by layer: (name, output shape, kernel, stride); None for dense.
TABLE3 = {
    "bartunov_mnist_fc": (
        (28, 28, 1),
        [(f"dense{i}", (256,), None, None) for i in range(1, 6)],
    ),
    "bartunov_mnist_lc": (
        (28, 28, 1),
        [
            ("conv1", (14, 14, 32), 3, 2),
            ("conv2", (7, 7, 64), 3, 2),
            ("dense1", (1024,), None, None),
        ],
    ),
    "bartunov_cifar_fc": (
        (32, 32, 3),
        [(f"dense{i}", (1024,), None, None) for i in range(1, 4)],
    ),
    "bartunov_cifar_lc": (
        (32, 32, 3),
        [
            ("conv1", (16, 16, 64), 5, 2),
            ("conv2", (8, 8, 128), 5, 2),
            ("conv3", (8, 8, 256), 3, 1),
            ("dense1", (1024,), None, None),
        ],
    ),
    "bartunov_imagenet_lc": (
        (224, 224, 3),
        [
            ("conv1", (56, 56, 48), 9, 4),
            ("conv2", (28, 28, 48), 3, 2),
            ("conv3", (28, 28, 96), 5, 1),
            ("conv4", (14, 14, 96), 3, 2),
            ("conv5", (14, 14, 192), 3, 1),
            ("conv6", (7, 7, 192), 3, 2),
            ("conv7", (7, 7, 384), 3, 1),
        ],
    ),
}


def _classes(net):
    return 1000 if "imagenet" in net else 10


@pytest.mark.parametrize("net", list(TABLE3))
def test_nets_have_the_layers_of_table_3(net):
    input_shape, expected = TABLE3[net]
    model = nets.build_net(
        net, input_shape=input_shape, num_classes=_classes(net), rule="bp"
    )
    layers = nets.learning_layers(model)
    assert [layer.name for layer in layers] == [e[0] for e in expected] + ["output"]
    for layer, (_, shape, kernel, stride) in zip(layers, expected, strict=False):
        assert tuple(layer.output.shape[1:]) == shape
        if kernel is not None:
            assert isinstance(layer, FeedbackConv2D)
            assert layer.kernel_size == (kernel, kernel)
            assert layer.strides == stride and layer.padding == "same"
    assert tuple(model.output.shape[1:]) == (_classes(net),)
    # Strided layers instead of pooling, and no dropout.
    kinds = {type(layer).__name__ for layer in model.layers}
    assert not kinds & {"MaxPooling2D", "AveragePooling2D", "Dropout"}


def _taps(size: int, kernel: int, stride: int) -> int:
    """Kernel rows (or columns) inside the image, summed over the output rows, of a
    SAME convolution: TensorFlow pads ⌊total/2⌋ before the image."""
    out = math.ceil(size / stride)
    before = max((out - 1) * stride + kernel - size, 0) // 2
    return sum(
        0 <= i * stride - before + p < size for i in range(out) for p in range(kernel)
    )


def test_mnist_lc_parameter_counts_tied_and_untied():
    # Tied: one kernel per conv. Untied: one weight per connection inside the
    # image (41 of the 14·3 rows of conv1, 20 of the 7·3 rows of conv2).
    assert _taps(28, 3, 2) == 41 and _taps(14, 3, 2) == 20
    expected = {
        "": {"conv1": 3 * 3 * 32 + 32, "conv2": 3 * 3 * 32 * 64 + 64},
        "all": {"conv1": 41 * 41 * 32 + 32, "conv2": 20 * 20 * 32 * 64 + 64},
    }
    for untie, convs in expected.items():
        model = nets.build_net(
            "bartunov_mnist_lc",
            input_shape=(28, 28, 1),
            num_classes=10,
            rule="bp",
            untie=untie,
            untied_impl="sparse",
        )
        counts = {layer.name: layer.count_params() for layer in model.layers}
        assert {name: counts[name] for name in convs} == convs
        assert counts["dense1"] == 7 * 7 * 64 * 1024 + 1024
        assert counts["output"] == 1024 * 10 + 10
    assert counts["conv1"] == 53824 and counts["conv2"] == 819264
    assert model.count_params() == 4095626


@pytest.mark.parametrize("net,shape", [("bartunov_mnist_fc", (28, 28, 1))])
def test_fully_connected_parameter_counts(net, shape):
    model = nets.build_net(net, input_shape=shape, num_classes=10, rule="bp")
    counts = [layer.count_params() for layer in nets.learning_layers(model)]
    assert counts == [784 * 256 + 256] + [256 * 256 + 256] * 4 + [256 * 10 + 10]


def test_untie_all_makes_every_conv_untied_and_empty_none():
    kinds = {}
    for untie in ("all", ""):
        model = nets.build_net(
            "bartunov_mnist_lc",
            input_shape=(28, 28, 1),
            num_classes=10,
            rule="bp",
            untie=untie,
        )
        kinds[untie] = [type(layer) for layer in nets.learning_layers(model)]
    assert kinds["all"] == [UntiedConv2D] * 2 + [FeedbackDense] * 2
    assert kinds[""] == [FeedbackConv2D] * 2 + [FeedbackDense] * 2


def test_the_papers_layers_biases_from_zero_glorot_and_independent_connections():
    model = nets.build_net(
        "bartunov_mnist_lc",
        input_shape=(28, 28, 1),
        num_classes=10,
        rule="frfb",
        untie="all",
    )
    conv1, conv2, dense1, output = nets.learning_layers(model)
    for layer in (conv1, conv2, dense1, output):
        assert layer.use_bias and np.all(layer.bias.numpy() == 0)
    # Glorot uniform: |W| below √(6/(fan_in + fan_out)), and reaching near it.
    for layer, fan_in, fan_out in (
        (conv1, 3 * 3 * 1, 3 * 3 * 32),
        (conv2, 3 * 3 * 32, 3 * 3 * 64),
        (dense1, 7 * 7 * 64, 1024),
        (output, 1024, 10),
    ):
        limit = math.sqrt(6 / (fan_in + fan_out))
        for weights in (layer.kernel.numpy(), layer.feedback.numpy()):
            assert 0.95 * limit < np.abs(weights).max() <= limit
    # Every location of an LC layer draws its own weights (not one tiled kernel).
    filters = conv2.location_filters()
    assert not np.array_equal(filters[2, 2], filters[3, 3])
    assert not np.array_equal(conv2.kernel.numpy(), conv2.feedback.numpy())


@pytest.mark.parametrize("untie", ["", "all"])
def test_a_strided_layer_is_tensorflows_same_convolution(untie):
    """conv1 of bartunov_cifar_lc (5×5, stride 2: one padded row above, two
    below) as a conv and, with one kernel at every location, untied: both are
    tf.nn.conv2d(..., 2, "SAME") plus the bias."""
    layers, conv1 = nets.NETS["bartunov_cifar_lc"][:2]
    model = nets.build_net(
        (layers, conv1, nets.Output()),
        input_shape=(32, 32, 3),
        num_classes=10,
        rule="bp",
        untie=untie,
    )
    layer = model.get_layer("conv1")
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(5, 5, 3, 64)).astype("float32") * 0.1
    bias = rng.normal(size=64).astype("float32")
    if untie:
        layer.set_from_conv(kernel)
    else:
        layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    x = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    expected = tf.nn.conv2d(x, kernel, 2, "SAME") + bias
    np.testing.assert_allclose(layer(x).numpy(), expected.numpy(), atol=1e-5)
