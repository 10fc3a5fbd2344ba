"""GAIT-prop's update angle to backpropagation at initialization on
gait_imagenet_conv, by image size and the cell's settings.

    .venv/bin/python tools/gait/imagenet_angles.py [--image_size 224 96]
        [--flagfile flags/gait/imagenet_conv_gait_norm.cfg] [--gait_norm ETA]
        [--gait_differences false] [--batch 2]

Builds the net as the ImageNet GAIT-prop cell does (its flagfile's rule, η, γ,
λ and arithmetic; 1000 classes; weights from seed 0), feeds it `--batch`
random images with pixels uniform in [0, 1] (the pipeline's range; no ImageNet
data is read), and prints, for each image size, each layer's angle between the
rule's update and backpropagation's. At initialization the weights are
orthogonal, so an angle above 0 is float32 round-off or a leaky-ReLU kink that
a step crosses: what the cell's η and arithmetic must keep small.
tests/runner/gait_imagenet_test.py asserts the cell's angles at 224 px.
"""

import argparse
import sys

import numpy as np
from absl import flags

from urfbtf.alignment import angle_degrees as angle
from urfbtf.nets import gait_training
from urfbtf.registry import get_rule
from urfbtf.runner import main as runner_main
from urfbtf.runner.config import Config

CLASSES = 1000


def cell_config(flagfile: str) -> Config:
    """The run settings the runner reads from `flagfile`."""
    try:
        runner_main.parse_flags(["urfbtf", f"--flagfile={flagfile}"])
        values = {name: h.value for name, h in runner_main._SETTINGS.items()}
    finally:
        flags.FLAGS.unparse_flags()
    return Config(**values).validate()


def initial_angles(config: Config, size: int, batch: int = 2, **changes) -> dict:
    """Each layer's angle (°) between the rule's update and backprop's."""
    import tensorflow as tf

    from urfbtf import rules

    rule = get_rule(config.rule)
    settings = {s.name: getattr(config, s.name) for s in rule.settings}
    settings.update(changes)
    model = gait_training.compiled_model(
        config.net,
        config.rule,
        settings,
        lr=config.lr,
        input_shape=(size, size, 3),
        num_classes=CLASSES,
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(batch, size, size, 3)).astype("float32")
    y = rng.integers(0, CLASSES, batch)
    _, updates = model.rule.layer_gradients(model, x, y)
    kernels = [stage.block.layer.kernel for stage in model.stages()]
    with rules.exact_backprop(), tf.GradientTape() as tape:
        loss = model.compute_loss(y=y, y_pred=model(x, training=True))
    backprop = tape.gradient(loss, kernels)
    return {
        stage.name: angle(np.asarray(ours), np.asarray(bp))
        for stage, ours, bp in zip(model.stages(), updates, backprop, strict=True)
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flagfile", default="flags/gait/imagenet_conv_gait_norm.cfg")
    parser.add_argument("--image_size", type=int, nargs="+", default=[224])
    parser.add_argument("--gait_norm", type=float)
    parser.add_argument("--gait_differences", choices=("true", "false"))
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args(argv)
    config = cell_config(args.flagfile)
    changes = {}
    if args.gait_norm is not None:
        changes["gait_norm"] = args.gait_norm
    if args.gait_differences is not None:
        changes["gait_differences"] = args.gait_differences == "true"
    for size in args.image_size:
        found = initial_angles(config, size, args.batch, **changes)
        if size == args.image_size[0]:
            print("| image size | " + " | ".join(found) + " |")
            print("|---" * (len(found) + 1) + "|")
        print(f"| {size} | " + " | ".join(f"{v:.2f}" for v in found.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
