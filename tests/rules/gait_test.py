"""GAIT-prop and TP with exact inverses (urfbtf.rules.target.gait) on invertible layers.

The properties of the GAIT-prop ImageNet paper (sec. 2) and of Ahmad et al.
(2020), each checked on small shapes against backpropagation or a NumPy oracle.
"""

import types

import numpy as np
import pytest
import tensorflow as tf

from tests.support.gait_nets import (
    angle,
    backprop_updates,
    batch,
    compiled,
    conv_net,
    dense_net,
    rows_orthogonal_of_unequal_length,
)
from tests.support.runs import QUIET
from urfbtf import nets
from urfbtf.records import read_records
from urfbtf.rules.target import exact_ops
from urfbtf.runner import checkpoint, train
from urfbtf.runner.config import Config


def _authors_ortho_loss(weights):
    """The loss of nasiryahm/GAIT-prop's `inv_net.ortho_gradients`, restated in
    NumPy: reg = einsum('ik,jk->ij', W, W) on W[in, out], Σ (reg − reg·I)²."""
    reg = np.einsum("ik,jk->ij", weights, weights)
    return np.sum((reg - reg * np.eye(weights.shape[0])) ** 2)


def _authors_ortho_gradients(weights, step=1e-6):
    """Its gradient in W (the authors take it with Chainer's autodiff): here by
    central differences in float64, independent of any formula of ours."""
    gradient = np.zeros_like(weights)
    for index in np.ndindex(weights.shape):
        shifted = [weights.copy(), weights.copy()]
        shifted[0][index] += step
        shifted[1][index] -= step
        gradient[index] = (
            _authors_ortho_loss(shifted[0]) - _authors_ortho_loss(shifted[1])
        ) / (2 * step)
    return gradient


@pytest.mark.parametrize(
    "kernel_shape",
    [(6, 6), (2, 2, 3, 12)],  # dense W[in, out]; conv [kh, kw, C_in, C_out]
)
def test_the_orthogonality_penalty_is_the_authors_ortho_gradients(kernel_shape):
    rng = np.random.default_rng(2)
    kernel = tf.Variable(rng.normal(size=kernel_shape))
    layer = types.SimpleNamespace(kernel=kernel)
    with tf.GradientTape() as tape:
        value = exact_ops.orthogonality_penalty(layer)
    # The authors' matrix: one row per input unit of a field (their conv code
    # reshapes [kh, kw, C_in, C_out] the same way).
    weights = kernel.numpy().reshape(-1, kernel_shape[-1])
    np.testing.assert_allclose(value, _authors_ortho_loss(weights), rtol=1e-12)
    found = tape.gradient(value, kernel).numpy().reshape(weights.shape)
    expected = _authors_ortho_gradients(weights)
    np.testing.assert_allclose(found, expected, rtol=1e-6, atol=1e-6)
    # The Gram over output units (MᵀM) is another penalty on the same matrix.
    gram = weights.T @ weights
    assert not np.isclose(value, np.sum((gram - np.diag(np.diag(gram))) ** 2))


@pytest.mark.parametrize("width, first_square", [(8, False), (16, True)])
def test_the_regulariser_covers_every_square_layer_the_first_when_square(
    width, first_square
):
    """As the authors' code: every square layer (all in nasiryahm/GAIT-prop;
    all but the non-square first in GAIT_prop_scaling)."""
    model = compiled(dense_net(width=width), "gait", (16,), ortho_reg=0.5)
    rng = np.random.default_rng(4)
    expected = 0.0
    for index, stage in enumerate(model.stages()):
        kernel = stage.block.layer.kernel
        kernel.assign(rng.normal(size=kernel.shape).astype("float32"))
        if index > 0 or first_square:
            expected += _authors_ortho_loss(kernel.numpy().astype("f8"))
    found = float(model.rule.penalty(model))
    assert found == pytest.approx(0.5 * expected, rel=1e-5)


# GAIT-prop is backpropagation ---------------------------------------------------


@pytest.mark.parametrize(
    "description, shape", [(dense_net(), (16,)), (conv_net(), (8, 8, 2))]
)
def test_gait_with_orthogonal_weights_and_a_small_gamma_follows_backpropagation(
    description, shape
):
    model = compiled(description, "gait", shape, gait_gamma=0.05)
    x, y = batch(shape)
    _, updates = model.rule.layer_gradients(model, x, y)
    for stage, ours, bp in zip(
        model.stages(), updates, backprop_updates(model, x, y), strict=True
    ):
        assert angle(ours, bp) < 2.0, stage.name
        # The rescaled local losses give backpropagation's size too.
        assert np.linalg.norm(ours) == pytest.approx(np.linalg.norm(bp), rel=0.05)


@pytest.mark.parametrize(
    "description, shape", [(dense_net(), (16,)), (conv_net(), (8, 8, 2))]
)
def test_row_lengths_make_gait_backpropagation_on_rows_of_any_length(
    description, shape
):
    """ε_l = γ_l diag(‖w_i‖²) D(a_l)² carries Wᵀ's error through W⁻¹ when W's
    rows are orthogonal; eq. 4's ε_l = γ_l D(a_l)² carries W⁻¹'s, which the
    unequal lengths turn away from backpropagation's."""
    x, y = batch(shape)
    found = {}
    for row_lengths in (False, True):
        model = compiled(
            description, "gait", shape, gait_gamma=1e-3, gait_row_lengths=row_lengths
        )
        rows_orthogonal_of_unequal_length(model)
        _, updates = model.rule.layer_gradients(model, x, y)
        found[row_lengths] = [
            angle(ours, bp)
            for ours, bp in zip(updates, backprop_updates(model, x, y), strict=True)
        ]
    # The output layer learns from the task loss under both; every layer below
    # it receives its error through at least one inverse.
    assert max(found[True]) < 0.5, found[True]
    assert min(found[False][:-1]) > 3.0, found[False]


def test_plain_gait_in_the_papers_arithmetic_loses_the_error_to_float32():
    """γ = 1e-3 shrinks the difference a thousandfold per layer: formed as
    float32 activities, three layers down it rounds away (the paper's sec.
    2.2.1); normalized targets keep it."""
    x, y = batch((16,))
    paper = dict(gait_gamma=1e-3, gait_differences=False)
    plain = compiled(dense_net(4), "gait", (16,), **paper)
    _, updates = plain.rule.layer_gradients(plain, x, y)
    assert np.abs(updates[0].numpy()).max() == 0  # Nothing reaches dense1.
    normalized = compiled(dense_net(4), "gait", (16,), gait_norm=1e-3, **paper)
    _, updates = normalized.rule.layer_gradients(normalized, x, y)
    for ours, bp in zip(updates, backprop_updates(normalized, x, y), strict=True):
        assert angle(ours, bp) < 1.0


def test_plain_gait_carrying_the_differences_follows_backpropagation_deep_down():
    """The same γ = 1e-3 and six layers: a difference of 1e-3⁶ of the error
    is an ordinary float32 number when it is never added to an activity."""
    x, y = batch((16,))
    model = compiled(dense_net(6), "gait", (16,), gait_gamma=1e-3)
    _, updates = model.rule.layer_gradients(model, x, y)
    for stage, ours, bp in zip(
        model.stages(), updates, backprop_updates(model, x, y), strict=True
    ):
        assert angle(ours, bp) < 0.1, stage.name
        assert np.linalg.norm(ours) == pytest.approx(np.linalg.norm(bp), rel=1e-3)


def test_the_exact_field_change_of_the_leaky_relu():
    from urfbtf.layers import LeakyReLU

    activation = LeakyReLU(0.1)
    a = tf.constant([2.0, -0.5, 0.01, -0.01, 1.0])
    moved = tf.constant([1e-30, 1e-30, -0.02, 0.02, -1e-8])
    # f⁻¹(a + m) − f⁻¹(a): m on a's side (m / D), and across the kink.
    expected = [1e-30, 1e-29, -0.01 - 0.1, 0.1 + 0.01, -1e-8]
    np.testing.assert_allclose(
        exact_ops.field_change(activation, a, moved), expected, rtol=1e-5
    )


def test_normalized_targets_lie_at_eta_at_every_layer_of_a_six_layer_net():
    eta = 1e-2
    model = compiled(dense_net(6), "gait", (16,), gait_norm=eta)
    x, y = batch((16,))
    activities = model.activities(x)
    found = model.rule.targets(model, activities, y)
    assert len(found.hidden) == 6
    for h, t in zip(activities[1:-1], found.hidden, strict=True):
        distance = np.linalg.norm((t - h).numpy().reshape(len(x), -1), axis=1)
        np.testing.assert_allclose(distance, eta, rtol=1e-3)


def test_auxiliary_units_keep_their_forward_values_as_targets():
    model = compiled(dense_net(3), "gait", (16,), gait_norm=1e-2)
    x, y = batch((16,))
    activities = model.activities(x)
    found = model.rule.targets(model, activities, y)
    # dense3 passes on 6 of its 8 units.
    np.testing.assert_array_equal(found.hidden[2][:, 6:], activities[3][:, 6:])
    assert np.abs(found.hidden[2][:, :6] - activities[3][:, :6]).max() > 0


def test_tp_with_exact_inverses_inverts_the_output_target():
    model = compiled(dense_net(3), "tp_exact", (16,))
    x, y = batch((16,))
    activities = model.activities(x)
    found = model.rule.targets(model, activities, y)
    # t_2 = G_3(t_3): the forward pass of dense3 carries it back to t_3 (whose
    # auxiliary units are dense3's own forward values).
    stage = model.stages()[2]
    _, rebuilt = stage.trace(found.hidden[1])
    np.testing.assert_allclose(rebuilt, found.hidden[2], rtol=1e-4, atol=1e-5)


# Runs ----------------------------------------------------------------------------


def _quick(rule, **changes):
    settings = dict(
        rule=rule,
        net="gait_cifar_fc3",
        activation="leaky_relu",
        kernel_init="orthogonal",
        loss="softmax",
        dataset="cifar10_sample",
        train_examples=200,
        val_examples=100,
        batch_size=20,
        eval_batch_size=100,
        optimizer="adam",
        lr=1e-4,
        epochs=2,
    )
    settings.update(changes)
    return Config(**settings)


@pytest.mark.slow
def test_a_normalized_gait_run_learns_and_follows_backpropagation(tmp_path):
    train.run(
        _quick("gait", gait_norm=1e-4, epochs=4, probe_every=1), tmp_path, **QUIET
    )
    records = read_records(tmp_path)
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    for name in nets.layer_names(nets.NETS["gait_cifar_fc3"]):
        # Measured 5.05, 2.08, 0.37, 0.00° (dense1 to output) on the authors'
        # regulariser at λ = 0.1 (3.54 on the output-unit Gram it replaced).
        assert records[-1][f"update_angle/{name}"] < 8.0, name


@pytest.mark.slow
def test_probing_a_gait_run_changes_none_of_its_weights(tmp_path):
    """The probes measure the rule's update on a batch of their own; the run
    they watch must train to the same weights as one nobody watches."""
    found = {}
    for every in (0, 3):
        config = _quick("gait", gait_norm=1e-4, probe_every=every)
        train.run(config, tmp_path / str(every), **QUIET)
        found[every] = checkpoint.variables_at(tmp_path / str(every), 2)
    assert (tmp_path / "3" / "probes.jsonl").exists()
    assert list(found[0]) == list(found[3])
    for path, value in found[0].items():
        np.testing.assert_array_equal(value, found[3][path], err_msg=path)


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["gait", "tp_exact"])
def test_a_gait_rule_under_mirrored_gives_the_single_device_result(
    rule, tmp_path, mirrored
):
    # Two steps: a target difference carries the activities' float32 round-off
    # (ulp/η ≈ 1e-3 of it for η = 1e-4, and tp_exact's full steps flip leaky-ReLU
    # kinks on it), which another batch split changes; over many steps Adam
    # would make that chaos, not a difference of the rules.
    changes = {"gait_norm": 1e-4} if rule == "gait" else {}
    cfg = _quick(rule, train_examples=40, epochs=1, gait_differences=False, **changes)
    train.run(cfg, tmp_path / "one", **QUIET)
    train.run(
        cfg.replace(strategy="mirrored"), tmp_path / "two", strategy=mirrored, **QUIET
    )
    one = checkpoint.variables_at(tmp_path / "one", 1)
    two = checkpoint.variables_at(tmp_path / "two", 1)
    assert list(one) == list(two)
    for path, value in one.items():
        if path.endswith("kernel"):
            # Adam moves a weight by at most about 2·lr a step: 4e-4 bounds two
            # steps of a gradient whose sign the last bits decide.
            np.testing.assert_allclose(
                two[path], value, rtol=1e-3, atol=4e-4, err_msg=path
            )
    records = [read_records(tmp_path / d) for d in ("one", "two")]
    assert abs(records[0][-1]["train_loss"] - records[1][-1]["train_loss"]) < 1e-4
