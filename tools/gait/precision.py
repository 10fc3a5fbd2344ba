"""GAIT-prop's update angle to backpropagation at initialization, by arithmetic.

    .venv/bin/python tools/gait/precision.py [DATA_DIR] [--examples 100] [--run RUN_DIR]

On one batch of CIFAR-10 training images (from DATA_DIR's TFRecords, or the
shipped cifar10_sample without one) and the initial weights of gait_cifar_fc3
and gait_cifar_fc6 (seed 0), prints the angle between each layer's GAIT-prop
update and backpropagation's for plain (γ 1e-3) and normalized (η 1e-4) targets,
in the paper's arithmetic (targets as float32 activities,
--gait_differences=false) and in the library's (t − a carried exactly). At
initialization the weights are orthogonal, so every angle above 0 is numerical
(or a leaky-ReLU kink the step crosses): what sec. 2.2.1 of the paper calls
precision errors.

With --run, the same four angles for the weights a run ended with (its
model.keras), instead of the initial ones of both nets: whether a trained net
has drifted to where the paper's arithmetic loses the error; and the RMS of
each layer's activities with the float32 rounding of a target formed as an
activity, relative to the run's η (1e-4 for a run that does not normalize).
"""

import argparse
import json
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from urfbtf import data, losses, nets, rules
from urfbtf.alignment import angle_degrees as angle

CASES = (
    ("plain, paper's arithmetic", dict(gait_norm=0.0, gait_differences=False)),
    ("plain, differences carried", dict(gait_norm=0.0, gait_differences=True)),
    ("normalized, paper's arithmetic", dict(gait_norm=1e-4, gait_differences=False)),
    ("normalized, differences carried", dict(gait_norm=1e-4, gait_differences=True)),
)


def angles(net, x, y, settings, run_dir=None, config=None) -> list[float]:
    """Each layer's angle between GAIT-prop's update and backprop's, for the
    initial weights of `net` (seed 0) or the final ones of `run_dir`, whose
    config.json is `config`."""
    rule = rules.get_rule("gait")
    values = {s.name: s.default for s in rule.settings}
    if config is not None:  # The run's own settings, then the case's.
        values.update({name: config[name] for name in values if name in config})
    values.update(settings)
    if run_dir is not None:
        model = keras.models.load_model(run_dir / "model.keras")
    else:
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
    # NaN where nothing reached the layer.
    return [angle(u, r) for u, r in zip(updates, reference, strict=True)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--run", type=Path, help="a gait run's directory")
    args = parser.parse_args(argv)
    x, y = data.first_training_examples(
        "cifar10" if args.data_dir else "cifar10_sample", args.examples, args.data_dir
    )
    config = None
    if args.run is not None:
        config = json.loads((args.run / "config.json").read_text())
        subjects = [(config["net"], f"the final weights of {args.run}")]
    else:
        subjects = [
            (net, "initial weights (seed 0)")
            for net in ("gait_cifar_fc3", "gait_cifar_fc6")
        ]
    for net, weights in subjects:
        layers = nets.layer_names(nets.NETS[net])
        print(f"\n{net}, {len(x)} training images, {weights}\n")
        print("| targets | " + " | ".join(layers) + " |")
        print("|---|" + "---|" * len(layers))
        for label, settings in CASES:
            found = angles(net, x, y, settings, args.run, config)
            cells = ["–" if v != v else f"{v:.2f}" for v in found]
            print(f"| {label} | " + " | ".join(cells) + " |")
    if args.run is not None:
        eta = config.get("gait_norm") or 1e-4  # The run's, if it normalizes.
        print(rounding(keras.models.load_model(args.run / "model.keras"), x, eta))
    return 0


def rounding(model, x, eta: float = 1e-4) -> str:
    """A table with a column per layer of the run's model and two rows: the
    RMS of its activities, and the float32 rounding of a target formed as an
    activity, t = a + (t − a), over η: the median over examples of
    ‖ulp(a)‖/√12 (a rounding error uniform within half an ulp each side),
    divided by η."""
    activities = [np.asarray(a) for a in model.activities(x)[1:]]
    names = [stage.name for stage in model.stages()]
    rms = [np.sqrt(np.mean(a**2)) for a in activities]
    lost = [
        np.median(np.linalg.norm(np.spacing(np.abs(a)) / np.sqrt(12), axis=1)) / eta
        for a in activities
    ]
    return "\n".join(
        [
            "\n| activities | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
            "| RMS | " + " | ".join(f"{v:.1f}" for v in rms) + " |",
            f"| float32 rounding / η = {eta:g} | "
            + " | ".join(f"{v:.2f}" for v in lost)
            + " |",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
