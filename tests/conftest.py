"""Test-wide setup: the TensorFlow backend for Keras, two logical CPUs, deterministic
TensorFlow, and no network access."""

import os
import socket

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

from urfbtf.runner import train  # noqa: E402

# Both before any TensorFlow op runs, which is the only time TensorFlow accepts
# them. Two logical CPUs let MirroredStrategy run two replicas on one machine;
# deterministic ops (as the command line sets them) make runs reproducible bit
# for bit, which the resume tests rely on.
_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _CPU, [tf.config.LogicalDeviceConfiguration()] * 2
)
train.make_deterministic()


@pytest.fixture(scope="session")
def mirrored():
    """One MirroredStrategy over the two logical CPUs for the whole session: two
    strategy objects in one process reuse collective-op keys, and the second one's
    all-reduce then fails with a shape mismatch."""
    return tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    """Makes every socket connection fail, so that no test can download anything."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        yield
