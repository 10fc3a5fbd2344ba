"""The rule registry: every learning rule by the name `--rule` and the layers use.

It imports nothing of urfbtf but `urfbtf.errors` and `urfbtf.arguments`, so that
any module, however low, can resolve a rule's name: a layer holds the rule
object `get_rule` gives it, and never imports the rule families. The families
register themselves when `urfbtf.rules` is imported (which `import urfbtf` does
first), so by the time a layer is made every rule of the library is here; a rule
of one's own is one `register` call (`urfbtf.rules.Rule`). The family that holds
the default rule (Amit 2019's urfb, `urfbtf.rules.DEFAULT_RULE`) registers it as
the default: no module outside `urfbtf.rules` spells a rule's name.
"""

from __future__ import annotations

from urfbtf.arguments import refuse
from urfbtf.errors import UsageError

# name -> rule (an `urfbtf.rules.Rule`), in registration order.
RULES: dict = {}

# The name of the rule of layers and nets that name none (`register`).
_DEFAULT: dict = {"name": None}


def register(rule, *, default: bool = False):
    """Adds `rule` to `RULES`, so that `--rule`, `Config` and the layers accept
    its name and its settings; returns it. `default` makes it the rule of
    layers and nets that name none (`default_rule`)."""
    RULES[rule.name] = rule
    if default:
        _DEFAULT["name"] = rule.name
    return rule


def default_rule():
    """The rule of layers and nets that name none (`urfbtf.rules.DEFAULT_RULE`)."""
    return get_rule(_DEFAULT["name"])


def _is_rule(value) -> bool:
    # A rule object, known by the two things every rule has (`Rule.name` and
    # `Rule.linear`), without importing the class.
    return hasattr(value, "name") and callable(getattr(value, "linear", None))


def get_rule(name):
    """Returns the rule called `name`; a rule object is returned as it is.
    Raises `UsageError` for unknown names."""
    if not isinstance(name, str) and _is_rule(name):
        return name
    if not isinstance(name, str):
        raise refuse(
            "rule",
            name,
            f"a rule name (str) or a urfbtf.rules.Rule; rules: {', '.join(RULES)}",
        )
    if name not in RULES:
        raise UsageError(
            f"Unknown learning rule {name!r}. Valid rules: "
            + "; ".join(f"{r.name} ({r.summary})" for r in RULES.values())
            + "."
        )
    return RULES[name]
