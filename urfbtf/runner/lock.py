"""One writer per run directory: an exclusive lock held for the life of a run.

Two runs writing into one `--model_dir` mix their files silently (every epoch
recorded twice, one run's checkpoint beside the other's settings), which is what
happens when a job scheduler retries a job whose first attempt is still alive.
So a run holds an exclusive `flock` on the file `.lock` in its directory from
before it writes anything until it ends, and a second run is refused at once
with a `RunInUseError` naming the first.

The lock belongs to an open file descriptor, so the kernel releases it whenever
the process ends, SIGKILL included: a killed run never leaves a stale lock. The
file itself stays (it holds the last holder's process id, host and start time,
which a refused run reads back for its message); removing it at the end would
let a run that opened the old file and one that created a new one hold "the"
lock at once.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from absl import logging

from urfbtf.errors import RunFilesError, files_error

try:
    import fcntl
except ImportError:  # Windows has no flock: runs there go unlocked, with a warning.
    fcntl = None

LOCK_NAME = ".lock"

# Filesystems that cannot lock (an NFS mount without its lock service) answer
# with these: the run goes on unlocked rather than not at all.
_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP)


class RunInUseError(RunFilesError):
    """Another live process holds the run directory's lock (exit status 1)."""


@contextlib.contextmanager
def held(model_dir: str | os.PathLike) -> Iterator[None]:
    """Holds the lock of `model_dir`, an existing directory, inside the block.

    Raises:
        RunInUseError: another process holds it; nothing in model_dir changed.
        urfbtf.errors.RunFilesError: the lock file cannot be created.
    """
    descriptor = acquire(model_dir)
    try:
        yield
    finally:
        if descriptor is not None:
            os.close(descriptor)  # Releases the lock.


def acquire(model_dir: str | os.PathLike) -> int | None:
    """Takes the lock of `model_dir` and returns the open file descriptor that
    holds it (closing it, or the process ending, releases the lock); None on a
    filesystem that cannot lock, after a warning."""
    path = Path(model_dir) / LOCK_NAME
    if fcntl is None:
        _warn_unlocked(path, "this system has no flock")
        return None
    try:
        # No O_TRUNC: opening a live run's lock file must not change it.
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise files_error(error, f"create the lock file {path}") from error
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        holder = _read_holder(descriptor)
        os.close(descriptor)
        if error.errno in _NO_LOCKS:
            _warn_unlocked(path, os.strerror(error.errno))
            return None
        if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise files_error(error, f"lock {path}") from error
        raise RunInUseError(in_use_message(Path(model_dir), holder)) from None
    _write_holder(descriptor)
    return descriptor


def refuse_if_held(model_dir: str | os.PathLike) -> None:
    """Raises `RunInUseError` if a live run holds the lock of `model_dir`;
    creates and changes nothing (for a run about to be refused for another
    reason, to which a live run is the better one to give)."""
    if fcntl is None:
        return
    try:
        descriptor = os.open(Path(model_dir) / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return  # No lock file: no run has held it.
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            holder = _read_holder(descriptor)
            raise RunInUseError(in_use_message(Path(model_dir), holder)) from None
    finally:
        os.close(descriptor)


def in_use_message(model_dir: Path, holder: dict | None) -> str:
    """The paragraph of a run refused because `holder` holds `model_dir`."""
    if holder is None:
        # The holder has taken the lock but not yet written who it is.
        who = "another process (which has not yet written its process id there)"
    else:
        who = (
            f"process {holder['pid']} on host {holder['host']}, started "
            f"{holder['started']}"
        )
    return (
        f"{model_dir} is in use by another run, which holds its lock "
        f"{model_dir / LOCK_NAME}: {who}. Two runs in one directory would mix "
        "their files, so this run stopped without changing anything there. Wait "
        "for that run to end, or stop it and run this command again (a stopped run "
        "resumes from its last checkpoint); or pass another --model_dir."
    )


def _warn_unlocked(path: Path, reason: str) -> None:
    logging.warning(
        "Cannot lock %s (%s), so nothing stops a second run from writing into %s "
        "at the same time.",
        path,
        reason,
        path.parent,
    )


def _write_holder(descriptor: int) -> None:
    started = datetime.datetime.now(datetime.timezone.utc)
    text = json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        }
    )
    try:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, (text + "\n").encode(), 0)
    except OSError:
        pass  # The lock holds all the same; a refused run then cannot name us.


def _read_holder(descriptor: int) -> dict | None:
    try:
        found = json.loads(os.pread(descriptor, 4096, 0))
    except (OSError, ValueError):
        return None  # Empty (being written) or not ours.
    if not isinstance(found, dict) or not {"pid", "host", "started"} <= found.keys():
        return None
    return found
