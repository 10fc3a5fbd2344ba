"""Kills a training script after its first finished epoch, then runs it again.

For the tests that a run killed mid-run resumes bit for bit: the script is
started in a session of its own, SIGKILLed as soon as metrics.jsonl has a line
(with `epochs` lines not yet written, so the kill lands mid-run), and started
again with the same arguments to finish.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def records(model_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(model_dir) / "metrics.jsonl").open()]


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
    metrics = Path(model_dir) / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and not (metrics.exists() and metrics.read_text()):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert len(records(model_dir)) < epochs, "the run ended before it was killed"
    subprocess.run(command, env=env, check=True, capture_output=True)
