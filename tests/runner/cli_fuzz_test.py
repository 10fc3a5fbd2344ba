"""Random combinations of flags, valid and invalid: each one trains or says why not.

A researcher combines nets, datasets, losses, rules, activations and options in
ways nobody tried. Every combination must either train (here: one step) or end
with the one-paragraph message and exit status 1, 2 or 3, never with an
exception from inside TensorFlow.
"""

import random

import pytest
from absl import flags

from urfbtf.records import read_records
from urfbtf.runner import main

FLAGS = flags.FLAGS

# Values a user might give, valid and not; each combination draws one per flag.
CHOICES = {
    "net": ["simpnet", "fc2_100", "conv_mnist", "simpnet_s", "resnet"],
    "rule": ["bp", "frfb", "urfb", "dfa", "sdfa", "drtp", "shallow", "bogus"],
    "loss": ["hinge", "softmax", "bce", "mse", "l1"],
    "dataset": ["cifar10_sample", "synthetic_classification", "synthetic_regression"],
    "activation": ["saturated", "tanh", "leaky_relu", "relu"],
    "output_activation": ["linear", "tanh"],
    "connectivity": ["1", "0.5", "0", "1.5"],
    "optimizer": ["sgd", "momentum", "adam", "rmsprop"],
    "lr": ["0.1", "0.001", "-1", "1e30"],
    "dropout": ["0", "0.3", "1"],
    "untie": ["", "conv1", "all", "dense1"],
    "untied_impl": ["dense", "sparse"],
    "zero_init": ["true", "false"],
    "freeze_conv": ["true", "false"],
    "direct_output": ["error", "direct"],
    "probe_every": ["0", "1", "-1"],
    "loss_ceiling": ["10", "0", "0.5"],
    "nonlin_scale": ["0.5", "1", "0"],
    "kernel_init": ["glorot_uniform", "he_uniform", "ones"],
    # Not mirrored: a second MirroredStrategy in one process breaks collectives
    # (see conftest.py); tests/runner/distribute_test.py runs it.
    "strategy": ["default", "tpu", "multi_worker"],
}
# Most flags keep their default in a draw, so that most combinations can run.
CHANGE_PROBABILITY = 0.15
COMBINATIONS = 160


def _draw(rng: random.Random) -> list[str]:
    args = []
    for name, values in CHOICES.items():
        if rng.random() < CHANGE_PROBABILITY:
            args.append(f"--{name}={rng.choice(values)}")
    return args


def _run(args, model_dir, capsys):
    argv = [
        "urfbtf",
        "--dataset=cifar10_sample",  # No download, unless a draw changes it.
        *args,
        "--epochs=1",
        "--train_examples=20",
        "--batch_size=20",
        "--val_examples=20",
        "--eval_batch_size=500",
        f"--model_dir={model_dir}",
    ]
    try:
        main.parse_flags(argv)
        main.main(["urfbtf"])
        status = 0
    except SystemExit as stop:
        status = stop.code
    finally:
        FLAGS.unparse_flags()
    return status, capsys.readouterr().err


@pytest.mark.slow
def test_random_combinations_train_or_exit_with_a_message(tmp_path, capsys):
    rng = random.Random(0)
    outcomes = {}
    for k in range(COMBINATIONS):
        args = _draw(rng)
        model_dir = tmp_path / f"run{k}"
        status, stderr = _run(args, model_dir, capsys)
        assert "Traceback" not in stderr, (args, stderr)
        if status == 0:
            records = read_records(model_dir)
            assert records[0]["epoch"] == 1, args
        else:
            assert status in (1, 2, 3), (args, status, stderr)
            message = stderr[stderr.index("urfbtf: error:") :].strip()
            assert len(message.splitlines()) == 1, (args, message)
        outcomes[status] = outcomes.get(status, 0) + 1
    # Both kinds were drawn: the test is not only refusing or only training.
    assert outcomes.get(0, 0) >= 20 and outcomes.get(2, 0) >= 20, outcomes
