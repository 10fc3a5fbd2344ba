"""The learning rules, by family, and the registry that names them.

====================  =======================================  ===============
family                rules                                    module
====================  =======================================  ===============
gradient              bp, frfb, urfb (Amit 2019)               `gradient`
direct feedback       dfa, sdfa, drtp, shallow (Frenkel et     `direct`
                      al. 2021)
target propagation    tp, dtp, sdtp, aosdtp (Bartunov et al.   `target`
                      2018), on `urfbtf.targets`
exact inverses        gait, tp_exact (Ahmad et al. 2020; the   `gait`
                      GAIT-prop ImageNet paper)
====================  =======================================  ===============

Every rule implements the protocol of `urfbtf.rules.base.Rule`; the rest of
urfbtf asks the rule, never its name. `linear` holds the maps linear in their
weights and the backward passes the rules give them; `exact_backprop()` makes
every layer backpropagate exactly (the probes' reference). A new rule is a
`Rule` subclass and one `register` call.
"""

from __future__ import annotations

from urfbtf.errors import UsageError
from urfbtf.rules import direct, gait, gradient, target
from urfbtf.rules.base import Rule, gradients_of
from urfbtf.rules.linear import (
    DENSE,
    LinearMap,
    backprop,
    backprop_forced,
    conv2d_map,
    exact_backprop,
    local_only,
    with_feedback,
)

RULES: dict[str, Rule] = {}


def register(rule: Rule) -> Rule:
    """Adds `rule` to `RULES`, so that `--rule`, `Config` and the layers accept
    its name and its settings; returns it."""
    RULES[rule.name] = rule
    return rule


for _rule in (
    gradient.BP,
    gradient.FRFB,
    gradient.URFB,
    direct.DFA,
    direct.SDFA,
    direct.DRTP,
    direct.SHALLOW,
    target.TP,
    target.DTP,
    target.SDTP,
    target.AOSDTP,
    gait.GAIT,
    gait.TP_EXACT,
):
    register(_rule)

# The rule of layers and runs that name none: Amit (2019)'s.
DEFAULT_RULE = gradient.URFB.name


def get_rule(name: str | Rule) -> Rule:
    """Returns the rule called `name`; raises `UsageError` for unknown names."""
    if isinstance(name, Rule):
        return name
    if name not in RULES:
        raise UsageError(
            f"Unknown learning rule {name!r}. Valid rules: "
            + "; ".join(f"{r.name} ({r.summary})" for r in RULES.values())
            + "."
        )
    return RULES[name]


def rule_of(model) -> Rule:
    """The rule the learning layers of `model` follow; raises `UsageError` when
    they follow none or several."""
    from urfbtf import blocks  # The layers import this package.

    found = {layer.rule.name: layer.rule for layer in blocks.learning_layers(model)}
    if len(found) != 1:
        raise UsageError(
            f"Model {model.name!r} has layers following {len(found)} learning rules "
            f"({', '.join(sorted(found)) or 'none'}); one is needed."
        )
    return next(iter(found.values()))


def linear_rule(rule, linear_map: LinearMap):
    """f(x, kernel, feedback) applying `linear_map` under `rule` (a name or a
    `Rule`): `get_rule(rule).linear(linear_map)`."""
    return get_rule(rule).linear(linear_map)


__all__ = [
    "DENSE",
    "DEFAULT_RULE",
    "RULES",
    "LinearMap",
    "Rule",
    "backprop",
    "backprop_forced",
    "conv2d_map",
    "exact_backprop",
    "get_rule",
    "gradients_of",
    "linear_rule",
    "local_only",
    "register",
    "rule_of",
    "with_feedback",
]
