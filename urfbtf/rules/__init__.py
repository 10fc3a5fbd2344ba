"""The learning rules, by family, and the registry that names them.

====================  =======================================  ===============
family                rules                                    module
====================  =======================================  ===============
gradient              bp, frfb, urfb (Amit 2019)               `gradient`
direct feedback       dfa, sdfa, drtp, shallow (Frenkel et     `direct`
                      al. 2021)
target propagation    tp, dtp, sdtp, aosdtp (Bartunov et al.   `target`
                      2018)                                    (`propagation`)
exact inverses        gait, tp_exact (Ahmad et al. 2020; the   `target`
                      GAIT-prop ImageNet paper)                (`gait`)
====================  =======================================  ===============

Every rule implements the protocol of `urfbtf.rules.base.Rule`; the rest of
urfbtf asks the rule, never its name. The target rules and the model they train
share one package, `target`. The registry of names (`RULES`, `register`,
`get_rule`) is `urfbtf.registry`, which imports no rule, so that the layers can
look rules up; importing this package registers every family there, and
`DEFAULT_RULE` as the default. `urfbtf.backward.linear` holds the maps linear
in their weights and the backward passes the rules give them;
`exact_backprop()` makes every layer backpropagate exactly (the probes'
reference). A new rule is a `Rule` subclass and one `register` call.
"""

from __future__ import annotations

from urfbtf.backward.linear import (
    DENSE,
    LinearMap,
    backprop,
    backprop_forced,
    conv2d_map,
    exact_backprop,
    local_only,
    with_feedback,
)
from urfbtf.registry import RULES, get_rule, register
from urfbtf.rules import direct, gradient, target
from urfbtf.rules.base import NetSummary, Rule, gradients_of, rule_of

# The rule of layers and runs that name none: Amit (2019)'s.
DEFAULT_RULE = gradient.URFB.name

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
    target.GAIT,
    target.TP_EXACT,
):
    register(_rule, default=_rule.name == DEFAULT_RULE)


def linear_rule(rule, linear_map: LinearMap):
    """f(x, kernel, feedback) applying `linear_map` under `rule` (a name or a
    `Rule`): `get_rule(rule).linear(linear_map)`."""
    return get_rule(rule).linear(linear_map)


__all__ = [
    "DENSE",
    "DEFAULT_RULE",
    "RULES",
    "LinearMap",
    "NetSummary",
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
