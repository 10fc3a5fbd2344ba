"""tools/bartunov/tp_diagnose.py: its lines measure the rule's own targets and
activities."""

import os
import re
import subprocess
import sys

import pytest

from tests.support.paths import REPO
from tests.support.tool_loader import tool_path


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["dtp", "sdtp"])
def test_tp_diagnose_reports_every_hidden_layer_in_range(rule):
    command = [
        sys.executable,
        str(tool_path("bartunov/tp_diagnose.py")),
        "--net=bartunov_mnist_fc",
        f"--rule={rule}",
        "--tp_schedule=parallel",
        "--activation=tanh",
        "--loss=softmax",
        "--optimizer=adam",
        "--dataset=cifar10_sample",
        "--train_examples=200",
        "--val_examples=100",
        "--batch_size=20",
        "--epochs=1",
        "--every=5",
        "--examples=50",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith("step")]
    # Step 1, then every 5 of the 10 steps.
    assert [int(line.split()[1]) for line in lines] == [1, 5, 10]
    for line in lines:
        layers = re.findall(
            r"(dense\d): sat ([\d.]+)(?: out ([\d.]+) dist ([\d.]+))? w ([\d.]+)", line
        )
        assert [name for name, *_ in layers] == [f"dense{k}" for k in range(1, 6)]
        for _, saturated, outside, distance, _ in layers:
            assert 0 <= float(saturated) <= 1 and 0 <= float(outside) <= 1
            assert float(distance) > 0
    first = re.findall(r"dist ([\d.]+)", lines[0])
    if rule == "dtp":
        # A gradient step of the default α = 0.15 on the batch-mean loss: small.
        assert max(map(float, first)) < 1
    else:
        # The label through the last inverse: a distance of the order of one.
        assert min(map(float, first)) > 0.3
