"""How far the signals of Amit (2019)'s nets are from zero at initialization.

    .venv/bin/python tools/amit/plateau_signal.py RUN_DIR [RUN_DIR ...] [--data_dir DIR]
        [--examples 500] [--connectivity 1 0.5]

The saturated linearity (slope `nonlin_scale`), Glorot weights and no biases of
the original code leave the output field near 0 at initialization, where the
multi-class hinge loss (eq. 4) sits at its plateau of 2 (every margin at 1).
Random 50% connectivity zeroes half of W and of R without rescaling the rest,
so every pruned layer shrinks the activity it passes up and the error it passes
down. For the settings of each run's config.json (a kept record of
tools/amit/deep_table.sh: its net, rule, loss and seed), built afresh at each
connectivity, and one batch of training images (in inference mode: no
dropout), this prints per learning layer, bottom to top:

- the RMS of the activity entering the layer (x),
- the RMS of the error at the layer's field (δ, what the rule sends down),
- the size of the first SGD update at the run's lr, ‖ΔW‖ / ‖W‖,

and the ratio of each at the second connectivity to the first. An update is
−lr Σ δ ⊗ x over the batch (and positions), so it shrinks with both signals;
the ratio of the updates says how much more slowly the pruned net starts to
move off the plateau.
"""

import argparse
import json
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from urfbtf import data
from urfbtf.graph import learning_layers
from urfbtf.runner import train
from urfbtf.runner.config import Config, declared_settings


def signals(config: Config, x, y) -> tuple[list[dict], dict]:
    """For `config`'s model, freshly initialised: one dict per learning layer,
    and the loss and output field's RMS."""
    keras.utils.set_random_seed(config.seed)
    model = train.build_model(config, x.shape[1:], num_classes=10)
    layers = learning_layers(model)
    probe = keras.Model(
        model.inputs,
        [
            [layer.input for layer in layers],
            [layer.output for layer in layers],
            model.output,
        ],
    )
    kernels = [layer.kernel for layer in layers]
    with tf.GradientTape() as tape:
        inputs, fields, output = probe(tf.constant(x), training=False)
        loss = model.compute_loss(y=y, y_pred=output)
    errors, kernel_grads = tape.gradient(loss, (fields, kernels))
    rows = []
    for layer, x_in, error, kernel, grad in zip(
        layers, inputs, errors, kernels, kernel_grads, strict=True
    ):
        rows.append(
            {
                "layer": layer.name,
                "activity": _rms(x_in),
                "error": _rms(error),
                "update": config.lr * np.linalg.norm(grad) / np.linalg.norm(kernel),
            }
        )
    return rows, {"loss": float(loss), "output": _rms(output)}


def _rms(tensor) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(tensor, "f8")))))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--connectivity", type=float, nargs=2, default=[1.0, 0.5])
    args = parser.parse_args(argv)
    x, y = data.first_training_examples(
        "cifar10" if args.data_dir else "cifar10_sample", args.examples, args.data_dir
    )
    first, second = args.connectivity
    print(
        "| net | rule | layer | activity RMS | error RMS | ‖ΔW‖/‖W‖ "
        f"| at {second:g}: activity, error, update (× the value at {first:g}) |"
    )
    print("|---|---|---|---|---|---|---|")
    declared = declared_settings()
    for run in args.runs:
        recorded = json.loads((run / "config.json").read_text())
        # config.json also records the lr history and library versions.
        config = Config(**{k: v for k, v in recorded.items() if k in declared})
        base, full = signals(config.replace(connectivity=first), x, y)
        other, pruned = signals(config.replace(connectivity=second), x, y)
        name = f"| {config.net} | {config.rule}"
        for row, ours in zip(base, other, strict=True):
            ratios = ", ".join(
                f"{ours[key] / row[key]:.2f}" for key in ("activity", "error", "update")
            )
            signal = f"{row['activity']:.3g} | {row['error']:.3g} | {row['update']:.2e}"
            print(f"{name} | {row['layer']} | {signal} | {ratios} |")
        ratio = pruned["output"] / full["output"]
        print(
            f"{name} | output field | {full['output']:.3g} | loss {full['loss']:.5f} "
            f"| | {ratio:.2f} (loss {pruned['loss']:.5f}) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
