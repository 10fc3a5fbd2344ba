"""The `urfbtf` command's own path (flag parsing, then `main`), in this process.

A subprocess costs seconds of TensorFlow import; the command's messages and
exit statuses are the same in-process (tests/runner/main_test.py runs the real
command for two cases to show it).
"""

from absl import flags

from urfbtf.runner import main

FLAGS = flags.FLAGS


def parse(*args: str):
    """FLAGS after parsing `urfbtf ARGS` (the caller unparses them)."""
    main.parse_flags(["urfbtf", *args])
    return FLAGS


def run_in_process(args, capsys) -> tuple[int, str]:
    """(exit status, stderr) of `urfbtf ARGS`, run by `main` in this process."""
    try:
        main.parse_flags(["urfbtf", *args])
        main.main(["urfbtf"])
        status = 0
    except SystemExit as stop:
        status = stop.code
    finally:
        FLAGS.unparse_flags()
    return status, capsys.readouterr().err
