"""Fixtures of the runner's tests."""

import pytest

from tests.support import command


@pytest.fixture
def parse():
    """`parse(*args)`: FLAGS after parsing `urfbtf ARGS`, unparsed afterwards."""
    yield command.parse
    command.FLAGS.unparse_flags()
