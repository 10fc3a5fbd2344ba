"""Every numeric setting, the rules' as the runner's, refuses a value that is not
finite: exit status 2 and one paragraph naming the setting and the value.

Issue #30: `--tp_noise=inf` and `--inverse_lr=inf` ran, diverged and exited 3
with advice to lower `--lr`, the wrong cause, while `--lr` refused them. The
settings are read from the registries when the tests are collected, so that a
rule added later has its settings checked too.
"""

import math
import subprocess
import sys

import pytest

from tests.support.paths import REPO
from urfbtf import rules
from urfbtf.errors import UsageError
from urfbtf.runner.config import Config
from urfbtf.runner.run_settings import RUN_SETTINGS

NON_FINITE = [math.inf, -math.inf, math.nan]


def _numeric(settings):
    return [s for s in settings if s.type in (int, float)]


# (rule, setting): every numeric setting of every registered rule.
RULE_SETTINGS = [
    (rule.name, setting)
    for rule in rules.RULES.values()
    for setting in _numeric(rule.settings)
]


def _refusal(rule: str, name: str, value) -> str:
    """The message that refuses `name=value` under `rule` (a usage error:
    exit status 2 on the command line)."""
    config = Config(rule=rule, **{name: value})
    with pytest.raises(UsageError) as refused:
        config.validate()
    assert refused.value.exit_code == 2
    return str(refused.value)


def test_the_rules_declare_numeric_settings():
    """The parametrizations below are not empty (a registry import broken)."""
    names = {setting.name for _, setting in RULE_SETTINGS}
    assert {"tp_noise", "inverse_lr", "ortho_reg", "feedback_clip"} <= names


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
@pytest.mark.parametrize(
    "rule,setting", RULE_SETTINGS, ids=[f"{r}-{s.name}" for r, s in RULE_SETTINGS]
)
def test_a_rule_setting_refuses_a_value_that_is_not_finite(rule, setting, value):
    message = _refusal(rule, setting.name, value)
    assert f"{setting.name}={value!r}" in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
@pytest.mark.parametrize("setting", _numeric(RUN_SETTINGS), ids=lambda s: s.name)
def test_a_runner_setting_refuses_a_value_that_is_not_finite(setting, value):
    message = _refusal(rules.DEFAULT_RULE, setting.name, value)
    assert f"{setting.name}={value!r}" in message


def test_a_float_setting_says_what_it_accepts():
    message = _refusal("tp", "tp_noise", math.inf)
    assert "finite" in message and "a standard deviation >= 0" in message


def test_an_int_too_large_for_a_float_is_refused_not_an_overflow():
    message = _refusal("dtp", "tp_alpha", 10**400)
    assert "tp_alpha=1000" in message and "finite" in message


def test_finite_values_are_still_accepted():
    tp = dict(rule="dtp", net="bartunov_cifar_fc")
    Config(**tp, tp_noise=0.0, inverse_lr=1e-4, tp_alpha=1e3).validate()
    gait = dict(rule="gait", net="gait_cifar_fc3", activation="leaky_relu")
    Config(**gait, ortho_reg=1e30, gait_norm=2.0).validate()


@pytest.mark.slow
@pytest.mark.parametrize(
    "flag", ["--tp_noise=inf", "--inverse_lr=inf", "--tp_alpha=nan"]
)
def test_the_command_line_refuses_them_with_status_2(flag, tmp_path):
    name, value = flag[2:].split("=")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "urfbtf",
            "--dataset=cifar10_sample",
            "--net=bartunov_cifar_fc",
            "--rule=dtp",
            flag,
            "--epochs=1",
            f"--model_dir={tmp_path / 'run'}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = result.stderr[result.stderr.index("urfbtf: error:") :].strip()
    assert len(message.splitlines()) == 1
    assert f"{name}={value}" in message
    assert not (tmp_path / "run").exists()
