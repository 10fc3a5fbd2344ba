"""What a target-propagation run's hidden layers and targets do, step by step.

    .venv/bin/python tools/bartunov/tp_diagnose.py \
        --flagfile=flags/bartunov/mnist_fc_sdtp_parallel.cfg \
        --data_dir="$DATA/mnist" --epochs=2 [--every=50] [--examples=1000] \
        [any other run flag, e.g. --inverse_beta2=0.999]

Trains the flagfile's run in this process (no run directory) and, every `--every`
steps, on a fixed batch of `--examples` training examples, prints one line per
hidden layer:

* `sat`: the fraction of its units with |h| > 0.99 (tanh saturated: a unit there
  passes almost no gradient and almost no change of its input);
* `out`: the fraction of its target's entries ĥ outside (-1, 1), which no tanh
  unit can reach, so that its local loss ‖h − ĥ‖² keeps pulling the weights
  outwards whatever they do;
* `dist`: the mean over examples of ‖ĥ − h‖ (how far the targets ask a layer to move);
* `w`: the Frobenius norm of its forward kernel;

and the training error of the fixed batch. Written to find why SDTP on MNIST FC
learns in its first epoch and falls to chance in its second (tools/bartunov/README.md,
"MNIST FC256×5"); it reads the rule's own targets (`rule.targets`), so it works
for every target rule.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from urfbtf import data
from urfbtf.runner import main, train  # noqa: E402
from urfbtf.runner.config import Config  # noqa: E402

flags.DEFINE_integer("every", 50, "Steps between two measurements.")
flags.DEFINE_integer("examples", 1000, "Training examples in the fixed batch.")


class Diagnose(keras.callbacks.Callback):
    """Measures the fixed batch every `every` steps (see the module docstring)."""

    def __init__(self, x, y, every: int):
        super().__init__()
        self.x, self.y, self.every = x, y, every
        self.step = 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0 or self.step == 1:
            self.report()

    def report(self):
        model = self.model
        activities = model.activities(self.x)
        hidden = model.rule.targets(model, activities, self.y).hidden
        predicted = np.argmax(model.net_output(activities).numpy(), axis=-1)
        error = float(np.mean(predicted != self.y.numpy()))
        parts = []
        for stage, h, target in zip(
            model.stages()[:-1], activities[1:-1], hidden, strict=True
        ):
            h = h.numpy()
            kernel = stage.block.layer.kernel.numpy()
            text = f"sat {np.mean(np.abs(h) > 0.99):.2f}"
            if target is not None:
                target = target.numpy()
                distance = np.linalg.norm((target - h).reshape(len(h), -1), axis=1)
                text += f" out {np.mean(np.abs(target) >= 1):.2f}"
                text += f" dist {distance.mean():.3g}"
            text += f" w {np.linalg.norm(kernel):.1f}"
            parts.append(f"{stage.block.name}: {text}")
        print(f"step {self.step:5d} error {error:.3f} | " + " | ".join(parts))
        sys.stdout.flush()


def run(argv) -> None:
    del argv
    config = Config(
        **{name: holder.value for name, holder in main._SETTINGS.items()}
    ).validate()
    train.make_deterministic()
    keras.utils.set_random_seed(config.seed)
    inputs = data.load_inputs(
        config.dataset,
        config.data_dir,
        input_path=config.input,
        val_examples=config.val_examples,
        train_examples=config.train_examples,
    )
    model = train.build_model(config, inputs.image_shape, inputs.num_classes)
    # An alternating epoch is an inverse pass and a forward pass, as the
    # runner feeds it (`urfbtf.runner.train`).
    passes = getattr(model, "passes_per_epoch", 1)
    steps = passes * data.steps_per_epoch(inputs.count("train"), config.batch_size)
    stream = inputs.train(
        tf.distribute.get_strategy(),
        batch_size=config.batch_size,
        seed=config.seed,
        first_epoch=0,
        epochs=config.epochs * passes,
    )
    x, y = next(iter(stream.unbatch().batch(flags.FLAGS.examples)))
    print(f"{config.rule} {config.tp_schedule} on {config.net}, {steps} steps/epoch")
    model.fit(
        stream,
        epochs=config.epochs,
        steps_per_epoch=steps,
        shuffle=False,
        verbose=0,
        callbacks=[Diagnose(x, y, flags.FLAGS.every)],
    )


if __name__ == "__main__":
    # The runner's parser: --flagfile and the net's own flagfile, as ./run.sh.
    app.run(run, flags_parser=main.parse_flags)
