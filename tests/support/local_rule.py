"""A rule for the tests of the rule protocol: every layer learns from a loss of its own.

Each hidden block's output feeds a linear readout to the classes, held by a
`LocalReadout` tap; the block's layer and its readout learn from the task loss of
that readout alone (local error signals, as in Mostafa et al. 2018 and Nøkland and
Eidnes 2019), the output layer from the task loss. No error crosses a layer (the
layers use `local_only`). The readouts have an optimizer of their own, SGD with
momentum, whose slots a resumed run must get back; its learning rate is the rule's
own setting. It exercises every part of `urfbtf.rules.Rule` that a target rule
will need: a tap per block, a model with its own training step, two optimizers,
a setting, a probe objective and its own per-epoch metric.

Run as a script it trains one run, so that a test can kill it mid-run:
    python tests/support/local_rule.py MODEL_DIR EPOCHS STRATEGY
"""

from __future__ import annotations

import math
import sys

import keras
import numpy as np
import tensorflow as tf

from urfbtf import graph, rules
from urfbtf.backward import linear
from urfbtf.layers import Tap
from urfbtf.rules import base
from urfbtf.settings import Setting

NAME = "test_local"


@keras.saving.register_keras_serializable(package="urfbtf_tests")
class LocalReadout(Tap):
    """Identity on a block's output; holds its readout A [units, classes]."""

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)

    def build(self, input_shape):
        self.readout = self.add_weight(
            name="readout",
            shape=(math.prod(input_shape[1:]), self.num_classes),
            initializer="glorot_uniform",
        )

    def logits(self, h):
        return tf.matmul(tf.reshape(h, [tf.shape(h)[0], -1]), self.readout)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


class LocalLossModel(keras.Model):
    """A functional model trained on the task loss plus one loss per block."""

    def readouts(self) -> list[LocalReadout]:
        return [layer for layer in self.layers if isinstance(layer, LocalReadout)]

    def readout_variables(self) -> list:
        return [tap.readout for tap in self.readouts()]

    def forward_variables(self) -> list:
        readouts = self.readout_variables()
        return [v for v in self.trainable_variables if not _among(v, readouts)]

    def local_objective(self, outputs, hidden, y):
        """(task loss + every block's readout loss, task loss)."""
        loss = self.compute_loss(y=y, y_pred=outputs)
        objective = loss
        for tap, h in zip(self.readouts(), hidden, strict=True):
            objective += self.compute_loss(y=y, y_pred=tap.logits(h))
        return objective, loss

    def train_step(self, data):
        x, y = data[0], data[1]
        readouts, forward = self.readout_variables(), self.forward_variables()
        with tf.GradientTape() as tape:
            outputs, _, hidden = graph.tapped(self)(x, training=True)
            objective, loss = self.local_objective(outputs, hidden, y)
        gradients = tape.gradient(objective, forward + readouts)
        self.optimizer.apply_gradients(
            zip(gradients[: len(forward)], forward, strict=True)
        )
        self.readout_optimizer.apply_gradients(
            zip(gradients[len(forward) :], readouts, strict=True)
        )
        return base.step_metrics(self, loss, y, outputs)


def _among(variable, variables) -> bool:
    return any(variable is v for v in variables)


class LocalLossRule(rules.Rule):
    """Every block learns from its own readout's loss; see the module docstring."""

    sends_error = False
    model_class = LocalLossModel
    settings = (
        Setting(
            "readout_lr",
            float,
            0.05,
            "test_local: learning rate of the local readouts.",
            check=lambda lr: lr > 0,
            valid="a positive learning rate",
        ),
    )

    def linear(self, linear_map):
        return linear.local_only(linear_map)

    def attach(self, block, num_classes, settings):
        del settings
        return LocalReadout(num_classes, name=f"{block.name}_readout")(block.output)

    def compile(self, model, *, make_optimizer, settings, **kwargs):
        model.compile(optimizer=make_optimizer(), **kwargs)
        model.readout_optimizer = keras.optimizers.SGD(
            settings["readout_lr"], momentum=0.9, name="readout_sgd"
        )
        # Built now, in the strategy's scope: under MirroredStrategy an optimizer
        # that makes its slots inside the replicated training step fails.
        model.readout_optimizer.build(model.readout_variables())

    def optimizers(self, model):
        return [
            (model.optimizer, model.forward_variables()),
            (model.readout_optimizer, model.readout_variables()),
        ]

    def objective(self, model, outputs, taps, y):
        objective, _ = model.local_objective(outputs, taps, y)
        return objective

    def epoch_metrics(self, model):
        """The norm of every readout, a metric only this rule has."""
        return {
            f"readout_norm/{tap.name}": float(np.linalg.norm(tap.readout.numpy()))
            for tap in model.readouts()
        }


RULE = LocalLossRule(NAME, "test rule: a local readout loss per layer")


def registered():
    """Registers the rule (once) and returns it."""
    return rules.RULES.get(NAME) or rules.register(RULE)


def quick_config(**changes):
    from urfbtf.runner.config import Config

    registered()
    settings = dict(
        rule=NAME,
        net="fc2_100",
        activation="tanh",
        dataset="cifar10_sample",
        train_examples=200,
        val_examples=100,
        batch_size=20,
        eval_batch_size=100,
        optimizer="momentum",
        lr=0.02,
        epochs=3,
    )
    return Config(**{**settings, **changes})


def _main(model_dir: str, epochs: str, strategy: str) -> None:
    import os

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if strategy == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
    from urfbtf.runner import train

    train.make_deterministic()
    config = quick_config(epochs=int(epochs), strategy=strategy)
    devices = None
    if strategy == "mirrored":
        devices = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    train.run(config, model_dir, strategy=devices, verbose=0, log=lambda _: None)


if __name__ == "__main__":
    _main(*sys.argv[1:])
