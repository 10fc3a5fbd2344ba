"""The house style is checked by machine: ruff's lint rules and formatter
(configured in pyproject.toml) pass on the whole repository."""

import subprocess
import sys

from tests.support.paths import REPO


def test_ruff_lint_passes():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "urfbtf", "tests", "tools"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def test_ruff_format_leaves_every_file_unchanged():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "urfbtf", "tests", "tools"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]
