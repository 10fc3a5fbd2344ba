"""Where GAIT-prop's angle to backpropagation comes from, in a trained run.

    .venv/bin/python tools/gait/orthogonality.py RUN_DIR [RUN_DIR ...] [--data_dir DIR]
        [--examples 500]

GAIT-prop carries an error down through W⁻¹ where backpropagation uses Wᵀ
(the GAIT-prop ImageNet paper, sec. 2.1): the two agree when W is orthogonal.
The authors' regulariser ‖WWᵀ − diag(WWᵀ)‖² (sec. 2.3; Ahmad et al. 2020's
`ortho_gradients`, on W[in, out] as their code, h = xW + b) makes the rows of
W, one per input unit, orthogonal but leaves their lengths free, and a W with
orthogonal rows of lengths d is W = diag(d) Q, whose inverse is
Wᵀ diag(d)⁻². So the distance from orthogonality has two parts: rows that are
not orthogonal, and rows of unequal length. For every invertible layer of each
run's final model (model.keras) and a batch of training images, this prints:

- the spread of the row lengths, their standard deviation over their mean;
- the off-diagonal part of WWᵀ relative to its diagonal, in Frobenius norm;
- the angle between backpropagation's error at the layer below, e Wᵀ, and the
  error carried by the inverse, e W⁻¹ (e backpropagation's error at the layer's
  field, examples flattened into one vector): the angle GAIT-prop adds at this
  layer;
- the same angle with the row lengths undone, e W⁻¹ diag(d)²
  (--gait_row_lengths): what the rows' lack of orthogonality alone adds.

urfbtf's kernel layout, h = xK + b, is the authors' W[in, out]: W is K.
"""

import argparse
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import urfbtf  # noqa: F401  (registers the layers for load_model)
from urfbtf import data, rules
from urfbtf.alignment import angle_degrees as angle
from urfbtf.layers.invertible_dense import InvertibleDense


def layer_rows(model, x, y) -> list[dict]:
    """One dict per invertible dense layer (see the module docstring)."""
    stages = model.stages()
    with rules.exact_backprop(), tf.GradientTape() as tape:
        fields, activities = model.trace(x, training=False)
        loss = model.compute_loss(y=y, y_pred=model.net_output(activities))
    errors = tape.gradient(loss, fields)
    rows = []
    for stage, error in zip(stages, errors, strict=True):
        layer = stage.block.layer
        if not isinstance(layer, InvertibleDense) or error is None:
            continue
        kernel = np.asarray(layer.kernel, "f8")  # W[in, out]: a row an input.
        e = np.asarray(error, "f8")
        lengths = np.linalg.norm(kernel, axis=1)
        gram = kernel @ kernel.T
        diagonal = np.diag(np.diag(gram))
        inverse = np.linalg.inv(kernel)
        rows.append(
            {
                "layer": stage.name,
                "length_spread": float(lengths.std() / lengths.mean()),
                "off_diagonal": float(
                    np.linalg.norm(gram - diagonal) / np.linalg.norm(diagonal)
                ),
                "angle": angle(e @ inverse, e @ kernel.T),
                "angle_lengths_undone": angle((e @ inverse) * lengths**2, e @ kernel.T),
            }
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+")
    parser.add_argument("--data_dir", help="CIFAR-10 TFRecords (default: the sample)")
    parser.add_argument("--examples", type=int, default=500)
    args = parser.parse_args(argv)
    x, y = data.first_training_examples(
        "cifar10" if args.data_dir else "cifar10_sample", args.examples, args.data_dir
    )
    print(
        "| run | layer | row length spread | off-diagonal / diagonal | "
        "angle e W⁻¹ to e Wᵀ (°) | with lengths undone (°) |"
    )
    print("|---|---|---|---|---|---|")
    for run_dir in map(Path, args.run_dirs):
        model = keras.models.load_model(run_dir / "model.keras")
        for row in layer_rows(model, x, y):
            print(
                f"| {run_dir.name} | {row['layer']} | {row['length_spread']:.4f} | "
                f"{row['off_diagonal']:.4f} | {row['angle']:.2f} | "
                f"{row['angle_lengths_undone']:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
