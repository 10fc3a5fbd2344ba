"""The ImageNet cell of normalized GAIT-prop (flags/gait/imagenet_conv_gait_norm.cfg)
on its own net, gait_imagenet_conv: its settings carry backpropagation's
update to every layer at initialization, and the image sizes it can be run at
hold ImageNet's 1000 classes."""

import pytest

from tests.runner.gait_flagfiles_test import _flagfile_settings
from tests.support.paths import REPO
from tests.support.tool_loader import load_tool
from urfbtf import nets
from urfbtf.runner.config import Config

CELL = REPO / "flags" / "gait" / "imagenet_conv_gait_norm.cfg"
CLASSES = 1000


def _cell() -> Config:
    return Config(**_flagfile_settings(CELL)).validate()


def test_the_imagenet_cell_lowers_lambda_and_carries_the_differences():
    """λ below the CIFAR-10 cells' (the paper, sec. 3.3: "a slightly lower
    orthogonality regularizer strength was used in the ImageNet experiment"),
    and t − a carried exactly, without which float32 turns the lowest layers'
    updates 10-20° from backpropagation's at 224 px (tools/gait/README.md)."""
    config = _cell()
    cifar = Config(**_flagfile_settings(CELL.with_name("cifar_fc3_gait_norm.cfg")))
    assert config.ortho_reg < cifar.ortho_reg
    assert config.gait_differences is True
    assert config.net == "gait_imagenet_conv" and config.image_size == 224


def test_the_smallest_image_that_holds_imagenets_classes_is_65_pixels():
    """What the flagfile's comment says: below 65 px the square output layer
    has fewer units than ImageNet has classes (and the runner refuses it,
    tests/nets/net_capacity_test.py)."""
    widths = {
        size: nets.output_width("gait_imagenet_conv", (size, size, 3))
        for size in (64, 65, 224)
    }
    assert widths[64] < CLASSES <= widths[65]
    assert widths[224] == 7 * 7 * 192


@pytest.mark.slow
def test_the_imagenet_cell_follows_backpropagation_at_initialization():
    """Every layer's update within 5° of backpropagation's at 224 px, on two
    random images, under the cell's rule, η, γ, λ and arithmetic."""
    config = _cell()
    assert (config.activation, config.kernel_init, config.loss) == (
        "leaky_relu",
        "orthogonal",
        "softmax",
    )  # What gait_training.compiled_model sets up.
    # The measurement tools/gait/README.md reports, on the cell's image size.
    imagenet_angles = load_tool("gait/imagenet_angles.py")
    found = imagenet_angles.initial_angles(config, config.image_size, batch=2)
    assert len(found) == 8 and max(found.values()) < 5.0, found
