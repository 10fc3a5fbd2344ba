"""What a rule's check may ask of a net, answered from its description.

A rule cannot train every net (a target rule needs blocks that follow each
other directly; an exact-inverse rule needs invertible layers), but the rules
sit below the nets and do not read descriptions: the run's configuration asks
`summary` and hands the rule the answer (`urfbtf.rules.Rule.check`).
"""

from __future__ import annotations

from urfbtf.nets.registry import NETS, get_description
from urfbtf.nets.steps import Conv, Dense, Drop, InvConv, InvDense, Output, Pool, Sum
from urfbtf.rules.base import NetSummary


def summary(net, dropout: float = 0.0) -> NetSummary:
    """The `NetSummary` of `net` (a name or a description), with `dropout` the
    rate of its dropout steps that have none of their own."""
    description = get_description(net)
    without_inverse = tuple(
        f"{step.name} ({type(step).__name__})"
        for step in description
        if isinstance(step, (Pool, Sum))
        or (isinstance(step, Drop) and (step.rate or dropout))
    )
    learning = [
        step
        for step in description
        if isinstance(step, (Conv, Dense, InvConv, InvDense, Output))
    ]
    fixed_above_first = tuple(
        step.name
        for step in learning[1:]
        if not isinstance(step, (InvConv, InvDense))
        and not (isinstance(step, Output) and step.square)
    )
    narrowed = tuple(
        step.name
        for step in description
        if isinstance(step, (InvConv, InvDense)) and step.keep is not None
    )
    square_output = any(
        isinstance(step, Output) and step.square for step in description
    )
    return NetSummary(without_inverse, fixed_above_first, narrowed, square_output)


def trainable_by(rule, dropout: float = 0.0) -> list[str]:
    """The names of the nets (`NETS`) that `rule` does not refuse
    (`urfbtf.rules.Rule.refuses`), with `dropout` as in `summary`."""
    return [name for name in NETS if rule.refuses(summary(name, dropout)) is None]
