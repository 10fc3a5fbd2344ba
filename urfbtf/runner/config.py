"""The settings of one run, declared once and validated before anything is built.

`RUN_SETTINGS` (`urfbtf.runner.run_settings`) declares the runner's settings;
each rule declares its own (`urfbtf.rules.Rule.settings`). `Config` holds a
value for each, `python -m urfbtf` makes its flags from the same declarations,
`config.json` is `Config.to_dict()`, and a resumed run is compared with its
`config.json` on the settings not declared `resumable`.

To add a setting, add one `Setting` to `RUN_SETTINGS` (or to the rule it belongs
to), and read it where it acts: the flag, the `Config` field, `config.json` and
the resume check follow. Then run `python -m urfbtf.runner.config_stub` to
refresh the typed stub `config.pyi` (a test fails until it is current).

Why a generated stub: `Config`'s fields are made from the declarations when this
module is imported, so that none can drift from its setting, and type checkers
and editors do not run that code. Fields written out by hand in this module
would be a second copy of every declaration; the stub is written from the same
declarations, and a test keeps it current, so the one source stays the settings.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from urfbtf import rules
from urfbtf.runner import validation
from urfbtf.runner.run_settings import (
    KERNEL_INITS,
    OPTIMIZERS,
    RUN_SETTINGS,
    declared_settings,
)
from urfbtf.runner.validation import check_data
from urfbtf.settings import Setting

__all__ = [
    "KERNEL_INITS",
    "OPTIMIZERS",
    "RUN_SETTINGS",
    "Config",
    "check_data",
    "declared_settings",
]

# The settings that are fields of `Config`: the runner's and those of the rules
# urfbtf registers itself. A rule registered later (one's own, a test's) keeps
# its settings' values in `Config.added_settings`.
_FIELDS = declared_settings()


class _Settings(type):
    """`Config`'s metaclass: `Config(**values)` refuses a name no setting
    declares, and passes the values of the settings of rules registered after
    this module was imported to the field `added_settings` (with the defaults
    of those not given), since a dataclass's fields are fixed when it is made."""

    def __call__(cls, **values):
        # Given back by dataclasses.replace, which passes every field.
        earlier = dict(values.pop("added_settings", ()))
        declared = declared_settings()
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise TypeError(
                f"Config got unknown settings {', '.join(unknown)}; the declared ones "
                f"are {', '.join(declared)}."
            )
        added = tuple(
            (name, values.pop(name, earlier.get(name, setting.default)))
            for name, setting in declared.items()
            if name not in _FIELDS
        )
        return super().__call__(**values, added_settings=added)


class _Methods(metaclass=_Settings):
    """What a `Config` does besides holding the values (its methods)."""

    __slots__ = ()

    def value(self, name: str) -> Any:
        """The value of the setting `name`: a field, a setting of a rule
        registered later (`added_settings`), or, for a rule registered after
        this config was made, that setting's default."""
        if name in _FIELDS:
            return getattr(self, name)
        added = dict(self.added_settings)
        if name in added:
            return added[name]
        declared = declared_settings()
        if name in declared:
            return declared[name].default
        raise AttributeError(f"Config has no setting {name!r}")

    def replace(self, **changes) -> Config:
        """A copy with `changes` ({name: value}) made."""
        return dataclasses.replace(self, **changes)

    def rule_settings(self) -> dict:
        """The values of the run's rule's own settings."""
        return {s.name: self.value(s.name) for s in rules.get_rule(self.rule).settings}

    def settings(self) -> list[Setting]:
        """The declarations of the settings of this run: the runner's and its
        rule's (a rule that is not registered has none)."""
        rule = rules.RULES.get(self.rule)
        return [*RUN_SETTINGS, *(rule.settings if rule else ())]

    def to_dict(self) -> dict:
        """{name: value} of this run's settings, as `config.json` holds them."""
        return {s.name: self.value(s.name) for s in self.settings()}

    def changes_from(self, previous: dict, *, diverged: bool = False) -> list[str]:
        """The settings (not resumable) in which this run differs from a run
        recorded as `previous` (its `config.json`); a setting the record lacks
        (it predates the setting) counts as its default.

        A run that `diverged` may be resumed with a lower lr (from its last
        finite checkpoint, `urfbtf.runner.divergence`); any other change of lr
        makes another experiment.
        """
        changes = []
        for setting in self.settings():
            before = previous.get(setting.name, setting.default)
            now = self.value(setting.name)
            if setting.resumable or before == now:
                continue
            if setting.name == "lr":
                if diverged and now < before:
                    continue
                changes.append(
                    f"lr: {before!r} -> {now!r} (lr may change only to resume a "
                    "run that diverged, and only downwards)"
                )
                continue
            changes.append(f"{setting.name}: {before!r} -> {now!r}")
        return changes

    def validate(self) -> Config:
        """Returns self, or raises `UsageError` naming the first invalid value
        (`urfbtf.runner.validation.validate`)."""
        validation.validate(self)
        return self

    def run_name(self) -> str:
        """A directory name that identifies the run: net, rule, loss, connectivity,
        seed and untying (re-running the same command then resumes it)."""
        name = f"{self.net}-{self.rule}-{self.loss}-c{self.connectivity:g}-s{self.seed}"
        if self.untie:
            name += "-untied" + ("_all" if self.untie == "all" else "")
            name += f"_after{self.untie_after}" if self.untie_after else ""
        return name

    def __repr__(self) -> str:
        # The settings that differ from their defaults: a run's identity.
        changed = ", ".join(
            f"{name}={self.value(name)!r}"
            for name, setting in declared_settings().items()
            if self.value(name) != setting.default
        )
        return f"Config({changed})"


def _field(setting: Setting) -> tuple[str, Any, dataclasses.Field]:
    kind = setting.type | None if setting.optional else setting.type
    return setting.name, kind, dataclasses.field(default=setting.default)


# A frozen dataclass made from the declarations, so that no field can drift from
# its setting. Type checkers cannot see fields made at run time, so the checked-in
# stub config.pyi, generated from the same declarations
# (`urfbtf.runner.config_stub`), gives them every field with its type.
Config = dataclasses.make_dataclass(
    "Config",
    [
        *(_field(setting) for setting in _FIELDS.values()),
        (
            "added_settings",
            tuple[tuple[str, Any], ...],
            dataclasses.field(default=()),
        ),
    ],
    bases=(_Methods,),
    frozen=True,
    repr=False,
)
Config.__module__ = __name__
Config.__doc__ = """Everything that defines a run (its output directory is given apart).

Build it from keyword arguments, `Config(net="deepernet", rule="frfb")`: every
setting not given takes its declared default (see `RUN_SETTINGS` and the rules'
`settings`). Each setting is a field (`config.lr`); a config is frozen, and
`replace(**changes)` makes a changed copy. The settings of a rule registered
after urfbtf's own are read with `value(name)`.
"""
