"""One writer per run directory: a second run on a live directory exits 1 at
once, names the live run and changes nothing there; a lock left by a killed
run blocks nothing; a directory refused for other reasons gets no lock file."""

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.support import killed_run
from tests.support.paths import REPO
from urfbtf.errors import RunFilesError
from urfbtf.records import read_records
from urfbtf.runner import checkpoint, lock, run_dir, trials
from urfbtf.runner.config import Config

SMALL = dict(
    dataset="cifar10_sample",
    batch_size=50,
    train_examples=100,
    val_examples=50,
    eval_batch_size=500,
    epochs=3,
)
COMMAND = [sys.executable, "-m", "urfbtf", *(f"--{k}={v}" for k, v in SMALL.items())]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
# What a run's records hold of the clock and of the machine's state, not of
# the experiment: left out when two runs' files are compared.
WALL_CLOCK_KEYS = {
    "epoch_seconds",
    "train_seconds",
    "examples_per_second",
    "peak_rss_mb",
}


# The lock module by itself (fast).


def test_a_held_directory_is_refused_naming_its_holder(tmp_path):
    with lock.held(tmp_path):
        written = (tmp_path / lock.LOCK_NAME).read_bytes()
        holder = json.loads(written)
        assert holder["pid"] == os.getpid()
        assert holder["host"] == socket.gethostname()
        with pytest.raises(lock.RunInUseError) as refused:
            lock.acquire(tmp_path)  # Another open file: another holder.
        assert isinstance(refused.value, RunFilesError)  # Exit status 1.
        message = str(refused.value)
        assert f"process {os.getpid()} on host {socket.gethostname()}" in message
        assert holder["started"] in message and "--model_dir" in message
        assert (tmp_path / lock.LOCK_NAME).read_bytes() == written  # Untouched.
    descriptor = lock.acquire(tmp_path)  # Released at the end of the block.
    os.close(descriptor)


def test_a_lock_of_a_killed_process_blocks_nothing(tmp_path):
    # A holder that is not urfbtf (no TensorFlow to import): the kernel's lock
    # and the file's contents are all a run leaves.
    holder_code = (
        "import fcntl, json, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "started = '2026-01-01 00:00:00 UTC'\n"
        "info = {'pid': os.getpid(), 'host': 'node7', 'started': started}\n"
        "os.write(fd, json.dumps(info).encode())\n"
        "print('locked', flush=True)\n"
        "time.sleep(600)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code, str(tmp_path / lock.LOCK_NAME)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(lock.RunInUseError, match=f"process {holder.pid} on host"):
            lock.acquire(tmp_path)
    finally:
        holder.kill()  # SIGKILL: the process cannot release anything itself.
        holder.wait()
    with lock.held(tmp_path):
        assert json.loads((tmp_path / lock.LOCK_NAME).read_text())["pid"] == os.getpid()


def test_without_flock_a_run_goes_on_unlocked(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "fcntl", None)  # As on Windows.
    with lock.held(tmp_path), lock.held(tmp_path):
        pass
    lock.refuse_if_held(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_on_a_filesystem_without_locks_a_run_goes_on_unlocked(tmp_path, monkeypatch):
    def no_locks(descriptor, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(lock.fcntl, "flock", no_locks)  # NFS without lockd.
    with lock.held(tmp_path), lock.held(tmp_path):
        pass


def test_a_foreign_directory_is_refused_without_a_lock_file(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch-000001.npz").write_bytes(b"someone's")
    with pytest.raises(RunFilesError, match="config.json is missing"):
        with run_dir.claimed(Config(**SMALL), tmp_path):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints"]


def test_a_live_run_is_named_before_other_reasons_to_refuse(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch-000001.npz").write_bytes(b"someone's")
    with lock.held(tmp_path):
        with pytest.raises(lock.RunInUseError, match=f"process {os.getpid()}"):
            with run_dir.claimed(Config(**SMALL), tmp_path):
                pass


def test_trials_on_a_held_directory_touch_no_trial(tmp_path):
    with lock.held(tmp_path):
        with pytest.raises(lock.RunInUseError):
            trials.run_trials(Config(**SMALL), 2, tmp_path, verbose=0)
    assert [p.name for p in tmp_path.iterdir()] == [lock.LOCK_NAME]


# Two real runs (slow).


def _start(model_dir, *args):
    return subprocess.Popen(
        [*COMMAND, *args, f"--model_dir={model_dir}"],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _run(model_dir, *args):
    return subprocess.run(
        [*COMMAND, *args, f"--model_dir={model_dir}"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _wait_for(path: Path, process, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.05)


def _one_paragraph(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    error = stderr[stderr.index("urfbtf: error:") :]
    assert len(error.strip().splitlines()) == 1, error
    return error


def _events(path: Path) -> list:
    """The scalars of a TensorBoard events file, without their wall times."""
    scalars = []
    for event in tf.compat.v1.train.summary_iterator(str(path)):
        for value in event.summary.value:
            if value.tag not in WALL_CLOCK_KEYS:
                scalars.append(
                    (event.step, value.tag, value.tensor.SerializeToString())
                )
    return scalars


def _saved_model(path: Path) -> dict:
    """The members of a .keras file, less the date it was saved and the ids
    (memory addresses) Keras numbers its shared objects with."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(members.pop("metadata.json"))
    metadata.pop("date_saved")
    ids = {}
    config = re.sub(
        rb'"shared_object_id": (\d+)',
        lambda m: b'"shared_object_id": %d' % ids.setdefault(m.group(1), len(ids)),
        members.pop("config.json"),
    )
    return {**members, "metadata": metadata, "config": config}


def _contents(directory: Path) -> dict:
    """Every file of a run directory by its path, as bytes, or for the files
    that hold wall-clock times, what they hold besides those."""
    found = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = str(path.relative_to(directory))
        if path.name == lock.LOCK_NAME:
            found[name] = sorted(json.loads(path.read_text()))  # pid, host, time.
        elif path.name == "metrics.jsonl":
            records = [json.loads(line) for line in path.read_text().splitlines()]
            found[name] = [
                {k: v for k, v in r.items() if k not in WALL_CLOCK_KEYS}
                for r in records
            ]
        elif path.parent.name == "tensorboard":
            # Named after the time and the process that wrote it.
            found["tensorboard/events"] = _events(path)
        elif path.suffix == ".keras":
            found[name] = _saved_model(path)
        else:
            found[name] = path.read_bytes()
    return found


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    """The reference: the command run alone, start to end, in its own directory."""
    model_dir = tmp_path_factory.mktemp("single") / "run"
    result = _run(model_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return model_dir


@pytest.mark.slow
def test_a_second_run_on_a_live_directory_exits_at_once_and_changes_nothing(
    tmp_path, single_run
):
    model_dir = tmp_path / "run"
    first = _start(model_dir)
    # Frozen mid-run, still holding its lock, while the others try.
    _wait_for(model_dir / "checkpoints" / "epoch-000001.npz", first)
    os.killpg(first.pid, signal.SIGSTOP)
    try:
        # A scheduler's retry of the same command, and a run of other settings
        # (before, it wrote seed 1 into config.json beside seed 0's checkpoints).
        for args in [(), ("--seed=1",)]:
            second = _run(model_dir, *args)
            assert second.returncode == 1, second.stderr[-3000:]
            error = _one_paragraph(second.stderr)
            assert f"{model_dir} is in use by another run" in error
            assert f"process {first.pid} on host {socket.gethostname()}" in error
            assert "Epoch" not in second.stdout  # It trained nothing.
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-3000:]

    contents = _contents(model_dir)
    assert {"config.json", "metrics.jsonl", "model.keras", lock.LOCK_NAME} < set(
        contents
    )
    assert "checkpoints/epoch-000003.npz" in contents and contents["tensorboard/events"]
    assert contents == _contents(single_run)


@pytest.mark.slow
def test_a_run_killed_with_sigkill_leaves_no_lock_behind(tmp_path, single_run):
    model_dir = tmp_path / "run"
    first = _start(model_dir)
    killed_run.kill_after_first_checkpoint([first], model_dir)
    first.communicate()

    resumed = _run(model_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Epoch 1/" not in resumed.stdout  # It resumed, after the checkpoint.
    assert [r["epoch"] for r in read_records(model_dir)] == [1, 2, 3]
    assert json.loads((model_dir / lock.LOCK_NAME).read_text())["pid"] != first.pid
    for path, value in checkpoint.variables_at(single_run, 3).items():
        np.testing.assert_array_equal(
            checkpoint.variables_at(model_dir, 3)[path], value, err_msg=path
        )
