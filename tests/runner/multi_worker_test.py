"""Two real multi_worker processes on localhost train like one process, and resume
together after both are killed."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.support import killed_run
from tests.support.paths import REPO
from urfbtf.records import read_records
from urfbtf.runner import checkpoint

COMMON = [
    "--net=simpnet",
    "--rule=urfb",
    "--connectivity=0.5",
    "--dataset=cifar10_sample",
    "--train_examples=400",
    "--val_examples=100",
    "--batch_size=50",
    "--eval_batch_size=100",
    "--epochs=3",
]
ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(model_dir):
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {
            "cluster": {"worker": workers},
            "task": {"type": "worker", "index": index},
        }
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "urfbtf",
                    *COMMON,
                    "--strategy=multi_worker",
                    f"--model_dir={model_dir}",
                ],
                cwd=REPO,
                env={**ENV, "TF_CONFIG": json.dumps(tf_config)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        )
    return processes


def _finish(processes):
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
    return outputs


@pytest.mark.slow
def test_two_workers_killed_and_restarted_end_like_one_process(tmp_path):
    cluster_dir = tmp_path / "cluster"
    processes = _start_workers(cluster_dir)
    metrics = cluster_dir / "metrics.jsonl"
    # Into the second epoch: the chief has renamed the first checkpoint into place.
    killed_run.kill_after_first_checkpoint(processes, cluster_dir, timeout=300)
    assert len(metrics.read_text().splitlines()) < 3, "finished before the kill"

    outputs = _finish(_start_workers(cluster_dir))
    # Only the chief reports and writes; both workers restored its checkpoint.
    assert "urfbtf: simpnet urfb hinge c=0.5" in outputs[0]
    assert "urfbtf:" not in outputs[1]
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]

    single_dir = tmp_path / "single"
    subprocess.run(
        [sys.executable, "-m", "urfbtf", *COMMON, f"--model_dir={single_dir}"],
        cwd=REPO,
        env=ENV,
        check=True,
        capture_output=True,
        timeout=600,
    )
    cluster = checkpoint.variables_at(cluster_dir, 3)
    single = checkpoint.variables_at(single_dir, 3)
    assert list(cluster) == list(single)
    for path, value in cluster.items():
        np.testing.assert_allclose(value, single[path], atol=1e-5, err_msg=path)
    singles = read_records(single_dir)
    for record, reference in zip(records, singles, strict=True):
        assert record["test_error"] == reference["test_error"]
