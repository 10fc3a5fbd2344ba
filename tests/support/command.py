"""The `urfbtf` command's own path (flag parsing, then `main`), in this process.

A subprocess costs seconds of TensorFlow import; the command's messages and
exit statuses are the same in-process (tests/runner/main_test.py runs the real
command for two cases to show it).
"""

import contextlib

from absl import flags

from urfbtf.runner import interrupt, main

FLAGS = flags.FLAGS


def parse(*args: str):
    """FLAGS after parsing `urfbtf ARGS` (the caller unparses them)."""
    main.parse_flags(["urfbtf", *args])
    return FLAGS


def run_in_process(args, capsys, handled: bool = False) -> tuple[int, str]:
    """(exit status, stderr) of `urfbtf ARGS`, run by `main` in this process;
    with `handled`, inside the command line's Ctrl-C handler
    (`urfbtf.runner.interrupt.handled`)."""
    try:
        main.parse_flags(["urfbtf", *args])
        with interrupt.handled() if handled else contextlib.nullcontext():
            main.main(["urfbtf"])
        status = 0
    except SystemExit as stop:
        status = stop.code
    finally:
        FLAGS.unparse_flags()
    return status, capsys.readouterr().err
