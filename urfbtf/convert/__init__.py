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

The steps, one module each, in the order `convert` takes them:
  flatten    the model's calls as one flat list, nested models inlined
  selection  which layers to convert, and why the others cannot be
  swaps      the Keras classes swapped and the urfbtf layer that replaces each
  plan       the learning block each converted call becomes
  names      unique names once nested models are inlined
  rebuild    the new graph, call by call, with the rule's taps
  weights    the original weights copied into the new layers
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import keras

from urfbtf import arguments, registry, settings
from urfbtf.convert.flatten import calls_of, functional_graph
from urfbtf.convert.names import unique_names
from urfbtf.convert.plan import plan_blocks
from urfbtf.convert.rebuild import Rebuilder
from urfbtf.convert.selection import classify, select
from urfbtf.convert.swaps import CONVERTED
from urfbtf.convert.weights import copy_into_feedback_layer, copy_weights
from urfbtf.errors import UsageError
from urfbtf.layers.feedback_layer import check_connectivity

__all__ = ["CONVERTED", "FEEDBACK_CHOICES", "convert"]

FEEDBACK_CHOICES = ("random", "copy")


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
    `rule`:

        net = keras.applications.MobileNetV2(weights=None, classes=10)
        model = urfbtf.convert(net, "urfb", seed=0)  # or "frfb", "dfa", ...
        model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy")
        model.fit(x, y)

    Compile it before training (for a rule with optimizers of its own, with
    `rule.compile`).

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
    rule = registry.get_rule(rule)
    if not rule.converts:
        raise UsageError(
            f"Rule {rule.name!r} ({rule.summary}) cannot convert an existing model: "
            "it needs nets of its own. Build one with urfbtf.nets.build_net(..., "
            f"rule={rule.name!r}), or convert to another rule."
        )
    layers = _check_arguments(model, layers=layers, strict=strict)
    arguments.check_integer("seed", seed, "an integer or None", optional=True)
    seed = None if seed is None else int(seed)  # numpy's too, which Keras refuses
    arguments.check_str("feedback", feedback, "'random' or 'copy'")
    if feedback not in FEEDBACK_CHOICES:
        raise UsageError(
            f"feedback={feedback!r}: valid values are "
            f"{', '.join(repr(c) for c in FEEDBACK_CHOICES)}."
        )
    check_connectivity(connectivity, rule)
    graph = functional_graph(model)
    if graph is None:
        raise UsageError(
            f"Cannot convert model {getattr(model, 'name', model)!r} "
            f"({type(model).__name__}): convert needs a built functional or "
            "Sequential model (a subclassed model has no graph to rebuild; a "
            "Sequential needs an Input or a first call)."
        )
    calls, ids = calls_of(graph)
    converted, problems = classify(calls, select(calls, layers))
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

    values = settings.with_defaults(
        rule.settings, rule_settings, owner=f"rule {rule.name!r}"
    )
    rebuild = Rebuilder(
        rule,
        values,
        num_classes=int(graph.outputs[0].shape[-1]),
        names=unique_names(calls),
        converted=converted,
        plans=plan_blocks(calls, converted, {ids[id(t)] for t in graph.outputs}),
        connectivity=connectivity,
        seed=seed,
    )
    inputs, outputs = rebuild.run(graph, calls, ids)
    result = rule.build_model(inputs, outputs, name=model.name, settings=values)
    # Every layer is built now that the graph is: its weights can be set.
    for key, (layer, new) in rebuild.made.items():
        if key in converted:
            copy_into_feedback_layer(new, layer, feedback)
        elif new is not layer:
            copy_weights(new, layer)
    return result


def _check_arguments(model, *, layers, strict) -> list[str] | None:
    """Refuses arguments of the wrong type, naming each (the rule, the
    connectivity, the feedback and the rule's settings are checked where they
    are read); returns the names of `layers` as a list."""
    if not isinstance(model, keras.Model):
        raise arguments.refuse(
            "model", model, "a keras.Model (functional or Sequential, built)"
        )
    arguments.check_bool("strict", strict)
    return arguments.name_list(
        "layers", layers, "a list of layer names, or None for every layer"
    )
