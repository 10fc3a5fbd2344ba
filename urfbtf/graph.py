"""The learning blocks of a net: input, layer, activation, output, in order.

Every rule sees a net as a chain of learning blocks. A block is one layer that
learns by a rule (`urfbtf.layers.FeedbackLayer`: dense, conv or untied), the
tensor it reads, the elementwise nonlinearity that follows it (none for a
linear output layer) and the tensor the block hands on. The direct rules attach
their projection B_l to a block's output; target rules attach an inverse that
maps a block's output back to its input. `blocks(model)` reads them off any
functional model's graph, so it works alike for a net just built by
`urfbtf.nets.build_net`, one loaded from a `.keras` file, and a user's own model.

`tapped(model)` is the one view of that graph that the rules train and measure
through: a model of the same layers whose outputs are the net's output, every
learning block's field and every tap's output (the probes' errors, the direct
rules' projections, the target model's chain, the tests' local rule). It is
built once per model and kept here, beside the model rather than on it (an
attribute would make Keras track the sub-model as a layer of the model).
"""

from __future__ import annotations

import dataclasses
import functools
import weakref

import keras
import tensorflow as tf

from urfbtf.layers.feedback_layer import FeedbackLayer
from urfbtf.layers.leaky_relu import LeakyReLU
from urfbtf.layers.saturated_linear import SaturatedLinear
from urfbtf.layers.tap import Tap

# Elementwise nonlinearities that end a block.
ACTIVATION_LAYERS = (SaturatedLinear, LeakyReLU, keras.layers.Activation)


@dataclasses.dataclass(frozen=True, eq=False)
class Block:
    """One learning block of a functional model.

    Attributes:
        name: the learning layer's name.
        input: the symbolic tensor the layer reads.
        layer: the layer that learns by a rule.
        field: the layer's output, before the nonlinearity (where the error δ
            that the Hebbian update multiplies lives).
        activation: the nonlinearity applied to `field`, or None (a linear
            output layer).
        output: the block's output: the activation's, or `field` when linear.
        tap: the rule's `urfbtf.layers.Tap` on `output`, if it has one.
    """

    name: str
    input: keras.KerasTensor
    layer: FeedbackLayer
    field: keras.KerasTensor
    activation: keras.layers.Layer | None
    output: keras.KerasTensor
    tap: Tap | None = None


def learning_layers(model: keras.Model) -> list[FeedbackLayer]:
    """The layers of `model` that learn through a rule, bottom to top."""
    return [layer for layer in model.layers if isinstance(layer, FeedbackLayer)]


def blocks(model: keras.Model) -> list[Block]:
    """The learning blocks of a functional `model`, bottom to top."""
    # Keras keeps no public list of a tensor's consumers; its nodes record
    # every call of a layer on symbolic tensors, which is what a graph is.
    consumers: dict[int, list] = {}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                consumers.setdefault(id(tensor), []).append(layer)

    def only_consumer(tensor, kinds):
        found = consumers.get(id(tensor), [])
        if len(found) == 1 and isinstance(found[0], kinds):
            return found[0]
        return None

    found = []
    for layer in learning_layers(model):
        field = layer.output
        activation = only_consumer(field, ACTIVATION_LAYERS)
        output = activation.output if activation is not None else field
        tap = only_consumer(output, Tap)
        found.append(
            Block(layer.name, layer.input, layer, field, activation, output, tap)
        )
    return found


class TappedGraph:
    """A functional model's learning blocks, and a model exposing their tensors.

    Attributes:
        blocks: the learning blocks, bottom to top (`blocks`).
        model: a `keras.Model` sharing the model's layers, from its inputs to
            [output, field of every block, output of every tap] (made on first
            use).

    Calling it runs `model` and splits what it returns.
    """

    def __init__(self, model: keras.Model):
        self.blocks = tuple(blocks(model))
        self._inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        self._output = model.outputs[0]

    @functools.cached_property
    def model(self) -> keras.Model:
        taps = [block.tap.output for block in self._tapped_blocks()]
        fields = [block.field for block in self.blocks]
        return keras.Model(self._inputs, [self._output, *fields, *taps])

    def _tapped_blocks(self) -> list[Block]:
        return [block for block in self.blocks if block.tap is not None]

    @property
    def layers(self) -> list[FeedbackLayer]:
        """The learning layers, bottom to top."""
        return [block.layer for block in self.blocks]

    @property
    def taps(self) -> list[Tap]:
        """The rules' taps on the blocks, bottom to top."""
        return [block.tap for block in self._tapped_blocks()]

    def __call__(self, x, training: bool = False):
        """(output, [field of every block], [output of every tap]) for x."""
        output, *rest = tf.nest.flatten(self.model(x, training=training))
        count = len(self.blocks)
        return output, rest[:count], rest[count:]


# model -> its TappedGraph, kept beside the model and gone with it.
_TAPPED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tapped(model: keras.Model) -> TappedGraph:
    """The `TappedGraph` of a functional `model` (read once, then kept)."""
    found = _TAPPED.get(model)
    if found is None:
        found = _TAPPED[model] = TappedGraph(model)
    return found
