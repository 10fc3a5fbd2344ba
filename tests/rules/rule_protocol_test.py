"""The rule protocol is enough for a rule with local losses and two optimizers.

The rule of tests/support/local_rule.py trains every block on a readout loss of its own,
with a second optimizer for the readouts. Through the protocol alone it trains
with `fit`, is probed against backpropagation, records its own metric, declares
its own setting, and resumes bit for bit after a kill, on one device and
mirrored over two.
"""

import json

import numpy as np
import pytest

from tests.support import killed_run, local_rule
from tests.support.paths import REPO, SUPPORT
from tests.support.runs import QUIET
from urfbtf import nets, rules
from urfbtf.errors import UsageError
from urfbtf.records import read_records
from urfbtf.runner import checkpoint, config, train

EPOCHS = 12


def test_a_local_loss_rule_trains_with_fit_and_both_its_optimizers(tmp_path):
    cfg = local_rule.quick_config(epochs=2, probe_every=5)
    train.run(cfg, tmp_path, **QUIET)
    records = read_records(tmp_path)
    assert records[1]["train_loss"] < records[0]["train_loss"]
    # Its own per-epoch metric, and the alignment probes of every layer.
    assert records[-1]["readout_norm/dense1_readout"] > 0
    angles = {k: v for k, v in records[-1].items() if k.startswith("update_angle/")}
    assert set(angles) == {
        "update_angle/dense1",
        "update_angle/dense2",
        "update_angle/output",
    }
    # Neither backpropagation (0) nor no update at all (which counts as 90).
    assert 1.0 < angles["update_angle/dense1"] < 179.0
    assert abs(angles["update_angle/dense1"] - 90.0) > 1e-3
    assert angles["update_angle/output"] < 1e-3  # The task loss's own gradient.
    # Both optimizers moved their variables and their state is in the checkpoint.
    state = checkpoint.variables_at(tmp_path, 2)
    steps = 2 * (200 // 20)
    assert int(state["readout_sgd/iteration"]) == steps
    assert int(state["sgd/iteration"]) == steps
    assert np.abs(state["readout_sgd/dense1_readout_readout_momentum"]).max() > 0
    assert json.loads((tmp_path / "config.json").read_text())["readout_lr"] == 0.05


def test_the_rules_setting_is_declared_once_and_validated():
    local_rule.registered()
    assert config.declared_settings()["readout_lr"].default == 0.05
    with pytest.raises(UsageError, match=r"readout_lr=-1\.0 is invalid.*positive"):
        local_rule.quick_config(readout_lr=-1.0).validate()
    # Another rule's setting is refused, not ignored.
    with pytest.raises(UsageError, match=r"readout_lr=0\.5 does not apply to rule"):
        local_rule.quick_config(rule="urfb", readout_lr=0.5).validate()


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["default", "mirrored"])
def test_a_local_loss_run_killed_mid_run_resumes_to_identical_weights(
    strategy, tmp_path, mirrored
):
    # Epochs of this small net take a fraction of a second: enough of them that
    # the kill lands mid-run.
    killed_run.kill_after_first_epoch(
        SUPPORT / "local_rule.py", tmp_path / "killed", EPOCHS, strategy
    )
    cfg = local_rule.quick_config(epochs=EPOCHS, strategy=strategy)
    devices = mirrored if strategy == "mirrored" else None
    train.run(cfg, tmp_path / "whole", strategy=devices, **QUIET)
    whole = checkpoint.variables_at(tmp_path / "whole", EPOCHS)
    resumed = checkpoint.variables_at(tmp_path / "killed", EPOCHS)
    assert list(whole) == list(resumed)
    assert any("readout_sgd" in path and "momentum" in path for path in whole)
    for path, value in whole.items():
        np.testing.assert_array_equal(value, resumed[path], err_msg=path)
    epochs = [r["epoch"] for r in read_records(tmp_path / "killed")]
    assert epochs == list(range(1, EPOCHS + 1))


def test_nets_list_their_learning_blocks_in_order():
    model = nets.build_net(
        "deepernet", input_shape=(32, 32, 3), num_classes=10, rule="dfa"
    )
    found = nets.blocks(model)
    assert [b.name for b in found] == nets.layer_names(nets.NETS["deepernet"])
    for block in found[:-1]:
        assert block.input is block.layer.input and block.field is block.layer.output
        assert block.output is block.activation.output
        assert block.tap.name == f"{block.name}_feedback"  # The rule's B_l.
    output = found[-1]
    assert output.activation is None and output.tap is None
    assert output.output is model.outputs[0]


def test_leaky_relu_nets_invert_their_nonlinearity_exactly():
    model = nets.build_net(
        "fc2_100",
        input_shape=(8, 8, 1),
        num_classes=10,
        rule="bp",
        activation="leaky_relu",
        leaky_slope=0.2,
    )
    block = nets.blocks(model)[0]
    h = np.linspace(-3, 3, 13, dtype="float32")[None]
    y = block.activation(h).numpy()
    np.testing.assert_allclose(y, np.where(h > 0, h, 0.2 * h))
    np.testing.assert_allclose(block.activation.inverse(y).numpy(), h, rtol=1e-6)


def test_every_rule_is_asked_and_none_is_named_outside_the_rules_package():
    """No module outside urfbtf/rules/ spells a rule's name in its code or tests
    a rule's model class: everything asks the rule."""
    import ast

    names = set(rules.RULES) - {local_rule.NAME}
    offenders = []
    for path in (REPO / "urfbtf").rglob("*.py"):
        if "rules" in path.relative_to(REPO / "urfbtf").parts:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(
                node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
            )
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and node.value in names
                and id(node) not in docstrings
            ):
                offenders.append(f"{path.name}:{node.lineno} {node.value!r}")
            if isinstance(node, ast.Name) and node.id.endswith("FeedbackModel"):
                offenders.append(f"{path.name}:{node.lineno} {node.id}")
    assert not offenders, offenders
