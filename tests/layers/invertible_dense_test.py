"""The square dense layer of GAIT-prop (urfbtf.layers.InvertibleDense): its exact
inverse, and what it refuses."""

import numpy as np
import pytest
import tensorflow as tf

from urfbtf.layers import InvertibleDense

# Exact inverses -----------------------------------------------------------------


def test_a_square_dense_layer_inverts_its_field_to_1e_5():
    rng = np.random.default_rng(1)
    layer = InvertibleDense(rule="bp", use_bias=True, bias_initializer="ones")
    x = rng.normal(size=(5, 12)).astype("float32")
    field = layer(x)
    # Orthogonal-ish: the inverse is not the transpose.
    layer.kernel.assign(layer.kernel + 0.1 * rng.normal(size=(12, 12)))
    field = layer(x)
    assert not np.allclose(
        layer.inverse_matrix(), tf.transpose(layer.kernel), atol=1e-2
    )
    rebuilt = layer.invert(field).numpy()
    assert np.linalg.norm(rebuilt - x) / np.linalg.norm(x) < 1e-5


def test_a_square_dense_layer_refuses_another_width_and_pruning():
    with pytest.raises(ValueError, match="units=5 but its input has 12"):
        InvertibleDense(5, rule="bp")(tf.zeros([1, 12]))
    with pytest.raises(ValueError, match="connectivity=0.5"):
        InvertibleDense(rule="frfb", connectivity=0.5)
