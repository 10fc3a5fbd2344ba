"""One training step of GAIT-prop against BP's and FA's, on the GAIT nets.

    .venv/bin/python tools/gait/bench.py [--nets gait_cifar_fc3 gait_cifar_conv]
        [--batch 100] [--width 512]

Builds each net as the runner does (leaky ReLU, orthogonal weights, softmax
cross-entropy, Adam) under bp, frfb and normalized gait (η 1e-4, λ 0.1; also
with --gait_row_lengths), warms each compiled step up, then times 5 rounds of 5
steps with the rules interleaved in one process (the machine is shared: ratios
measured side by side, medians).
A GAIT-prop step adds, per square layer, one matrix inverse, the orthogonality
regulariser's Gram matrix and gradient (each O(n³)), and the targets' pass down.
With --width N the fully connected nets are built with N hidden units (as
tools/gait/bp_regularised.py --width): how that O(n³) grows against BP's step.
The gait section of tools/bench.py times the same models at the nets' own width.
"""

import argparse
import sys
import time

import numpy as np
import tensorflow as tf

from urfbtf.nets import gait, gait_training

# (label, rule, its settings)
RULES = (
    ("bp", "bp", {}),
    ("frfb", "frfb", {}),
    ("gait", "gait", {"gait_norm": 1e-4}),
    ("gait, row lengths", "gait", {"gait_norm": 1e-4, "gait_row_lengths": True}),
)


def compiled(net, rule, settings):
    """`net` under `rule` as the GAIT flagfiles build it, its train function made."""
    model = gait_training.compiled_model(net, rule, settings)
    model.make_train_function()
    return model


def step_functions(net, batch: int) -> dict:
    """{rule label: a function that runs one compiled training step of `net`}
    under each of RULES, all on one fixed random batch of CIFAR-10's shape."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, batch)
    batches = iter(tf.data.Dataset.from_tensors((x, y)).repeat())
    models = {label: compiled(net, rule, settings) for label, rule, settings in RULES}
    return {
        label: (lambda model=model: model.train_function(batches))
        for label, model in models.items()
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--nets", nargs="+", default=["gait_cifar_fc3", "gait_cifar_conv"]
    )
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--width", type=int, default=0, help="fc nets' hidden units")
    args = parser.parse_args(argv)
    widened = {}  # name: the net at --width, for the fully connected ones
    if args.width:
        fully_connected = [name for name in args.nets if name in gait.FULLY_CONNECTED]
        if not fully_connected:
            parser.error(f"--width: none of --nets {args.nets} is fully connected")
        if args.width < 10:
            parser.error(f"--width {args.width}: at least 10 units (the classes)")
        # The library's fully connected GAIT nets at another width (as
        # tools/gait/bp_regularised.py's `widened`).
        widened = {
            name: gait.net(*gait.fully_connected(hidden, args.width))
            for name, hidden in gait.FULLY_CONNECTED.items()
            if name in fully_connected
        }
    print("| net | rule | ms/step | ratio to bp |\n|---|---|---|---|")
    for name in args.nets:
        net = widened.get(name, name)
        if name in widened:
            name = f"{name}, width {args.width}"
        steps = step_functions(net, args.batch)
        for step in steps.values():
            for _ in range(3):
                step()
        times = {r: [] for r in steps}
        for _ in range(5):
            for rule, step in steps.items():
                start = time.perf_counter()
                for _ in range(5):
                    step()
                times[rule].append((time.perf_counter() - start) / 5)
        bp = np.median(times["bp"])
        for rule in steps:
            ms = np.median(times[rule])
            print(f"| {name} | {rule} | {1000 * ms:.1f} | {ms / bp:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
