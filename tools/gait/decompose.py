"""Where GAIT-prop's training falls behind backpropagation's: the inverses or
the regulariser.

    .venv/bin/python tools/gait/decompose.py DATA_DIR [--steps 900] [--batch 50]
        [--eta 1e-4] [--ortho_reg 0.1]

GAIT-prop differs from backpropagation in two ways (the GAIT-prop ImageNet
paper, sec. 2.1): its targets go down through W⁻¹ where backprop's error goes
through Wᵀ, and its weights train under the orthogonality regulariser that
keeps the two close. This trains gait_cifar_fc3 from one set of initial
weights on the same batches, in lockstep, four ways beside backprop:

- GAIT-prop's targets through Wᵀ, without the regulariser: backprop itself,
  reached through the target machinery (a check of that machinery);
- through Wᵀ, with the regulariser: backprop under the regulariser;
- through W⁻¹, without the regulariser;
- through W⁻¹, with it: normalized GAIT-prop.

and prints, every --every steps, each one's mean training loss over those
steps and its test error on the first 5,000 test images, next to backprop's
(Adam 1e-4, softmax cross-entropy, seed 0, as flags/gait/cifar_fc3_*.cfg).
Wᵀ in place of W⁻¹ is weight transport: a control, not a rule.
"""

import argparse
import sys

import numpy as np
import tensorflow as tf

from urfbtf import data, rules
from urfbtf.nets import gait_training
from urfbtf.rules.target import gait

NET = "gait_cifar_fc3"


class TransposedTargets(gait.ExactInverseTargets):
    """GAIT-prop's targets carried down by Wᵀ instead of W⁻¹ (dense layers)."""

    @staticmethod
    def _inverses(layers):
        return [
            tf.transpose(layer._read(layer.kernel, layer.kernel_mask))
            for layer in layers
        ]


def compiled(net, rule, settings):
    """`net` under `rule` with `settings`, as flags/gait/ builds it, seed 0."""
    return gait_training.compiled_model(net, rule, settings)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--every", type=int, default=150)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--eta", type=float, default=1e-4)
    parser.add_argument("--ortho_reg", type=float, default=0.1)
    args = parser.parse_args(argv)
    splits = data.load_splits("cifar10", data_dir=args.data_dir)
    x, y = data.scaled(splits.train_images), splits.train_labels
    x_test = data.scaled(splits.test_images[:5000])
    y_test = splits.test_labels[:5000]
    # Registered in this process only: the layers look their rule up by name.
    transposed = rules.register(
        TransposedTargets(
            "gait_transposed", "GAIT-prop's targets through W^T", incremental=True
        )
    )
    cases = {
        "Wᵀ, λ 0": (transposed.name, 0.0),
        f"Wᵀ, λ {args.ortho_reg:g}": (transposed.name, args.ortho_reg),
        "W⁻¹, λ 0": ("gait", 0.0),
        f"W⁻¹, λ {args.ortho_reg:g}": ("gait", args.ortho_reg),
    }
    models = {"backprop": compiled(NET, "bp", {})}
    for label, (rule, strength) in cases.items():
        settings = {"gait_norm": args.eta, "ortho_reg": strength}
        models[label] = compiled(NET, rule, settings)
    start = {v.path: v.numpy() for v in models["backprop"].weights}
    for model in models.values():  # One set of initial weights for all.
        for variable in model.weights:
            variable.assign(start[variable.path])
    print(
        f"{NET}, batch {args.batch}, η {args.eta:g}: mean training loss over "
        f"each {args.every} steps / test error %"
    )
    print("| steps | " + " | ".join(models) + " |")
    print("|---|" + "---|" * len(models))
    totals = dict.fromkeys(models, 0.0)
    for step in range(args.steps):
        rows = np.arange(step * args.batch, (step + 1) * args.batch) % len(x)
        for label, model in models.items():
            logs = model.train_on_batch(x[rows], y[rows], return_dict=True)
            totals[label] += logs["loss"]
        if (step + 1) % args.every == 0:
            cells = []
            for label, model in models.items():
                logits = model.predict(x_test, batch_size=1000, verbose=0)
                error = np.mean(np.argmax(logits, axis=1) != y_test)
                cells.append(f"{totals[label] / args.every:.4f} / {100 * error:.2f}")
                totals[label] = 0.0
            print(f"| {step + 1} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
