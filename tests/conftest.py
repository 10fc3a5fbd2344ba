"""Test-wide setup: the TensorFlow backend for Keras, deterministic TensorFlow, and
no network access."""

import os
import socket

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from urfbtf import train  # noqa: E402

# Before any TensorFlow op runs, as the command line does: runs in tests are then
# reproducible bit for bit, which the resume tests rely on.
train.make_deterministic()


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    """Makes every socket connection fail, so that no test can download anything."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        yield
