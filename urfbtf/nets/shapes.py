"""The shapes a net description gives its layers, read off the description
without building the net.

A square output layer (`steps.Output(square=True)`, GAIT-prop's nets) has as
many units as values reach it, its first ones the classes: how many classes the
net can hold depends on its widths and, for a conv net, on the images' size.
The runner asks `output_width` before it builds anything, to refuse a dataset
with more classes than that. Every convolution and pooling of the builder pads
SAME (`urfbtf.nets.builder`), so at stride s a side of H values gives ⌈H/s⌉.
"""

from __future__ import annotations

import math

from urfbtf.nets.registry import get_description
from urfbtf.nets.steps import Conv, Dense, InvConv, InvDense, Output, Pool, Sum


def _conv(shape: tuple, step) -> tuple:
    height, width, channels = shape
    filters = step.filters if isinstance(step, Conv) else step.kernel_size**2 * channels
    if getattr(step, "keep", None) is not None:
        filters = min(filters, step.keep)
    return (math.ceil(height / step.stride), math.ceil(width / step.stride), filters)


def output_width(net, input_shape) -> int | None:
    """The units of the square output layer of `net` (a name or a description)
    on inputs of `input_shape` ((height, width, channels), or a length), or
    None when its output layer has one unit per class, which any count fits."""
    shape = tuple(int(d) for d in input_shape)
    for step in get_description(net):
        if isinstance(step, (Conv, InvConv)):
            shape = _conv(shape, step)
        elif isinstance(step, Sum):
            shape = _conv(_conv(shape, step.first), step.second)
        elif isinstance(step, Pool):
            height, width, channels = shape
            shape = (
                math.ceil(height / step.stride),
                math.ceil(width / step.stride),
                channels,
            )
        elif isinstance(step, Dense):
            shape = (step.units,)
        elif isinstance(step, InvDense):
            units = math.prod(shape)
            shape = (units if step.keep is None else min(units, step.keep),)
        elif isinstance(step, Output):
            return math.prod(shape) if step.square else None
    return None
