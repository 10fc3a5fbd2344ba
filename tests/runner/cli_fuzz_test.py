"""Random combinations of flags, valid and invalid: each one trains or says why not.

A researcher combines nets, datasets, losses, rules, activations and options in
ways nobody tried. Every combination must either train (here: one step) or end
with the one-paragraph message and exit status 1, 2 or 3, never with an
exception from inside TensorFlow. The target rules' own settings and the
streaming path's flags are drawn as groups (below), so that most draws still
train.
"""

import random

import pytest
from absl import flags

from tests.support import command
from urfbtf import data, rules
from urfbtf.records import read_records

FLAGS = flags.FLAGS

# Values a user might give, valid and not; each combination draws one per flag.
CHOICES = {
    "net": ["simpnet", "fc2_100", "conv_mnist", "simpnet_s", "resnet"],
    "rule": [
        *("bp", "frfb", "urfb", "dfa", "sdfa", "drtp", "shallow", "bogus"),
        *("tp", "dtp", "sdtp", "aosdtp", "gait", "tp_exact"),
    ],
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
# A target rule is drawn with a net (one it can train, or one it refuses) and
# its own settings, some of them not finite: settings of another rule are
# refused whatever their value, so drawn always they would leave few runs that
# train (direct_output above draws that refusal).
TARGET_RULES = ("tp", "dtp", "sdtp", "aosdtp", "gait", "tp_exact")
TARGET_NETS = ["fc2_100", "bartunov_mnist_fc", "gait_cifar_fc3", "simpnet"]
TARGET_CHOICES = {
    "tp_schedule": ["alternating", "parallel", "sometimes"],
    "inverse_loss": ["lee", "drl", "ldrl", "mse"],
    "tp_noise": ["0", "0.5", "1", "-0.1", "inf"],
    "tp_alpha": ["0.15", "10", "1e-3", "0", "nan"],
    "inverse_lr": ["1e-3", "0.5", "1e-5", "0", "inf"],
    "inverse_beta1": ["0.9", "0", "0.5", "1", "nan"],
    "inverse_beta2": ["0.999", "0.5", "0", "-inf"],
    "inverse_epsilon": ["1e-7", "1", "1e-3", "0", "inf"],
    "aux_outputs": ["7", "1", "0"],
    "gait_gamma": ["1e-3", "1", "0.1", "2", "inf"],
    "gait_norm": ["0", "1e-4", "1", "-1", "nan"],
    "ortho_reg": ["0", "1", "0.1", "-1", "inf"],
}
# The streaming path's flags, drawn together, on the shipped sample's shards
# (data_dir names them, or a directory that does not exist).
STREAM_CHOICES = {
    "input": ["stream", "stream", "memory", "auto", "disk"],
    "data_dir": [str(data.SAMPLE_DIR), "/nonexistent/shards"],
    "image_size": ["16", "24", "0"],
    "augment": ["none", "flip_crop", "inception", "mixup"],
    "normalize": ["none", "cifar10", "imagenet", "zscore"],
    "label_offset": ["0", "1", "-1"],
}
# Most flags keep their default in a draw, so that most combinations can run.
CHANGE_PROBABILITY = 0.15
# Within a group that is drawn, each of its flags changes this often.
GROUP_CHANGE_PROBABILITY = 0.3
# How often a draw is of a target rule (besides the rule flag's own draws),
# and then how often each common flag changes: its own settings and its net
# leave a target rule fewer draws that train.
TARGET_PROBABILITY = 0.25
TARGET_COMMON_PROBABILITY = 0.03
STREAM_PROBABILITY = 0.15
COMBINATIONS = 160


def _draw_group(rng: random.Random, choices: dict, probability: float) -> dict:
    return {
        name: rng.choice(values)
        for name, values in choices.items()
        if rng.random() < probability
    }


def _draw(rng: random.Random) -> list[str]:
    if rng.random() < TARGET_PROBABILITY:
        drawn = _draw_group(rng, CHOICES, TARGET_COMMON_PROBABILITY)
        drawn["rule"] = rng.choice(TARGET_RULES)
    else:
        drawn = _draw_group(rng, CHOICES, CHANGE_PROBABILITY)
    if drawn.get("rule") in TARGET_RULES:
        drawn["net"] = rng.choice(TARGET_NETS)
        own = {s.name for s in rules.get_rule(drawn["rule"]).settings}
        choices = {n: v for n, v in TARGET_CHOICES.items() if n in own}
        drawn.update(_draw_group(rng, choices, GROUP_CHANGE_PROBABILITY))
    if rng.random() < STREAM_PROBABILITY:
        drawn.update(_draw_group(rng, STREAM_CHOICES, GROUP_CHANGE_PROBABILITY))
    return [f"--{name}={value}" for name, value in drawn.items()]


def _run(args, model_dir, capsys):
    return command.run_in_process(
        [
            "--dataset=cifar10_sample",  # No download, unless a draw changes it.
            *args,
            "--epochs=1",
            "--train_examples=20",
            "--batch_size=20",
            "--val_examples=20",
            "--eval_batch_size=500",
            f"--model_dir={model_dir}",
        ],
        capsys,
    )


@pytest.mark.slow
def test_random_combinations_train_or_exit_with_a_message(
    tmp_path, capsys, monkeypatch
):
    # Streamed draws scan the sample's shards into a cache of their own.
    monkeypatch.setenv("URFBTF_CACHE_DIR", str(tmp_path / "cache"))
    rng = random.Random(0)
    outcomes = {}
    target_trained = 0
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
        target = any(f"--rule={rule}" in args for rule in TARGET_RULES)
        target_trained += target and status == 0
    # Both kinds were drawn: the test is not only refusing or only training,
    # and the target rules train too, not only refuse their settings.
    assert outcomes.get(0, 0) >= 20 and outcomes.get(2, 0) >= 20, outcomes
    assert target_trained >= 3, target_trained
