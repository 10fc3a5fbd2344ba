"""The networks of Frenkel, Lefebvre and Bol (2021), sec. 4, for DFA, sDFA and DRTP.

Fully connected nets FC1 and FC2 of 100 to 1000 units per layer, and the
convolutional nets of their MNIST and CIFAR-10 experiments. Their flagfiles set
tanh hidden units, sigmoid outputs with binary cross-entropy, and Adam; dropout
(`--dropout`), when set, acts on the input of every fully connected layer.
"""

from urfbtf.nets.steps import Conv, Dense, Drop, Output, Pool


def fully_connected(*units: int) -> tuple:
    """Hidden layers of `units`, with open dropout on the input of every fully
    connected layer (the output included)."""
    steps = []
    for i, n in enumerate(units, start=1):
        steps += [Drop(f"drop{i}", None), Dense(f"dense{i}", n)]
    return (*steps, Drop(f"drop{len(units) + 1}", None), Output())


NETS = {
    "fc1_500": fully_connected(500),
    "fc1_1000": fully_connected(1000),
    "fc2_100": fully_connected(100, 100),
    "fc2_500": fully_connected(500, 500),
    "fc2_1000": fully_connected(1000, 1000),
    "conv_mnist": (
        Conv("conv1", 32, 5),
        Pool("pool1", 2, 2),
        *fully_connected(1000),
    ),
    "conv_cifar": (
        Conv("conv1", 64, 3),
        Pool("pool1", 2, 2),
        Conv("conv2", 256, 3),
        Pool("pool2", 2, 2),
        *fully_connected(1000, 1000),
    ),
}
