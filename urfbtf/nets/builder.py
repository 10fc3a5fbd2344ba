"""The networks of Amit (2019), each from one small description.

A description is a tuple of steps: `Conv` (convolution followed by the saturated
linearity), `Pool`, `Drop`, `Sum` (two convolutions a = σ(conv(x)),
b = σ(conv'(a)) and their sum a + b, with no parameters and no nonlinearity after
it: the paper's residual "SUM"), `Dense` (followed by σ) and `Output` (linear,
one unit per class, never pruned). A flatten (NHWC order, as the original) is
inserted before the first dense step.

Where the paper and the code that produced it (commit 9d59f23 of yaliamit/URFB,
January 2019) disagree, the code is followed; each net's flagfile in `flags/`
says what the paper has instead:

* simpnet pools 3x3 with stride 3 (paper: stride 2, 16x16 output);
* deepernet's last block is a 2x2 then a 3x3 convolution (paper: two 3x3);
* deepnet has no file in the original repository and is built from the paper.

Max-pooling follows the original code too: disjoint windows (size == stride) are
TensorFlow's SAME max-pool; overlapping windows (3x3, stride 2) are anchored at
their top-left pixel, with zeros padded at the bottom and right that take part in
the max (Keras' SAME pool pads with -inf and centres differently).
"""

from __future__ import annotations

import dataclasses
import math

import keras

from urfbtf import rules
from urfbtf.direct import DirectFeedbackModel
from urfbtf.errors import UsageError
from urfbtf.layers import (
    DirectFeedback,
    Dropout,
    FeedbackConv2D,
    FeedbackDense,
    FeedbackLayer,
    SaturatedLinear,
    UntiedConv2D,
)


@dataclasses.dataclass(frozen=True)
class Conv:
    name: str
    filters: int
    kernel_size: int


@dataclasses.dataclass(frozen=True)
class Sum:
    """Residual block: σ(conv(x)) + σ(conv'(σ(conv(x))))."""

    name: str
    first: Conv
    second: Conv


@dataclasses.dataclass(frozen=True)
class Pool:
    name: str
    size: int
    stride: int


@dataclasses.dataclass(frozen=True)
class Drop:
    name: str
    # Fraction of units dropped, as in the paper and keras.layers.Dropout; None
    # takes the `dropout` argument of `build_net` (the DRTP paper's nets).
    rate: float | None


@dataclasses.dataclass(frozen=True)
class Dense:
    name: str
    units: int


@dataclasses.dataclass(frozen=True)
class Output:
    name: str = "output"


ACTIVATIONS = ("saturated", "tanh")
OUTPUT_ACTIVATIONS = ("linear", "tanh")

NETS = {
    "simpnet": (
        Conv("conv1", 32, 5),
        Pool("pool1", 3, 3),
        Drop("drop1", 0.8),
        Dense("dense1", 500),
        Drop("drop2", 0.3),
        Output(),
    ),
    "deepnet": (
        Conv("conv1", 32, 5),
        Pool("pool1", 3, 2),
        Conv("conv2", 32, 3),
        Conv("conv3", 32, 3),
        Pool("pool2", 3, 2),
        Drop("drop1", 0.8),
        Conv("conv4", 32, 3),
        Conv("conv5", 32, 3),
        Pool("pool3", 3, 2),
        Drop("drop2", 0.3),
        Dense("dense1", 500),
        Output(),
    ),
    "deepernet": (
        Sum("sum0", Conv("conv0", 16, 3), Conv("conv0a", 16, 3)),
        Sum("sum1", Conv("conv1", 32, 3), Conv("conv1a", 32, 3)),
        Pool("pool1", 3, 2),
        Drop("drop1", 0.5),
        Sum("sum2", Conv("conv2", 64, 3), Conv("conv2a", 64, 3)),
        Pool("pool2", 3, 2),
        Sum("sum3", Conv("conv3", 128, 2), Conv("conv3a", 128, 3)),
        Pool("pool3", 3, 2),
        Drop("drop2", 0.8),
        Dense("dense1", 500),
        Output(),
    ),
    # The untied simpnet of the original code (_pars/simpnet_s.txt, Figs. 8-9):
    # a 3x3 stride-2 pool and no dropout; its conv is untied by flags/simpnet_s.cfg.
    "simpnet_s": (
        Conv("conv1", 32, 5),
        Pool("pool1", 3, 2),
        Dense("dense1", 500),
        Output(),
    ),
    "deepnet_s": (
        Sum("sum0", Conv("conv0", 16, 3), Conv("conv0a", 16, 3)),
        Pool("pool1", 3, 3),
        Drop("drop1", 0.5),
        Sum("sum2", Conv("conv2", 64, 3), Conv("conv2a", 64, 3)),
        Pool("pool2", 2, 2),
        Sum("sum3", Conv("conv3", 64, 2), Conv("conv3a", 64, 2)),
        Pool("pool3", 2, 2),
        Drop("drop3", 0.5),
        Dense("dense1", 500),
        Output(),
    ),
}


def _fully_connected(*units: int) -> tuple:
    """Frenkel et al. (2021)'s FC nets: hidden layers of `units`, dropout (the
    `dropout` argument) on the input of every fully connected layer."""
    steps = []
    for i, n in enumerate(units, start=1):
        steps += [Drop(f"drop{i}", None), Dense(f"dense{i}", n)]
    return (*steps, Drop(f"drop{len(units) + 1}", None), Output())


# The networks of Frenkel et al. (2021), sec. 4, for DFA, sDFA and DRTP; their
# flagfiles set tanh hidden units, sigmoid outputs with cross-entropy, Adam.
NETS.update(
    {
        "fc1_500": _fully_connected(500),
        "fc1_1000": _fully_connected(1000),
        "fc2_100": _fully_connected(100, 100),
        "fc2_500": _fully_connected(500, 500),
        "fc2_1000": _fully_connected(1000, 1000),
        "conv_mnist": (
            Conv("conv1", 32, 5),
            Pool("pool1", 2, 2),
            *_fully_connected(1000),
        ),
        "conv_cifar": (
            Conv("conv1", 64, 3),
            Pool("pool1", 2, 2),
            Conv("conv2", 256, 3),
            Pool("pool2", 2, 2),
            *_fully_connected(1000, 1000),
        ),
    }
)


def get_description(net) -> tuple:
    """The description of `net` (a name from `NETS`, or a description itself)."""
    if not isinstance(net, str):
        return tuple(net)
    if net not in NETS:
        raise UsageError(f"Unknown net {net!r}. Valid nets: {', '.join(NETS)}.")
    return NETS[net]


def max_pool(x, size: int, stride: int, name: str):
    """Max-pooling as the original code defines it (see the module docstring)."""
    if size == stride:
        return keras.layers.MaxPool2D(size, stride, padding="same", name=name)(x)
    height, width = x.shape[1:3]
    # Windows start every `stride` pixels at the top-left corner; pad the bottom
    # and right with zeros until the last window fits.
    pad_rows = (math.ceil(height / stride) - 1) * stride + size - height
    pad_cols = (math.ceil(width / stride) - 1) * stride + size - width
    x = keras.layers.ZeroPadding2D(((0, pad_rows), (0, pad_cols)), name=f"{name}_pad")(
        x
    )
    return keras.layers.MaxPool2D(size, stride, padding="valid", name=name)(x)


def build_net(
    net,
    *,
    input_shape: tuple[int, int, int],
    num_classes: int,
    rule: str = "urfb",
    connectivity: float = 1.0,
    nonlin_scale: float = 0.5,
    dropout_seed: int | None = None,
    plain_keras: bool = False,
    model_class: type = keras.Model,
    untie=(),
    untied_impl: str = "dense",
    activation: str = "saturated",
    output_activation: str = "linear",
    dropout: float = 0.0,
    kernel_initializer="glorot_uniform",
    freeze_conv: bool = False,
) -> keras.Model:
    """Builds a functional Keras model from a net name or description.

    Args:
        net: a name from `NETS` or a description (tuple of steps).
        input_shape: (height, width, channels) of the images.
        num_classes: units of the output layer.
        rule: learning rule of every conv and dense layer, the output included.
        connectivity: fraction of connections kept in every layer but the output
            layer (which the original never pruned: with many classes the hinge
            loss fails when it is).
        nonlin_scale: slope s of the saturated linearity (0.5 in the original).
        dropout_seed: seed of the dropout layers (layer i uses dropout_seed + i),
            or None to draw from Keras' global generator.
        plain_keras: build the same network from standard `keras.layers.Conv2D`
            and `Dense` (no bias) trained by autodiff: the reference model for
            tests and benchmarks; `rule` and `connectivity` are then ignored.
        model_class: the `keras.Model` subclass to instantiate, for rules that
            bring their own training step (`urfbtf.rules.Rule.model_class`).
        untie: names of conv layers to build as untied (locally connected)
            layers, Amit (2019) sec. 4.1, or "all".
        untied_impl: "dense" (compiles with XLA) or "sparse" (tf.sparse, as the
            original code), see `urfbtf.layers.UntiedConv2D`.
        activation: hidden nonlinearity, "saturated" (Amit 2019) or "tanh"
            (Frenkel et al. 2021).
        output_activation: "linear" (the output layer's field; the losses apply
            their own sigmoid or softmax) or "tanh" (Frenkel et al.'s regression).
        dropout: rate of the description's dropout steps without their own.
        kernel_initializer: initializer of the forward weights W ("zeros" for the
            zero-initialised runs of Frenkel et al.).
        freeze_conv: keep the convolutions at their initial values ("CONV
            random" in Frenkel et al.).

    The direct rules (dfa, sdfa, drtp, shallow) get a `DirectFeedback` layer on
    the output of every hidden layer that learns and are built as
    `urfbtf.direct.DirectFeedbackModel`; under shallow the hidden layers are
    frozen.

    Returns:
        An uncompiled functional model named after the net.
    """
    description = get_description(net)
    rule = rules.get_rule(rule)
    untie = check_untie(description, untie)
    if output_activation not in OUTPUT_ACTIVATIONS:
        raise UsageError(
            f"Unknown output activation {output_activation!r}. Valid: "
            f"{', '.join(OUTPUT_ACTIVATIONS)}."
        )
    if activation not in ACTIVATIONS:
        raise UsageError(
            f"Unknown activation {activation!r}. Valid activations: "
            f"{', '.join(ACTIVATIONS)}."
        )
    if rule.direct is not None and model_class is keras.Model:
        model_class = DirectFeedbackModel
    conv_names_ = set(conv_names(description))

    def linear(step, hidden: bool):
        layer = _linear(step, hidden)
        if hidden and (
            rule.direct == "none" or (freeze_conv and step.name in conv_names_)
        ):
            layer.trainable = False
        return layer

    def _linear(step, hidden: bool):
        if plain_keras:
            if isinstance(step, Conv):
                return keras.layers.Conv2D(
                    step.filters,
                    step.kernel_size,
                    padding="same",
                    use_bias=False,
                    kernel_initializer=kernel_initializer,
                    name=step.name,
                )
            return keras.layers.Dense(
                step.units,
                use_bias=False,
                kernel_initializer=kernel_initializer,
                name=step.name,
            )
        kept = connectivity if hidden else 1.0
        if isinstance(step, Conv) and step.name in untie:
            return UntiedConv2D(
                step.filters,
                step.kernel_size,
                rule=rule.name,
                connectivity=kept,
                implementation=untied_impl,
                kernel_initializer=kernel_initializer,
                name=step.name,
            )
        if isinstance(step, Conv):
            return FeedbackConv2D(
                step.filters,
                step.kernel_size,
                rule=rule.name,
                connectivity=kept,
                kernel_initializer=kernel_initializer,
                name=step.name,
            )
        return FeedbackDense(
            step.units,
            rule=rule.name,
            connectivity=kept,
            kernel_initializer=kernel_initializer,
            name=step.name,
        )

    def activated(x, step):
        layer = linear(step, hidden=True)
        x = layer(x)
        if activation == "tanh":
            x = keras.layers.Activation("tanh", name=f"{step.name}_tanh")(x)
        else:
            x = SaturatedLinear(nonlin_scale, name=f"{step.name}_sl")(x)
        if rule.direct is not None and layer.trainable and not plain_keras:
            # The learning signal of this layer arrives here, straight from
            # the output (Frenkel et al. 2021).
            x = DirectFeedback(num_classes, name=f"{step.name}_feedback")(x)
        return x

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    drop_index = 0
    for step in description:
        if isinstance(step, (Dense, Output)) and len(x.shape) > 2:
            x = keras.layers.Flatten(name="flatten")(x)
        if isinstance(step, Conv):
            x = activated(x, step)
        elif isinstance(step, Sum):
            first = activated(x, step.first)
            second = activated(first, step.second)
            x = keras.layers.Add(name=step.name)([first, second])
        elif isinstance(step, Pool):
            x = max_pool(x, step.size, step.stride, step.name)
        elif isinstance(step, Drop):
            rate = dropout if step.rate is None else step.rate
            seed = None if dropout_seed is None else dropout_seed + drop_index
            drop_index += 1
            if rate > 0:
                x = Dropout(rate, seed=seed, name=step.name)(x)
        elif isinstance(step, Dense):
            x = activated(x, step)
        elif isinstance(step, Output):
            x = linear(Dense(step.name, num_classes), hidden=False)(x)
            if output_activation == "tanh":
                x = keras.layers.Activation("tanh", name=f"{step.name}_tanh")(x)
        else:
            raise TypeError(f"Unknown step {step!r} in a net description.")
    name = net if isinstance(net, str) else "net"
    return model_class(inputs, x, name=name)


def conv_names(description) -> list[str]:
    """The names of the convolutions of a description, bottom to top."""
    names = []
    for step in description:
        if isinstance(step, Conv):
            names.append(step.name)
        elif isinstance(step, Sum):
            names += [step.first.name, step.second.name]
    return names


def layer_names(description) -> list[str]:
    """The names of the layers with weights (convs, dense, output), bottom to top."""
    names = []
    for step in description:
        if isinstance(step, (Conv, Sum)):
            names += conv_names([step])
        elif isinstance(step, (Dense, Output)):
            names.append(step.name)
    return names


def check_untie(description, untie) -> frozenset:
    """The set of conv names `untie` asks for ("all" means every conv); raises
    `UsageError` for a name that is not a conv of the net."""
    convs = conv_names(description)
    if isinstance(untie, str):
        untie = convs if untie == "all" else [n for n in untie.split(",") if n]
    unknown = sorted(set(untie) - set(convs))
    if unknown:
        raise UsageError(
            f"Cannot untie {', '.join(unknown)}: the convolutions of this net are "
            f"{', '.join(convs)} (or 'all')."
        )
    return frozenset(untie)


def feedback_layers(model: keras.Model) -> list:
    """The layers of `model` that learn through a rule, bottom to top."""
    return [layer for layer in model.layers if isinstance(layer, FeedbackLayer)]
