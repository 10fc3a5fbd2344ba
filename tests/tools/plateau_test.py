"""tools/amit/plateau_signal.py and tools/amit/plateau_escape.py: the hinge-loss plateau
that Amit (2019)'s nets start on, measured at initialization and from records."""

import math

import numpy as np

from tests.support.tool_loader import load_tool
from urfbtf import data
from urfbtf.runner.config import Config

plateau_escape = load_tool("amit/plateau_escape.py")
plateau_signal = load_tool("amit/plateau_signal.py")


def _records(deficits, plateau=2.0):
    return [
        {"epoch": epoch, "train_loss": plateau - deficit}
        for epoch, deficit in enumerate(deficits, start=1)
    ]


def test_escape_fits_a_geometric_deficit_and_finds_where_it_left():
    deficits = [1e-4 * 1.5**k for k in range(20)]  # 0.1 is crossed at k = 17.04
    crossing = 1 + math.log(1e3) / math.log(1.5)
    found = plateau_escape.escape(_records(deficits), 2.0, left=0.1, fit_below=0.01)
    assert found["left"] == math.ceil(crossing) and found["epochs"] == 20
    # The fit uses the epochs below 0.01 only, all before the run left.
    assert list(found["fit"]) == list(range(1, 13))
    assert math.isclose(found["growth"], 1.5, rel_tol=1e-9)
    early = plateau_escape.escape(
        _records(deficits[:12]), 2.0, left=0.1, fit_below=0.01
    )
    assert early["left"] is None
    assert math.isclose(early["predicted"], crossing, rel_tol=1e-9)


def test_escape_predicts_nothing_from_a_loss_that_does_not_fall():
    found = plateau_escape.escape(_records([0.0] * 5), 2.0, left=0.1, fit_below=0.01)
    assert found["left"] is None and found["predicted"] is None


def test_pruning_shrinks_the_output_field_and_every_update_at_initialization():
    """simpnet under URFB at the hinge loss's plateau: half the connections
    (unscaled) make a smaller output field and a smaller first update in every
    pruned layer; the output layer is never pruned, and at the plateau its error
    is the hinge loss's gradient at zero, the same in both nets."""
    x, y = data.first_training_examples("cifar10_sample", 50)
    config = Config(  # flags/simpnet.cfg's settings
        net="simpnet",
        rule="urfb",
        loss="hinge",
        dataset="cifar10",
        lr=0.1,
        nonlin_scale=0.5,
    )
    full, full_output = plateau_signal.signals(config, x, y)
    pruned, pruned_output = plateau_signal.signals(
        config.replace(connectivity=0.5), x, y
    )
    assert abs(full_output["loss"] - 2.0) < 0.1
    assert abs(pruned_output["loss"] - 2.0) < 0.1
    assert pruned_output["output"] < full_output["output"]
    for ours, theirs in zip(pruned[:-1], full[:-1], strict=True):
        assert ours["update"] < theirs["update"], ours["layer"]
    assert np.isclose(pruned[-1]["error"], full[-1]["error"], rtol=1e-6)
