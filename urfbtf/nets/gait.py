"""The invertible networks of the GAIT-prop ImageNet paper (sec. 2.3, Fig. 3),
for GAIT-prop, TP with exact inverses, and their baselines BP and FA (frfb).

Every layer above the first is invertible (`urfbtf.rules.target.gait`): a square dense
layer or a convolution with C_in·k² output channels, a leaky ReLU, and the first
units or channels passed on, the rest auxiliary (`steps.InvDense`,
`steps.InvConv`); the output layer is square too, its first units the classes.
The first layer is an ordinary one: nothing below it needs a target, so its
inverse is never taken, and a square 3072-wide first layer would only make the
net slower. Fig. 3, which gives the widths, is not in the text
(../shared/research/paper_numbers.md sec. 4.1): the widths here are this
project's choice, 512 units, so that inverting and regularising each layer
(O(n³) per step) costs less than the step itself at a batch of 100.

Layers as the paper (sec. 2.3): leaky ReLU in every hidden layer (the
flagfiles' --activation=leaky_relu), weights initialised orthogonal
(--kernel_init=orthogonal), biases from 0, no batch norm, dropout or L2.
"""

from urfbtf.nets.steps import Conv, Dense, InvConv, InvDense, Layers, Output

PAPER = Layers(bias=True, bias_init="zeros", kernel="orthogonal", tied_init=False)

WIDTH = 512


def net(*steps) -> tuple:
    """A description of this paper: its steps, the square output layer."""
    return (PAPER, *steps, Output(square=True))


def fully_connected(hidden: int, width: int = WIDTH) -> tuple:
    """`hidden` layers of `width` units: an ordinary first one, then square ones."""
    return (
        Dense("dense1", width),
        *(InvDense(f"dense{i}") for i in range(2, hidden + 1)),
    )


# The fully connected nets, by their number of hidden layers.
FULLY_CONNECTED = {"gait_cifar_fc3": 3, "gait_cifar_fc6": 6}


NETS = {
    **{name: net(*fully_connected(hidden)) for name, hidden in FULLY_CONNECTED.items()},
    # 32x32x3 -> 16x16x32 -> 8x8x32 -> 4x4x32 -> 4x4x32 -> 512 -> 10 (+ 502
    # auxiliary): disjoint fields (2x2, stride 2) and one overlapping layer
    # (3x3, stride 1) whose inverse needs the overlap correction.
    "gait_cifar_conv": net(
        Conv("conv1", 32, 5, stride=2),
        InvConv("conv2", 2, keep=32, stride=2),
        InvConv("conv3", 2, keep=32, stride=2),
        InvConv("conv4", 3, keep=32),
    ),
    # Bartunov et al.'s ImageNet stack (urfbtf/nets/bartunov.py) with half its
    # channels (sec. 2.3: "we reduced the number of filters by half"), shared
    # weights, every conv above the first invertible. At 224x224 the output
    # layer is square on 7x7x192 = 9408 units; smaller images shrink it.
    "gait_imagenet_conv": net(
        Conv("conv1", 24, 9, stride=4),
        InvConv("conv2", 3, keep=24, stride=2),
        InvConv("conv3", 5, keep=48),
        InvConv("conv4", 3, keep=48, stride=2),
        InvConv("conv5", 3, keep=96),
        InvConv("conv6", 3, keep=96, stride=2),
        InvConv("conv7", 3, keep=192),
    ),
}
