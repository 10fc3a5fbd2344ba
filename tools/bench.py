"""Training-step time of the urfbtf rules against plain Keras, side by side.

    python tools/bench.py [--nets simpnet,deepernet] [--rules bp,frfb,urfb]
                          [--batch_size 500] [--rounds 7] [--steps 3] [--json]
                          [--nondeterministic]

For each net it builds the net under every rule and its plain Keras twin
(standard Conv2D/Dense without bias, trained by autodiff) with the same loss
(hinge) and optimizer (SGD 0.1), all in one process. Each round times `steps`
training steps of every model on the same batch, in a shuffled order; a rule's
ratio is its time over the Keras model's time in the same round, and the table
reports medians over rounds, so that load from other processes on a shared
machine affects both sides of a ratio alike. TensorFlow runs in the runner's
default deterministic mode (`urfbtf.train.make_deterministic`) unless
`--nondeterministic` is given.

`--json` prints one JSON object instead, with keys `ms/<net>/<rule>`,
`ms/<net>/keras` and `ratio/<net>/<rule>`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from urfbtf import losses, nets, train  # noqa: E402

# Each model has its own train function; TF's "retracing" warning about them is noise.
tf.get_logger().setLevel("ERROR")


def build(net: str, rule: str, batch_size: int):
    """A compiled model and one training step on a fixed random batch."""
    keras.utils.set_random_seed(0)
    model = nets.build_net(
        net, input_shape=(32, 32, 3), num_classes=10,
        rule="bp" if rule == "keras" else rule, plain_keras=rule == "keras",
    )
    model.compile(keras.optimizers.SGD(0.1), losses.get_loss("hinge"))
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(batch_size, 32, 32, 3)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, batch_size))

    def step():
        model.train_on_batch(x, y)

    return step


def bench(nets_: list[str], rules: list[str], batch_size: int, rounds: int,
          steps: int) -> dict:
    results = {}
    for net in nets_:
        variants = {v: build(net, v, batch_size) for v in ["keras", *rules]}
        for step in variants.values():  # Trace and warm up.
            step()
            step()
        times = {v: [] for v in variants}
        order = list(variants)
        for _ in range(rounds):
            random.shuffle(order)
            for variant in order:
                start = time.perf_counter()
                for _ in range(steps):
                    variants[variant]()
                times[variant].append((time.perf_counter() - start) / steps * 1000)
        for variant, values in times.items():
            results[f"ms/{net}/{variant}"] = statistics.median(values)
        for rule in rules:
            ratios = [t / k for t, k in zip(times[rule], times["keras"], strict=True)]
            results[f"ratio/{net}/{rule}"] = statistics.median(ratios)
    return results


def table(results: dict, nets_: list[str], rules: list[str], batch_size: int) -> str:
    lines = [f"batch {batch_size}; median over rounds; ratio = step time / Keras's",
             "| net | model | ms/step | ratio to Keras |", "|---|---|---|---|"]
    for net in nets_:
        lines.append(f"| {net} | plain Keras | {results[f'ms/{net}/keras']:.0f} | 1 |")
        for rule in rules:
            lines.append(f"| {net} | {rule} | {results[f'ms/{net}/{rule}']:.0f} | "
                         f"{results[f'ratio/{net}/{rule}']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default="simpnet,deepernet")
    parser.add_argument("--rules", default="bp,frfb,urfb")
    parser.add_argument("--batch_size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--nondeterministic", action="store_true",
                        help="leave TensorFlow's nondeterministic defaults")
    args = parser.parse_args()
    if not args.nondeterministic:
        train.make_deterministic()
    nets_, rules = args.nets.split(","), args.rules.split(",")
    results = bench(nets_, rules, args.batch_size, args.rounds, args.steps)
    if args.json:
        print(json.dumps(results, sort_keys=True))
    else:
        print(table(results, nets_, rules, args.batch_size))


if __name__ == "__main__":
    main()
