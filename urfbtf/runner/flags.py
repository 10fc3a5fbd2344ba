"""The command line's absl flags, one per declared setting (`urfbtf.settings.Setting`).

Only the command line (`urfbtf.runner.main`) reads flags; the library takes its
settings as arguments, and the runner as a `urfbtf.runner.config.Config`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from absl import flags

from urfbtf.settings import Setting


def define_flags(settings: Iterable[Setting], flag_values) -> dict[str, Any]:
    """Defines an absl flag for every setting; returns {name: FlagHolder}.

    Choices are checked by `Setting.validate` (with the project's message), not
    by absl, so every flag is a plain string, integer, float or boolean flag.
    """
    define = {
        bool: flags.DEFINE_boolean,
        int: flags.DEFINE_integer,
        float: flags.DEFINE_float,
        str: flags.DEFINE_string,
    }
    holders = {}
    for setting in settings:
        holders[setting.name] = define[setting.type](
            setting.name, setting.default, setting.flag_help(), flag_values=flag_values
        )
    return holders
