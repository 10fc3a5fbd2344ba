"""Command line: `urfbtf --net=deepernet --rule=urfb [FLAGS]` (also `python -m
urfbtf`, which `./run.sh` runs, and `python -m urfbtf.runner.main`).

The paper's settings for the chosen net are read first from `flags/<net>.cfg`
(package data, `urfbtf/flags/`); every flag given on the command line, including
`--flagfile=...` and `--experiment=PAPER/CELL` (a packaged flagfile by name,
`urfbtf.runner.experiments`), overrides them. `--help` lists the run's flags by
group (`urfbtf.runner.help`). This is the only module that reads flags: it
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
from urfbtf.runner import experiments, interrupt, train, trials
from urfbtf.runner import help as help_page
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
_EXPERIMENT = flags.DEFINE_string(
    "experiment",
    None,
    "A paper's experiment by name, e.g. bartunov/mnist_fc_sdtp_parallel or "
    "amit/deepernet: its packaged flagfile is read where this flag stands, so "
    "later flags override it. --list_experiments lists them.",
)
_LIST_EXPERIMENTS = flags.DEFINE_boolean(
    "list_experiments",
    False,
    "List the named experiments, each with its one-line description, and exit.",
)
# The nets' flagfiles ship inside the package (the checkout's flags/ links here),
# so an installed `urfbtf` command finds them too.
_PACKAGE_FLAGS_DIR = experiments.FLAGS_DIR
# The flagfiles and named experiment that the command line applied, in order,
# for the run's first line (`urfbtf.runner.announce`).
_settings_from: list[str] = []


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


def _with_experiments(args: list[str]) -> list[str]:
    """`args` (flagfiles expanded) with each --experiment=NAME preceded by the
    flags of its packaged flagfile, so that the flags after it override them."""
    result = []
    for index, arg in enumerate(args):
        name = None
        if arg.startswith("--experiment="):
            name = arg.split("=", 1)[1]
        elif arg == "--experiment" and index + 1 < len(args):
            name = args[index + 1]
        if name is not None:
            path = experiments.flagfile(name)
            read = FLAGS.read_flags_from_files([f"--flagfile={path}"], False)
            if path.stem in nets.NETS and not _last_value(read, "net", None):
                # A net's own flagfile (amit/deepernet) names no net: its name does.
                read = [f"--net={path.stem}", *read]
            result += read
        result.append(arg)
    return result


def _given(args: list[str]) -> list[str]:
    """The flagfiles and named experiments of the command line itself, in
    order, as the run's first line names them."""
    found = []
    for index, arg in enumerate(args):
        name, _, value = arg.partition("=")
        if name in ("--flagfile", "--experiment") and not value:
            value = args[index + 1] if index + 1 < len(args) else ""
        if name == "--flagfile":
            found.append(value)
        elif name == "--experiment":
            found.append(f"experiment {value}")
    return found


def parse_flags(argv: list[str]) -> list[str]:
    """Parses argv with the net's flagfile first; usage errors exit with status 2.

    --help and --helpshort print the run's flags, grouped (`urfbtf.runner.help`);
    --helpfull stays absl's list of every flag of the process.
    """
    if any(arg in help_page.HELP_ARGUMENTS for arg in argv[1:]):
        print(help_page.text(FLAGS))
        sys.exit(0)
    _settings_from.clear()
    try:
        expanded = FLAGS.read_flags_from_files(argv[1:], force_gnu=False)
        expanded = _with_experiments(expanded)
        net = _last_value(expanded, "net", _NET.default)
        if _last_value(expanded, "net_settings", True) and net in nets.NETS:
            expanded = [f"--flagfile={net_flagfile(net)}", *expanded]
            _settings_from.append(f"flags/{net}.cfg")
        _settings_from.extend(_given(argv[1:]))
        return FLAGS([argv[0], *expanded])
    except flags.Error as error:
        _fail(UsageError(f"{error}. See --help for the run's flags and their values."))
    except UsageError as error:
        _fail(error)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        _fail(
            UsageError(f"Unexpected arguments {argv[1:]}: every setting is a --flag.")
        )
    if _LIST_EXPERIMENTS.value:
        print(experiments.listing())
        return
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
            trials.run_trials(
                config, _TRIALS.value, _MODEL_DIR.value, settings_from=_settings_from
            )
        else:
            train.run(config, _MODEL_DIR.value, settings_from=_settings_from)
    except UrfbtfError as error:
        _fail(error)
    except OSError as error:
        # Any other failure on the run's files: still one paragraph, status 1.
        _fail(files_error(error, "read or write the run's files"))


def cli() -> None:
    """The `urfbtf` command (and `python -m urfbtf`): what `./run.sh` runs."""
    try:
        with interrupt.handled():
            app.run(main, flags_parser=parse_flags)
    except SystemExit as exit_:
        if exit_.code != interrupt.EXIT_STATUS:
            raise
        # Training defers a Ctrl-C to the end of a step (`interrupt.deferred`),
        # but one that lands elsewhere in TensorFlow's code (reading the data,
        # building the model) may leave its objects half made, and tearing them
        # down can crash the interpreter (SIGSEGV, status -11 instead of 130).
        # Everything the run keeps is already on disk and the kernel releases
        # its lock, so the process ends here, without that teardown.
        interrupt.exit_now()


if __name__ == "__main__":
    cli()
