"""The command line: flagfile selection by --net, and clear errors for bad input."""

import re
import subprocess
import sys

import pytest
from absl import flags

from tests.support import command
from tests.support.paths import REPO
from urfbtf.runner import main

FLAGS = flags.FLAGS


def test_net_selects_its_flagfile_and_later_flags_override(parse):
    flags_ = parse("--net=deepernet", "--epochs=3")
    assert flags_.epochs == 3  # Command line over flags/deepernet.cfg's 200.
    assert flags_.batch_size == 500 and flags_.lr == 0.1 and flags_.loss == "hinge"


def test_net_flagfile_supplies_the_papers_settings(parse):
    assert parse("--net=deepernet").epochs == 200
    FLAGS.unparse_flags()
    assert parse("--net=simpnet").epochs == 1000
    FLAGS.unparse_flags()
    assert parse("--net=deepernet", "--nonet_settings", "--epochs=7").epochs == 7


@pytest.mark.parametrize(
    "flagfile", sorted((REPO / "flags").glob("*.cfg")), ids=lambda p: p.name
)
def test_every_flagfile_parses_with_the_real_flags(parse, flagfile):
    parse(f"--flagfile={flagfile}")
    assert FLAGS.epochs > 0 and FLAGS.net in main.nets.NETS


def _run(*args, cwd=REPO):
    # Subprocesses escape conftest's socket block: never let them reach tfds.
    if not any(a.startswith(("--dataset", "--data_dir")) for a in args):
        args = ("--dataset=cifar10_sample", *args)
    return subprocess.run(
        [sys.executable, "-m", "urfbtf", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _run_in_process(args, capsys):
    if not any(a.startswith(("--dataset", "--data_dir")) for a in args):
        args = ("--dataset=cifar10_sample", *args)
    return command.run_in_process(args, capsys)


def _assert_one_paragraph(stderr, expected):
    assert "Traceback" not in stderr
    error = stderr[stderr.index("urfbtf: error:") :]
    assert len(error.strip().splitlines()) == 1  # One paragraph.
    assert re.search(expected, error), error


@pytest.mark.parametrize(
    "args,status,expected",
    [
        (
            ["--net=resnet"],
            2,
            r"'resnet'.*simpnet, deepnet, deepernet, simpnet_s, deepnet_s",
        ),
        (["--rule=nosuchrule"], 2, r"'nosuchrule'.*bp .*frfb .*urfb"),
        (["--loss=l1"], 2, r"'l1'.*hinge.*softmax.*bce.*mse"),
        (["--dataset=cifar1O"], 2, r"'cifar1O'.*Did you mean cifar10"),
        (["--connectivity=1.5"], 2, r"connectivity=1\.5.*\(0, 1\]"),
        (["--connectivity=0"], 2, r"connectivity=0\.0.*\(0, 1\]"),
        (["--rule=bp", "--connectivity=0.5"], 2, r"'bp' has no feedback"),
        (["--epochs=abc"], 2, r"--epochs=abc"),
        (["--bogus=1"], 2, r"bogus"),
        (["--batch_size=0"], 2, r"batch_size=0"),
        (["--data_dir=/nonexistent/cifar"], 1, r"/nonexistent/cifar.*does not exist"),
        (["--strategy=horovod"], 2, r"'horovod'.*default.*mirrored.*multi_worker.*tpu"),
        (["--strategy=tpu", "--nodeterministic"], 2, r"found no TPU.*--tpu="),
        (["--strategy=tpu"], 2, r"'tpu' with deterministic=True.*--nodeterministic"),
        (["--jit_compile"], 2, r"jit_compile=True with deterministic=True"),
        (
            ["--untie=conv9"],
            2,
            r"conv9: the convolutions of this net that can be untied are conv1",
        ),
        (["--untied_impl=csr"], 2, r"'csr'.*'dense'.*'sparse'"),
        (
            ["--untie=conv1", "--untie_after=2", "--freeze=dense7"],
            2,
            r"dense7 is not a layer of net 'simpnet'",
        ),
        (["--freeze=conv1"], 2, r"set --untie_after"),
        (["--strategy=mirrored", "--jit_compile"], 2, r"jit_compile=True.*'mirrored'"),
        # Settings that do not apply to the run are refused, not ignored.
        (
            ["--dropout=0.3"],
            2,
            r"dropout=0\.3 does not apply.*'simpnet' has no dropout",
        ),
        (
            ["--rule=bp", "--direct_output=direct"],
            2,
            r"direct_output='direct' does not apply to rule 'bp'.*dfa, sdfa, drtp",
        ),
        (["--net=fc2_500", "--freeze_conv"], 2, r"freeze_conv=True.*no convolutions"),
        (["--activation=tanh", "--nonlin_scale=1"], 2, r"nonlin_scale=1\.0 does not"),
        # Nets, losses and data that cannot go together.
        (["--loss=mse"], 2, r"loss='mse' fits float targets.*class labels"),
        (
            ["--dataset=synthetic_classification"],
            2,
            r"'simpnet' has convolutions.*shape \(256,\).*fully connected net",
        ),
        (
            ["--net=fc2_100", "--dataset=synthetic_regression", "--val_examples=0"],
            2,
            r"regression task.*loss='bce' needs class labels.*mse",
        ),
    ],
)
def test_bad_input_ends_with_a_clear_message_and_status(
    args, status, expected, tmp_path, capsys
):
    code, stderr = _run_in_process(
        ["--epochs=1", *args, f"--model_dir={tmp_path / 'run'}"], capsys
    )
    assert code == status, stderr
    _assert_one_paragraph(stderr, expected)


@pytest.mark.parametrize(
    "args,status,expected",
    [
        (["--net=resnet"], 2, r"'resnet'.*simpnet, deepnet, deepernet"),
        (["--data_dir=/nonexistent/cifar"], 1, r"/nonexistent/cifar.*does not exist"),
    ],
)
def test_the_command_line_prints_the_same_message(args, status, expected, tmp_path):
    # The real command, once for a settings error and once for a data error:
    # what the in-process cases above check holds through `python -m urfbtf`.
    result = _run("--epochs=1", *args, f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == status, result.stderr
    _assert_one_paragraph(result.stderr, expected)


@pytest.mark.parametrize(
    "tf_config,expected",
    [
        (None, r"needs the TF_CONFIG"),
        ("{not json", r"TF_CONFIG='\{not json' does not parse"),
        (
            '{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}',
            r"does not describe a worker",
        ),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}',
            r"does not describe a worker",
        ),
    ],
)
def test_bad_tf_config_for_multi_worker_is_a_usage_error(
    tf_config, expected, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    if tf_config is not None:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    code, stderr = _run_in_process(
        ["--strategy=multi_worker", "--epochs=1", f"--model_dir={tmp_path}"], capsys
    )
    assert code == 2, stderr
    _assert_one_paragraph(stderr, expected)


def test_corrupt_data_dir_is_a_data_error(tmp_path):
    (tmp_path / "cifar10-train.tfrecord-00000-of-00001").write_bytes(
        b"\x00garbage" * 50
    )
    (tmp_path / "cifar10-test.tfrecord-00000-of-00001").write_bytes(b"\x00garbage" * 50)
    result = _run(
        f"--data_dir={tmp_path}", "--epochs=1", f"--model_dir={tmp_path / 'r'}"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cifar10-train.tfrecord-00000-of-00001" in result.stderr


def test_every_net_has_its_flagfile():
    missing = [
        net for net in main.nets.NETS if not (REPO / "flags" / f"{net}.cfg").exists()
    ]
    assert not missing
