"""Named experiments: `--experiment=PAPER/CELL` names a packaged flagfile.

The papers' experiments ship as flagfiles inside the package (`urfbtf/flags/`,
which the checkout's `flags/` links to), so a name resolves from any directory,
installed or not. Two papers keep one file per cell in a folder of their own
(`flags/bartunov/`, `flags/gait/`): every file there is an experiment, named by
the folder and the file's stem. Amit's and Frenkel et al.'s experiments are the
top-level flagfiles that `--net` also reads (`flags/deepernet.cfg`), so they are
named here, in a small explicit index, rather than moved: every path the pages
give (`--flagfile=flags/deepernet.cfg`) keeps working.

An experiment's description is its flagfile's first comment line.
"""

from __future__ import annotations

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


def description(path: Path) -> str:
    """The first comment line of a flagfile, without its '#' and without a
    leading "name:" that repeats the file's stem."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip()
            return text.removeprefix(f"{path.stem}:").strip()
    return ""


def listing() -> str:
    """One line per experiment: its name and description, aligned."""
    known = experiments()
    width = max(len(name) for name in known)
    return "\n".join(
        f"{name:<{width}}  {description(path)}" for name, path in known.items()
    )
