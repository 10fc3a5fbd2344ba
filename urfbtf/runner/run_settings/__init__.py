"""The runner's settings, each declared once (`urfbtf.settings.Setting`), by what
they set: the model (`model`), the data (`data`), training (`training`), where
the steps run (`execution`), untying (`untying`) and the records (`records`).

Defaults are Amit (2019)'s, section 4: plain SGD with step 0.1, batch 500, the
multi-class hinge loss and the saturated linearity with the original code's
slope 0.5. A rule's own settings are declared by the rule
(`urfbtf.rules.Rule.settings`); `urfbtf.runner.config.Config` holds a value for
each.
"""

from __future__ import annotations

from urfbtf import rules
from urfbtf.runner.run_settings import (
    data,
    execution,
    model,
    records,
    training,
    untying,
)
from urfbtf.runner.run_settings.model import KERNEL_INITS
from urfbtf.runner.run_settings.training import ADAM_EPSILON, OPTIMIZERS
from urfbtf.settings import Setting, unique

__all__ = [
    "ADAM_EPSILON",
    "KERNEL_INITS",
    "OPTIMIZERS",
    "RUN_SETTINGS",
    "declared_settings",
]

# In the order of the flags' help and of config.json's keys.
RUN_SETTINGS: tuple[Setting, ...] = (
    *model.CHOICE,
    *data.SETTINGS,
    *training.SETTINGS,
    *execution.SETTINGS,
    *untying.SETTINGS,
    *model.FORM,
    *records.SETTINGS,
)


def declared_settings() -> dict[str, Setting]:
    """{name: Setting}: the runner's and every registered rule's."""
    return unique(
        [*RUN_SETTINGS, *(s for rule in rules.RULES.values() for s in rule.settings)]
    )
