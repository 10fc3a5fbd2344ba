"""The `precision` section of tools/bench.py: float32 against mixed_bfloat16.

Each gradient rule (bp, frfb, urfb) on simpnet and deepernet at batch 500
(hinge loss, SGD: the runner's defaults), a target rule (dtp on
bartunov_mnist_fc, batch 100, as the `targets` section) and GAIT-prop
(gait_cifar_fc3, batch 100, as the `gait` section), each built by the runner
(`urfbtf.runner.build.build_model`) under `--precision=float32` and
`--precision=mixed_bfloat16`, interleaved as bench.py's other sections. Keys
`ms/precision/<net>/<rule>/<policy>` and `ratio/precision/<net>/<rule>`
(mixed_bfloat16's step time / float32's), and for deepernet
`rss_mb/precision/deepernet/<rule>/<policy>`: the peak resident memory of a
separate process running that variant alone.

bfloat16 is native on x86 CPUs with the AVX-512 BF16 or AMX-BF16 instructions
(oneDNN then runs bfloat16 matrix products and convolutions in hardware); on
others TensorFlow emulates it, and mixed_bfloat16 is slower than float32. The
section prints the CPU's flags it found in /proc/cpuinfo.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from urfbtf.runner import build
from urfbtf.runner.config import Config

POLICIES = ("float32", "mixed_bfloat16")
# (net, rule, batch, input shape, the run's other settings)
CASES = (
    *(("simpnet", rule, 500, (32, 32, 3), {}) for rule in ("bp", "frfb", "urfb")),
    *(("deepernet", rule, 500, (32, 32, 3), {}) for rule in ("bp", "frfb", "urfb")),
    (
        "bartunov_mnist_fc",
        "dtp",
        100,
        (28, 28, 1),
        dict(
            dataset="mnist",
            activation="tanh",
            loss="softmax",
            optimizer="adam",
            tp_schedule="parallel",
        ),
    ),
    (
        "gait_cifar_fc3",
        "gait",
        100,
        (32, 32, 3),
        dict(
            activation="leaky_relu",
            output_activation="linear",
            kernel_init="orthogonal",
            loss="softmax",
            optimizer="adam",
            lr=1e-4,
            gait_norm=1e-4,
        ),
    ),
)
MEMORY_NET = "deepernet"
CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx_vnni")
NATIVE_BF16 = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> list[str]:
    """The flags of `CPU_FLAGS` that /proc/cpuinfo lists (none when unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    found = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            found.update(line.split(":", 1)[1].split())
    return [flag for flag in CPU_FLAGS if flag in found]


def step_of(net: str, rule: str, policy: str):
    """One training step of `net` under `rule` and `policy`, on a fixed batch."""
    (case,) = [c for c in CASES if c[0] == net and c[1] == rule]
    _, _, batch, shape, settings = case
    keras.utils.set_random_seed(0)
    config = Config(
        net=net, rule=rule, batch_size=batch, precision=policy, **settings
    ).validate()
    model = build.build_model(config, shape, 10)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(batch, *shape)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, batch))
    return lambda: model.train_on_batch(x, y)


def bench_precision(rounds: int, steps: int, interleaved, ratio, peak_rss) -> dict:
    """The section's results; `interleaved`, `ratio` and `peak_rss(spec)` are
    bench.py's."""
    results = {}
    for net in dict.fromkeys(c[0] for c in CASES):
        variants = {
            (rule, policy): step_of(net, rule, policy)
            for _, rule, *_ in (c for c in CASES if c[0] == net)
            for policy in POLICIES
        }
        times = interleaved(variants, rounds, steps)
        for (rule, policy), values in times.items():
            results[f"ms/precision/{net}/{rule}/{policy}"] = statistics.median(values)
        for rule in dict.fromkeys(rule for rule, _ in variants):
            results[f"ratio/precision/{net}/{rule}"] = ratio(
                times[(rule, "mixed_bfloat16")], times[(rule, "float32")]
            )
            if net == MEMORY_NET:
                for policy in POLICIES:
                    results[f"rss_mb/precision/{net}/{rule}/{policy}"] = peak_rss(
                        f"precision:{net}:{rule}:{policy}"
                    )
    return results


def memory_probe(spec: str, steps: int) -> None:
    """Runs `steps` steps of one variant (`precision:<net>:<rule>:<policy>`)
    and prints the process's peak resident memory."""
    from urfbtf.runner import recorder

    _, net, rule, policy = spec.split(":")
    step = step_of(net, rule, policy)
    for _ in range(steps + 1):
        step()
    print(recorder.peak_rss_mb())


def precision_table(results: dict) -> str:
    flags = cpu_flags()
    native = [flag for flag in NATIVE_BF16 if flag in flags]
    lines = [
        f"precision: CPU flags found: {', '.join(flags) or 'none'}; "
        + (
            f"bfloat16 is native ({', '.join(native)})"
            if native
            else "bfloat16 is NOT native here (no avx512_bf16 or amx_bf16): "
            "TensorFlow emulates it, and these ratios say nothing of a CPU or "
            "TPU that has it"
        ),
        "ratio = mixed_bfloat16's step time / float32's; peak RSS of a process "
        "running one variant alone",
        "| net | rule | float32 ms/step | mixed_bfloat16 ms/step | ratio | "
        "peak RSS float32 / bf16 (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for net, rule, batch, _, _ in CASES:
        key = f"precision/{net}/{rule}"
        memory = ""
        if f"rss_mb/{key}/float32" in results:
            memory = (
                f"{results[f'rss_mb/{key}/float32']:.0f} / "
                f"{results[f'rss_mb/{key}/mixed_bfloat16']:.0f}"
            )
        lines.append(
            f"| {net} (batch {batch}) | {rule} | {results[f'ms/{key}/float32']:.0f} | "
            f"{results[f'ms/{key}/mixed_bfloat16']:.0f} | "
            f"{results[f'ratio/{key}']:.2f} | {memory} |"
        )
    return "\n".join(lines)
