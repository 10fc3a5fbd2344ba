"""`urfbtf --help` (and `--helpshort`): the run's own flags, grouped, with defaults.

absl's short help lists only the flags that the main module defines, and the
run's flags are made elsewhere (one per declared setting), so it listed none;
its full help mixes them with absl's, TensorFlow's and tensorflow-datasets'.
This page lists the flags of a run by what they set; `--helpfull` stays absl's,
every flag of the process.
"""

from __future__ import annotations

import textwrap

from urfbtf import rules
from urfbtf.runner.run_settings import (
    data,
    execution,
    model,
    records,
    training,
    untying,
)

# Flags of the command line itself, not settings of a run (urfbtf.runner.main).
COMMAND_FLAGS = (
    "experiment",
    "list_experiments",
    "flagfile",
    "net_settings",
    "model_dir",
    "trials",
)


def groups() -> list[tuple[str, list[str]]]:
    """[(title, flag names)]: every flag of a run, by what it sets."""
    net = [s.name for s in (*model.CHOICE, *model.FORM, *untying.SETTINGS)]
    net.remove("rule")
    rule_settings = []
    for rule in rules.RULES.values():
        rule_settings += [s.name for s in rule.settings if s.name not in rule_settings]
    return [
        (
            "run: which experiment, where it writes, how long it trains",
            [*COMMAND_FLAGS, *(s.name for s in training.SETTINGS)],
        ),
        ("net: the net, its loss and its form (untying included)", net),
        (
            "rule: the learning rule and the rules' own settings",
            ["rule", *rule_settings],
        ),
        (
            "data: the dataset, its files and its preprocessing",
            [s.name for s in data.SETTINGS],
        ),
        (
            "distribution: where and how the steps run",
            [s.name for s in execution.SETTINGS],
        ),
        (
            "records: probes and what happens when a run diverges",
            [s.name for s in records.SETTINGS],
        ),
    ]


def _default(flag) -> str:
    if flag.default is None or flag.default == "":
        return "none" if flag.default is None else "''"
    if isinstance(flag.default, bool):
        return "true" if flag.default else "false"
    return str(flag.default)


def _entry(flag) -> str:
    name = f"--[no]{flag.name}" if flag.boolean else f"--{flag.name}"
    head = f"  {name} (default: {_default(flag)})"
    body = textwrap.fill(
        " ".join((flag.help or "").split()),
        width=88,
        initial_indent="      ",
        subsequent_indent="      ",
    )
    return f"{head}\n{body}" if body.strip() else head


def text(flag_values, program: str = "urfbtf") -> str:
    """The help page of the run's flags, as `flag_values` (absl's FLAGS)
    defines them, grouped; flags it does not define are left out."""
    lines = [
        f"USAGE: {program} [--experiment=PAPER/CELL | --net=NET] [--rule=RULE] [FLAGS]",
        "",
        "Trains one net under one learning rule and records it in --model_dir;",
        "running the same command again resumes it. --list_experiments lists the",
        "papers' experiments; --helpfull lists every flag of the process, absl's,",
        "TensorFlow's and tensorflow-datasets' included.",
    ]
    for title, names in groups():
        entries = [
            _FLAGFILE if name == "flagfile" else _entry(flag_values[name])
            for name in names
            if name == "flagfile" or name in flag_values
        ]
        if entries:
            lines += ["", title, *entries]
    return "\n".join(lines)


# absl reads --flagfile itself; it is no flag of FLAGS.
_FLAGFILE = (
    "  --flagfile=FILE\n"
    "      Read flags from FILE, one --flag=value a line, where this flag stands\n"
    "      (later flags override them); may be repeated."
)


# The arguments that ask for this page (absl's --helpfull and --helpxml stay absl's).
HELP_ARGUMENTS = ("--help", "-help", "--helpshort", "-helpshort", "-h", "-?")
