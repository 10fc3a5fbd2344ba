"""The learning block each converted call becomes, planned before rebuilding.

A learning block is a learning layer, then an activation layer that is its
only reader (`urfbtf.graph.blocks`). The rule may place a tap on the block's
output (`Rule.attach`, `Rule.attach_output`), so the rebuild must know, at the
layer's call, where its block ends and whether that end is the net's output.
"""

from __future__ import annotations

import dataclasses

import keras

from urfbtf.graph import ACTIVATION_LAYERS


@dataclasses.dataclass(eq=False)
class BlockPlan:
    """What one call of a converted layer becomes.

    Attributes:
        index: its rank among the converted calls (for seeds).
        output: the id of the block's output: the layer's own (after its own
            activation, if any), or that of the activation layer reading it.
        is_output: the block ends the net (its output is the model's).
    """

    index: int
    output: int
    is_output: bool


def plan_blocks(calls, converted: set, model_outputs: set) -> dict:
    """{id(call): BlockPlan} for every call of a converted layer: its learning
    block, read off the flattened graph as `urfbtf.graph.blocks` reads it off
    a model (the layer, then an activation layer that is its only reader)."""
    readers: dict[int, list] = {}
    for call in calls:
        for tensor_id in call.inputs:
            readers.setdefault(tensor_id, []).append(call)
    plans = {}
    for call in calls:
        layer = call.operation
        if id(layer) not in converted:
            continue
        output = call.outputs[0]
        found = readers.get(output, [])
        if (
            layer.activation is keras.activations.linear
            and len(found) == 1
            and isinstance(found[0].operation, ACTIVATION_LAYERS)
        ):
            output = found[0].outputs[0]
        plans[id(call)] = BlockPlan(len(plans), output, output in model_outputs)
    return plans
