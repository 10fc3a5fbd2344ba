"""GAIT-prop and TP with exact inverses (urfbtf.rules.target.gait) on invertible layers.

The properties of the GAIT-prop ImageNet paper (sec. 2) and of Ahmad et al.
(2020), each checked on small shapes against backpropagation or a NumPy oracle.
"""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from tool_loader import load_tool

from urfbtf import data, graph, losses, nets, rules
from urfbtf.errors import UsageError
from urfbtf.layers import InvertibleDense, Narrow
from urfbtf.metrics import ErrorRate
from urfbtf.nets.steps import Conv, Dense, InvConv, InvDense, Layers, Output
from urfbtf.rules.target import exact_ops, gait
from urfbtf.runner import checkpoint, train
from urfbtf.runner.config import Config

QUIET = dict(verbose=0, log=lambda _: None)
LAYERS = Layers(bias=True, bias_init="zeros", kernel="orthogonal")


def _compiled(description, rule, input_shape, *, classes=3, **settings):
    rule = rules.get_rule(rule)
    values = {s.name: s.default for s in rule.settings}
    values.update(settings)
    keras.utils.set_random_seed(0)
    model = nets.build_net(
        description,
        input_shape=input_shape,
        num_classes=classes,
        rule=rule,
        rule_settings=values,
        activation="leaky_relu",
        kernel_initializer="orthogonal",
    )
    rule.compile(
        model,
        make_optimizer=lambda lr=None: keras.optimizers.Adam(1e-3),
        settings=values,
        loss=losses.get_loss("softmax"),
        metrics=[ErrorRate()],
    )
    return model


def _dense_net(depth=3, width=8):
    """An ordinary first layer, then `depth - 1` square ones, the last passing
    on 6 units, and a square output layer (3 classes, 3 auxiliary units)."""
    hidden = [InvDense(f"dense{i}") for i in range(2, depth)]
    return (
        LAYERS,
        Dense("dense1", width),
        *hidden,
        InvDense(f"dense{depth}", keep=6),
        Output(square=True),
    )


def _conv_net():
    """An ordinary conv, then invertible ones: disjoint 2x2 fields at stride 2
    with auxiliary channels, and overlapping 3x3 fields at stride 1."""
    return (
        LAYERS,
        Conv("conv1", 4, 3, stride=2),
        InvConv("conv2", 2, keep=6, stride=2),
        InvConv("conv3", 3, keep=4),
        Output(square=True),
    )


def _batch(shape, n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype("float32"), rng.integers(0, 3, n)


def _backprop_updates(model, x, y):
    kernels = [s.block.layer.kernel for s in model.stages()]
    with rules.exact_backprop(), tf.GradientTape() as tape:
        loss = model.compute_loss(y=y, y_pred=model(x, training=True))
    return [g.numpy() for g in tape.gradient(loss, kernels)]


def _angle(a, b):
    a, b = np.ravel(a).astype("f8"), np.ravel(b).astype("f8")
    cosine = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return np.degrees(np.arccos(np.clip(cosine, -1, 1)))


# Exact inverses -----------------------------------------------------------------


def test_a_square_dense_layer_inverts_its_field_to_1e_5():
    rng = np.random.default_rng(1)
    layer = InvertibleDense(rule="bp", use_bias=True, bias_initializer="ones")
    x = rng.normal(size=(5, 12)).astype("float32")
    field = layer(x)
    # Orthogonal-ish: the inverse is not the transpose.
    layer.kernel.assign(layer.kernel + 0.1 * rng.normal(size=(12, 12)))
    field = layer(x)
    assert not np.allclose(
        layer.inverse_matrix(), tf.transpose(layer.kernel), atol=1e-2
    )
    rebuilt = layer.invert(field).numpy()
    assert np.linalg.norm(rebuilt - x) / np.linalg.norm(x) < 1e-5


def test_a_square_dense_layer_refuses_another_width_and_pruning():
    with pytest.raises(ValueError, match="units=5 but its input has 12"):
        InvertibleDense(5, rule="bp")(tf.zeros([1, 12]))
    with pytest.raises(ValueError, match="connectivity=0.5"):
        InvertibleDense(rule="frfb", connectivity=0.5)


def test_the_orthogonality_penalty_has_the_hand_derived_gradient():
    layer = InvertibleDense(rule="bp")
    layer(tf.zeros([1, 6]))
    m = np.random.default_rng(2).normal(size=(6, 6)).astype("float32")
    layer.kernel.assign(m)
    with tf.GradientTape() as tape:
        value = gait.orthogonality_penalty(layer)
    gram = m.T @ m
    off = gram - np.diag(np.diag(gram))
    np.testing.assert_allclose(value, (off**2).sum(), rtol=1e-5)
    # d/dM Σ (MᵀM − diag)² = 4 M (MᵀM − diag(MᵀM)).
    np.testing.assert_allclose(
        tape.gradient(value, layer.kernel), 4 * m @ off, rtol=1e-4, atol=1e-4
    )


# GAIT-prop is backpropagation ---------------------------------------------------


@pytest.mark.parametrize(
    "description, shape", [(_dense_net(), (16,)), (_conv_net(), (8, 8, 2))]
)
def test_gait_with_orthogonal_weights_and_a_small_gamma_follows_backpropagation(
    description, shape
):
    model = _compiled(description, "gait", shape, gait_gamma=0.05)
    x, y = _batch(shape)
    _, updates = model.rule.layer_gradients(model, x, y)
    for stage, ours, bp in zip(
        model.stages(), updates, _backprop_updates(model, x, y), strict=True
    ):
        assert _angle(ours, bp) < 2.0, stage.name
        # The rescaled local losses give backpropagation's size too.
        assert np.linalg.norm(ours) == pytest.approx(np.linalg.norm(bp), rel=0.05)


def _rows_orthogonal_of_unequal_length(model, seed=3):
    """Every square layer's rows (the paper's W; the kernel's columns)
    rescaled by lengths in [0.7, 1.3]: still orthogonal, as the authors'
    regulariser leaves them, so W⁻¹ = Wᵀ diag(d)⁻², not Wᵀ."""
    rng = np.random.default_rng(seed)
    for stage in model.stages()[1:]:
        kernel = stage.block.layer.kernel
        lengths = rng.uniform(0.7, 1.3, size=kernel.shape[-1]).astype("float32")
        kernel.assign(kernel * lengths)


@pytest.mark.parametrize(
    "description, shape", [(_dense_net(), (16,)), (_conv_net(), (8, 8, 2))]
)
def test_row_lengths_make_gait_backpropagation_on_rows_of_any_length(
    description, shape
):
    """ε_l = γ_l diag(‖w_i‖²) D(a_l)² carries Wᵀ's error through W⁻¹ when W's
    rows are orthogonal; eq. 4's ε_l = γ_l D(a_l)² carries W⁻¹'s, which the
    unequal lengths turn away from backpropagation's."""
    x, y = _batch(shape)
    found = {}
    for row_lengths in (False, True):
        model = _compiled(
            description, "gait", shape, gait_gamma=1e-3, gait_row_lengths=row_lengths
        )
        _rows_orthogonal_of_unequal_length(model)
        _, updates = model.rule.layer_gradients(model, x, y)
        found[row_lengths] = [
            _angle(ours, bp)
            for ours, bp in zip(updates, _backprop_updates(model, x, y), strict=True)
        ]
    # The output layer learns from the task loss under both; every layer below
    # it receives its error through at least one inverse.
    assert max(found[True]) < 0.5, found[True]
    assert min(found[False][:-1]) > 3.0, found[False]


def test_gait_orthogonality_tells_row_lengths_from_rows_out_of_orthogonality():
    """tools/gait/orthogonality.py: rows orthogonal but of unequal lengths have
    no off-diagonal, an angle between e W⁻¹ and e Wᵀ, and none once the
    lengths are undone."""
    gait_orthogonality = load_tool("gait/orthogonality.py")

    model = _compiled(_dense_net(), "gait", (16,))
    _rows_orthogonal_of_unequal_length(model)
    x, y = _batch((16,))
    rows = gait_orthogonality.layer_rows(model, x, y)
    assert [r["layer"] for r in rows] == ["dense2", "dense3", "output"]
    for row in rows:
        assert row["off_diagonal"] < 1e-5, row
        assert row["length_spread"] > 0.05, row
        assert row["angle"] > 1.0, row
        assert row["angle_lengths_undone"] < 0.01, row


def test_gait_summary_names_what_a_run_changes_from_its_cell():
    """tools/gait/summary.py: a run at its flagfile's settings changes nothing;
    one with row lengths, another λ, rate, batch, input normalization and seed
    says so, in that order."""
    gait_summary = load_tool("gait/summary.py")

    cell = {
        "rule": "gait",
        "gait_differences": False,
        "gait_row_lengths": False,
        "ortho_reg": 0.1,
        "optimizer": "adam",
        "lr": 1e-4,
        "batch_size": 100,
        "normalize": "none",
        "seed": 0,
    }
    assert gait_summary.variant(cell) == "–"
    changed = {**cell, "gait_row_lengths": True, "ortho_reg": 0.03, "seed": 2}
    assert gait_summary.variant(changed) == "row lengths, λ = 0.03, seed 2"
    assert gait_summary.variant({**cell, "rule": "bp", "seed": 1}) == "seed 1"
    inputs = {**cell, "lr": 3e-4, "batch_size": 50, "normalize": "cifar10"}
    assert gait_summary.variant(inputs) == (
        "adam 0.0003, batch 50, inputs normalized (cifar10)"
    )


def test_gait_bp_regularised_projection_makes_rows_orthogonal_keeping_lengths():
    """tools/gait/bp_regularised.py --project: the projected kernel's columns
    (the paper's rows of W) are orthogonal and as long as before, and a kernel
    whose rows are already orthogonal is left as it is. The kernel is an
    orthogonal one moved off orthogonality, with unequal row lengths, as the
    layers are in training (the projection follows every step)."""
    gait_bp_regularised = load_tool("gait/bp_regularised.py")

    rng = np.random.default_rng(0)
    orthogonal = np.linalg.qr(rng.normal(size=(24, 24)))[0]
    moved = orthogonal + 0.05 * rng.normal(size=(24, 24))
    kernel = (moved * rng.uniform(0.5, 2.0, size=24)).astype(np.float32)
    projected = gait_bp_regularised.orthogonal_rows(kernel).numpy()
    gram = projected.T.astype(np.float64) @ projected
    lengths = np.linalg.norm(kernel, axis=0)
    np.testing.assert_allclose(np.sqrt(np.diag(gram)), lengths, rtol=1e-4)
    off = gram - np.diag(np.diag(gram))
    assert np.abs(off).max() < 1e-4 * lengths.max() ** 2
    again = gait_bp_regularised.orthogonal_rows(projected).numpy()
    np.testing.assert_allclose(again, projected, rtol=1e-3, atol=1e-4)


def test_widened_nets_and_the_tools_width():
    """`widened` of tools/gait/bp_regularised.py (and tools/gait/bench.py
    --width N): the fully connected net with N units in every hidden layer and
    an N×N output layer; a width below the classes, or a net that is not fully
    connected, is refused, by the tools with exit status 2 before any data is
    read."""
    gait_bp_regularised = load_tool("gait/bp_regularised.py")
    gait_bench = load_tool("gait/bench.py")
    widened = gait_bp_regularised.widened

    model = nets.build_net(
        widened("gait_cifar_fc3", 48),
        input_shape=(32, 32, 3),
        num_classes=10,
        rule="bp",
    )
    shapes = [tuple(block.layer.kernel.shape) for block in graph.blocks(model)]
    assert shapes == [(3072, 48), (48, 48), (48, 48), (48, 48)]
    assert widened("gait_cifar_fc6", 512) == nets.NETS["gait_cifar_fc6"]
    for name, width in (("gait_cifar_fc3", 8), ("gait_cifar_conv", 64)):
        with pytest.raises(ValueError, match=f"width {width} for '{name}'"):
            widened(name, width)
        with pytest.raises(SystemExit) as exit_info:
            gait_bp_regularised.main(
                ["no/such/data/dir", "--width", str(width), "--net", name]
            )
        assert exit_info.value.code == 2
        with pytest.raises(SystemExit) as exit_info:
            gait_bench.main(["--nets", name, "--width", str(width)])
        assert exit_info.value.code == 2


def test_the_benchmarks_gait_section_times_every_rule_against_bp(monkeypatch):
    """tools/bench.py --sections gait: a step time and a ratio to BP's for
    every rule of its GAIT_RULES on both GAIT nets (BP's ratio 1), in a table
    with a row each; an unknown section exits 2 before timing anything."""
    bench = load_tool("bench.py")

    monkeypatch.setattr(bench, "GAIT_NETS", ("gait_cifar_conv",))
    monkeypatch.setattr(bench, "GAIT_BATCH", 4)
    results = bench.bench_gait(rounds=1, steps=1)
    labels = [label for label, _, _ in bench.GAIT_RULES]
    assert set(results) == {
        f"{kind}/gait_cifar_conv/{label}"
        for kind in ("ms", "ratio")
        for label in labels
    }
    assert results["ratio/gait_cifar_conv/bp"] == 1.0
    assert all(value > 0 for value in results.values())
    table = bench.gait_table(results).splitlines()
    assert len(table) == 3 + len(labels) and table[3].startswith(
        "| gait_cifar_conv | bp |"
    )
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--sections", "gait,nope"])
    assert exit_info.value.code == 2


def test_the_regularised_backprop_tools_normalised_inputs_are_the_runners():
    """tools/gait/bp_regularised.py --normalize feeds the net what run.sh's
    --normalize does: `Preprocessing.evaluate` of the same uint8 pixels."""
    gait_bp_regularised = load_tool("gait/bp_regularised.py")

    pixels = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3), np.uint8)
    preprocessing = data.Preprocessing(shape=(4, 4, 3), normalize="cifar10")
    runner = np.stack(
        [preprocessing.evaluate(tf.constant(image), encoded=False) for image in pixels]
    )
    tool = gait_bp_regularised.normalized(data.scaled(pixels), "cifar10")
    np.testing.assert_allclose(tool, runner, rtol=1e-6, atol=1e-6)
    assert np.abs(tool).max() > 1.5  # normalised, not pixels in [0, 1]
    np.testing.assert_array_equal(
        gait_bp_regularised.normalized(data.scaled(pixels), "none"),
        data.scaled(pixels),
    )


@pytest.mark.parametrize("norm", [0.0, 1e-4])
def test_gait_targets_carried_by_the_transpose_are_backpropagation_on_any_weights(
    norm,
):
    """tools/gait/decompose.py's control: with Wᵀ in place of W⁻¹ the target
    machinery (the γ's, the normalization, the per-example loss weights) gives
    backpropagation's update, on weights far from orthogonal."""
    gait_decompose = load_tool("gait/decompose.py")

    transposed = gait_decompose.TransposedTargets(
        "gait_transposed_test", "test", incremental=True
    )
    rules.register(transposed)
    try:
        model = _compiled(_dense_net(), transposed.name, (16,), gait_norm=norm)
        rng = np.random.default_rng(4)
        for stage in model.stages():
            kernel = stage.block.layer.kernel
            kernel.assign(kernel + 0.3 * rng.normal(size=kernel.shape))
        x, y = _batch((16,))
        _, updates = model.rule.layer_gradients(model, x, y)
        for stage, ours, bp in zip(
            model.stages(), updates, _backprop_updates(model, x, y), strict=True
        ):
            assert _angle(ours, bp) < 0.05, stage.name
            assert np.linalg.norm(ours) == pytest.approx(np.linalg.norm(bp), rel=1e-3)
    finally:
        rules.RULES.pop(transposed.name)


def test_plain_gait_in_the_papers_arithmetic_loses_the_error_to_float32():
    """γ = 1e-3 shrinks the difference a thousandfold per layer: formed as
    float32 activities, three layers down it rounds away (the paper's sec.
    2.2.1); normalized targets keep it."""
    x, y = _batch((16,))
    paper = dict(gait_gamma=1e-3, gait_differences=False)
    plain = _compiled(_dense_net(4), "gait", (16,), **paper)
    _, updates = plain.rule.layer_gradients(plain, x, y)
    assert np.abs(updates[0].numpy()).max() == 0  # Nothing reaches dense1.
    normalized = _compiled(_dense_net(4), "gait", (16,), gait_norm=1e-3, **paper)
    _, updates = normalized.rule.layer_gradients(normalized, x, y)
    for ours, bp in zip(updates, _backprop_updates(normalized, x, y), strict=True):
        assert _angle(ours, bp) < 1.0


def test_plain_gait_carrying_the_differences_follows_backpropagation_deep_down():
    """The same γ = 1e-3 and six layers: a difference of 1e-3⁶ of the error
    is an ordinary float32 number when it is never added to an activity."""
    x, y = _batch((16,))
    model = _compiled(_dense_net(6), "gait", (16,), gait_gamma=1e-3)
    _, updates = model.rule.layer_gradients(model, x, y)
    for stage, ours, bp in zip(
        model.stages(), updates, _backprop_updates(model, x, y), strict=True
    ):
        assert _angle(ours, bp) < 0.1, stage.name
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
    model = _compiled(_dense_net(6), "gait", (16,), gait_norm=eta)
    x, y = _batch((16,))
    activities = model.activities(x)
    found = model.rule.targets(model, activities, y)
    assert len(found.hidden) == 6
    for h, t in zip(activities[1:-1], found.hidden, strict=True):
        distance = np.linalg.norm((t - h).numpy().reshape(len(x), -1), axis=1)
        np.testing.assert_allclose(distance, eta, rtol=1e-3)


def test_auxiliary_units_keep_their_forward_values_as_targets():
    model = _compiled(_dense_net(3), "gait", (16,), gait_norm=1e-2)
    x, y = _batch((16,))
    activities = model.activities(x)
    found = model.rule.targets(model, activities, y)
    # dense3 passes on 6 of its 8 units.
    np.testing.assert_array_equal(found.hidden[2][:, 6:], activities[3][:, 6:])
    assert np.abs(found.hidden[2][:, :6] - activities[3][:, :6]).max() > 0


def test_tp_with_exact_inverses_inverts_the_output_target():
    model = _compiled(_dense_net(3), "tp_exact", (16,))
    x, y = _batch((16,))
    activities = model.activities(x)
    found = model.rule.targets(model, activities, y)
    # t_2 = G_3(t_3): the forward pass of dense3 carries it back to t_3 (whose
    # auxiliary units are dense3's own forward values).
    stage = model.stages()[2]
    _, rebuilt = stage.trace(found.hidden[1])
    np.testing.assert_allclose(rebuilt, found.hidden[2], rtol=1e-4, atol=1e-5)


# Nets, files, runs ----------------------------------------------------------------


def test_gait_refuses_a_net_it_cannot_invert():
    config = Config(rule="gait", net="bartunov_mnist_fc", activation="leaky_relu")
    with pytest.raises(UsageError, match=r"dense2.*not invertible.*can train: gait_"):
        config.validate()
    config = Config(rule="gait", net="gait_cifar_fc3", activation="tanh")
    with pytest.raises(UsageError, match="activation='tanh' has no inverse"):
        rules.get_rule("gait").check(config, nets.summary(config.net))


def test_a_gait_net_saves_and_loads_with_its_exact_inverses(tmp_path):
    model = _compiled(_conv_net(), "gait", (8, 8, 2), gait_norm=1e-2)
    x, y = _batch((8, 8, 2), n=4)
    path = tmp_path / "net.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert any(isinstance(layer, Narrow) for layer in loaded.layers)
    np.testing.assert_array_equal(loaded(x), model(x))
    loaded.rule.compile(
        loaded,
        make_optimizer=lambda lr=None: keras.optimizers.Adam(1e-3),
        settings=model.rule_settings,
        loss=losses.get_loss("softmax"),
    )
    ours = model.rule.targets(model, model.activities(x), y).hidden
    theirs = loaded.rule.targets(loaded, loaded.activities(x), y).hidden
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


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
    records = [json.loads(x) for x in (Path(tmp_path) / "metrics.jsonl").open()]
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    for name in nets.layer_names(nets.NETS["gait_cifar_fc3"]):
        assert records[-1][f"update_angle/{name}"] < 5.0, name


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
    records = [
        [json.loads(x) for x in (tmp_path / d / "metrics.jsonl").open()]
        for d in ("one", "two")
    ]
    assert abs(records[0][-1]["train_loss"] - records[1][-1]["train_loss"]) < 1e-4


REPO = Path(__file__).resolve().parents[1]
CIFAR_CELLS = sorted((REPO / "flags" / "gait").glob("cifar_*.cfg"))


def _flagfile_settings(path) -> dict:
    """Every run setting as the runner parses the flagfile at `path`."""
    from absl import flags

    from urfbtf.runner import main

    try:
        main.parse_flags(["urfbtf", f"--flagfile={path}"])
        return {name: holder.value for name, holder in main._SETTINGS.items()}
    finally:
        flags.FLAGS.unparse_flags()


@pytest.mark.parametrize("path", CIFAR_CELLS, ids=lambda p: p.name)
def test_a_gait_flagfile_loads_through_the_runner_and_names_its_command(path):
    config = Config(**_flagfile_settings(path)).validate()
    rule = path.stem.split("_", 2)[2].removesuffix("_tuned")
    assert config.rule == ("gait" if rule.startswith("gait") else rule)
    assert config.net == "gait_" + "_".join(path.stem.split("_")[:2])
    assert config.kernel_init == "orthogonal" and config.activation == "leaky_relu"
    assert f"./run.sh --flagfile=flags/gait/{path.name}" in path.read_text()
    if config.rule == "gait":
        # eta: 1e-4, or 1e-2 where 1e-4 rounds away on the trained net (fc6).
        eta = {"cifar_fc6_gait_norm": 1e-2}.get(path.stem, 1e-4)
        assert config.gait_norm == (eta if rule == "gait_norm" else 0)
        # The paper's cells reproduce its arithmetic (and its float32 failure);
        # the tuned ones carry the differences.
        assert config.gait_differences is path.stem.endswith("_tuned")


# What a tuned cell changes from the paper's cell of its rule
# (tools/gait/README.md, "fc3 tuned"); everything else is the paper's cell's.
TUNED_CHANGES = {
    "cifar_fc3_bp": {"normalize": "cifar10", "lr": 3e-4},
    "cifar_fc3_gait_norm": {
        "normalize": "cifar10",
        "lr": 3e-4,
        "ortho_reg": 3.0,
        "gait_row_lengths": True,
        "gait_differences": True,
    },
}


@pytest.mark.parametrize("cell", sorted(TUNED_CHANGES))
def test_a_tuned_gait_cell_is_its_paper_cell_with_the_changes_it_names(cell):
    paper = _flagfile_settings(REPO / "flags" / "gait" / f"{cell}.cfg")
    tuned = _flagfile_settings(REPO / "flags" / "gait" / f"{cell}_tuned.cfg")
    changed = {name: value for name, value in tuned.items() if paper[name] != value}
    assert changed == TUNED_CHANGES[cell]
