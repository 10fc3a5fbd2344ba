"""The flagfiles of the GAIT-prop cells (flags/gait/): each loads through the
runner and names its command, and a tuned cell differs from its paper cell by
the changes it names."""

import pytest

from tests.support.paths import REPO
from tests.support.runs import parsed_settings
from urfbtf.runner.config import Config

CIFAR_CELLS = sorted((REPO / "flags" / "gait").glob("cifar_*.cfg"))


def _flagfile_settings(path) -> dict:
    """Every run setting as the runner parses the flagfile at `path`."""
    from absl import flags

    from urfbtf.runner import main

    try:
        main.parse_flags(["urfbtf", f"--flagfile={path}"])
        return parsed_settings()
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
