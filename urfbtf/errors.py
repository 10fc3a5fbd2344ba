"""Errors that the command line turns into a one-paragraph message and an exit code.

Library code raises these instead of printing; `urfbtf.runner.main` catches them, prints
the message (never a traceback) and exits with `exit_code`: 2 for bad settings, 1
for data or files that cannot be read or written, 3 for a run that diverged.
"""

from __future__ import annotations

import errno


class UrfbtfError(Exception):
    """A problem the user can fix; the message says what was wrong and what is valid."""

    exit_code = 1


class UsageError(UrfbtfError, ValueError):
    """A bad flag or argument value (exit status 2, like a command-line usage error)."""

    exit_code = 2


class DataError(UrfbtfError):
    """Data that cannot be found, downloaded or decoded (exit status 1)."""

    exit_code = 1


class RunFilesError(UrfbtfError):
    """A run directory that cannot be created or written (a full disk, a path
    inside a file, no permission), or that holds files a run of urfbtf did not
    write (exit status 1)."""

    exit_code = 1


class DivergenceError(UrfbtfError):
    """A run whose loss or state became non-finite (NaN or infinite), stopped at
    that step (exit status 3, so that scripts can tell it from bad input)."""

    exit_code = 3


# Why a write failed, in words, for the errors a run directory meets in practice.
_REASONS = {
    errno.ENOSPC: "the disk is full (no space left on the device)",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the filesystem is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "the operation is not permitted",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EEXIST: "a file of that name is in the way",
    errno.EISDIR: "a directory of that name is in the way",
}


def files_error(error: OSError, doing: str) -> RunFilesError:
    """A `RunFilesError` for `error`, raised while `doing` ("write config.json
    in runs/x"), that says why in words and what to do."""
    reason = _REASONS.get(error.errno) or error.strerror or str(error)
    named = error.filename and str(error.filename) not in doing
    where = f" ({error.filename})" if named else ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = (
            "Free some space there and run the same command again: the run "
            "resumes from its last checkpoint."
        )
    else:
        advice = "Pass a --model_dir that can be created and written, or fix that path."
    return RunFilesError(f"Could not {doing}: {reason}{where}. {advice}")
