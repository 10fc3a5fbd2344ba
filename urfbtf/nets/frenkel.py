"""The networks of Frenkel, Lefebvre and Bol (2021), sec. 4, for DFA, sDFA and DRTP.

Fully connected nets FC1 and FC2 of 100 to 1000 units per layer, and the
convolutional nets of their MNIST and CIFAR-10 experiments. Their flagfiles set
tanh hidden units, sigmoid outputs with binary cross-entropy, and Adam; dropout
(`--dropout`), when set, acts on the input of every fully connected layer.

Their layers are made as the reference code makes them
(ChFrenkel/DirectRandomTargetProjection, models.py at b84e3fe, `REFERENCE`):

* every conv and fully connected layer, the output included, has a trained bias
  (`bias=True`, models.py:79, 99);
* W and b start at nn.Linear's and nn.Conv2d's defaults, U(±1/√fan_in)
  (torch/nn/modules/linear.py, `reset_parameters`). The paper's sec. 4.3 says
  He uniform; the code never applies it to forward weights, and urfbtf follows
  the code (the runner takes W's from `--kernel_init`, which their flagfiles
  set to fan_in_uniform; `--kernel_init=he_uniform` gives the paper's text);
* the feedback weights of frfb (feedback alignment) are the reference's FA
  matrix of W's shape [out, in], kaiming_uniform_: U(±√(6/fan_in))
  (module.py:50, 63-65), which is Keras' He uniform in W's [in, out] layout.
"""

from urfbtf.nets.steps import FAN_IN_UNIFORM, Conv, Dense, Drop, Layers, Output, Pool

REFERENCE = Layers(bias=True, kernel=FAN_IN_UNIFORM, feedback="he_uniform")


def fully_connected(*units: int) -> tuple:
    """Hidden layers of `units`, with open dropout on the input of every fully
    connected layer (the output included)."""
    steps = []
    for i, n in enumerate(units, start=1):
        steps += [Drop(f"drop{i}", None), Dense(f"dense{i}", n)]
    return (*steps, Drop(f"drop{len(units) + 1}", None), Output())


def net(*steps) -> tuple:
    """A description of this paper: its steps, with the reference's layers."""
    return (REFERENCE, *steps)


NETS = {
    "fc1_500": net(*fully_connected(500)),
    "fc1_1000": net(*fully_connected(1000)),
    "fc2_100": net(*fully_connected(100, 100)),
    "fc2_500": net(*fully_connected(500, 500)),
    "fc2_1000": net(*fully_connected(1000, 1000)),
    "conv_mnist": net(
        Conv("conv1", 32, 5),
        Pool("pool1", 2, 2),
        *fully_connected(1000),
    ),
    "conv_cifar": net(
        Conv("conv1", 64, 3),
        Pool("pool1", 2, 2),
        Conv("conv2", 256, 3),
        Pool("pool2", 2, 2),
        *fully_connected(1000, 1000),
    ),
}
