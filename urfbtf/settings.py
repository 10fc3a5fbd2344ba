"""A setting, declared once: name, type, default, help, valid values, resumability.

Every setting of a run is one `Setting`: the runner's own in
`urfbtf.runner.run_settings` (`RUN_SETTINGS`) and each learning rule's in its
`settings` attribute (`urfbtf.rules.Rule`). Everything else is derived from these
declarations: the command line's absl flags (`urfbtf.runner.flags`), the fields
of `urfbtf.runner.config.Config`, what `config.json` holds, the check that a
resumed run keeps its settings, and the refusal of a setting that does not apply
to the chosen net, rule or data.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from urfbtf.arguments import check_mapping, refuse
from urfbtf.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting of a run.

    Attributes:
        name: the flag's and the `Config` field's name.
        type: bool, int, float or str. A float setting holds a finite number:
            NaN and the infinities are refused whatever its `check` says, so
            that no rate, scale or step runs at infinity and diverges for a
            reason the run cannot name.
        default: the value when the setting is not given; None only if `optional`.
        help: one line for `--help` and the README's flag table.
        choices: the valid values (or a function returning them, for registries
            that grow, such as the nets); a value outside them is refused with
            "name=value is invalid. Valid values: ...".
        check: a predicate a valid value satisfies; `valid` says in words what it
            accepts ("a positive integer").
        validator: a function that raises `UsageError` with its own message for
            an invalid value (for settings whose owner already words that
            message, such as the net and rule registries).
        optional: None ("unset") is a valid value.
        resumable: a stopped run may be continued with another value (more
            epochs, another device) without becoming another experiment.
        applies: config -> None when the setting applies to that run, or the
            reason it does not ("net simpnet has no open dropout"); a setting
            that does not apply must keep its default.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple | Callable[[], Iterable] | None = None
    check: Callable[[Any], bool] | None = None
    valid: str = ""
    validator: Callable[[Any], Any] | None = None
    optional: bool = False
    resumable: bool = False
    applies: Callable[[Any], str | None] | None = None

    def valid_choices(self) -> tuple:
        choices = self.choices() if callable(self.choices) else self.choices
        return tuple(choices or ())

    def validate(self, value) -> None:
        """Raises `UsageError` naming `value` unless it is valid."""
        if value is None and self.optional:
            return
        if not _has_type(value, self.type):
            kind = _TYPE_WORDS.get(self.type, f"a {self.type.__name__}")
            raise refuse(
                self.name, value, f"{kind}: {self.valid}" if self.valid else kind
            )
        if self.type is float and not _finite(value):
            raise UsageError(
                f"{self.name}={value!r} is invalid: expected a finite number"
                f"{' (' + self.valid + ')' if self.valid else ''}, not NaN or "
                "infinity."
            )
        if self.validator is not None:
            self.validator(value)
        if self.choices is not None and value not in self.valid_choices():
            raise UsageError(
                f"{self.name}={value!r} is invalid. Valid values: "
                f"{', '.join(map(str, self.valid_choices()))}."
            )
        if self.check is not None and not self.check(value):
            raise UsageError(
                f"{self.name}={value!r} is invalid: expected {self.valid}."
            )

    def check_applies(self, value, config) -> None:
        """Raises `UsageError` when a setting that does not apply was changed."""
        if self.applies is None or value == self.default:
            return
        reason = self.applies(config)
        if reason is not None:
            raise UsageError(
                f"{self.name}={value!r} does not apply to this run: {reason}. Leave "
                f"it at its default ({self.default!r}) or change what it needs."
            )

    def flag_help(self) -> str:
        if self.choices is not None:
            return f"{self.help} One of: {', '.join(map(str, self.valid_choices()))}."
        return self.help


# What a value of each type of setting is, in an error message.
_TYPE_WORDS = {
    bool: "True or False",
    int: "an integer",
    float: "a number",
    str: "a string",
}


def _has_type(value, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def _finite(number) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int too large for a float
        return False


def with_defaults(
    settings: Iterable[Setting], given: Mapping | None, *, owner: str
) -> dict[str, Any]:
    """{name: value} of `settings`: `given` ({name: value}, the API's
    `rule_settings`) over their defaults. Raises `UsageError` for a name none
    of them declares (naming those that are, of `owner`, "rule 'tp'") and for
    an invalid value (`Setting.validate`)."""
    check_mapping(
        "rule_settings", given, f"a mapping {{name: value}} of the settings of {owner}"
    )
    declared = {setting.name: setting for setting in settings}
    unknown = sorted(set(given or {}) - set(declared), key=str)
    if unknown:
        raise UsageError(
            f"rule_settings names {', '.join(map(repr, unknown))}, which {owner} "
            f"does not have; its settings are: {', '.join(declared) or 'none'}."
        )
    values = {name: setting.default for name, setting in declared.items()}
    for name, value in (given or {}).items():
        declared[name].validate(value)
        values[name] = value
    return values


def unique(settings: Iterable[Setting]) -> dict[str, Setting]:
    """{name: setting}, in order; a name declared twice must be declared alike
    (the direct rules share theirs)."""
    found: dict[str, Setting] = {}
    for setting in settings:
        if setting.name in found and found[setting.name] != setting:
            raise ValueError(
                f"Setting {setting.name!r} is declared twice, differently."
            )
        found.setdefault(setting.name, setting)
    return found
