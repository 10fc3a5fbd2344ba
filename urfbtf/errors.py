"""Errors that the command line turns into a one-paragraph message and an exit code.

Library code raises these instead of printing; `urfbtf.main` catches them, prints
the message (never a traceback) and exits with `exit_code`.
"""


class UrfbtfError(Exception):
    """A problem the user can fix; the message says what was wrong and what is valid."""

    exit_code = 1


class UsageError(UrfbtfError, ValueError):
    """A bad flag or argument value (exit status 2, like a command-line usage error)."""

    exit_code = 2


class DataError(UrfbtfError):
    """Data that cannot be found, downloaded or decoded (exit status 1)."""

    exit_code = 1
