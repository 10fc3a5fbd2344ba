"""Pieces of the data errors' messages, which must stay one readable paragraph.

Every reader raises `urfbtf.errors.DataError` or `UsageError` with a message that
says what was wrong and what is valid; these helpers turn the raw material (an
exception, a list of files, a mistyped name) into short phrases for them.
"""

import difflib
import pathlib
import re
from collections.abc import Iterable

# Error messages list at most this many file names, to stay one paragraph.
MAX_LISTED_FILES = 8


def clause(error: BaseException) -> str:
    """The first line of an error's message, prefixed with its type."""
    # TF errors carry their text in .message, wrapped in op and graph context
    # ("{{function_node ...}} text [Op:IteratorGetNext]") that means nothing to users.
    message = (getattr(error, "message", None) or str(error)).strip()
    message = message.splitlines()[0] if message else ""
    message = re.sub(r"\{\{[^}]*\}\}|\[Op:.*$|\[\[.*$", "", message).strip()
    kind = type(error).__name__
    return f"{kind}: {message}" if message else kind


def file_names(paths: Iterable[str | pathlib.Path]) -> str:
    """The paths' base names, comma-separated, the first `MAX_LISTED_FILES` only."""
    names = [pathlib.Path(p).name for p in paths]
    shown = ", ".join(names[:MAX_LISTED_FILES])
    more = len(names) - MAX_LISTED_FILES
    return shown + (f" and {more} more" if more > 0 else "")


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A hint " Did you mean a, b, c?" naming the candidates closest to `name`.

    Returns "" if none is close; otherwise the hint starts with a space, to follow
    a sentence.
    """
    matches = difflib.get_close_matches(name.lower(), list(candidates), n=3)
    return f" Did you mean {', '.join(matches)}?" if matches else ""
