"""A run directory that cannot be written or holds other files: a one-paragraph
message, exit status 1, and no temporary file left behind."""

import errno
import fnmatch
import json
import os
import re
import shutil
from pathlib import Path

import keras
import pytest
from absl import flags

from tests.support import command
from tests.support.runs import QUIET
from urfbtf.errors import RunFilesError
from urfbtf.records import read_records
from urfbtf.runner import checkpoint, recorder, train
from urfbtf.runner.config import Config

FLAGS = flags.FLAGS
SMALL = dict(
    dataset="cifar10_sample",
    batch_size=50,
    train_examples=100,
    val_examples=50,
    eval_batch_size=500,
)


def _main(capsys, model_dir, epochs=1):
    """Runs the command line in this process (so that monkeypatches hold);
    returns (exit status, stderr)."""
    args = [f"--{k}={v}" for k, v in {**SMALL, "epochs": epochs}.items()]
    return command.run_in_process([*args, f"--model_dir={model_dir}"], capsys)


def _message(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    error = stderr[stderr.index("urfbtf: error:") :]
    assert len(error.strip().splitlines()) == 1, error  # One paragraph.
    return error


def _temporaries(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if "tmp" in p.name]


def _enospc():
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def disk_full(monkeypatch):
    """disk_full(pattern): from now on, syncing a file whose name matches
    `pattern` fails as on a full disk (where the data of a write meets the
    disk)."""
    real_fsync = os.fsync

    def fill(pattern):
        def fsync(fd):
            name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
            if fnmatch.fnmatch(name, pattern):
                raise _enospc()
            return real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)

    return fill


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A run of one epoch: its config.json, metrics and a real checkpoint."""
    model_dir = tmp_path_factory.mktemp("finished") / "run"
    train.run(Config(epochs=1, **SMALL), model_dir, **QUIET)
    return model_dir


@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(
    tmp_path, capsys, disk_full
):
    run_dir = tmp_path / "run"
    disk_full(".epoch-000002.npz.tmp")
    status, stderr = _main(capsys, run_dir, epochs=2)
    assert status == 1
    error = _message(stderr)
    assert "Could not write the checkpoint" in error
    assert f"{run_dir / 'checkpoints' / 'epoch-000002.npz'}: the disk is full" in error
    assert "run the same command again" in error
    assert _temporaries(run_dir) == []
    assert checkpoint.latest(run_dir / "checkpoints").epoch == 1

    disk_full("no file matches this")  # Space was freed.
    status, stderr = _main(capsys, run_dir, epochs=2)
    assert status == 0, stderr
    assert [r["epoch"] for r in read_records(run_dir)] == [1, 2]


def test_a_full_disk_while_writing_config_json(tmp_path, capsys, disk_full):
    run_dir = tmp_path / "run"
    disk_full(".config.json.tmp")
    status, stderr = _main(capsys, run_dir)
    assert status == 1
    error = _message(stderr)
    assert f"write the run's settings {run_dir / 'config.json'}: the disk is" in error
    assert _temporaries(tmp_path) == []
    assert not (run_dir / "config.json").exists()


def test_a_full_disk_while_saving_the_model(tmp_path, capsys, monkeypatch):
    def save_half(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise _enospc()

    monkeypatch.setattr(keras.Model, "save", save_half)
    run_dir = tmp_path / "run"
    status, stderr = _main(capsys, run_dir)
    assert status == 1
    assert f"the final model {run_dir / 'model.keras'}" in _message(stderr)
    assert _temporaries(tmp_path) == []
    assert not (run_dir / "model.keras").exists()
    # The epoch was checkpointed before: the run resumes from there.
    assert checkpoint.latest(run_dir / "checkpoints").epoch == 1


def test_a_full_disk_while_truncating_the_metrics_keeps_them(
    finished_run, tmp_path, disk_full
):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    before = (run_dir / "metrics.jsonl").read_text()
    disk_full(".metrics.jsonl.tmp")
    with pytest.raises(RunFilesError, match="the disk is full"):
        recorder.truncate_metrics(run_dir, 0)
    assert (run_dir / "metrics.jsonl").read_text() == before
    assert _temporaries(run_dir) == []


def test_a_model_dir_inside_a_file(tmp_path, capsys):
    regular = tmp_path / "notes.txt"
    regular.write_text("a file, not a directory")
    status, stderr = _main(capsys, regular / "run")
    assert status == 1
    error = _message(stderr)
    assert f"Could not create the run directory {regular / 'run'}" in error
    assert "a part of the path is a file, not a directory" in error
    assert "--model_dir" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_model_dir_without_write_permission(tmp_path, capsys, monkeypatch):
    # Tests run as root, whom permission bits do not stop: refuse as the
    # filesystem would for another user.
    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    status, stderr = _main(capsys, tmp_path / "run")
    assert status == 1
    assert "run directory" in _message(stderr) and "permission denied" in stderr


@pytest.mark.parametrize(
    "content,expected",
    [
        ("{not json", r"cannot be read as JSON"),
        ("[1, 2]", r"holds an array, not a JSON object of settings"),
        ("\udcff", r"cannot be read as JSON"),
        (None, r"config.json is missing"),
    ],
    ids=["not-json", "not-an-object", "not-text", "missing"],
)
def test_a_run_directory_with_another_config_json_beside_checkpoints(
    finished_run, tmp_path, capsys, content, expected
):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    config = run_dir / "config.json"
    if content is None:
        config.unlink()
    else:
        config.write_bytes(content.encode("utf-8", "surrogateescape"))
    status, stderr = _main(capsys, run_dir, epochs=2)
    assert status == 1
    error = _message(stderr)
    assert str(config) in error and "holds checkpoints" in error
    assert re.search(expected, error), error
    assert _temporaries(run_dir) == []
    # Nothing was trained or rewritten.
    assert [r["epoch"] for r in read_records(run_dir)] == [1]
    if content is not None:
        assert config.read_bytes() == content.encode("utf-8", "surrogateescape")


def test_a_new_run_records_its_learning_rate_from_epoch_1(finished_run):
    config = json.loads((finished_run / "config.json").read_text())
    assert config["lr_history"] == [{"lr": 0.1, "from_epoch": 1}]
    assert _temporaries(finished_run) == []
