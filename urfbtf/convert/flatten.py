"""A model's call graph as one flat list of calls, nested models inlined.

`convert` rebuilds a model by calling new layers in the order of this list.
Nested models (the blocks of the `keras.applications` nets) are inlined because
the rules' taps, the probes and `urfbtf.graph.blocks` read a model's learning
blocks off its own graph, where a layer inside a nested model is not. A nested
model called with `training=...` passes it on to each of its layers, as Keras'
nested call does, so every call remembers the `training` it runs under.
"""

from __future__ import annotations

import dataclasses

import keras


@dataclasses.dataclass(eq=False)
class Call:
    """One call of a layer or operation in the model's graph, nested models
    inlined.

    Attributes:
        operation: the original layer or operation.
        node: its Keras node (the call's arguments and output tensors).
        inputs: the ids of the tensors it reads, one per `node.input_tensors`,
            in the flattened graph (a nested model's inputs are its caller's).
        outputs: the ids of the tensors it makes, one per `node.outputs`.
        training: the `training` an enclosing model was called with, which
            Keras passes on to every layer inside it.
        path: the names of the enclosing models.
    """

    operation: object
    node: object
    inputs: list[int]
    outputs: list[int]
    training: bool | None
    path: tuple[str, ...]


def functional_graph(model):
    """The functional graph of a model: itself, a Sequential's inner one, or
    None (a subclassed or unbuilt model)."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if isinstance(model, keras.Model) and hasattr(model, "_nodes_by_depth"):
        return model
    return None


def flatten(graph, ids: dict, training, path, calls: list) -> None:
    """Appends the calls of `graph` to `calls` in an order that computes every
    input before it is read, inlining nested models.

    `ids` maps the id of each original tensor to its id in the flattened graph:
    a nested model's input tensors are those its caller passed.
    """
    # Keras' own order: deepest nodes (nearest the inputs) first
    # (`keras.src.ops.function.Function._run_through_graph`).
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if node.is_input or node.operation is None:
                continue
            operation = node.operation
            inner = (
                functional_graph(operation)
                if isinstance(operation, keras.Model)
                else None
            )
            if inner is None:
                for tensor in node.outputs:
                    ids[id(tensor)] = id(tensor)
                calls.append(
                    Call(
                        operation,
                        node,
                        [ids[id(t)] for t in node.input_tensors],
                        [id(t) for t in node.outputs],
                        training,
                        path,
                    )
                )
                continue
            # Keras lets the outermost non-None `training` win
            # (`keras.src.models.functional.operation_fn`).
            called_with = node.arguments.kwargs.get("training")
            inner_training = training if training is not None else called_with
            given = node.arguments.args[0] if node.arguments.args else None
            if given is None:
                given = node.arguments.kwargs["inputs"]
            for inner_input, tensor in zip(
                inner.inputs, keras.tree.flatten(given), strict=True
            ):
                ids[id(inner_input)] = ids[id(tensor)]
            flatten(inner, ids, inner_training, (*path, operation.name), calls)
            for tensor, inner_output in zip(node.outputs, inner.outputs, strict=True):
                ids[id(tensor)] = ids[id(inner_output)]


def calls_of(graph) -> tuple[list[Call], dict]:
    """(the calls of `graph`, nested models inlined, in an order that computes
    every input before it is read; the id in that flat graph of every original
    tensor, the model's own inputs and outputs included)."""
    ids = {id(t): id(t) for t in graph.inputs}
    calls: list[Call] = []
    flatten(graph, ids, None, (), calls)
    return calls, ids
