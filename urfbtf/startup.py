"""The command's start: TensorFlow's log level applied to its first lines too.

TensorFlow reads `TF_CPP_MIN_LOG_LEVEL` for its logging, but the lines it writes
while it loads (oneDNN's notice, the CUDA probe of a CPU machine) come before its
C++ logging is initialized and reach stderr whatever the level, with absl's
notice that they do ("WARNING: All log messages before absl::InitializeLog() is
called are written to STDERR"; abseil-cpp pull requests #1718 and #1957 ask for
the threshold to hold there too). `filtered()` holds back what is written to
stderr while TensorFlow loads and passes on every line but those of a severity
the level hides: INFO from 1, WARNING from 2, ERROR from 3. Only the command
line uses it (`urfbtf/__init__.py`); a program that imports urfbtf keeps
TensorFlow's own behaviour.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

# absl's prefix of a C++ log line: severity, date, time, thread, file:line].
_LOG_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^ \]]+:\d+\] ")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
_BEFORE_INIT = "WARNING: All log messages before absl::InitializeLog() is called"


def level() -> int:
    """TF_CPP_MIN_LOG_LEVEL as TensorFlow reads it (0 when unset or unreadable)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


# On a machine with no CUDA driver TensorFlow says so at INFO, then reports the
# failed driver call that follows from it as an ERROR: an expected absence, no
# error of the run. Where a driver is installed and fails, the line stays.
_NO_DRIVER = "Could not find cuda drivers on your machine"
_CUINIT_FAILED = "failed call to cuInit"


def hidden(line: str, min_level: int, no_driver: bool = False) -> bool:
    """Whether TF_CPP_MIN_LOG_LEVEL=`min_level` hides this line of stderr;
    `no_driver`: TensorFlow found no CUDA driver on this machine."""
    if line.startswith(_BEFORE_INIT):
        return min_level >= 1
    found = _LOG_LINE.match(line)
    if found is None:
        return False
    if no_driver and _CUINIT_FAILED in line:
        return min_level >= 1
    return _SEVERITY[found.group(1)] < min_level


@contextlib.contextmanager
def filtered() -> Iterator[None]:
    """Inside the block, stderr (the file descriptor, which C++ writes to) is
    held back; at its end the lines the log level does not hide are written
    (and with no CUDA driver on the machine, not the failed call to it)."""
    min_level = level()
    if min_level < 1:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode(errors="replace")
            no_driver = _NO_DRIVER in text
            kept = "".join(
                line
                for line in text.splitlines(keepends=True)
                if not hidden(line, min_level, no_driver)
            )
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()
