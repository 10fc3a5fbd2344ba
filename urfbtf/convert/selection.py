"""Which layers of a model `convert` swaps, and why it cannot swap the others.

Layers with weights that carry the error between units and that no urfbtf
layer replaces (Conv1D, SeparableConv2D, recurrent layers, a Conv2D with
dilation, ...) would keep transporting their weights, which is what the rules
exist to avoid (Amit 2019). They are named, each with its reason, so that
`convert` can refuse them all in one error or keep them. Normalization layers,
PReLU and embeddings are kept silently: their weights act on each unit alone
(or, for an embedding, send no error down), so no weight is transported.
Under the direct rules no error reaches them (the learning layers send none
down).
"""

from __future__ import annotations

from collections.abc import Iterable

import keras

from urfbtf.convert.swaps import CONVERTED, is_swappable, reason_not_converted
from urfbtf.errors import UsageError
from urfbtf.layers import FeedbackLayer, Tap

# Layers kept without complaint although they hold weights: each weight scales
# or shifts one unit (a diagonal backward pass, nothing transported), or sends
# no error down (an embedding's input is an index); taps hold a rule's state.
PER_UNIT = tuple(
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


def reason_not_kept(layer) -> str | None:
    """Why a layer that is not converted would transport weights, or None."""
    if isinstance(layer, FeedbackLayer):
        return "is already an urfbtf layer (convert the original model instead)"
    if not layer.weights or isinstance(layer, PER_UNIT):
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


def select(calls, layers: Iterable[str] | None):
    """The names `layers` asks to convert (None: all); raises `UsageError` for
    a name that is not a convertible layer of the model."""
    if layers is None:
        return None
    wanted = {layers} if isinstance(layers, str) else set(layers)
    found = {call.operation.name: call.operation for call in calls}
    convertible = sorted(n for n, op in found.items() if is_swappable(op))
    problems = []
    for name in sorted(wanted):
        if name not in found:
            problems.append(f"{name!r} is not a layer of the model")
        elif not is_swappable(found[name]):
            problems.append(f"{name!r} is a {type(found[name]).__name__}")
    if problems:
        raise UsageError(
            f"layers={sorted(wanted)}: {'; '.join(problems)}. convert swaps "
            f"{', '.join(CONVERTED)}; this model's are: "
            f"{', '.join(convertible) or 'none'}."
        )
    return wanted


def classify(calls, wanted) -> tuple[set, list[str]]:
    """(ids of the layers to convert, a description of every layer that
    cannot be converted and would keep transporting its weights).

    `wanted`: the names `select` returned (None: every layer it can)."""
    converted, problems, seen = set(), [], set()
    for call in calls:
        layer = call.operation
        if id(layer) in seen or not isinstance(layer, keras.layers.Layer):
            continue
        seen.add(id(layer))
        if is_swappable(layer) and (wanted is None or layer.name in wanted):
            reason = reason_not_converted(layer)
            if reason is None:
                converted.add(id(layer))
                continue
        elif wanted is not None:
            continue  # Layers not named are kept as they are.
        else:
            reason = reason_not_kept(layer)
        if reason is not None:
            problems.append(f"{layer.name!r} ({type(layer).__name__}) {reason}")
    return converted, problems
