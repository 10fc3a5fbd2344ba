"""The networks of Amit (2019), each from one small description.

Where the paper and the code that produced it (commit 9d59f23 of yaliamit/URFB,
January 2019) disagree, the code is followed; each net's flagfile in `flags/`
says what the paper has instead:

* simpnet pools 3x3 with stride 3 (paper: stride 2, 16x16 output);
* deepernet's last block is a 2x2 then a 3x3 convolution (paper: two 3x3);
* deepnet has no file in the original repository and is built from the paper.

Every hidden layer is followed by the saturated linearity; max-pooling follows
the original code (see `urfbtf.nets.builder.max_pool`).
"""

from urfbtf.nets.steps import Conv, Dense, Drop, Output, Pool, Sum

NETS = {
    "simpnet": (
        Conv("conv1", 32, 5),
        Pool("pool1", 3, 3),
        Drop("drop1", 0.8),
        Dense("dense1", 500),
        Drop("drop2", 0.3),
        Output(),
    ),
    "deepnet": (
        Conv("conv1", 32, 5),
        Pool("pool1", 3, 2),
        Conv("conv2", 32, 3),
        Conv("conv3", 32, 3),
        Pool("pool2", 3, 2),
        Drop("drop1", 0.8),
        Conv("conv4", 32, 3),
        Conv("conv5", 32, 3),
        Pool("pool3", 3, 2),
        Drop("drop2", 0.3),
        Dense("dense1", 500),
        Output(),
    ),
    "deepernet": (
        Sum("sum0", Conv("conv0", 16, 3), Conv("conv0a", 16, 3)),
        Sum("sum1", Conv("conv1", 32, 3), Conv("conv1a", 32, 3)),
        Pool("pool1", 3, 2),
        Drop("drop1", 0.5),
        Sum("sum2", Conv("conv2", 64, 3), Conv("conv2a", 64, 3)),
        Pool("pool2", 3, 2),
        Sum("sum3", Conv("conv3", 128, 2), Conv("conv3a", 128, 3)),
        Pool("pool3", 3, 2),
        Drop("drop2", 0.8),
        Dense("dense1", 500),
        Output(),
    ),
    # The untied simpnet of the original code (_pars/simpnet_s.txt, Figs. 8-9):
    # a 3x3 stride-2 pool and no dropout; its conv is untied by flags/simpnet_s.cfg.
    "simpnet_s": (
        Conv("conv1", 32, 5),
        Pool("pool1", 3, 2),
        Dense("dense1", 500),
        Output(),
    ),
    "deepnet_s": (
        Sum("sum0", Conv("conv0", 16, 3), Conv("conv0a", 16, 3)),
        Pool("pool1", 3, 3),
        Drop("drop1", 0.5),
        Sum("sum2", Conv("conv2", 64, 3), Conv("conv2a", 64, 3)),
        Pool("pool2", 2, 2),
        Sum("sum3", Conv("conv3", 64, 2), Conv("conv3a", 64, 2)),
        Pool("pool3", 2, 2),
        Drop("drop3", 0.5),
        Dense("dense1", 500),
        Output(),
    ),
}
