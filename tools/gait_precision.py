"""GAIT-prop's update angle to backpropagation at initialization, by arithmetic.

    python tools/gait_precision.py [DATA_DIR] [--examples 100]

On one batch of CIFAR-10 training images (from DATA_DIR's TFRecords, or the
shipped cifar10_sample without one) and the initial weights of gait_cifar_fc3
and gait_cifar_fc6 (seed 0), prints the angle between each layer's GAIT-prop
update and backpropagation's for plain (γ 1e-3) and normalized (η 1e-4) targets,
in the paper's arithmetic (targets as float32 activities,
--gait_differences=false) and in the library's (t − a carried exactly). At
initialization the weights are orthogonal, so every angle above 0 is numerical
(or a leaky-ReLU kink the step crosses): what sec. 2.2.1 of the paper calls
precision errors.
"""

import argparse
import sys

import keras
import numpy as np
import tensorflow as tf

from urfbtf import data, losses, nets, rules

CASES = (
    ("plain, paper's arithmetic", dict(gait_differences=False)),
    ("plain, differences carried", dict()),
    ("normalized, paper's arithmetic", dict(gait_norm=1e-4, gait_differences=False)),
    ("normalized, differences carried", dict(gait_norm=1e-4)),
)


def angle(a, b) -> float:
    a, b = np.ravel(a).astype("f8"), np.ravel(b).astype("f8")
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    if norms == 0:
        return float("nan")  # Nothing reached the layer.
    return float(np.degrees(np.arccos(np.clip(a @ b / norms, -1, 1))))


def angles(net, x, y, settings) -> list[float]:
    rule = rules.get_rule("gait")
    values = {s.name: s.default for s in rule.settings}
    values.update(settings)
    keras.utils.set_random_seed(0)
    model = nets.build_net(
        net,
        input_shape=x.shape[1:],
        num_classes=10,
        rule=rule,
        rule_settings=values,
        activation="leaky_relu",
        kernel_initializer="orthogonal",
    )
    rule.compile(
        model,
        make_optimizer=lambda lr=None: keras.optimizers.Adam(1e-4),
        settings=values,
        loss=losses.get_loss("softmax"),
    )
    _, updates = rule.layer_gradients(model, x, y)
    kernels = [s.block.layer.kernel for s in model.stages()]
    with rules.exact_backprop(), tf.GradientTape() as tape:
        loss = model.compute_loss(y=y, y_pred=model(x))
    reference = tape.gradient(loss, kernels)
    return [angle(u, r) for u, r in zip(updates, reference, strict=True)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?")
    parser.add_argument("--examples", type=int, default=100)
    args = parser.parse_args(argv)
    name = "cifar10" if args.data_dir else "cifar10_sample"
    splits = data.load_splits(
        name, data_dir=args.data_dir, train_examples=args.examples, val_examples=0
    )
    x = data.scaled(splits.train_images[: args.examples])
    y = splits.train_labels[: args.examples]
    for net in ("gait_cifar_fc3", "gait_cifar_fc6"):
        layers = nets.layer_names(nets.NETS[net])
        print(f"\n{net}, {len(x)} training images, initial weights (seed 0)\n")
        print("| targets | " + " | ".join(layers) + " |")
        print("|---|" + "---|" * len(layers))
        for label, settings in CASES:
            found = angles(net, x, y, settings)
            cells = ["–" if v != v else f"{v:.2f}" for v in found]
            print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
