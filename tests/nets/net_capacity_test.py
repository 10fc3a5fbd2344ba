"""Datasets and nets that cannot go together are refused before anything is
built: more classes than a square output layer holds (exit 2, naming the
class count and the widest that fits), and a net a rule cannot train, named
with the nets it can (computed from the registries, not a hand list)."""

import json
import os
import subprocess
import sys
import types

import keras
import numpy as np
import pytest

from tests.support.paths import REPO
from urfbtf import nets, rules
from urfbtf.errors import UsageError
from urfbtf.runner.config import Config
from urfbtf.runner.validation import check_data

SAMPLE = REPO / "urfbtf" / "datasets" / "cifar10_sample"
GAIT_NETS = [name for name in nets.NETS if name.startswith("gait_")]


def _splits(classes, image_shape):
    """What check_data reads of a loaded dataset of class labels."""
    return types.SimpleNamespace(
        train_labels=np.zeros([0], np.int64),
        num_classes=classes,
        image_shape=image_shape,
    )


@pytest.mark.parametrize(
    "rule, net, classes, image_shape, widest",
    [
        ("gait", "gait_imagenet_conv", 1000, (64, 64, 3), 768),
        ("gait", "gait_cifar_fc3", 600, (32, 32, 3), 512),
        ("bp", "gait_cifar_fc3", 600, (32, 32, 3), 512),
    ],
)
def test_more_classes_than_a_square_output_holds_are_refused(
    rule, net, classes, image_shape, widest
):
    config = Config(rule=rule, net=net, activation="leaky_relu", dataset="d")
    config.validate()
    with pytest.raises(UsageError) as refused:
        check_data(config, _splits(classes, image_shape))
    message = str(refused.value)
    assert refused.value.exit_code == 2
    assert "\n" not in message
    assert f"{classes} classes" in message and f"at most {widest}" in message
    assert net in message
    # As many classes as fit pass.
    check_data(config, _splits(widest, image_shape))


def test_the_resized_images_decide_a_conv_nets_capacity():
    config = Config(rule="gait", net="gait_imagenet_conv", activation="leaky_relu")
    native = _splits(1000, (256, 256, 3))
    check_data(config, native, (224, 224, 3))  # 7x7x192 = 9408 units.
    with pytest.raises(UsageError, match=r"1000 classes.*at most 768.*--image_size"):
        check_data(config, native, (64, 64, 3))


@pytest.mark.parametrize("net", GAIT_NETS)
def test_the_output_width_read_off_a_description_is_the_built_ones(net):
    shape = (64, 64, 3) if net == "gait_imagenet_conv" else (32, 32, 3)
    width = nets.output_width(net, shape)
    model = nets.build_net(
        net, input_shape=shape, num_classes=10, rule="gait", activation="leaky_relu"
    )
    assert model.get_layer("output").kernel.shape == (width, width)
    assert nets.output_width("simpnet", (32, 32, 3)) is None  # One unit a class.


def test_build_net_names_num_classes_when_they_do_not_fit():
    with pytest.raises(UsageError, match=r"num_classes=600: .* at most 512 classes"):
        nets.build_net(
            "gait_cifar_fc3", input_shape=(32, 32, 3), num_classes=600, rule="bp"
        )


@pytest.mark.slow
def test_a_600_class_dataset_on_gait_cifar_fc3_exits_2_before_building(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for record in SAMPLE.glob("*.tfrecord-*"):
        (data / record.name).symlink_to(record)
    (data / "classes.json").write_text(json.dumps([f"c{i}" for i in range(600)]))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "urfbtf",
            "--flagfile=flags/gait_cifar_fc3.cfg",
            "--net=gait_cifar_fc3",
            "--rule=gait",
            "--dataset=cifar10_sample",
            f"--data_dir={data}",
            f"--model_dir={tmp_path / 'run'}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    error = result.stderr[result.stderr.index("urfbtf: error:") :]
    assert len(error.strip().splitlines()) == 1, error
    assert "600 classes" in error and "at most 512" in error
    assert not (tmp_path / "run" / "checkpoints").exists()


# A net a rule cannot train ----------------------------------------------------


def _refusal(rule, net):
    with pytest.raises(UsageError) as refused:
        Config(rule=rule, net=net, activation="leaky_relu").validate()
    return str(refused.value)


def _listed(message, after):
    listed = message.split(after, 1)[1].split(";")[0].rstrip(".")
    return listed.split(", ")


def test_gait_on_simpnet_is_told_the_nets_gait_can_train():
    message = _refusal("gait", "simpnet")
    assert "\n" not in message
    usable = _listed(message, "The nets it can train: ")
    assert usable == GAIT_NETS
    assert not any(name.startswith("bartunov_") for name in usable)
    # Every net named passes the check; every other net fails it.
    gait = rules.get_rule("gait")
    for name in nets.NETS:
        assert (gait.refuses(nets.summary(name)) is None) == (name in usable), name
    others = _listed(message, "the rules that can train simpnet: ")
    assert "gait" not in others and "bp" in others and "tp" not in others


def test_a_learned_inverse_rule_is_told_nets_it_can_build():
    message = _refusal("tp", "simpnet")
    usable = _listed(message, "The nets it can train: ")
    assert "bartunov_cifar_fc" in usable and "gait_cifar_fc3" in usable
    # Its invertible convolutions pass on only some channels: no learned
    # inverse can invert them, so tp refuses the net before building it.
    assert "gait_cifar_conv" not in usable
    for name in usable:
        keras.utils.set_random_seed(0)
        if "imagenet" not in name:
            nets.build_net(
                name,
                input_shape=(28, 28, 1) if "mnist" in name else (32, 32, 3),
                num_classes=10,
                rule="tp",
                activation="leaky_relu",
            )
    assert "its layers conv2, conv3, conv4 pass on" in _refusal("tp", "gait_cifar_conv")
