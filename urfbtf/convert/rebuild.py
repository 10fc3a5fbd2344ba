"""The converted model's graph, rebuilt call by call from the flattened one.

Each call of the original graph becomes a call of its new layer on the new
tensors: an urfbtf layer for a converted layer, a copy of the same class and
configuration for any other layer, the same object for a stateless operation
(`keras.ops`). A converted layer's own activation becomes an `Activation`
layer after it, so that its field (the pre-activation the Hebbian update
multiplies, Amit 2019) is a tensor of the graph; at the end of each learning
block the rule attaches its tap (`Rule.attach`, `Rule.attach_output`).
"""

from __future__ import annotations

import keras

from urfbtf.convert.names import fresh_name
from urfbtf.convert.swaps import feedback_layer
from urfbtf.errors import UsageError
from urfbtf.graph import Block


def clone(layer, name: str):
    """A new layer of `layer`'s class and configuration (weights copied later)."""
    config = {**layer.get_config(), "name": name}
    try:
        return type(layer).from_config(config)
    except Exception as error:  # A custom layer's from_config can fail any way.
        raise UsageError(
            f"Cannot copy layer {layer.name!r} ({type(layer).__name__}): "
            f"{type(layer).__name__}.from_config(get_config()) failed ({error}). "
            "Give it a get_config that returns its constructor's arguments."
        ) from error


class Rebuilder:
    """Calls the new layers in the order of the flattened graph.

    Args:
        rule: the `Rule`; settings: its settings; num_classes: the net's output
            units (for the rule's taps).
        names: a name for every layer; converted: the ids of the layers to
            convert; plans: the block of every converted call.
        connectivity, seed: see `urfbtf.convert`.

    Attributes:
        made: id(original layer) -> (original, new), every layer called.
        tensors: id of a tensor of the flattened graph -> its new tensor.
    """

    def __init__(
        self, rule, settings, num_classes, names, converted, plans, connectivity, seed
    ):
        self.rule = rule
        self.settings = settings
        self.num_classes = num_classes
        self.names = names
        self.converted = converted
        self.plans = plans
        self.connectivity = connectivity
        self.seed = seed
        self.taken = set(names.values())
        self.made: dict[int, tuple] = {}  # id(original) -> (original, new)
        self.tensors: dict[int, object] = {}  # tensor id -> new symbolic tensor
        # Block output id -> the parts of a block whose activation is to come.
        self.pending: dict[int, dict] = {}

    def new_layer(self, call):
        """The new layer for the call's layer, made at its first call."""
        layer = call.operation
        if id(layer) not in self.made:
            if id(layer) in self.converted:
                plan = self.plans[id(call)]
                new = feedback_layer(
                    layer,
                    self.rule,
                    name=self.names[id(layer)],
                    index=plan.index,
                    is_output=plan.is_output,
                    connectivity=self.connectivity,
                    seed=self.seed,
                )
            elif isinstance(layer, keras.layers.Layer):
                new = clone(layer, self.names[id(layer)])
            else:
                new = layer  # A stateless operation (keras.ops) is reused.
            self.made[id(layer)] = (layer, new)
        return self.made[id(layer)][1]

    def finish_block(self, parts: dict, output):
        """The tensor that continues the net after a block: its output, or the
        rule's tap on it (only on a block that learns, as the nets)."""
        layer = parts["layer"]
        if not layer.trainable:
            return output
        block = Block(
            layer.name,
            parts["input"],
            layer,
            parts["field"],
            parts["activation"],
            output,
        )
        if parts["is_output"]:
            return self.rule.attach_output(block, self.num_classes, self.settings)
        return self.rule.attach(block, self.num_classes, self.settings)

    def learning_block(self, call, new, x, field) -> list:
        """The outputs of a converted layer's call: its field, through its own
        activation and the rule's tap when they are part of the call."""
        layer, plan = call.operation, self.plans[id(call)]
        parts = dict(layer=new, input=x, field=field, activation=None)
        parts["is_output"] = plan.is_output
        output = field
        if layer.activation is not keras.activations.linear:
            name = getattr(layer.activation, "__name__", "activation")
            parts["activation"] = keras.layers.Activation(
                layer.activation,
                name=fresh_name(f"{new.name}_{name}", self.taken),
                dtype=layer.dtype_policy,
            )
            output = parts["activation"](field)
        if plan.output == call.outputs[0]:
            return [self.finish_block(parts, output)]
        self.pending[plan.output] = parts
        return [output]

    def __call__(self, call) -> None:
        """Calls the new layer of `call` on the new tensors of its inputs, with
        the arguments and `training` of the original call."""
        new = self.new_layer(call)
        given = {
            id(t): self.tensors[i]
            for t, i in zip(call.node.input_tensors, call.inputs, strict=True)
        }
        args, kwargs = call.node.arguments.fill_in(given)
        context = getattr(call.operation, "_call_context_args", ())
        if call.training is not None and "training" in context:
            kwargs["training"] = call.training
        outputs = keras.tree.flatten(new(*args, **kwargs))
        if id(call) in self.plans:
            outputs = self.learning_block(call, new, args[0], outputs[0])
        for tensor_id, tensor in zip(call.outputs, outputs, strict=True):
            if tensor_id in self.pending:
                parts = self.pending.pop(tensor_id)
                parts["activation"] = new
                tensor = self.finish_block(parts, tensor)
            self.tensors[tensor_id] = tensor

    def run(self, graph, calls, ids) -> tuple:
        """(inputs, outputs) of the new graph, nested as `graph`'s: new inputs
        like the original's, then every call of `calls` in order.

        `ids`: the id in the flattened graph of every original tensor."""
        new_inputs = [
            keras.Input(
                batch_shape=t.shape, dtype=t.dtype, sparse=t.sparse, name=t.name
            )
            for t in graph.inputs
        ]
        for tensor, new_input in zip(graph.inputs, new_inputs, strict=True):
            self.tensors[id(tensor)] = new_input
        for call in calls:
            self(call)
        outputs = [self.tensors[ids[id(t)]] for t in graph.outputs]
        return (
            keras.tree.pack_sequence_as(graph._inputs_struct, new_inputs),
            keras.tree.pack_sequence_as(graph._outputs_struct, outputs),
        )
