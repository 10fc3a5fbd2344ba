"""Linear-network theory of updated random feedback: Amit (2019), sec. 5, Fig. 12.

    .venv/bin/python tools/amit/linear_theory.py \
        --out tools/amit/figures/linear_theory.png \
        [--seeds 0,1,2] [--iterations 1000] [--dt 0.005]

Section 5 studies a linear network y = W_k ... W_1 x with quadratic loss and
whitened input (X = I), so the target map is T = W_k* ... W_1* and the error is
E = T - W_k ... W_1, e = tr(E^t E). Back-propagation (BP) is the gradient flow
dW_i/dt = W_{i+1}^t ... W_k^t E W_1^t ... W_{i-1}^t. Random-feedback learning
replaces each transpose W_l^t by a feedback matrix R_l, itself updated by
dR_l/dt = eps (dW_l/dt)^t (eq. 7); with W(0) = 0 this is eq. 9,
R_l(t) = R_l(0) + eps W_l(t)^t. eps = 0 is FRFB, eps = 1 is URFB.

Sec. 5.1 setting: layer sizes 40 -> 100 -> 100 -> 10, entries of W_i* i.i.d.
N(0, 0.2^2), eps in {0, 0.25, 0.5, 1} started from W(0) = 0 with random R(0),
and BP from a random W(0). Choices the paper leaves open, made here:

* R_l(0) has i.i.d. N(0, 0.2^2) entries, the distribution of W*. R_1 (which
  would send the error below the input) plays no part in the dynamics but is
  updated by the same rule, so its alignment with W_1 is reported like the others.
* BP starts from i.i.d. N(0, 0.1^2) entries; W(0) = 0 is a saddle point of BP.
  From this small start BP ends up slower than every eps variant; its rate
  depends on the init scale (sd 0.2 roughly triples it), which the paper leaves open.
* Explicit Euler steps of dt = 0.005; the error is reported as log10(e). Every
  variant then reaches a negligible error within 1000 steps (the eps variants hit
  the float64 floor, log10 e ~ -29, after ~300), while iteration 200 still
  separates the eps values. dt = 0.01 is stable too but leaves nothing to see at
  iteration 200; from dt ~ 0.015 the eps = 0.5 and eps = 1 runs diverge.
* The correlation of W_l and R_l^t is the Pearson correlation of their entries,
  taken as 0 while either matrix is constant (e.g. W_l = 0 at the start).

The proofs of Appendix 2 (faster convergence as eps grows) are not reproduced;
this tool runs the simulation of sec. 5.1 that illustrates them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SIZES = (40, 100, 100, 10)  # n_0 (input), n_1, n_2, n_3 (output)
TARGET_SD = 0.2  # sd of the entries of W_i* (sec. 5.1)
FEEDBACK_SD = 0.2  # sd of the entries of R_l(0): same as W*
BP_INIT_SD = 0.1  # sd of the entries of W_i(0) for BP
EPSILONS = (0.0, 0.25, 0.5, 1.0)
DEFAULT_DT = 0.005
ALGORITHMS: tuple[float | None, ...] = (None, *EPSILONS)  # None is BP
# FRFB is green as in the paper's Fig. 12; the other colours are free choices.
COLORS = {
    None: "black",
    0.0: "tab:green",
    0.25: "tab:orange",
    0.5: "tab:blue",
    1.0: "tab:red",
}


def label(epsilon: float | None) -> str:
    """Legend label of an algorithm: "BP" or the value of epsilon."""
    if epsilon is None:
        return "BP"
    names = {0.0: "ε=0 (FRFB)", 1.0: "ε=1 (URFB)"}
    return names.get(epsilon, f"ε={epsilon:g}")


def _random_matrices(
    rng: np.random.Generator, sd: float, transpose: bool = False
) -> list[np.ndarray]:
    """One i.i.d. N(0, sd^2) matrix per layer, W_i-shaped or (transpose) R_i-shaped."""
    shapes = [(n_out, n_in) for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True)]
    return [rng.normal(0.0, sd, s[::-1] if transpose else s) for s in shapes]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the entries of two equal-shaped matrices (0 if flat)."""
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    norm = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / norm) if norm > 0 else 0.0


def simulate(
    seed: int,
    epsilon: float | None,
    iterations: int = 1000,
    dt: float = DEFAULT_DT,
    w0: Sequence[np.ndarray] | None = None,
    r0: Sequence[np.ndarray] | None = None,
) -> dict:
    """Integrates BP (eq. 7 with R = W^t) or eqs. 7/9 with explicit Euler steps.

    Args:
        seed: Seeds the target W* and the random initial W (BP) or R (eps variants);
            each comes from its own stream, so all algorithms share W* for a seed.
        epsilon: Feedback update rate (0 FRFB, 1 URFB), or None for BP.
        iterations: Number of Euler steps.
        dt: Step size.
        w0: Initial W_i (shapes n_i x n_{i-1}); default N(0, 0.1^2) for BP, 0 else.
        r0: Initial R_i (shapes n_{i-1} x n_i); default N(0, 0.2^2). Ignored by BP.

    Returns:
        Dict with ``log_error`` [iterations+1] (log10 of tr(E^t E)), ``corr``
        [iterations+1, 3] (corr(W_l, R_l^t) for l = 1, 2, 3; None for BP), and
        the final ``weights`` and ``feedback`` (None for BP) lists.
    """
    streams = np.random.SeedSequence(seed).spawn(3)
    target_rng, w_rng, r_rng = (np.random.default_rng(s) for s in streams)
    w_star = _random_matrices(target_rng, TARGET_SD)
    target = w_star[2] @ w_star[1] @ w_star[0]
    bp = epsilon is None
    if w0 is None:
        zeros = [np.zeros((m, n)) for n, m in zip(SIZES[:-1], SIZES[1:], strict=True)]
        w0 = _random_matrices(w_rng, BP_INIT_SD) if bp else zeros
    weights = [np.array(w, dtype=np.float64) for w in w0]
    feedback = None
    if not bp:
        r0 = _random_matrices(r_rng, FEEDBACK_SD, transpose=True) if r0 is None else r0
        feedback = [np.array(r, dtype=np.float64) for r in r0]

    log_error = np.empty(iterations + 1)
    corr = None if bp else np.empty((iterations + 1, len(weights)))
    for step in range(iterations + 1):
        # Forward pass on X = I: acts[i] = W_i ... W_1, the input to layer i+1.
        acts = [np.eye(SIZES[0])]
        for w in weights:
            acts.append(w @ acts[-1])
        error = target - acts[-1]
        log_error[step] = np.log10(np.sum(error * error))
        if not bp:
            corr[step] = [
                correlation(w, r.T) for w, r in zip(weights, feedback, strict=True)
            ]
        if step == iterations:
            break
        # Backward pass: delta_k = E, delta_{i-1} = B_i delta_i with B_i = W_i^t
        # for BP and R_i otherwise; dW_i/dt = delta_i (W_{i-1} ... W_1)^t.
        delta = error
        grads = [np.empty(0)] * len(weights)
        for i in reversed(range(len(weights))):
            grads[i] = delta @ acts[i].T
            delta = (weights[i].T if bp else feedback[i]) @ delta
        # All updates use the state at the start of the step (explicit Euler).
        for i, grad in enumerate(grads):
            weights[i] += dt * grad
            if not bp:
                feedback[i] += dt * epsilon * grad.T
    return {
        "epsilon": epsilon,
        "log_error": log_error,
        "corr": corr,
        "weights": weights,
        "feedback": feedback,
    }


def plot(results: dict[int, dict[float | None, dict]], out_path: str | Path) -> None:
    """Draws Fig. 12: log error (row 1) and corr(W_l, R_l^t) for l = 3, 2, 1.

    Args:
        results: ``results[seed][epsilon]`` is a `simulate` result (None is BP).
        out_path: PNG file to write.
    """
    seeds = list(results)
    fig = Figure(figsize=(4 * len(seeds), 12))
    FigureCanvasAgg(fig)
    axes = fig.subplots(4, len(seeds), squeeze=False, sharex=True)
    for col, seed in enumerate(seeds):
        for epsilon, run in results[seed].items():
            style = {"color": COLORS.get(epsilon), "label": label(epsilon), "lw": 1.4}
            axes[0, col].plot(run["log_error"], **style)
            if run["corr"] is not None:
                for row, layer in enumerate((3, 2, 1), start=1):
                    axes[row, col].plot(run["corr"][:, layer - 1], **style)
        axes[0, col].set_title(f"run {col + 1} (seed {seed}): log10 error")
        for row, layer in enumerate((3, 2, 1), start=1):
            where = {3: "top/output", 2: "middle", 1: "input"}[layer]
            axes[row, col].set_title(f"layer {layer} ({where}): corr(W, Rᵗ)")
            axes[row, col].set_ylim(-0.05, 1.05)
        axes[-1, col].set_xlabel("iteration")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("log10 tr(EᵗE)")
    axes[0, 0].legend(fontsize=9)
    axes[1, 0].legend(fontsize=9)
    fig.suptitle("Linear network 40-100-100-10 (Amit 2019, sec. 5.1, Fig. 12)")
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    """Runs all algorithms for every seed, prints a summary and writes the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tools/amit/figures/linear_theory.png")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--dt", type=float, default=DEFAULT_DT)
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    checkpoints = sorted({min(200, args.iterations), args.iterations})

    results = {
        seed: {eps: simulate(seed, eps, args.iterations, args.dt) for eps in ALGORITHMS}
        for seed in seeds
    }
    for seed in seeds:
        print(
            f"seed {seed}: log10 error at iterations {checkpoints}; "
            "final corr(W_l, R_l^t) for l = 1, 2, 3"
        )
        for eps, run in results[seed].items():
            errors = " ".join(f"{run['log_error'][c]:7.2f}" for c in checkpoints)
            corr = ""
            if run["corr"] is not None:
                corr = "  corr " + " ".join(f"{c:.3f}" for c in run["corr"][-1])
            print(f"  {label(eps):<12} {errors}{corr}")
    plot(results, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
