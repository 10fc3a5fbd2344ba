"""Backpropagation with GAIT-prop's orthogonality regulariser: the control that
tells the regulariser's cost from GAIT-prop's.

    .venv/bin/python tools/gait/bp_regularised.py DATA_DIR [--net gait_cifar_fc3]
        [--ortho_reg 0.1] [--epochs 10] [--seed 0] [--freeze 0]
        [--only dense2,dense3] [--project] [--lr 1e-4] [--batch_size 100]
        [--width 512] [--normalize none]

GAIT-prop trains its nets under λ Σ_l ‖W_l W_lᵀ − diag(W_l W_lᵀ)‖², W_l the
authors' matrix [in, out] (Ahmad et al. 2020's `ortho_gradients`; the GAIT-prop
ImageNet paper, sec. 2.3), backpropagation in the paper
without it, and the paper puts BP's higher train accuracy down to that ("the
lack of a regularizer being used for BP", sec. 3.1). This trains the net by
backpropagation with the same regulariser, on the same layers, at the
flagfiles' settings (flags/gait/cifar_fc3_bp.cfg: Adam 1e-4, batch 100, seed 0
unless --seed, 45,000 training images, the order of examples shuffled per epoch
from the seed), and prints
the train and test error after every epoch: the error a GAIT-prop run would
reach if it were backpropagation exactly. With --freeze N the N lowest layers
keep their initial weights: what the net reaches when they do not learn.

Where the cost lies: --only names the inverted layers that are regularised
(default all), to tell one layer's constraint from another's; --project drops
the regulariser and instead sets each inverted layer's weights, after every
step, to exactly orthogonal rows (one per input unit: the kernel's rows) of the
same lengths: the orthonormal rows
nearest to its rows, (WWᵀ)^(-1/2) W (symmetric orthogonalisation), rescaled,
W ← diag(d) (WWᵀ)^(-1/2) W with d the row lengths: the constraint itself
without the regulariser's gradient in Adam's statistics. The last column is
the largest |cosine| between two rows of each regularised layer.

Whether the cost depends on the width: --width N builds the fully connected
net (gait_cifar_fc3 or gait_cifar_fc6) with N units in every hidden layer
instead of its 512, the square layers and the square output N×N.

Whether it depends on the inputs' scale: --normalize cifar10 feeds the net
pixels normalised by CIFAR-10's per-channel means and standard deviations, as
run.sh's --normalize=cifar10 does.
"""

import argparse
import sys

import keras
import numpy as np
import tensorflow as tf

from urfbtf import data, losses, nets
from urfbtf import graph as blocks
from urfbtf.nets import gait
from urfbtf.rules.target.gait import orthogonality_penalty


def widened(name: str, width: int) -> tuple:
    """The fully connected net `name` with `width` units in every hidden layer
    (and a width × width output layer) instead of the library's 512: how the
    orthogonality constraint's cost and the inverses' grow with n (here, and
    in tools/gait/bench.py --width)."""
    if name not in gait.FULLY_CONNECTED or width < 10:
        raise ValueError(
            f"width {width} for {name!r}: a width of at least 10 units (the "
            f"classes) for one of {', '.join(gait.FULLY_CONNECTED)}"
        )
    return gait.net(*gait.fully_connected(gait.FULLY_CONNECTED[name], width))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--net", default="gait_cifar_fc3")
    parser.add_argument("--ortho_reg", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--freeze", type=int, default=0)
    parser.add_argument("--only", default="", help="comma-separated layer names")
    parser.add_argument("--project", action="store_true")
    parser.add_argument("--width", type=int, default=0, help="hidden units")
    parser.add_argument(
        "--normalize", default="none", choices=tuple(data.NORMALIZATIONS)
    )
    args = parser.parse_args(argv)
    net = args.net
    if args.width:
        try:
            net = widened(args.net, args.width)
        except ValueError as error:
            parser.error(f"--width, --net: {error}")
    splits = data.load_splits("cifar10", data_dir=args.data_dir)
    x_train = normalized(data.scaled(splits.train_images), args.normalize)
    x_test = normalized(data.scaled(splits.test_images), args.normalize)
    keras.utils.set_random_seed(args.seed)
    model = nets.build_net(
        net,
        input_shape=x_train.shape[1:],
        num_classes=10,
        rule="bp",
        activation="leaky_relu",
        kernel_initializer="orthogonal",
    )
    layers = [block.layer for block in blocks.blocks(model)]
    # The regularised layers are GAIT-prop's: every one whose inverse it takes.
    inverted = layers[1:]
    if args.only:
        named = {layer.name: layer for layer in inverted}
        unknown = sorted(set(args.only.split(",")) - set(named))
        if unknown:
            parser.error(f"--only {unknown}: the inverted layers are {sorted(named)}")
        inverted = [named[name] for name in args.only.split(",")]
    strength = 0.0 if args.project else args.ortho_reg
    for layer in layers[: args.freeze]:
        layer.trainable = False  # Out of model.trainable_variables.
    loss_fn = losses.get_loss("softmax")
    optimizer = keras.optimizers.Adam(args.lr)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            objective = loss_fn(y, model(x, training=True))
            if strength:  # Without it, no Gram matrices to form (O(n³) each).
                penalties = [orthogonality_penalty(layer) for layer in inverted]
                objective += strength * tf.add_n(penalties)
        variables = model.trainable_variables
        gradients = tape.gradient(objective, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        if args.project:
            for layer in inverted:
                layer.kernel.assign(orthogonal_rows(layer.kernel))

    def error(x, y):
        logits = model.predict(x, batch_size=1000, verbose=0)
        return float(np.mean(np.argmax(logits, axis=1) != y))

    constraint = "projected" if args.project else f"ortho_reg {args.ortho_reg:g}"
    if args.normalize != "none":
        constraint += f", inputs normalised ({args.normalize})"
    width = f" of width {args.width}" if args.width else ""
    print(
        f"{args.net}{width}, bp, {constraint} on {[layer.name for layer in inverted]}, "
        f"adam {args.lr:g}, seed {args.seed}, {args.freeze} lowest layers frozen"
    )
    print("| epoch | train err % | test err % | max row cosine |")
    print("|---|---|---|---|")
    for epoch in range(1, args.epochs + 1):
        order = np.random.default_rng([args.seed, epoch]).permutation(len(x_train))
        for start in range(0, len(order), args.batch_size):
            batch = order[start : start + args.batch_size]
            step(x_train[batch], splits.train_labels[batch])
        train = error(x_train, splits.train_labels)
        test = error(x_test, splits.test_labels)
        cosines = ", ".join(f"{largest_row_cosine(layer):.3f}" for layer in inverted)
        print(
            f"| {epoch} | {100 * train:.2f} | {100 * test:.2f} | {cosines} |",
            flush=True,
        )
    return 0


def normalized(images: np.ndarray, name: str) -> np.ndarray:
    """Pixels in [0, 1] less `data.NORMALIZATIONS[name]`'s per-channel means,
    over its standard deviations (as they are, for "none")."""
    if data.NORMALIZATIONS[name] is None:
        return images
    mean, std = (np.asarray(values, np.float32) for values in data.NORMALIZATIONS[name])
    return (images - mean) / std


def orthogonal_rows(kernel) -> tf.Tensor:
    """The kernel W[inputs, outputs] whose rows (one per input unit, the rows
    the regulariser makes orthogonal) are made exactly orthogonal, each keeping
    its length: diag(d) S^(-1/2) W with S = WWᵀ and d² its diagonal."""
    kernel = tf.convert_to_tensor(kernel)
    gram = tf.matmul(kernel, kernel, transpose_b=True)
    values, vectors = tf.linalg.eigh(gram)
    inverse_root = tf.matmul(vectors * tf.math.rsqrt(values), vectors, transpose_b=True)
    lengths = tf.sqrt(tf.linalg.diag_part(gram))
    return lengths[:, None] * tf.matmul(inverse_root, kernel)


def largest_row_cosine(layer) -> float:
    kernel = np.asarray(layer.kernel, np.float64)
    lengths = np.linalg.norm(kernel, axis=1)
    cosines = np.abs(kernel @ kernel.T / np.outer(lengths, lengths))
    np.fill_diagonal(cosines, 0.0)
    return float(cosines.max())


if __name__ == "__main__":
    sys.exit(main())
