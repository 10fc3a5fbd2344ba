"""The plain-Keras twin of a urfbtf net: the reference of the tests and benchmark.

The same net as `urfbtf.nets.build_net(net, rule="bp")`, layer for layer and
name for name, but made of Keras' own `Conv2D` and `Dense` (SAME padding,
biases where the net has them) trained by TensorFlow's autodiff: a urfbtf net
under backpropagation must have exactly its gradients (tests/nets/nets_test.py),
and the rules' cost is measured against it (tools/bench.py). Nothing in the
library imports it; it lives here so that the tests and the benchmark share it.
"""

from __future__ import annotations

import keras

from urfbtf import nets
from urfbtf.rules.gradient import BP


class KerasTwinBuilder(nets.NetBuilder):
    """Makes standard Keras layers where `NetBuilder` makes urfbtf's."""

    def linear_layer(self, step, *, hidden: bool):
        del hidden
        # The net's own layers: biases where its paper's code has them.
        common = dict(
            use_bias=self.layers.bias,
            kernel_initializer=self.kernel_initializer(step),
            name=step.name,
        )
        if isinstance(step, nets.Conv):
            return keras.layers.Conv2D(
                step.filters,
                step.kernel_size,
                strides=step.stride,
                padding="same",
                **common,
            )
        if isinstance(step, (nets.InvConv, nets.InvDense)):
            return _Square(step, common)
        return keras.layers.Dense(step.units, **common)


class _Square:
    """Makes the square layer of an invertible step when it sees its input: a
    Conv2D with C_in·k² filters, or a Dense as wide as its input."""

    def __init__(self, step, common):
        self.step, self.common = step, common
        self.trainable = True

    def __call__(self, x):
        step = self.step
        if isinstance(step, nets.InvConv):
            layer = keras.layers.Conv2D(
                x.shape[-1] * step.kernel_size**2,
                step.kernel_size,
                strides=step.stride,
                padding="same",
                **self.common,
            )
        else:
            layer = keras.layers.Dense(x.shape[-1], **self.common)
        layer.trainable = self.trainable
        return layer(x)


def build_keras_twin(net, **kwargs) -> keras.Model:
    """`urfbtf.nets.build_net(net, rule="bp", **kwargs)` made of Keras layers."""
    return nets.build_net(net, rule=BP, builder=KerasTwinBuilder, **kwargs)
