"""The networks of Bartunov et al. (2018), Table 3, for BP, FA, DFA and the
target-propagation family (DTP, SDTP, AO-SDTP).

Fully connected (FC) nets for MNIST and CIFAR-10, and locally connected (LC)
nets for MNIST, CIFAR-10 and ImageNet. Table 3 writes an LC layer as (kernel,
output channels, stride), stride 1 when omitted; pooling is replaced by strided
layers, and there is no final spatial averaging. Each LC layer is declared as a
`Conv`: "LC" is that net with every conv untied (`--untie=all`, as its flagfile
sets), "BP ConvNet" the same net with shared weights (`--untie=`). The
flagfiles also set what the paper shares across its nets: tanh hidden units
("In all networks we used the hyperbolic tangent"), a linear output layer
under softmax cross-entropy (`--loss=softmax`), and Adam; the Table 5 cells are
in `flags/bartunov/`.

Their layers are made as the paper describes them (`PAPER`):

* every layer, the output included, is σ(W h + b) (eq. 1): a trained bias;
* "All layers are initialized using the method suggested by Glorot & Bengio":
  W Glorot uniform, and b = 0, as Glorot and Bengio (2010) start their biases;
* an LC layer draws each connection independently, with the fans of the conv
  it unties (the paper says nothing of starting one as a copied conv kernel);
* "Zero padding that keeps the spatial shape at stride 1": SAME padding;
* no pooling and no dropout.

Under frfb, R is Glorot uniform, drawn independently of W (the paper does not
say how FA's feedback weights start).
"""

from urfbtf.nets.steps import Conv, Dense, Layers, Output

PAPER = Layers(bias=True, bias_init="zeros", kernel="glorot_uniform", tied_init=False)


def net(*steps) -> tuple:
    """A description of this paper: its steps, with the paper's layers."""
    return (PAPER, *steps, Output())


def fully_connected(units: int, count: int) -> tuple:
    """`count` hidden layers of `units`."""
    return tuple(Dense(f"dense{i}", units) for i in range(1, count + 1))


NETS = {
    "bartunov_mnist_fc": net(*fully_connected(256, 5)),
    "bartunov_mnist_lc": net(
        Conv("conv1", 32, 3, stride=2),
        Conv("conv2", 64, 3, stride=2),
        Dense("dense1", 1024),
    ),
    "bartunov_cifar_fc": net(*fully_connected(1024, 3)),
    "bartunov_cifar_lc": net(
        Conv("conv1", 64, 5, stride=2),
        Conv("conv2", 128, 5, stride=2),
        Conv("conv3", 256, 3),
        Dense("dense1", 1024),
    ),
    # On 224x224 images: 56, 28, 28, 14, 14, 7, 7 pixels a side.
    "bartunov_imagenet_lc": net(
        Conv("conv1", 48, 9, stride=4),
        Conv("conv2", 48, 3, stride=2),
        Conv("conv3", 96, 5),
        Conv("conv4", 96, 3, stride=2),
        Conv("conv5", 192, 3),
        Conv("conv6", 192, 3, stride=2),
        Conv("conv7", 384, 3),
    ),
}
