"""Runs of the target rules for the tests: one small configuration, and a script.

Run as a script it trains one run, so that a test can kill it mid-run:
    python tests/support/target_run.py MODEL_DIR EPOCHS RULE SCHEDULE
"""

from __future__ import annotations

import sys


def quick_config(**changes):
    """A target-propagation run small enough for a test: Bartunov's MNIST FC net
    (FC256 x 5) on 200 examples of the shipped CIFAR-10 sample."""
    from urfbtf.runner.config import Config

    settings = dict(
        rule="dtp",
        net="bartunov_mnist_fc",
        activation="tanh",
        loss="softmax",
        dataset="cifar10_sample",
        train_examples=200,
        val_examples=100,
        batch_size=20,
        eval_batch_size=100,
        optimizer="adam",
        lr=1e-3,
        tp_schedule="parallel",
        epochs=2,
    )
    settings.update(changes)
    if settings["rule"] != "dtp":
        settings.pop("tp_alpha", None)
    return Config(**settings)


def _main(model_dir: str, epochs: str, rule: str, schedule: str) -> None:
    import os

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from urfbtf.runner import train

    train.make_deterministic()
    config = quick_config(rule=rule, tp_schedule=schedule, epochs=int(epochs))
    train.run(config, model_dir, verbose=0, log=lambda _: None)


if __name__ == "__main__":
    _main(*sys.argv[1:])
