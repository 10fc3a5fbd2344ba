"""Training-step time (and memory) of urfbtf's rules and layers, side by side.

    python tools/bench.py [--sections rules,untied,targets,gait,precision]
                          [--rounds 7]
                          [--steps 3] [--json] [--nondeterministic]

Five sections, each timed in one process with every variant interleaved: each
round times `steps` training steps of every variant on the same batch, in a
shuffled order, and a ratio is taken within each round, then the median over
rounds. Load from other processes on a shared machine then hits both sides of a
ratio alike.

* rules: simpnet and deepernet at batch 500 under bp, frfb and urfb against a
  plain Keras twin (standard Conv2D/Dense without bias, autodiff), same hinge loss
  and SGD. Keys `ms/<net>/<rule>`, `ms/<net>/keras`, `ratio/<net>/<rule>`.
* untied: simpnet_s under urfb at batch 50 and 500 with its conv tied, untied in
  the sparse form (tf.sparse, as the original code) and untied in the dense form.
  Keys `ms/simpnet_s/<variant>/b<batch>`, `rss_mb/simpnet_s/<variant>/b<batch>`
  (peak resident memory of a separate process running that variant alone),
  `ratio/simpnet_s/sparse_over_dense` and `ratio/simpnet_s/dense_over_tied`
  (batch 500; `.../b50` for batch 50).
* targets: bartunov_mnist_fc and bartunov_mnist_lc (untied, `--untie=all`) at
  batch 100 on 28x28x1 inputs (tanh, softmax cross-entropy, Adam, as their
  flagfiles in flags/bartunov/) under bp and under each target-propagation rule
  (tp, dtp, sdtp, aosdtp) with `--tp_schedule=parallel`: one step trains the
  forward weights and the inverses. Keys `ms/<net>/<rule>` and
  `ratio/<net>/<rule>` (step time / bp's).
* gait: gait_cifar_fc3 and gait_cifar_conv at batch 100 (leaky ReLU, orthogonal
  weights, softmax cross-entropy, Adam, as flags/gait/) under bp, frfb and
  normalized GAIT-prop (η 1e-4, λ 0.1), with and without --gait_row_lengths
  (GAIT_RULES). Keys `ms/<net>/<rule>` and `ratio/<net>/<rule>`.
  tools/gait/bench.py times the same models at other widths.
* precision: float32 against mixed_bfloat16 (`--precision`) for each gradient
  rule on simpnet and deepernet, dtp and GAIT-prop, with deepernet's peak
  memory; it prints the CPU features it found (tools/bench_precision.py).

TensorFlow runs in the runner's default deterministic mode unless
`--nondeterministic` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Its precision section lives beside it (also when a test loads this file).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_precision  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from urfbtf import losses, nets  # noqa: E402
from urfbtf.nets import gait_training  # noqa: E402
from urfbtf.nets.keras_twin import build_keras_twin  # noqa: E402
from urfbtf.runner import recorder, train  # noqa: E402
from urfbtf.runner.config import Config  # noqa: E402

# Each model has its own train function; TF's "retracing" warning about them is noise.
tf.get_logger().setLevel("ERROR")

UNTIED_VARIANTS = ("tied", "sparse", "dense")
TARGET_NETS = ("bartunov_mnist_fc", "bartunov_mnist_lc")
TARGET_RULES = ("tp", "dtp", "sdtp", "aosdtp")
TARGET_BATCH = 100
SECTIONS = ("rules", "untied", "targets", "gait", "precision")
GAIT_NETS = ("gait_cifar_fc3", "gait_cifar_conv")
GAIT_BATCH = 100
# (label, rule, its settings)
GAIT_RULES = (
    ("bp", "bp", {}),
    ("frfb", "frfb", {}),
    ("gait", "gait", {"gait_norm": 1e-4}),
    ("gait, row lengths", "gait", {"gait_norm": 1e-4, "gait_row_lengths": True}),
)


def build(net: str, rule: str, batch_size: int, untie: str = "", impl: str = "dense"):
    """One training step of a compiled model on a fixed random batch."""
    keras.utils.set_random_seed(0)
    shape = dict(input_shape=(32, 32, 3), num_classes=10, untie=untie, untied_impl=impl)
    if rule == "keras":
        model = build_keras_twin(net, **shape)
    else:
        model = nets.build_net(net, rule=rule, **shape)
    model.compile(keras.optimizers.SGD(0.1), losses.get_loss("hinge"))
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(batch_size, 32, 32, 3)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, batch_size))

    def step():
        model.train_on_batch(x, y)

    return step


def build_target(net: str, rule: str, batch_size: int = TARGET_BATCH):
    """One training step of `net` under `rule` as the runner builds it
    (`urfbtf.runner.build.build_model`), the target rules on the parallel schedule."""
    keras.utils.set_random_seed(0)
    settings = dict(
        net=net,
        rule=rule,
        dataset="mnist",
        activation="tanh",
        loss="softmax",
        optimizer="adam",
        batch_size=batch_size,
        untie="all" if net.endswith("_lc") else "",
    )
    if rule in TARGET_RULES:
        settings["tp_schedule"] = "parallel"
    config = Config(**settings).validate()
    model = train.build_model(config, (28, 28, 1), 10)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(batch_size, 28, 28, 1)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, batch_size))

    def step():
        model.train_on_batch(x, y)

    return step


def bench_targets(rounds: int, steps: int) -> dict:
    results = {}
    for net in TARGET_NETS:
        variants = {rule: build_target(net, rule) for rule in ("bp", *TARGET_RULES)}
        times = interleaved(variants, rounds, steps)
        for name, values in times.items():
            results[f"ms/{net}/{name}"] = statistics.median(values)
        for rule in TARGET_RULES:
            results[f"ratio/{net}/{rule}"] = ratio(times[rule], times["bp"])
    return results


def gait_model(net: str, rule: str, settings: dict):
    """`net` under `rule` with `settings` as the GAIT flagfiles build it
    (`urfbtf.nets.gait_training`), compiled, its train function made."""
    model = gait_training.compiled_model(net, rule, settings)
    model.make_train_function()
    return model


def gait_steps(net: str, batch: int) -> dict:
    """{rule label: a function that runs one compiled training step of `net`}
    under each of GAIT_RULES, all on one fixed random batch of CIFAR-10's shape."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, batch)
    batches = iter(tf.data.Dataset.from_tensors((x, y)).repeat())
    models = {
        label: gait_model(net, rule, settings) for label, rule, settings in GAIT_RULES
    }
    return {
        label: (lambda model=model: model.train_function(batches))
        for label, model in models.items()
    }


def bench_gait(rounds: int, steps: int) -> dict:
    results = {}
    for net in GAIT_NETS:
        times = interleaved(gait_steps(net, GAIT_BATCH), rounds, steps)
        for name, values in times.items():
            results[f"ms/{net}/{name}"] = statistics.median(values)
            results[f"ratio/{net}/{name}"] = ratio(values, times["bp"])
    return results


def untied_variant(variant: str, batch_size: int):
    untie = "" if variant == "tied" else "conv1"
    return build("simpnet_s", "urfb", batch_size, untie=untie, impl=variant)


def interleaved(variants: dict, rounds: int, steps: int) -> dict[str, list[float]]:
    """Milliseconds per step of each variant, one value per round."""
    for step in variants.values():  # Trace and warm up.
        step()
        step()
    times = {name: [] for name in variants}
    order = list(variants)
    for _ in range(rounds):
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            for _ in range(steps):
                variants[name]()
            times[name].append((time.perf_counter() - start) / steps * 1000)
    return times


def ratio(numerator: list[float], denominator: list[float]) -> float:
    return statistics.median(n / d for n, d in zip(numerator, denominator, strict=True))


def bench_rules(rounds: int, steps: int) -> dict:
    results = {}
    for net in ("simpnet", "deepernet"):
        variants = {
            rule: build(net, rule, 500) for rule in ("keras", "bp", "frfb", "urfb")
        }
        times = interleaved(variants, rounds, steps)
        for name, values in times.items():
            results[f"ms/{net}/{name}"] = statistics.median(values)
        for rule in ("bp", "frfb", "urfb"):
            results[f"ratio/{net}/{rule}"] = ratio(times[rule], times["keras"])
    return results


def peak_rss_mb(variant: str, batch_size: int, steps: int) -> float:
    """Peak resident memory of a fresh process running `steps` steps of a variant."""
    return peak_rss_of(f"{variant}:{batch_size}", steps)


def peak_rss_of(spec: str, steps: int) -> float:
    """Peak resident memory of a fresh process running `steps` steps of the
    variant `spec` names (`memory_probe`)."""
    command = [sys.executable, __file__, "--memory_probe", spec, "--steps", str(steps)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(output.strip().splitlines()[-1])


def bench_untied(rounds: int, steps: int) -> dict:
    results = {}
    for batch_size in (50, 500):
        variants = {v: untied_variant(v, batch_size) for v in UNTIED_VARIANTS}
        times = interleaved(variants, rounds, steps)
        for name, values in times.items():
            results[f"ms/simpnet_s/{name}/b{batch_size}"] = statistics.median(values)
            results[f"rss_mb/simpnet_s/{name}/b{batch_size}"] = peak_rss_mb(
                name, batch_size, steps
            )
        suffix = "" if batch_size == 500 else f"/b{batch_size}"
        results[f"ratio/simpnet_s/sparse_over_dense{suffix}"] = ratio(
            times["sparse"], times["dense"]
        )
        results[f"ratio/simpnet_s/dense_over_tied{suffix}"] = ratio(
            times["dense"], times["tied"]
        )
    return results


def rules_table(results: dict) -> str:
    lines = [
        "rules: batch 500; median over rounds; ratio = step time / Keras's",
        "| net | model | ms/step | ratio to Keras |",
        "|---|---|---|---|",
    ]
    for net in ("simpnet", "deepernet"):
        lines.append(f"| {net} | plain Keras | {results[f'ms/{net}/keras']:.0f} | 1 |")
        for rule in ("bp", "frfb", "urfb"):
            lines.append(
                f"| {net} | {rule} | {results[f'ms/{net}/{rule}']:.0f} | "
                f"{results[f'ratio/{net}/{rule}']:.3f} |"
            )
    return "\n".join(lines)


def untied_table(results: dict) -> str:
    lines = [
        "untied: simpnet_s under urfb; peak RSS of a process running one variant",
        "| batch | conv1 | ms/step | peak RSS (MB) |",
        "|---|---|---|---|",
    ]
    for batch_size in (50, 500):
        for name in UNTIED_VARIANTS:
            key = f"simpnet_s/{name}/b{batch_size}"
            lines.append(
                f"| {batch_size} | {name} | {results['ms/' + key]:.0f} | "
                f"{results['rss_mb/' + key]:.0f} |"
            )
    for suffix, label in (("", "500"), ("/b50", "50")):
        lines.append(
            f"batch {label}: sparse/dense "
            f"{results['ratio/simpnet_s/sparse_over_dense' + suffix]:.2f}, "
            f"dense/tied {results['ratio/simpnet_s/dense_over_tied' + suffix]:.2f}"
        )
    return "\n".join(lines)


def targets_table(results: dict) -> str:
    lines = [
        f"targets: batch {TARGET_BATCH}, parallel schedule; median over rounds; "
        "ratio = step time / bp's",
        "| net | rule | ms/step | ratio to bp |",
        "|---|---|---|---|",
    ]
    for net in TARGET_NETS:
        lines.append(f"| {net} | bp | {results[f'ms/{net}/bp']:.1f} | 1 |")
        for rule in TARGET_RULES:
            lines.append(
                f"| {net} | {rule} | {results[f'ms/{net}/{rule}']:.1f} | "
                f"{results[f'ratio/{net}/{rule}']:.2f} |"
            )
    return "\n".join(lines)


def gait_table(results: dict) -> str:
    lines = [
        f"gait: batch {GAIT_BATCH}; median over rounds; ratio = step time / bp's",
        "| net | rule | ms/step | ratio to bp |",
        "|---|---|---|---|",
    ]
    for key in sorted(k for k in results if k.startswith("ms/gait_")):
        _, net, rule = key.split("/", 2)
        lines.append(
            f"| {net} | {rule} | {results[key]:.1f} | "
            f"{results[f'ratio/{net}/{rule}']:.2f} |"
        )
    return "\n".join(lines)


def memory_probe(spec: str, steps: int) -> None:
    if spec.startswith("precision:"):
        bench_precision.memory_probe(spec, steps)
        return
    variant, batch_size = spec.split(":")
    step = untied_variant(variant, int(batch_size))
    for _ in range(steps + 1):
        step()
    print(recorder.peak_rss_mb())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--nondeterministic",
        action="store_true",
        help="leave TensorFlow's nondeterministic defaults",
    )
    parser.add_argument("--memory_probe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sections = args.sections.split(",")
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections {unknown}: the sections are {', '.join(SECTIONS)}")
    if not args.nondeterministic:
        train.make_deterministic()
    if args.memory_probe:
        memory_probe(args.memory_probe, args.steps)
        return
    results, tables = {}, []
    if "rules" in sections:
        results.update(bench_rules(args.rounds, args.steps))
        tables.append(rules_table(results))
    if "untied" in sections:
        results.update(bench_untied(args.rounds, args.steps))
        tables.append(untied_table(results))
    if "targets" in sections:
        results.update(bench_targets(args.rounds, args.steps))
        tables.append(targets_table(results))
    if "gait" in sections:
        results.update(bench_gait(args.rounds, args.steps))
        tables.append(gait_table(results))
    if "precision" in sections:
        results.update(
            bench_precision.bench_precision(
                args.rounds,
                args.steps,
                interleaved,
                ratio,
                lambda spec: peak_rss_of(spec, args.steps),
            )
        )
        tables.append(bench_precision.precision_table(results))
    print(json.dumps(results, sort_keys=True) if args.json else "\n\n".join(tables))


if __name__ == "__main__":
    main()
