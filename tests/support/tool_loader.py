"""Loads a script of tools/ as a module, by its path.

tools/ is not a package and is not on sys.path: each tool is a script run as
`.venv/bin/python tools/<paper>/<name>.py`, importing only the library. A test
that calls a tool's functions loads that one file explicitly, here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.support.paths import REPO

TOOLS = REPO / "tools"


def tool_path(relative: str) -> Path:
    """The path of tools/`relative`, e.g. "gait/precision.py"."""
    path = TOOLS / relative
    if not path.is_file():
        raise FileNotFoundError(f"no tool {path}")
    return path


def load_tool(relative: str) -> ModuleType:
    """tools/`relative` (e.g. "gait/precision.py") as a module, loaded once per
    test session under a name made from its path ("tools.gait.precision")."""
    name = "tools." + relative.removesuffix(".py").replace("/", ".")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, tool_path(relative))
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as an import would: dataclasses and pickling
    # look their module up by name.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
