"""Command line: `urfbtf --net=deepernet --rule=urfb [FLAGS]` (also `python -m
urfbtf`, which `./run.sh` runs, and `python -m urfbtf.runner.main`).

The paper's settings for the chosen net are read first from `flags/<net>.cfg`
(package data, `urfbtf/flags/`); every flag given on the command line, including
`--flagfile=...`, overrides them. This is the only module that reads flags: it
turns them into a `urfbtf.runner.config.Config` and calls `urfbtf.runner.run`, or
for several seeds (`--trials`) `urfbtf.runner.trials.run_trials`.

Bad input ends with a one-paragraph message on stderr, never with a traceback,
and an exit status: 2 for bad settings, 1 for data that cannot be read or
downloaded and for a run directory that cannot be written (a full disk) or holds
other files or that another live run holds (`urfbtf.runner.lock`), 3 for a run
that diverged (its loss became NaN or infinite; see `urfbtf.runner.divergence`).
Ctrl-C ends a run with one line, which says at which epoch and that the same
command resumes it, and status 130 (`urfbtf.runner.interrupt`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags, logging

from urfbtf import nets
from urfbtf.errors import UrfbtfError, UsageError, files_error
from urfbtf.runner import config as config_lib
from urfbtf.runner import interrupt, train, trials
from urfbtf.runner.flags import define_flags

FLAGS = flags.FLAGS
# One flag per declared setting: the runner's and every registered rule's.
_SETTINGS = define_flags(config_lib.declared_settings().values(), FLAGS)
_NET = _SETTINGS["net"]
# Settings of the command line itself, not of the run.
_NET_SETTINGS = flags.DEFINE_boolean(
    "net_settings",
    True,
    "Read the paper's settings for --net from flags/<net>.cfg before the other flags.",
)
_TRIALS = flags.DEFINE_integer(
    "trials",
    1,
    "Run this many seeds (seed, seed+1, ...) and report the mean and "
    "standard deviation of the test error averaged over the last 10 epochs.",
)
_MODEL_DIR = flags.DEFINE_string(
    "model_dir",
    None,
    "Output directory; default runs/<net>-<rule>-<loss>-c<connectivity>-s<seed>. "
    "Re-running with the same directory resumes.",
)
# The nets' flagfiles ship inside the package (the checkout's flags/ links here),
# so an installed `urfbtf` command finds them too.
_PACKAGE_FLAGS_DIR = Path(__file__).resolve().parents[1] / "flags"


def _fail(error: Exception) -> None:
    print(f"urfbtf: error: {error}", file=sys.stderr)
    sys.exit(getattr(error, "exit_code", 2))


def net_flagfile(net: str) -> Path:
    """flags/<net>.cfg of the installed package (or of the current directory)."""
    for directory in (_PACKAGE_FLAGS_DIR, Path.cwd() / "flags"):
        if (directory / f"{net}.cfg").is_file():
            return directory / f"{net}.cfg"
    raise UsageError(
        f"The paper's settings for --net={net} (flags/{net}.cfg) were not found in "
        f"{_PACKAGE_FLAGS_DIR} or ./flags. Reinstall urfbtf (its flagfiles are "
        "package data), or pass --nonet_settings to use only the flags you give."
    )


def _last_value(args: list[str], name: str, default):
    """The last value of --name=VALUE (or --name / --noname for booleans)."""
    value = default
    for arg in args:
        if arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
        elif arg == f"--{name}":
            value = True
        elif arg == f"--no{name}":
            value = False
    return value


def parse_flags(argv: list[str]) -> list[str]:
    """Parses argv with the net's flagfile first; usage errors exit with status 2."""
    try:
        expanded = FLAGS.read_flags_from_files(argv[1:], force_gnu=False)
        net = _last_value(expanded, "net", _NET.default)
        if _last_value(expanded, "net_settings", True) and net in nets.NETS:
            argv = [argv[0], f"--flagfile={net_flagfile(net)}", *argv[1:]]
        return FLAGS(argv)
    except flags.Error as error:
        _fail(UsageError(f"{error}. See --helpfull for every flag and its values."))
    except UsageError as error:
        _fail(error)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        _fail(
            UsageError(f"Unexpected arguments {argv[1:]}: every setting is a --flag.")
        )
    if not FLAGS["verbosity"].present:
        # tensorflow-datasets logs its lookups at INFO; keep the output to what
        # the run itself says.
        logging.set_verbosity(logging.WARNING)
    # Every setting the command line gave, and the defaults of the others.
    config = config_lib.Config(
        **{name: holder.value for name, holder in _SETTINGS.items()}
    )
    try:
        if _TRIALS.value < 1:
            raise UsageError(f"trials={_TRIALS.value} must be 1 or more.")
        if _TRIALS.value > 1:
            trials.run_trials(config, _TRIALS.value, _MODEL_DIR.value)
        else:
            train.run(config, _MODEL_DIR.value)
    except UrfbtfError as error:
        _fail(error)
    except OSError as error:
        # Any other failure on the run's files: still one paragraph, status 1.
        _fail(files_error(error, "read or write the run's files"))


def cli() -> None:
    """The `urfbtf` command (and `python -m urfbtf`): what `./run.sh` runs."""
    with interrupt.handled():
        app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    cli()
