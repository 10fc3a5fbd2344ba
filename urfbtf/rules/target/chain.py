"""A net as a chain of stages, read off its graph, for the target model.

Stage l maps h_{l-1} to h_l: what passes h_{l-1} on to block l (a reshape, or
the first units of an invertible layer, `urfbtf.layers.Narrow`), then block l's
layer and its nonlinearity. The chain is read off the learning blocks of
`urfbtf.graph.tapped`, so any functional model whose blocks follow each other
directly (no pooling, residual sums or dropout between them, which have no
inverse) is one. h_l is the block's whole output, auxiliary units included; the
net's output is what the last block passes on, through the chain's `head`.
"""

from __future__ import annotations

import dataclasses
import weakref

import keras
import tensorflow as tf

from urfbtf import graph
from urfbtf.layers.tap import Tap


@dataclasses.dataclass(frozen=True, eq=False)
class Stage:
    """One block of a chain: (a_l, h_l) = forward(h_{l-1}).

    Attributes:
        block: the learning block (`urfbtf.graph.Block`).
        forward: a model from the previous stage's output (or the net's input)
            to this block's field a_l and output h_l, sharing the net's layers.
        inverse: the rule's tap on the block's output (its inverse map), if any.
        hand_on: a model from the previous stage's output to the block's input
            (a reshape, the units passed on), or None when the block reads it
            as it is.
    """

    block: graph.Block
    forward: keras.Model
    inverse: Tap | None
    hand_on: keras.Model | None = None

    @property
    def name(self) -> str:
        return self.block.name

    def __call__(self, h, training: bool = False) -> tf.Tensor:
        """h_l = f_l(h): the block's output."""
        return self.trace(h, training=training)[1]

    def trace(self, h, training: bool = False):
        """(a_l, h_l) = the block's field and output for its input h."""
        found = self.forward(h, training=training)
        if self.block.activation is None:  # A linear block: a_l is h_l.
            return found, found
        return tuple(found)


@dataclasses.dataclass(frozen=True, eq=False)
class Chain:
    """The stages of a model, bottom to top, and its head: a model from the
    last stage's output to the net's output (the classes of a square output
    layer), or None when they are the same tensor."""

    stages: list[Stage]
    head: keras.Model | None


def _read(model: keras.Model) -> Chain:
    found = []
    previous = model.inputs[0]
    for block in graph.tapped(model).blocks:
        # A linear block's field is its output, which a Keras model cannot
        # list twice.
        outputs = (
            block.output if block.activation is None else [block.field, block.output]
        )
        forward = keras.Model(previous, outputs, name=f"{block.name}_f")
        hand_on = None
        if block.input is not previous:
            hand_on = keras.Model(previous, block.input, name=f"{block.name}_in")
        found.append(Stage(block, forward, block.tap, hand_on))
        previous = block.tap.output if block.tap is not None else block.output
    head = None
    if previous is not model.outputs[0]:
        head = keras.Model(previous, model.outputs[0], name="head")
        if head.weights:
            raise ValueError(
                f"Model {model.name!r} does not end with its last learning block."
            )
    return Chain(found, head)


# model -> its Chain, kept beside the model (as an attribute, Keras would track
# the stages' models as layers of it) and gone with it.
_CHAINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def chain_of(model: keras.Model) -> Chain:
    """The `Chain` of a functional `model` (read once, then kept)."""
    found = _CHAINS.get(model)
    if found is None:
        found = _CHAINS[model] = _read(model)
    return found
