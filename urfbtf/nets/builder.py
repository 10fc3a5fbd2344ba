"""Builds a functional Keras model from a net description, under any rule.

The builder walks a description (`urfbtf.nets.steps`) bottom to top. Each conv,
dense and output step is a learning block: a layer that learns by the rule
(`FeedbackConv2D`, `FeedbackDense`, or `UntiedConv2D` where the conv is untied),
then the hidden nonlinearity; the rule may place a tap of its own on the block's
output (`urfbtf.rules.Rule.attach`) and chooses the model class that trains the
net (`Rule.build_model`). Nothing here depends on which rule it is. How the
layers are made (biases, initial weights) is the net's own, its description's
`Layers` step (`urfbtf.nets.steps`); the options may override W's initializer.

Max-pooling follows the original code of Amit (2019): disjoint windows (size ==
stride) are TensorFlow's SAME max-pool; overlapping windows (3x3, stride 2) are
anchored at their top-left pixel, with zeros padded at the bottom and right that
take part in the max (Keras' SAME pool pads with -inf and centres differently).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable, Mapping

import keras

from urfbtf import arguments, registry, settings
from urfbtf.errors import UsageError
from urfbtf.graph import Block
from urfbtf.layers import (
    Dropout,
    FeedbackConv2D,
    FeedbackDense,
    InvertibleConv2D,
    InvertibleDense,
    LeakyReLU,
    Narrow,
    SaturatedLinear,
    UntiedConv2D,
)
from urfbtf.layers.initializers import FanInUniform
from urfbtf.nets.options import NetOptions, layer_initializer
from urfbtf.nets.registry import get_description
from urfbtf.nets.steps import (
    FAN_IN_UNIFORM,
    Conv,
    Dense,
    Drop,
    InvConv,
    InvDense,
    Layers,
    Output,
    Pool,
    Sum,
    check_untie,
    layers_of,
)


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


class NetBuilder:
    """Turns a description into layers; subclasses may make other layers
    (the plain-Keras twin of the tests and the benchmark does).

    Args:
        description: a tuple of steps.
        num_classes: units of the output layer.
        rule: the `urfbtf.rules.Rule` every learning layer follows.
        options: a `NetOptions`.
        rule_settings: the rule's own settings (default: their defaults).
    """

    def __init__(
        self,
        description,
        *,
        num_classes: int,
        rule,
        options: NetOptions,
        rule_settings: Mapping | None = None,
    ):
        options.check()
        self.description = tuple(description)
        self.num_classes = num_classes
        self.rule = registry.get_rule(rule)
        self.rule_settings = settings.with_defaults(
            self.rule.settings, rule_settings, owner=f"rule {self.rule.name!r}"
        )
        self.options = options
        self.untie = check_untie(self.description, options.untie)
        self.layers: Layers = layers_of(self.description)

    def kernel_initializer(self, step):
        """W's initializer for a conv, dense or output step."""
        if self.options.zero_init and not isinstance(step, Conv):
            return "zeros"
        if self.options.kernel_initializer is not None:
            return layer_initializer(self.options.kernel_initializer)
        return layer_initializer(self.layers.kernel)

    def linear_layer(self, step, *, hidden: bool):
        """The layer of a conv, dense or output step, under the rule."""
        options = self.options
        layers = self.layers
        common = dict(
            rule=self.rule.name,
            connectivity=options.connectivity if hidden else 1.0,
            kernel_initializer=self.kernel_initializer(step),
            feedback_initializer=layer_initializer(layers.feedback),
            use_bias=layers.bias,
            bias_initializer=(
                FanInUniform()
                if layers.bias and layers.bias_init == FAN_IN_UNIFORM
                else "zeros"
            ),
            name=step.name,
        )
        if isinstance(step, Conv) and step.name in self.untie:
            return UntiedConv2D(
                step.filters,
                step.kernel_size,
                strides=step.stride,
                implementation=options.untied_impl,
                tie_init=layers.tied_init,
                **common,
            )
        if isinstance(step, Conv):
            return FeedbackConv2D(
                step.filters, step.kernel_size, strides=step.stride, **common
            )
        if isinstance(step, InvConv):
            return InvertibleConv2D(step.kernel_size, strides=step.stride, **common)
        if isinstance(step, InvDense):
            return InvertibleDense(**common)
        return FeedbackDense(step.units, **common)

    def learns(self, step) -> bool:
        """Whether a hidden step's layer learns (not frozen by the rule or by
        `freeze_conv`)."""
        frozen_conv = self.options.freeze_conv and isinstance(step, (Conv, InvConv))
        return self.rule.hidden_layers_learn and not frozen_conv

    def activation_layer(self, name: str):
        activation = self.options.activation
        if activation == "tanh":
            return keras.layers.Activation("tanh", name=f"{name}_tanh")
        if activation == "leaky_relu":
            return LeakyReLU(self.options.leaky_slope, name=f"{name}_lrelu")
        return SaturatedLinear(self.options.nonlin_scale, name=f"{name}_sl")

    def hidden_block(self, x, step):
        """A learning layer, its nonlinearity and the rule's tap, if any."""
        layer = self.linear_layer(step, hidden=True)
        if not self.learns(step):
            layer.trainable = False
        field = layer(x)
        activation = self.activation_layer(step.name)
        output = activation(field)
        if layer.trainable:
            block = Block(step.name, x, layer, field, activation, output)
            output = self.rule.attach(block, self.num_classes, self.rule_settings)
        keep = getattr(step, "keep", None)
        if keep is not None and keep < output.shape[-1]:
            output = Narrow(keep, name=f"{step.name}_keep")(output)
        return output

    def output_block(self, x, step):
        if step.square:
            layer = self.linear_layer(InvDense(step.name), hidden=False)
        else:
            layer = self.linear_layer(Dense(step.name, self.num_classes), hidden=False)
        field = layer(x)
        activation = None
        output = field
        if self.options.output_activation == "tanh":
            activation = keras.layers.Activation("tanh", name=f"{step.name}_tanh")
            output = activation(field)
        block = Block(step.name, x, layer, field, activation, output)
        output = self.rule.attach_output(block, self.num_classes, self.rule_settings)
        if step.square:  # The classes are the first units, the rest auxiliary.
            units = output.shape[-1]
            if self.num_classes > units:
                raise UsageError(
                    f"num_classes={self.num_classes}: the output layer "
                    f"{step.name!r} of this net is square, {units} units on these "
                    f"inputs, its first ones the classes: at most {units} classes "
                    "fit (urfbtf.nets.output_width gives it for any input shape)."
                )
            output = Narrow(self.num_classes, name=f"{step.name}_keep")(output)
        return output

    def __call__(self, input_shape):
        """(inputs, outputs) of the net for images of `input_shape`."""
        inputs = keras.Input(tuple(input_shape), name="image")
        x = inputs
        drops = 0
        for step in self.description:
            if isinstance(step, (Dense, InvDense, Output)) and len(x.shape) > 2:
                x = keras.layers.Flatten(name="flatten")(x)
            if isinstance(step, Layers):
                continue  # Read once, in __init__.
            if isinstance(step, (Conv, Dense, InvConv, InvDense)):
                x = self.hidden_block(x, step)
            elif isinstance(step, Sum):
                first = self.hidden_block(x, step.first)
                second = self.hidden_block(first, step.second)
                x = keras.layers.Add(name=step.name)([first, second])
            elif isinstance(step, Pool):
                x = max_pool(x, step.size, step.stride, step.name)
            elif isinstance(step, Drop):
                x = self.dropout(x, step, drops)
                drops += 1
            elif isinstance(step, Output):
                x = self.output_block(x, step)
            else:
                raise TypeError(f"Unknown step {step!r} in a net description.")
        return inputs, x

    def dropout(self, x, step, index: int):
        rate = self.options.dropout if step.rate is None else step.rate
        seed = self.options.dropout_seed
        if rate > 0:
            x = Dropout(
                rate, seed=None if seed is None else seed + index, name=step.name
            )(x)
        return x


def build_net(
    net,
    *,
    input_shape: tuple[int, int, int],
    num_classes: int,
    rule=None,
    rule_settings: Mapping | None = None,
    model_class: type | None = None,
    builder: type = NetBuilder,
    **options,
) -> keras.Model:
    """Builds a functional Keras model from a net name or description.

    Args:
        net: a name from `urfbtf.nets.NETS` or a description (tuple of steps).
        input_shape: (height, width, channels) of the images.
        num_classes: units of the output layer.
        rule: learning rule of every conv and dense layer, the output included (a
            name or a `urfbtf.rules.Rule`; default `urfbtf.rules.DEFAULT_RULE`).
        rule_settings: the rule's own settings (default: their defaults).
        model_class: a `keras.Model` subclass to build instead of the rule's.
        builder: the `NetBuilder` (sub)class that makes the layers.
        **options: the fields of `NetOptions` (connectivity, nonlin_scale,
            dropout_seed, untie, untied_impl, activation, output_activation,
            dropout, kernel_initializer, zero_init, freeze_conv, leaky_slope).

    Returns:
        An uncompiled model named after the net; `urfbtf.nets.blocks(model)`
        lists its learning blocks.
    """
    rule = registry.get_rule(rule) if rule is not None else registry.default_rule()
    _check_arguments(input_shape, num_classes, options)
    make = builder(
        get_description(net),
        num_classes=num_classes,
        rule=rule,
        options=NetOptions(**options),
        rule_settings=rule_settings,
    )
    inputs, outputs = make(input_shape)
    name = net if isinstance(net, str) else "net"
    if model_class is not None:
        return model_class(inputs, outputs, name=name)
    return rule.build_model(inputs, outputs, name=name, settings=make.rule_settings)


def _check_arguments(input_shape, num_classes, options: Mapping) -> None:
    """Refuses `build_net`'s arguments of the wrong type or an option
    `NetOptions` does not have, naming each (the net, the rule and its settings
    are checked where they are read)."""
    sides = "a tuple of positive integers, (height, width, channels) for images"
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Iterable):
        raise arguments.refuse("input_shape", input_shape, sides)
    for side in input_shape:
        if isinstance(side, bool) or not isinstance(side, numbers.Integral) or side < 1:
            raise arguments.refuse("input_shape", input_shape, sides)
    arguments.check_integer("num_classes", num_classes, "a positive integer")
    if num_classes < 1:
        raise arguments.refuse("num_classes", num_classes, "a positive integer")
    known = [field.name for field in dataclasses.fields(NetOptions)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise UsageError(
            f"build_net got {', '.join(unknown)}, which is neither an argument nor "
            f"an option of the net; its options are: {', '.join(known)}."
        )
