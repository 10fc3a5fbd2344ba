"""urfbtf.startup: TF_CPP_MIN_LOG_LEVEL applied to the lines TensorFlow writes
before its logging reads it."""

import os

import pytest

from urfbtf import startup

ONEDNN = (
    "I0000 00:00:1796679771.670713   32392 port.cc:153] oneDNN custom operations "
    "are on.\n"
)
SLOW = "W0000 00:00:1796679771.6   32392 gpu.cc:12] a warning\n"
CUINIT = (
    "E0000 00:00:1796679778.585644   32392 cuda_platform.cc:52] failed call to "
    "cuInit: INTERNAL: CUDA error\n"
)
BEFORE = (
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR\n"
)


@pytest.mark.parametrize(
    "level,shown",
    [
        (1, [SLOW, CUINIT, "Traceback: a Python line\n"]),
        (2, [CUINIT, "Traceback: a Python line\n"]),
        (3, ["Traceback: a Python line\n"]),
    ],
)
def test_each_level_hides_the_severities_below_it(level, shown):
    lines = [BEFORE, ONEDNN, SLOW, CUINIT, "Traceback: a Python line\n"]
    assert [line for line in lines if not startup.hidden(line, level)] == shown


def test_a_failed_cuinit_is_hidden_only_on_a_machine_without_a_driver():
    assert startup.hidden(CUINIT, 2, no_driver=True)
    assert not startup.hidden(CUINIT, 2, no_driver=False)
    assert not startup.hidden(CUINIT, 0, no_driver=True)


def test_filtered_holds_back_stderr_and_passes_on_what_the_level_shows(
    monkeypatch, capfd
):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    with startup.filtered():
        os.write(2, (BEFORE + ONEDNN + SLOW + "kept\n").encode())
    assert capfd.readouterr().err == "kept\n"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    with startup.filtered():
        os.write(2, ONEDNN.encode())
    assert capfd.readouterr().err == ONEDNN
