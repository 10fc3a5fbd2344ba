"""sdtp and aosdtp refuse a net whose output layer is square (the invertible
GAIT-prop nets), before building: their output target has one unit per class,
and the square output layer's inverse reads all of its units, which ended in a
shape error and a traceback (found by tests/cli_fuzz_test.py, issue #30)."""

import pytest

from urfbtf.errors import UsageError
from urfbtf.runner.config import Config

GAIT_NET = dict(net="gait_cifar_fc3", activation="leaky_relu", loss="softmax")


@pytest.mark.parametrize("rule", ["tp", "sdtp", "aosdtp"])
def test_a_label_target_rule_refuses_a_square_output(rule):
    with pytest.raises(UsageError) as refused:
        Config(rule=rule, **GAIT_NET).validate()
    message = str(refused.value)
    assert f"rule={rule!r} with net='gait_cifar_fc3'" in message
    assert "square" in message and "bartunov_*" in message
    assert len(message.splitlines()) == 1


def test_dtp_still_trains_it():
    Config(rule="dtp", **GAIT_NET).validate()


def test_a_label_target_rule_still_trains_a_net_with_a_unit_per_class():
    Config(rule="sdtp", net="bartunov_mnist_fc", loss="softmax").validate()
