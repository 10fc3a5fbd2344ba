"""Named experiments: `--experiment=PAPER/CELL` names a packaged flagfile.

The papers' experiments ship as flagfiles inside the package (`urfbtf/flags/`,
which the checkout's `flags/` links to), so a name resolves from any directory,
installed or not. Two papers keep one file per cell in a folder of their own
(`flags/bartunov/`, `flags/gait/`): every file there is an experiment, named by
the folder and the file's stem. Amit's and Frenkel et al.'s experiments are the
top-level flagfiles that `--net` also reads (`flags/deepernet.cfg`), so they are
named here, in a small explicit index, rather than moved: every path the pages
give (`--flagfile=flags/deepernet.cfg`) keeps working.

An experiment's description is the first sentence of its flagfile's opening\ncomment.
"""

from __future__ import annotations

import re
from pathlib import Path

from urfbtf.errors import UsageError

# urfbtf/flags/: the package data (the checkout's flags/ links here).
FLAGS_DIR = Path(__file__).resolve().parents[1] / "flags"


# Papers whose cells are top-level flagfiles: {paper: the files' stems}.
TOP_LEVEL = {
    # Amit (2019), section 4 and 4.1: the nets trained as the paper trains them,
    # and the tied-then-untied protocols of deepnet_s.
    "amit": (
        "simpnet",
        "deepnet",
        "deepernet",
        "simpnet_s",
        "deepnet_s",
        "deepnet_s_untied",
        "deepnet_s_all",
    ),
    # Frenkel et al. (2021): the synthetic tasks (sec. 2.1, Figs. 2, 3) and the
    # MNIST and CIFAR-10 cells of Tables 1 and 2.
    "frenkel": (
        "synthetic_regression",
        "synthetic_classification",
        "mnist_fc2",
        "cifar10_conv",
    ),
}


def experiments() -> dict[str, Path]:
    """{name: flagfile} of every named experiment, paper by paper."""
    found = {
        f"{paper}/{stem}": FLAGS_DIR / f"{stem}.cfg"
        for paper, stems in TOP_LEVEL.items()
        for stem in stems
    }
    # Papers whose cells are the files of a folder of their own.
    for folder in sorted(path for path in FLAGS_DIR.iterdir() if path.is_dir()):
        for path in sorted(folder.glob("*.cfg")):
            found[f"{folder.name}/{path.stem}"] = path
    return found


def flagfile(name: str) -> Path:
    """The flagfile of the experiment `name`, or a `UsageError` naming the
    valid names."""
    known = experiments()
    if name in known and known[name].is_file():
        return known[name]
    paper = name.partition("/")[0]
    same_paper = [other for other in known if other.startswith(paper + "/")]
    shown = same_paper or list(known)
    papers = ", ".join(sorted({other.partition("/")[0] for other in known}))
    raise UsageError(
        f"--experiment={name!r} is not a named experiment. "
        + (f"The experiments of {paper} are " if same_paper else "The experiments are ")
        + ", ".join(shown)
        + f" (the papers: {papers}; --list_experiments describes each)."
    )


# Abbreviations whose full stop does not end a sentence.
_ABBREVIATIONS = ("al.", "e.g.", "i.e.", "Fig.", "Figs.", "Eq.", "sec.", "cf.")
_LONGEST = 110


def description(path: Path) -> str:
    """The first sentence of a flagfile's opening comment, on one line: without
    its parentheses (citations, file paths), without a leading "name:" or
    "name," that repeats the file's stem, and cut at a word near 110
    characters."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        body = line[1:]
        # An indented line (a command, a layer listing) or an empty one ends the
        # opening paragraph.
        if not body.strip() or body.startswith("  "):
            break
        lines.append(body.strip())
    text = _without_parentheses(" ".join(lines)).strip()
    for prefix in (f"{path.stem}:", f"{path.stem},"):
        text = text.removeprefix(prefix).strip()
    text = _first_sentence(text).rstrip(":;, ")
    if len(text) > _LONGEST:
        text = text[:_LONGEST].rsplit(" ", 1)[0].rstrip(",;:") + " ..."
    return text


def _without_parentheses(text: str) -> str:
    # A parenthesis is an aside (a citation, a path), unless it holds a
    # layer's shape: "LC (5x5, 64, 2)".
    kept, depth = [], 0
    for k, char in enumerate(text):
        shape = re.match(r"\(\d+x\d+", text[k:])
        depth += char == "(" and (depth > 0 or not shape)
        if depth == 0:
            kept.append(char)
        depth -= char == ")" and depth > 0
    return " ".join("".join(kept).split()).replace(" ,", ",").replace(" .", ".")


def _first_sentence(text: str) -> str:
    words = text.split(" ")
    for k, word in enumerate(words):
        if word.endswith(".") and word not in _ABBREVIATIONS and k < len(words) - 1:
            return " ".join(words[: k + 1]).rstrip(".")
    return text.rstrip(".")


def listing() -> str:
    """One line per experiment: its name and description, aligned."""
    known = experiments()
    width = max(len(name) for name in known)
    return "\n".join(
        f"{name:<{width}}  {description(path)}" for name, path in known.items()
    )
