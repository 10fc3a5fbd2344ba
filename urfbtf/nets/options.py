"""How the layers of a net are made, everything but the rule: `NetOptions`,
the choices of nonlinearity, and the initializers a description names."""

from __future__ import annotations

import dataclasses

import keras

from urfbtf.errors import UsageError
from urfbtf.nets.steps import FAN_IN_UNIFORM

ACTIVATIONS = ("saturated", "tanh", "leaky_relu")
OUTPUT_ACTIVATIONS = ("linear", "tanh")


@dataclasses.dataclass(frozen=True)
class NetOptions:
    """How the layers of a net are made (everything but the rule).

    Attributes:
        connectivity: fraction of connections kept in every layer but the output
            layer (which the original never pruned: with many classes the hinge
            loss fails when it is).
        nonlin_scale: slope s of the saturated linearity (0.5 in the original).
        leaky_slope: slope of the leaky ReLU for negative inputs.
        dropout_seed: seed of the dropout layers (layer i uses dropout_seed + i),
            or None to draw from Keras' global generator.
        untie: names of conv layers to build as untied (locally connected)
            layers, Amit (2019) sec. 4.1, or "all".
        untied_impl: "dense" (compiles with XLA) or "sparse" (tf.sparse, as the
            original code), see `urfbtf.layers.UntiedConv2D`.
        activation: hidden nonlinearity, "saturated" (Amit 2019), "tanh"
            (Frenkel et al. 2021) or "leaky_relu" (invertible).
        output_activation: "linear" (the output layer's field; the losses apply
            their own sigmoid or softmax) or "tanh" (Frenkel et al.'s regression).
        dropout: rate of the description's dropout steps without their own.
        kernel_initializer: initializer of the forward weights W of every layer,
            or None for the net's own (its `Layers` step: Glorot uniform for
            Amit's nets, the reference code's U(±1/√fan_in) for Frenkel's).
        zero_init: the fully connected weights (dense and output layers) start
            at 0, as the DRTP reference code's --fc-zero-init (models.py:133-134:
            FC weights only; convolutions and biases keep their random draw).
        freeze_conv: keep the convolutions at their initial values ("CONV
            random" in Frenkel et al.).
    """

    connectivity: float = 1.0
    nonlin_scale: float = 0.5
    leaky_slope: float = 0.1
    dropout_seed: int | None = None
    untie: object = ()
    untied_impl: str = "dense"
    activation: str = "saturated"
    output_activation: str = "linear"
    dropout: float = 0.0
    kernel_initializer: object = None
    zero_init: bool = False
    freeze_conv: bool = False

    def check(self) -> None:
        if self.output_activation not in OUTPUT_ACTIVATIONS:
            raise UsageError(
                f"Unknown output activation {self.output_activation!r}. Valid: "
                f"{', '.join(OUTPUT_ACTIVATIONS)}."
            )
        if self.activation not in ACTIVATIONS:
            raise UsageError(
                f"Unknown activation {self.activation!r}. Valid activations: "
                f"{', '.join(ACTIVATIONS)}."
            )


def layer_initializer(name):
    """A fresh Keras initializer for a name of `steps.LAYER_INITIALIZERS` (or any
    initializer Keras accepts); fresh, because a seeded instance shared by two
    layers would draw the same values for both."""
    if name == FAN_IN_UNIFORM:
        # limit √(3·scale/fan_in) = 1/√fan_in.
        return keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")
    if isinstance(name, str):
        return keras.initializers.get(name)
    return name
