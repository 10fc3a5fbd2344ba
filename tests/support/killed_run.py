"""Kills a training script after its first finished epoch, then runs it again.

For the tests that a run killed mid-run resumes bit for bit: the script is
started in a session of its own, SIGKILLed as soon as the first epoch's
checkpoint is in place (with `epochs` lines of metrics.jsonl not yet written, so
the kill lands mid-run and the second start resumes from that checkpoint, not
from scratch), and started again with the same arguments to finish.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from urfbtf.records import read_records


def kill_after_first_epoch(script: Path, model_dir, epochs: int, *args: str) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, str(script), str(model_dir), str(epochs), *args]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    kill_after_first_checkpoint([process], model_dir)
    assert len(read_records(model_dir)) < epochs, "the run ended before it was killed"
    resumed = subprocess.run(command, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, (
        f"the resumed run exited with {resumed.returncode}:\n{resumed.stderr[-3000:]}"
    )


def kill_after_first_checkpoint(processes, model_dir, timeout: float = 240) -> None:
    """SIGKILLs the process groups of `processes` (started with
    start_new_session) once model_dir holds the first epoch's checkpoint, so
    that a restart resumes from it. The checkpoint is renamed into place whole
    (`urfbtf.runner.checkpoint.write_atomically`): once the name exists, the file is
    complete; metrics.jsonl gets its line before it."""
    first = Path(model_dir) / "checkpoints" / "epoch-000001.npz"
    deadline = time.time() + timeout
    while time.time() < deadline and not first.exists():
        assert all(p.poll() is None for p in processes), "a process stopped early"
        time.sleep(0.05)
    for process in processes:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert first.exists(), "the run wrote no checkpoint before it was killed"
