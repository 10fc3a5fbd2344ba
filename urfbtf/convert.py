"""Turns an existing Keras model into one that learns by a rule of `urfbtf.rules`.

`convert(model, rule)` rebuilds a functional or Sequential model, nested models
and blocks included (the `keras.applications` nets), with every `Dense`,
`Conv2D` and `DepthwiseConv2D` swapped for urfbtf's layer of the same map
(`FeedbackDense`, `FeedbackConv2D`, `FeedbackDepthwiseConv2D`) under `rule`,
as biotorch does for PyTorch models (Sanfiz and Akrout 2021, "Benchmarking the
accuracy and robustness of feedback alignment algorithms").
Each swapped layer keeps its weights, bias, activation, dtype policy and
trainability; its feedback weights R, where the rule has them, are drawn at
random (Glorot uniform, as Amit 2019) or copied from W. Every other layer is
copied with its weights.

The rule is asked, never named (`urfbtf.rules.Rule`): it places its taps on the
learning blocks (`attach`, `attach_output`), decides whether hidden layers
learn, and builds the model that trains the net (`build_model`: for the direct
rules the model whose training step projects their signal). A rule whose
`converts` is False needs nets of its own and is refused.

Nested models are inlined: the rules' taps, the probes and
`urfbtf.blocks.blocks` read a model's learning blocks off its own graph, where
a layer inside a nested model is not. A nested model called with
`training=...` passes it on to each of its layers, as Keras' nested call does.

Layers with weights that carry the error between units and that no urfbtf
layer replaces (Conv1D, SeparableConv2D, recurrent layers, a Conv2D with
dilation, ...) would keep transporting their weights; with `strict=True` they
are all named in one `UsageError`, with `strict=False` they are kept and learn
by backpropagation. Normalization layers, PReLU and embeddings are kept
silently: their weights act on each unit alone (or, for an embedding, send no
error down), so no weight is transported. Under the direct rules no error
reaches them (the learning layers send none down).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import keras
import numpy as np

from urfbtf import graph as blocks
from urfbtf import rules
from urfbtf.errors import UsageError
from urfbtf.layers import (
    FeedbackConv2D,
    FeedbackDense,
    FeedbackDepthwiseConv2D,
    FeedbackLayer,
    Tap,
)
from urfbtf.layers.feedback_layer import check_connectivity

FEEDBACK_CHOICES = ("random", "copy")

# Layers kept without complaint although they hold weights: each weight scales
# or shifts one unit (a diagonal backward pass, nothing transported), or sends
# no error down (an embedding's input is an index); taps hold a rule's state.
_PER_UNIT = tuple(
    getattr(keras.layers, name)
    for name in (
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "RMSNormalization",
        "Normalization",
        "PReLU",
        "Embedding",
    )
    if hasattr(keras.layers, name)
) + (Tap,)

# Options of the Keras layers that urfbtf's layers do not apply: converting a
# layer that uses one would silently change what it computes or learns.
_UNAPPLIED_OPTIONS = (
    "kernel_regularizer",
    "depthwise_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "depthwise_constraint",
    "bias_constraint",
)


def _square_stride(layer) -> str | None:
    if layer.strides[0] != layer.strides[1]:
        return f"strides={layer.strides} (urfbtf's convolutions take one stride)"
    return None


def _why_not_dense(layer) -> str | None:
    if getattr(layer, "lora_enabled", False):
        return "is LoRA-enabled"
    if getattr(layer, "quantization_mode", None):
        return f"is quantized ({layer.quantization_mode})"
    return None


def _why_not_conv(layer) -> str | None:
    if layer.data_format != "channels_last":
        return f"has data_format={layer.data_format!r} (urfbtf's convs are NHWC)"
    if tuple(layer.dilation_rate) != (1, 1):
        return f"has dilation_rate={layer.dilation_rate} (urfbtf's convs have none)"
    if getattr(layer, "groups", 1) != 1:
        return f"has groups={layer.groups}"
    if getattr(layer, "lora_enabled", False):
        return "is LoRA-enabled"
    if layer.padding not in ("same", "valid"):
        return f"has padding={layer.padding!r}"
    return _square_stride(layer)


def _dense(layer, **common):
    return FeedbackDense(layer.units, **common)


def _conv2d(layer, **common):
    return FeedbackConv2D(
        layer.filters,
        layer.kernel_size,
        strides=layer.strides[0],
        padding=layer.padding,
        **common,
    )


def _depthwise_conv2d(layer, **common):
    return FeedbackDepthwiseConv2D(
        layer.kernel_size,
        strides=layer.strides[0],
        padding=layer.padding,
        depth_multiplier=layer.depth_multiplier,
        **common,
    )


# Keras class -> (why a layer of it cannot be converted, its urfbtf layer). Exact
# classes only: a subclass may compute something else in its call.
_CONVERTERS = {
    keras.layers.Dense: (_why_not_dense, _dense),
    keras.layers.Conv2D: (_why_not_conv, _conv2d),
    keras.layers.DepthwiseConv2D: (_why_not_conv, _depthwise_conv2d),
}
CONVERTED = tuple(cls.__name__ for cls in _CONVERTERS)


def _reason_not_converted(layer) -> str | None:
    """Why a layer of a convertible class cannot be converted, or None."""
    why_not, _ = _CONVERTERS[type(layer)]
    for option in _UNAPPLIED_OPTIONS:
        value = getattr(layer, option, None)
        if value is not None:
            return f"has a {option}, which urfbtf's layers do not apply"
    return why_not(layer)


def _reason_not_kept(layer) -> str | None:
    """Why a layer that is not converted would transport weights, or None."""
    if isinstance(layer, FeedbackLayer):
        return "is already an urfbtf layer (convert the original model instead)"
    if not layer.weights or isinstance(layer, _PER_UNIT):
        return None
    if isinstance(layer, keras.Model):
        return (
            "is a subclassed model: convert cannot see its layers (build it "
            "as a functional or Sequential model)"
        )
    names = ", ".join(sorted({w.name for w in layer.weights}))
    return (
        f"holds weights ({names}) that no urfbtf layer replaces (convert swaps "
        f"{', '.join(CONVERTED)})"
    )


# Flattening ------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class _Call:
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


def _graph(model):
    """The functional graph of a model: itself, a Sequential's inner one, or
    None (a subclassed or unbuilt model)."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if isinstance(model, keras.Model) and hasattr(model, "_nodes_by_depth"):
        return model
    return None


def _flatten(graph, ids: dict, training, path, calls: list) -> None:
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
            inner = _graph(operation) if isinstance(operation, keras.Model) else None
            if inner is None:
                for tensor in node.outputs:
                    ids[id(tensor)] = id(tensor)
                calls.append(
                    _Call(
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
            _flatten(inner, ids, inner_training, (*path, operation.name), calls)
            for tensor, inner_output in zip(node.outputs, inner.outputs, strict=True):
                ids[id(tensor)] = ids[id(inner_output)]


# Conversion ------------------------------------------------------------------


def _fresh_name(name: str, taken: set) -> str:
    """`name`, or `name_2`, `name_3`, ... if taken; marks it taken."""
    base, count = name, 1
    while name in taken:
        count += 1
        name = f"{base}_{count}"
    taken.add(name)
    return name


def _unique_names(calls) -> dict:
    """A name for every layer: its own, or, for a nested layer whose name is
    taken, prefixed with the names of the models that held it."""
    names = {}
    for call in calls:
        if not call.path:
            names.setdefault(id(call.operation), call.operation.name)
    taken = set(names.values())
    for call in calls:
        if id(call.operation) not in names:
            name = call.operation.name
            if name in taken:
                name = "_".join((*call.path, name))
            names[id(call.operation)] = _fresh_name(name, taken)
    return names


def _clone(layer, name: str):
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


def _select(calls, layers: Iterable[str] | None):
    """The names `layers` asks to convert (None: all); raises `UsageError` for
    a name that is not a convertible layer of the model."""
    if layers is None:
        return None
    wanted = {layers} if isinstance(layers, str) else set(layers)
    found = {call.operation.name: call.operation for call in calls}
    convertible = sorted(n for n, op in found.items() if type(op) in _CONVERTERS)
    problems = []
    for name in sorted(wanted):
        if name not in found:
            problems.append(f"{name!r} is not a layer of the model")
        elif type(found[name]) not in _CONVERTERS:
            problems.append(f"{name!r} is a {type(found[name]).__name__}")
    if problems:
        raise UsageError(
            f"layers={sorted(wanted)}: {'; '.join(problems)}. convert swaps "
            f"{', '.join(CONVERTED)}; this model's are: "
            f"{', '.join(convertible) or 'none'}."
        )
    return wanted


def _classify(calls, wanted) -> tuple[set, list[str]]:
    """(ids of the layers to convert, a description of every layer that
    cannot be converted and would keep transporting its weights)."""
    converted, problems, seen = set(), [], set()
    for call in calls:
        layer = call.operation
        if id(layer) in seen or not isinstance(layer, keras.layers.Layer):
            continue
        seen.add(id(layer))
        if type(layer) in _CONVERTERS and (wanted is None or layer.name in wanted):
            reason = _reason_not_converted(layer)
            if reason is None:
                converted.add(id(layer))
                continue
        elif wanted is not None:
            continue  # Layers not named are kept as they are.
        else:
            reason = _reason_not_kept(layer)
        if reason is not None:
            problems.append(f"{layer.name!r} ({type(layer).__name__}) {reason}")
    return converted, problems


@dataclasses.dataclass(eq=False)
class _Plan:
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


def _plan_blocks(calls, converted: set, model_outputs: set) -> dict:
    """{id(call): _Plan} for every call of a converted layer: its learning
    block, read off the flattened graph as `urfbtf.blocks.blocks` reads it off
    a model (the layer, then an activation layer that is its only reader)."""
    readers: dict[int, list[_Call]] = {}
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
            and isinstance(found[0].operation, blocks.ACTIVATION_LAYERS)
        ):
            output = found[0].outputs[0]
        plans[id(call)] = _Plan(len(plans), output, output in model_outputs)
    return plans


def _kernel_initializer(layer):
    # DepthwiseConv2D calls its kernel's initializer depthwise_initializer.
    initializer = getattr(layer, "kernel_initializer", None)
    return initializer or layer.depthwise_initializer


class _Rebuilder:
    """Calls the new layers in the order of the flattened graph.

    Args:
        rule: the `Rule`; settings: its settings; num_classes: the net's output
            units (for the rule's taps).
        names: a name for every layer; converted: the ids of the layers to
            convert; plans: the block of every converted call.
        connectivity, seed: see `convert`.
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

    def feedback_layer(self, layer, plan: _Plan):
        """The urfbtf layer that replaces `layer`, under the rule."""
        _, make = _CONVERTERS[type(layer)]
        feedback_init = "glorot_uniform"
        if self.seed is not None:
            feedback_init = keras.initializers.GlorotUniform(
                self.seed + 3 * plan.index + 2
            )
        new = make(
            layer,
            rule=self.rule,
            # The nets never prune their output layer (urfbtf.nets.builder).
            connectivity=1.0 if plan.is_output else self.connectivity,
            use_bias=layer.use_bias,
            kernel_initializer=keras.initializers.serialize(_kernel_initializer(layer)),
            feedback_initializer=feedback_init,
            bias_initializer=keras.initializers.serialize(layer.bias_initializer),
            seed=None if self.seed is None else self.seed + 3 * plan.index,
            name=self.names[id(layer)],
            dtype=layer.dtype_policy,
        )
        # As the nets: a rule whose hidden layers do not learn freezes them.
        learns = plan.is_output or self.rule.hidden_layers_learn
        new.trainable = layer.trainable and learns
        return new

    def new_layer(self, call):
        layer = call.operation
        if id(layer) not in self.made:
            if id(layer) in self.converted:
                new = self.feedback_layer(layer, self.plans[id(call)])
            elif isinstance(layer, keras.layers.Layer):
                new = _clone(layer, self.names[id(layer)])
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
        block = blocks.Block(
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
                name=_fresh_name(f"{new.name}_{name}", self.taken),
                dtype=layer.dtype_policy,
            )
            output = parts["activation"](field)
        if plan.output == call.outputs[0]:
            return [self.finish_block(parts, output)]
        self.pending[plan.output] = parts
        return [output]

    def __call__(self, call) -> None:
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


def convert(
    model: keras.Model,
    rule,
    *,
    connectivity: float = 1.0,
    layers: Iterable[str] | None = None,
    seed: int | None = None,
    feedback: str = "random",
    strict: bool = True,
    rule_settings: Mapping | None = None,
) -> keras.Model:
    """A copy of `model` whose Dense, Conv2D and DepthwiseConv2D layers learn by
    `rule`; compile it before training (for a rule with optimizers of its own,
    with `rule.compile`).

    Args:
        model: a built functional or Sequential Keras model, nested models
            and blocks included. It is not changed.
        rule: a rule name of `urfbtf.rules.RULES` or a `urfbtf.rules.Rule`.
        connectivity: fraction p in (0, 1] of W's and, independently, of R's
            entries kept by fixed random masks (`urfbtf.layers.FeedbackLayer`),
            in every converted layer but the output layer, as urfbtf's nets
            prune; only for rules with feedback weights. Pruned weights are 0.
        layers: names of the layers to convert (default: every Dense, Conv2D
            and DepthwiseConv2D); the others are copied as they are, and only
            the named ones are checked for `strict`.
        seed: an integer that makes R's draws and the masks reproducible (the
            i-th converted layer uses seed + 3i for its masks, seed + 3i + 2
            for R); None draws them from the generators that
            `keras.utils.set_random_seed` seeds.
        feedback: "random": R is drawn Glorot uniform, independently of W;
            "copy": R starts equal to W (under urfb then exactly
            backpropagation, step for step). Rules without R ignore it.
        strict: raise one `UsageError` naming every layer that cannot be
            converted; False keeps those layers as they are.
        rule_settings: the rule's own settings (`rule.settings`; default their
            defaults), e.g. {"feedback_clip": 0.5}.

    Returns:
        An uncompiled model of the rule's model class (`rule.build_model`), a
        functional one: a Sequential comes back functional and nested models
        are inlined, their layers keeping their names unless another layer has
        the name (then prefixed with the nested model's). A layer's own
        activation becomes an `Activation` layer after it, named after both.
        Its outputs equal the original's before training, at connectivity 1.

    Raises:
        UsageError: for a rule that needs nets of its own (`rule.converts`),
            bad arguments, a model without a graph, or layers that cannot be
            converted (with `strict`).
    """
    rule = rules.get_rule(rule)
    if not rule.converts:
        raise UsageError(
            f"Rule {rule.name!r} ({rule.summary}) cannot convert an existing model: "
            "it needs nets of its own. Build one with urfbtf.nets.build_net(..., "
            f"rule={rule.name!r}), or convert to another rule."
        )
    if feedback not in FEEDBACK_CHOICES:
        raise UsageError(
            f"feedback={feedback!r}: valid values are "
            f"{', '.join(repr(c) for c in FEEDBACK_CHOICES)}."
        )
    check_connectivity(connectivity, rule)
    graph = _graph(model)
    if graph is None:
        raise UsageError(
            f"Cannot convert model {getattr(model, 'name', model)!r} "
            f"({type(model).__name__}): convert needs a built functional or "
            "Sequential model (a subclassed model has no graph to rebuild; a "
            "Sequential needs an Input or a first call)."
        )
    ids = {id(t): id(t) for t in graph.inputs}
    calls: list[_Call] = []
    _flatten(graph, ids, None, (), calls)
    converted, problems = _classify(calls, _select(calls, layers))
    if problems and strict:
        raise UsageError(
            f"Cannot convert model {model.name!r} to rule {rule.name!r}: "
            f"{len(problems)} layer{'s' if len(problems) > 1 else ''} would keep "
            "transporting their weights: "
            + "; ".join(problems)
            + ". Pass strict=False to keep them as they are (they then learn by "
            "backpropagation through their own weights), or layers=[...] to "
            "convert only the layers named."
        )

    settings = {s.name: s.default for s in rule.settings}
    settings.update(rule_settings or {})
    rebuild = _Rebuilder(
        rule,
        settings,
        num_classes=int(graph.outputs[0].shape[-1]),
        names=_unique_names(calls),
        converted=converted,
        plans=_plan_blocks(calls, converted, {ids[id(t)] for t in graph.outputs}),
        connectivity=connectivity,
        seed=seed,
    )
    new_inputs = [
        keras.Input(batch_shape=t.shape, dtype=t.dtype, sparse=t.sparse, name=t.name)
        for t in graph.inputs
    ]
    for tensor, new_input in zip(graph.inputs, new_inputs, strict=True):
        rebuild.tensors[id(tensor)] = new_input
    for call in calls:
        rebuild(call)
    result = rule.build_model(
        keras.tree.pack_sequence_as(graph._inputs_struct, new_inputs),
        keras.tree.pack_sequence_as(
            graph._outputs_struct, [rebuild.tensors[ids[id(t)]] for t in graph.outputs]
        ),
        name=model.name,
        settings=settings,
    )
    # Every layer is built now that the graph is: its weights can be set.
    for key, (layer, new) in rebuild.made.items():
        if key in converted:
            _copy_into_feedback_layer(new, layer, feedback)
        elif new is not layer:
            _copy_weights(new, layer)
    return result


def _masked(values: np.ndarray, mask) -> np.ndarray:
    if mask is None:
        return values
    return np.where(keras.ops.convert_to_numpy(mask), values, 0).astype(values.dtype)


def _copy_into_feedback_layer(new: FeedbackLayer, layer, feedback: str) -> None:
    """W and the bias from `layer`; R from W under "copy"; pruned entries 0."""
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    new.kernel.assign(_masked(kernel, new.kernel_mask))
    if new.bias is not None:
        new.bias.assign(keras.ops.convert_to_numpy(layer.bias))
    if new.feedback is not None and feedback == "copy":
        new.feedback.assign(_masked(kernel, new.feedback_mask))


def _copy_weights(new, layer) -> None:
    if len(new.weights) != len(layer.weights):
        raise UsageError(
            f"Cannot copy the weights of layer {layer.name!r} "
            f"({type(layer).__name__}): its copy has {len(new.weights)} weights, "
            f"it has {len(layer.weights)}."
        )
    for target, source in zip(new.weights, layer.weights, strict=True):
        target.assign(source)
