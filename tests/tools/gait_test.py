"""The GAIT-prop tools of tools/gait/ and the GAIT section of tools/bench.py,
on small nets: orthogonality, the summary's variants, the regularised-backprop
baseline (projection, widened nets, normalised inputs), and the decomposition's
control with Wᵀ in place of W⁻¹."""

import numpy as np
import pytest
import tensorflow as tf

from tests.support.gait_nets import (
    angle,
    backprop_updates,
    batch,
    compiled,
    dense_net,
    rows_orthogonal_of_unequal_length,
)
from tests.support.tool_loader import load_tool
from urfbtf import data, graph, nets, rules


def test_gait_orthogonality_tells_row_lengths_from_rows_out_of_orthogonality():
    """tools/gait/orthogonality.py: rows orthogonal but of unequal lengths have
    no off-diagonal, an angle between e W⁻¹ and e Wᵀ, and none once the
    lengths are undone."""
    gait_orthogonality = load_tool("gait/orthogonality.py")

    model = compiled(dense_net(), "gait", (16,))
    rows_orthogonal_of_unequal_length(model)
    x, y = batch((16,))
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
    """tools/gait/bp_regularised.py --project: the projected kernel's rows
    (one per input unit, those the regulariser makes orthogonal) are
    orthogonal and as long as before, and a kernel whose rows are already
    orthogonal is left as it is. The kernel is an
    orthogonal one moved off orthogonality, with unequal row lengths, as the
    layers are in training (the projection follows every step)."""
    gait_bp_regularised = load_tool("gait/bp_regularised.py")

    rng = np.random.default_rng(0)
    orthogonal = np.linalg.qr(rng.normal(size=(24, 24)))[0]
    moved = orthogonal + 0.05 * rng.normal(size=(24, 24))
    kernel = (moved * rng.uniform(0.5, 2.0, size=(24, 1))).astype(np.float32)
    projected = gait_bp_regularised.orthogonal_rows(kernel).numpy()
    gram = projected.astype(np.float64) @ projected.T
    lengths = np.linalg.norm(kernel, axis=1)
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
        model = compiled(dense_net(), transposed.name, (16,), gait_norm=norm)
        rng = np.random.default_rng(4)
        for stage in model.stages():
            kernel = stage.block.layer.kernel
            kernel.assign(kernel + 0.3 * rng.normal(size=kernel.shape))
        x, y = batch((16,))
        _, updates = model.rule.layer_gradients(model, x, y)
        for stage, ours, bp in zip(
            model.stages(), updates, backprop_updates(model, x, y), strict=True
        ):
            assert angle(ours, bp) < 0.05, stage.name
            assert np.linalg.norm(ours) == pytest.approx(np.linalg.norm(bp), rel=1e-3)
    finally:
        rules.RULES.pop(transposed.name)
