"""The networks of the library's papers, by paper, and the builder they share.

=================  ==========================================  ===============
paper              nets                                        module
=================  ==========================================  ===============
Amit (2019)        simpnet, deepnet, deepernet, simpnet_s,     `amit`
                   deepnet_s
Frenkel et al.     fc1_500, fc1_1000, fc2_100, fc2_500,        `frenkel`
(2021)             fc2_1000, conv_mnist, conv_cifar
Bartunov et al.    bartunov_mnist_fc, bartunov_mnist_lc,       `bartunov`
(2018)             bartunov_cifar_fc, bartunov_cifar_lc,
                   bartunov_imagenet_lc
GAIT-prop          gait_cifar_fc3, gait_cifar_fc6,             `gait`
(ImageNet paper)   gait_cifar_conv, gait_imagenet_conv
=================  ==========================================  ===============

A net is a description, a tuple of steps (`steps`), registered by name in
`registry`; `build_net` (`builder`) turns it into a functional Keras model under
any rule, and `blocks(model)` lists the learning blocks of the result (input,
layer, nonlinearity, output). `summary` tells a rule's check what it needs to
know of a net.
Each net's flagfile, `flags/<net>.cfg`, holds its paper's training settings
(Bartunov et al.'s Table 5 cells, one per method, are in `flags/bartunov/`).
"""

from __future__ import annotations

from urfbtf.graph import Block, blocks, learning_layers
from urfbtf.nets.builder import NetBuilder, build_net, max_pool
from urfbtf.nets.options import ACTIVATIONS, OUTPUT_ACTIVATIONS, NetOptions
from urfbtf.nets.registry import NETS, get_description
from urfbtf.nets.shapes import output_width
from urfbtf.nets.steps import (
    Conv,
    Dense,
    Drop,
    InvConv,
    InvDense,
    Output,
    Pool,
    Sum,
    check_untie,
    conv_names,
    has_open_dropout,
    layer_names,
)
from urfbtf.nets.summary import summary, trainable_by

__all__ = [
    "ACTIVATIONS",
    "NETS",
    "OUTPUT_ACTIVATIONS",
    "Block",
    "Conv",
    "Dense",
    "Drop",
    "InvConv",
    "InvDense",
    "NetBuilder",
    "NetOptions",
    "Output",
    "Pool",
    "Sum",
    "blocks",
    "build_net",
    "check_untie",
    "conv_names",
    "get_description",
    "has_open_dropout",
    "layer_names",
    "learning_layers",
    "max_pool",
    "output_width",
    "summary",
    "trainable_by",
]
