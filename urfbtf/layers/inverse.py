"""The learned inverse of a learning block, for target propagation.

Bartunov et al. (2018), sec. 2.1.2: every block l but the first has an
approximate inverse g_l(h_l) = σ(V_l h_l + c_l) that maps its output back to its
input, "parametrized similarly to the forward computation". Here V_l has the
forward layer's shape and support, transposed:

* a dense layer x W (W: [n_in, n_out]) has the inverse σ(h Vᵀ + c);
* a convolution has the transposed convolution with a kernel V of its own;
* an untied (locally connected) layer has the transposed locally connected map:
  one weight per connection of the forward layer, on the same support, used in
  the opposite direction (the forward layer's `input_grad` applied with V).

c is one bias per input unit and σ the nonlinearity that produced the block's
input (the block below's: tanh in Bartunov's nets). With `aux_units` = k > 0 the
layer also holds k untrained random features z = tanh(x A) of the block's input
x (AO-SDTP's auxiliary output units, sec. 2.1.2 "Auxiliary output SDTP"), and V
maps the block's output and z together, [h, z], back to x.

The layer sits on block l's output as a `Tap` (identity), so V, c and A are
ordinary weights of the model: checkpointed, mirrored, saved in `.keras` files.
"""

from __future__ import annotations

import math
import random

import keras
import tensorflow as tf

from urfbtf.backward import linear, untied
from urfbtf.layers.tap import Tap

# The forward layers an inverse can transpose.
KINDS = ("dense", "conv", "untied")


def transposed(linear_map: linear.LinearMap, target_shape) -> callable:
    """x = Aᵀ(V) h: the adjoint of `linear_map` in its input, applied with V.

    Its gradients come from the map's own halves, with the roles of input and
    output exchanged: for an error e at x, h receives A(V) e (the forward map)
    and V receives the Hebbian product of e and h (the forward map's
    `weight_grad` with e as its input), since ⟨e, Aᵀ(V) h⟩ = ⟨A(V) e, h⟩.
    """
    target_shape = [int(n) for n in target_shape]

    @tf.custom_gradient
    def apply(h, v):
        # `input_grad` reads only the shape of its third argument.
        like = tf.zeros(tf.concat([tf.shape(h)[:1], target_shape], 0), h.dtype)
        x = linear_map.input_grad(h, v, like)

        def grad(e):
            return linear_map.forward(e, v), linear_map.weight_grad(e, h, v)

        return x, grad

    return apply


@keras.saving.register_keras_serializable(package="urfbtf")
class LearnedInverse(Tap):
    """Identity on block l's output; holds its inverse g_l back to the block's input.

    Args:
        target_shape: shape of the block's input (without the batch axis).
        kind: the forward layer's kind, one of `KINDS`.
        geometry: for "conv" and "untied": kernel_size, strides, padding (and
            implementation, the untied layout) of the forward layer; filters is
            read from the block's output.
        activation: the Keras config (`keras.layers.serialize`) of the
            nonlinearity that produced the block's input; None for a linear one.
        aux_units: untrained random features of the block's input that V also
            maps back (AO-SDTP); dense blocks only.
        seed: seed of the noise its training draws (default: from Python's
            `random`, which `keras.utils.set_random_seed` seeds).
        **kwargs: `keras.layers.Layer` arguments (name, ...).
    """

    def __init__(
        self,
        target_shape,
        kind: str = "dense",
        geometry: dict | None = None,
        activation: dict | None = None,
        aux_units: int = 0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # The noise the inverse learns on comes from this generator, whose state
        # is a weight of the model: checkpointed, so a resumed run draws on.
        self.seed = seed if seed is not None else random.randint(1, 10**9)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}; valid: {', '.join(KINDS)}")
        if aux_units and kind != "dense":
            raise ValueError("auxiliary outputs need a dense block")
        self.target_shape = tuple(int(n) for n in target_shape)
        self.kind = kind
        self.geometry = dict(geometry or {})
        self.activation = activation
        self.aux_units = int(aux_units)
        self.sigma = None
        if activation is not None:
            # In the variables' precision (float32 under a mixed policy): g(h)
            # is computed in h's, and the targets take small differences of it
            # (`urfbtf.precision`); a layer made under mixed_bfloat16 would cast
            # its input to bfloat16 (dtp's first-layer step 59% off float32's).
            config = {**activation, "config": {**activation["config"]}}
            config["config"]["dtype"] = self.dtype_policy.variable_dtype
            self.sigma = keras.layers.deserialize(config)

    def build(self, input_shape):
        n_in = math.prod(self.target_shape)
        if self.kind == "dense":
            linear_map = linear.DENSE
            shape = (n_in, int(input_shape[-1]) + self.aux_units)
            initializer = keras.initializers.GlorotUniform()
        else:
            g = self.geometry
            filters = int(input_shape[-1])
            kernel_size = tuple(g["kernel_size"])
            conv_shape = (*kernel_size, self.target_shape[-1], filters)
            if self.kind == "conv":
                linear_map = linear.conv2d_map(g["strides"], g["padding"].upper())
                shape, initializer = conv_shape, keras.initializers.GlorotUniform()
            else:
                conns = untied.connections(
                    self.target_shape, kernel_size, filters, g["strides"], g["padding"]
                )
                layout = g.get("implementation", "dense")
                linear_map = untied.linear_map(conns, layout)
                shape = conns.dense_shape if layout == "dense" else (conns.nnz,)
                glorot = keras.initializers.GlorotUniform()

                def initializer(shape, dtype=None):
                    # One kernel at every location, nothing on padding taps (the
                    # forward untied layers start the same way).
                    return untied.tile_kernel(glorot(conv_shape, dtype), conns, layout)

        self._invert = transposed(linear_map, self.target_shape)
        self.kernel = self.add_weight(
            name="kernel", shape=shape, initializer=initializer
        )
        self.bias = self.add_weight(
            name="bias", shape=self.target_shape, initializer="zeros"
        )
        self.aux = None
        if self.aux_units:
            self.aux = self.add_weight(
                name="aux",
                shape=(n_in, self.aux_units),
                initializer="glorot_uniform",
                trainable=False,
            )

    def auxiliary(self, x):
        """z = tanh(x A), the fixed random features of the block's input x."""
        flat = tf.reshape(x, [tf.shape(x)[0], -1])
        return tf.tanh(tf.matmul(flat, tf.cast(self.aux, flat.dtype)))

    def invert(self, h, aux=None):
        """g(h) = σ(Vᵀ h + c) in the block input's shape; with auxiliary units,
        `aux` (= `auxiliary(x)`) is mapped back together with h."""
        if self.kind == "dense":
            h = tf.reshape(h, [tf.shape(h)[0], -1])
        if self.aux_units:
            h = tf.concat([h, aux], axis=-1)
        kernel = tf.cast(tf.convert_to_tensor(self.kernel), h.dtype)
        x = self._invert(h, kernel)
        x = tf.reshape(x, [-1, *self.target_shape]) + tf.cast(self.bias, h.dtype)
        return x if self.sigma is None else self.sigma(x)

    @property
    def inverse_variables(self) -> list:
        """The weights the inverse optimizer trains: V and c."""
        return [self.kernel, self.bias]

    def get_config(self):
        return {
            **super().get_config(),
            "target_shape": self.target_shape,
            "kind": self.kind,
            "geometry": self.geometry,
            "activation": self.activation,
            "aux_units": self.aux_units,
            "seed": self.seed,
        }
