"""Small invertible nets for the tests of GAIT-prop and TP with exact inverses
(urfbtf.rules.target.gait), and what those tests measure them with: the update
backpropagation would make, and the angle between two updates."""

import numpy as np
import tensorflow as tf

from urfbtf import rules
from urfbtf.metrics import ErrorRate
from urfbtf.nets import gait_training
from urfbtf.nets.steps import Conv, Dense, InvConv, InvDense, Layers, Output

LAYERS = Layers(bias=True, bias_init="zeros", kernel="orthogonal")


def compiled(description, rule, input_shape, *, classes=3, **settings):
    """`description` under `rule`, as the GAIT flagfiles set a net up, at Adam
    1e-3, with the error rate as its metric."""
    return gait_training.compiled_model(
        description,
        rule,
        settings,
        lr=1e-3,
        input_shape=input_shape,
        num_classes=classes,
        metrics=[ErrorRate()],
    )


def dense_net(depth=3, width=8):
    """An ordinary first layer, then `depth - 1` square ones, the last passing
    on 6 units, and a square output layer (3 classes, 3 auxiliary units)."""
    hidden = [InvDense(f"dense{i}") for i in range(2, depth)]
    return (
        LAYERS,
        Dense("dense1", width),
        *hidden,
        InvDense(f"dense{depth}", keep=6),
        Output(square=True),
    )


def conv_net():
    """An ordinary conv, then invertible ones: disjoint 2x2 fields at stride 2
    with auxiliary channels, and overlapping 3x3 fields at stride 1."""
    return (
        LAYERS,
        Conv("conv1", 4, 3, stride=2),
        InvConv("conv2", 2, keep=6, stride=2),
        InvConv("conv3", 3, keep=4),
        Output(square=True),
    )


def batch(shape, n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype("float32"), rng.integers(0, 3, n)


def backprop_updates(model, x, y):
    kernels = [s.block.layer.kernel for s in model.stages()]
    with rules.exact_backprop(), tf.GradientTape() as tape:
        loss = model.compute_loss(y=y, y_pred=model(x, training=True))
    return [g.numpy() for g in tape.gradient(loss, kernels)]


def angle(a, b):
    a, b = np.ravel(a).astype("f8"), np.ravel(b).astype("f8")
    cosine = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return np.degrees(np.arccos(np.clip(cosine, -1, 1)))


def rows_orthogonal_of_unequal_length(model, seed=3):
    """Every square layer's rows (W[in, out]'s, one per input unit: the
    kernel's rows, a convolution's patch positions) rescaled by lengths in
    [0.7, 1.3]: still orthogonal, as the authors' regulariser leaves them, so
    W⁻¹ = Wᵀ diag(d)⁻², not Wᵀ."""
    rng = np.random.default_rng(seed)
    for stage in model.stages()[1:]:
        kernel = stage.block.layer.kernel
        lengths = rng.uniform(0.7, 1.3, size=kernel.shape[:-1]).astype("float32")
        kernel.assign(kernel * lengths[..., None])
