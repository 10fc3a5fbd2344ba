"""The package imports bottom-up: no import cycle among urfbtf's modules.

The graph is read from the source with `ast`, not by importing: every `import`
and `from ... import` of an urfbtf module, at module level and inside functions
alike (an import placed in a function to dodge a cycle is still a cycle).
`from a.b import c` is an edge to the module a.b.c when there is one, else to
a.b. A package's own `__init__` runs before any of its modules; that implicit
step is how packages work and is no edge, but importing the package itself
(`import urfbtf.rules`, `from urfbtf import rules`) is an edge to its
`__init__`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.support.paths import REPO

PACKAGE = REPO / "urfbtf"
RUNNER = "urfbtf.runner"


def module_name(path: Path) -> str:
    """The dotted name of a module file under PACKAGE (a package's __init__
    is the package)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    """The module a `from` import reads from, its dots resolved against the
    importing module `name`."""
    if not node.level:
        return node.module or ""
    package = name if is_package else name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The urfbtf modules that module `name` (at `path`) imports."""
    found = set()
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, name, path.name == "__init__.py")
            targets = []
            for alias in node.names:
                inner = f"{source}.{alias.name}"
                targets.append(inner if inner in known else source)
        else:
            continue
        found.update(t for t in targets if t == "urfbtf" or t.startswith("urfbtf."))
    return found


def import_graph() -> dict[str, set[str]]:
    """{module: the urfbtf modules it imports}, over every module of urfbtf."""
    found = modules()
    known = set(found)
    return {name: imports(name, path, known) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` as [a, b, ..., a], or None when it has none."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after.
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_reader_sees_every_kind_of_import(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "import urfbtf.errors\n"
        "from urfbtf import rules\n"
        "from urfbtf.rules import base, NAME\n"
        "from . import sibling\n"
        "from .. import graph\n"
        "def late():\n"
        "    from urfbtf.nets import build_net\n"
    )
    known = {
        "urfbtf",
        "urfbtf.errors",
        "urfbtf.rules",
        "urfbtf.rules.base",
        "urfbtf.rules.sibling",
        "urfbtf.graph",
        "urfbtf.nets",
        "urfbtf.nets.builder",
    }
    assert imports("urfbtf.rules.example", source, known) == {
        "urfbtf.errors",
        "urfbtf.rules",
        "urfbtf.rules.base",
        "urfbtf.rules.sibling",
        "urfbtf.graph",
        "urfbtf.nets",
    }


def test_the_cycle_finder_names_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_urfbtf_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50  # The whole package was read.
    cycle = find_cycle(graph)
    assert cycle is None, "Import cycle: " + " -> ".join(cycle)


# `python -m urfbtf` is the runner's command line, so it alone may start the runner.
COMMAND_LINE = "urfbtf.__main__"


def test_no_library_module_imports_the_runner():
    offenders = {
        name: sorted(t for t in targets if t == RUNNER or t.startswith(RUNNER + "."))
        for name, targets in import_graph().items()
        if name not in (RUNNER, COMMAND_LINE) and not name.startswith(RUNNER + ".")
    }
    offenders = {name: found for name, found in offenders.items() if found}
    assert not offenders, f"Library modules import the runner: {offenders}"


# The package's layers, bottom to top, as docs/development.md draws them.
LAYERS = (
    (
        "urfbtf.errors",
        "urfbtf.arguments",
        "urfbtf.settings",
        "urfbtf.registry",
        "urfbtf.losses",
        "urfbtf.metrics",
        "urfbtf.records",
        "urfbtf.alignment",
        "urfbtf.precision",
        "urfbtf.backward",
        "urfbtf.startup",
    ),
    ("urfbtf.layers",),
    ("urfbtf.graph",),
    ("urfbtf.rules",),
    ("urfbtf.nets",),
    (
        "urfbtf.convert",
        "urfbtf.probes",
        "urfbtf.callbacks",
        "urfbtf.data",
        "urfbtf.plot",
        "urfbtf.runs",
    ),
    (RUNNER, COMMAND_LINE),
)
FACADE = "urfbtf"  # Imports the public names of every layer, for `import urfbtf`.


def layer_of(module: str) -> int:
    for level, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names):
            return level
    raise AssertionError(
        f"{module} belongs to no layer: add it to LAYERS here and to the diagram "
        "in docs/development.md"
    )


def test_every_import_goes_down_the_layers():
    upward = [
        f"{name} (L{layer_of(name)}) imports {target} (L{layer_of(target)})"
        for name, targets in import_graph().items()
        if name != FACADE
        for target in sorted(targets)
        if target != FACADE and layer_of(target) > layer_of(name)
    ]
    assert not upward, "Imports up the layers:\n" + "\n".join(upward)


def test_the_development_page_draws_every_layer():
    page = (PACKAGE.parent / "docs" / "development.md").read_text()
    diagram = page.split("```")[1]
    # Each layer's entry: its line "L<n> ..." and the lines below it, up to the next.
    entries = re.split(r"^(?=L\d )", diagram, flags=re.M)
    for level, names in enumerate(LAYERS):
        entry = next(x for x in entries if x.startswith(f"L{level} "))
        for name in names:
            if name != COMMAND_LINE:
                assert name.rpartition(".")[2] in entry, (name, entry)
