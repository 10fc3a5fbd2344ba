"""The paths every test finds the repository's files by."""

from pathlib import Path

# The checkout: tests/support/paths.py is two folders below it.
REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
SUPPORT = TESTS / "support"
