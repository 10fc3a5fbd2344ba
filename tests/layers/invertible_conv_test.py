"""InvertibleConv2D: the patch-by-patch inverse and its overlap correction (GAIT-prop
ImageNet paper, sec. 2.2.2), checked against explicit NumPy patches."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from urfbtf.layers.invertible_conv2d import InvertibleConv2D

# (kernel, stride, padding, input height and width), with 2 input channels.
CASES = [
    pytest.param(3, 1, "same", (5, 5), id="k3s1-same-overlapping"),
    pytest.param(2, 2, "valid", (4, 4), id="k2s2-disjoint"),
    pytest.param(3, 2, "same", (6, 6), id="k3s2-same-asymmetric-pad"),
    pytest.param(3, 2, "valid", (7, 7), id="k3s2-valid"),
    pytest.param(3, 2, "same", (5, 7), id="k3s2-same-odd-size"),
    pytest.param(3, 2, "valid", (6, 6), id="k3s2-valid-uncovered-border"),
    pytest.param(2, 1, "same", (4, 4), id="k2s1-same-even-kernel"),
    pytest.param(2, 3, "valid", (7, 7), id="k2s3-gaps"),
    pytest.param((2, 3), 1, "same", (4, 5), id="k2x3-same"),
]
CHANNELS = 2


def _layer(kernel, stride, padding, size, use_bias=True, batch=2, seed=0):
    """A built layer with orthogonal-ish weights (so that M⁻¹ is not Mᵀ) and a
    random bias, and an input for it."""
    keras.utils.set_random_seed(seed)
    layer = InvertibleConv2D(
        kernel,
        stride,
        padding,
        rule="bp",
        use_bias=use_bias,
        bias_initializer="random_uniform",
    )
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, *size, CHANNELS)).astype("float32")
    layer.build(x.shape)
    layer.kernel.assign(
        layer.kernel + 0.1 * rng.normal(size=layer.kernel.shape).astype("float32")
    )
    m = layer.matrix().numpy()
    assert not np.allclose(np.linalg.inv(m), m.T, atol=1e-2)
    return layer, x


def _geometry(layer, size):
    """Per spatial axis: (number of fields, padding before the input)."""
    geometry = []
    for n, k in zip(size, layer.kernel_size, strict=True):
        s = layer.strides
        if layer.padding == "valid":
            geometry.append(((n - k) // s + 1, 0))
        else:
            out = -(-n // s)
            geometry.append((out, max((out - 1) * s + k - n, 0) // 2))
    return geometry


def _fields(layer, size):
    """Every output position with the input rows and columns its field covers,
    in padded coordinates (start, stop), and the paddings before."""
    (out_h, top), (out_w, left) = _geometry(layer, size)
    (kh, kw), s = layer.kernel_size, layer.strides
    for i in range(out_h):
        for j in range(out_w):
            yield (i, j), (i * s, i * s + kh), (j * s, j * s + kw), (top, left)


def _padded(layer, size):
    """A zero array for the padded input, and how to crop it back."""
    (kh, kw), s = layer.kernel_size, layer.strides
    (out_h, top), (out_w, left) = _geometry(layer, size)
    height = max((out_h - 1) * s + kh, top + size[0])
    width = max((out_w - 1) * s + kw, left + size[1])
    crop = (slice(top, top + size[0]), slice(left, left + size[1]))
    return (height, width), crop


def _numpy_forward(layer, x):
    size = x.shape[1:3]
    (height, width), crop = _padded(layer, size)
    padded = np.zeros((x.shape[0], height, width, x.shape[3]))
    padded[:, crop[0], crop[1]] = x
    m = layer.matrix().numpy()
    bias = layer.bias.numpy() if layer.bias is not None else 0.0
    (out_h, _), (out_w, _) = _geometry(layer, size)
    z = np.zeros((x.shape[0], out_h, out_w, m.shape[1]))
    for (i, j), (r0, r1), (c0, c1), _ in _fields(layer, size):
        z[:, i, j] = padded[:, r0:r1, c0:c1].reshape(x.shape[0], -1) @ m + bias
    return z


def _numpy_coverage(layer, size):
    (height, width), crop = _padded(layer, size)
    count = np.zeros((height, width))
    for _, (r0, r1), (c0, c1), _ in _fields(layer, size):
        count[r0:r1, c0:c1] += 1
    return count[crop]


@pytest.mark.parametrize(("kernel", "stride", "padding", "size"), CASES)
def test_forward_is_patches_times_matrix(kernel, stride, padding, size):
    layer, x = _layer(kernel, stride, padding, size)
    z = layer(x).numpy()
    assert z.shape[-1] == np.prod(layer.kernel_size) * CHANNELS
    assert z.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(z, _numpy_forward(layer, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("kernel", "stride", "padding", "size"), CASES)
@pytest.mark.parametrize("use_bias", [True, False])
def test_invert_rebuilds_the_forward_input(kernel, stride, padding, size, use_bias):
    layer, x = _layer(kernel, stride, padding, size, use_bias=use_bias)
    z = layer(x)
    rebuilt = layer.invert(z, x).numpy()
    assert np.linalg.norm(rebuilt - x) / np.linalg.norm(x) < 1e-5
    with_filters = layer.invert(z, x, filters=layer.inverse_filters()).numpy()
    np.testing.assert_array_equal(with_filters, rebuilt)


@pytest.mark.parametrize(("kernel", "stride", "padding", "size"), CASES)
def test_coverage_counts_the_covering_fields(kernel, stride, padding, size):
    layer = InvertibleConv2D(kernel, stride, padding, rule="bp")
    count = layer.coverage((None, *size, CHANNELS)).numpy()
    assert count.shape == (1, *size, 1)
    np.testing.assert_array_equal(count[0, :, :, 0], _numpy_coverage(layer, size))


@pytest.mark.parametrize(("kernel", "stride", "padding", "size"), CASES)
def test_error_at_one_field_reaches_every_pixel_it_covers(
    kernel, stride, padding, size
):
    layer, x = _layer(kernel, stride, padding, size, batch=1)
    z = layer(x).numpy()
    rng = np.random.default_rng(1)
    fields = list(_fields(layer, size))
    for (i, j), (r0, r1), (c0, c1), _ in (fields[0], fields[len(fields) // 2]):
        dz = rng.normal(size=z.shape[-1])
        perturbed = z.copy()
        perturbed[0, i, j] += dz
        change = layer.invert(tf.constant(perturbed, tf.float32), x).numpy() - x

        patch = np.linalg.inv(layer.matrix().numpy()).T @ dz
        (height, width), crop = _padded(layer, size)
        expected = np.zeros((height, width, CHANNELS))
        expected[r0:r1, c0:c1] = patch.reshape(*layer.kernel_size, CHANNELS)
        np.testing.assert_allclose(change[0], expected[crop], atol=1e-4)
        # Not divided by the count: some covered pixel has several fields.
        if layer.strides < min(layer.kernel_size):
            covered = _numpy_coverage(layer, size)[expected[crop].any(-1)]
            assert covered.max() > 1


@pytest.mark.parametrize(("kernel", "stride", "padding", "size"), CASES[:4])
def test_invert_linear_is_the_derivative_of_invert(kernel, stride, padding, size):
    layer, x = _layer(kernel, stride, padding, size)
    z = layer(x)
    direction = tf.random.stateless_normal(z.shape, seed=[1, 2])
    with tf.autodiff.ForwardAccumulator(z, direction) as accumulator:
        rebuilt = layer.invert(z, x)
    jvp = accumulator.jvp(rebuilt).numpy()
    linear = layer.invert_linear(direction).numpy()
    np.testing.assert_allclose(linear, jvp, rtol=1e-5, atol=1e-5)
    assert np.abs(linear).max() > 0.1
    explicit = layer.invert_linear(direction, input_shape=tf.shape(x)).numpy()
    np.testing.assert_array_equal(explicit, linear)


def test_saves_and_loads_in_a_keras_file(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 7, CHANNELS))
    layer = InvertibleConv2D(
        3,
        2,
        rule="bp",
        use_bias=True,
        bias_initializer="random_uniform",
        name="inv",
    )
    model = keras.Model(inputs, layer(inputs))
    layer.kernel.assign(layer.kernel + 0.1 * tf.random.normal(layer.kernel.shape))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)

    loaded_layer = loaded.get_layer("inv")
    assert isinstance(loaded_layer, InvertibleConv2D)
    assert loaded_layer.get_config() == layer.get_config()
    x = np.random.default_rng(0).normal(size=(3, 5, 7, CHANNELS)).astype("float32")
    z = model(x)
    np.testing.assert_array_equal(loaded(x).numpy(), z.numpy())
    np.testing.assert_array_equal(
        loaded_layer.invert(z, x).numpy(), layer.invert(z, x).numpy()
    )
    np.testing.assert_array_equal(
        loaded_layer.invert_linear(z).numpy(), layer.invert_linear(z).numpy()
    )


def test_output_shape_before_build():
    layer = InvertibleConv2D(3, 2, "same", rule="bp")
    assert layer.compute_output_shape((None, 5, 7, 2)) == (None, 3, 4, 18)
    assert not layer.built
    assert InvertibleConv2D(3, rule="bp", filters=18).compute_output_shape(
        (4, 6, 6, 2)
    ) == (4, 6, 6, 18)


def test_refuses_pruning_and_a_wrong_filter_count():
    with pytest.raises(ValueError, match="connectivity=0.5"):
        InvertibleConv2D(3, rule="frfb", connectivity=0.5)
    layer = InvertibleConv2D(3, rule="bp", filters=10)
    with pytest.raises(ValueError, match=r"filters=10.* 18 inputs"):
        layer.build((None, 5, 5, 2))
    with pytest.raises(ValueError, match=r"filters=10.* 18 inputs"):
        layer.compute_output_shape((None, 5, 5, 2))
