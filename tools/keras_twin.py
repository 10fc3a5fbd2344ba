"""The plain-Keras twin of a urfbtf net: the reference of the tests and benchmark.

The same net as `urfbtf.nets.build_net(net, rule="bp")`, layer for layer and
name for name, but made of Keras' own `Conv2D` and `Dense` (no bias, SAME
padding) trained by TensorFlow's autodiff: a urfbtf net under backpropagation
must have exactly its gradients (tests/nets_test.py), and the rules' cost is
measured against it (tools/bench.py).
"""

from __future__ import annotations

import keras

from urfbtf import nets


class KerasTwinBuilder(nets.NetBuilder):
    """Makes standard Keras layers where `NetBuilder` makes urfbtf's."""

    def linear_layer(self, step, *, hidden: bool):
        del hidden
        initializer = self.options.kernel_initializer
        if isinstance(step, nets.Conv):
            return keras.layers.Conv2D(
                step.filters,
                step.kernel_size,
                padding="same",
                use_bias=False,
                kernel_initializer=initializer,
                name=step.name,
            )
        return keras.layers.Dense(
            step.units, use_bias=False, kernel_initializer=initializer, name=step.name
        )


def build_keras_twin(net, **kwargs) -> keras.Model:
    """`urfbtf.nets.build_net(net, rule="bp", **kwargs)` made of Keras layers."""
    return nets.build_net(net, rule="bp", builder=KerasTwinBuilder, **kwargs)
