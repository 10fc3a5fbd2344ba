"""Tests for tools/amit/linear_theory.py, the linear-network simulation of Amit (2019)
sec. 5.1 (eqs. 7-9, Fig. 12).

The thresholds below were checked against seeds 0, 1 and 2 at the default step
size; runs are shortened to 400 iterations, by which every eps variant has reached
the float64 error floor and its correlations have stopped moving.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from tests.support.paths import REPO
from tests.support.tool_loader import load_tool, tool_path

TOOL = tool_path("amit/linear_theory.py")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SEEDS = (0, 1, 2)
ITERATIONS = 400


lt = load_tool("amit/linear_theory.py")


@pytest.fixture(scope="module")
def results() -> dict[int, dict[float | None, dict]]:
    """All five algorithms for seeds 0-2, computed once (about a second)."""
    return {
        seed: {eps: lt.simulate(seed, eps, ITERATIONS) for eps in lt.ALGORITHMS}
        for seed in SEEDS
    }


def test_error_at_200_decreases_with_epsilon(results):
    # The acceptance criterion: larger eps converges faster (seed 0).
    errors = [results[0][eps]["log_error"][200] for eps in lt.EPSILONS]
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    # Not a tie at the float64 floor: the runs are still clearly apart.
    assert errors[0] > -20 and errors[0] - errors[-1] > 2, errors


@pytest.mark.parametrize("seed", SEEDS)
def test_every_algorithm_converges(results, seed):
    for eps, run in results[seed].items():
        log_error = run["log_error"]
        assert log_error.shape == (ITERATIONS + 1,)
        assert np.all(np.isfinite(log_error)), lt.label(eps)
        # The error starts around 10^2.4 and must fall by at least 10^4.
        assert log_error[0] - log_error[-1] > 4, (lt.label(eps), log_error[-1])
        if eps is not None:
            # The eps variants reach a negligible error (BP is slower, see tool).
            assert log_error[-1] < -20, (lt.label(eps), log_error[-1])


@pytest.mark.parametrize("seed", SEEDS)
def test_alignment_follows_the_paper(results, seed):
    corr = {eps: results[seed][eps]["corr"][-1] for eps in lt.EPSILONS}
    assert results[seed][None]["corr"] is None
    assert results[seed][1.0]["corr"].shape == (ITERATIONS + 1, 3)
    # The top layer ends near 1 for every eps, URFB included.
    for eps in lt.EPSILONS:
        assert corr[eps][2] > 0.9, (eps, corr[eps])
    # FRFB aligns the top layer only; its lower layers stay far from 1.
    assert corr[0.0][0] < 0.2 and corr[0.0][1] < 0.5, corr[0.0]
    # A larger eps gives a higher correlation at every layer.
    for layer in range(3):
        values = [corr[eps][layer] for eps in lt.EPSILONS]
        assert all(a < b for a, b in itertools.pairwise(values)), (layer + 1, values)
    # URFB's lower layers are clearly better aligned than FRFB's, but not fully.
    assert corr[1.0][0] > corr[0.0][0] + 0.4 and corr[1.0][1] > corr[0.0][1] + 0.1
    assert corr[1.0][0] < 0.9 and corr[1.0][1] < 0.9


def test_urfb_with_symmetric_start_is_bp():
    # With R(0) = W(0)^t and eps = 1, R stays W^t, so eq. 7 is exactly BP.
    rng = np.random.default_rng(7)
    w0 = [
        rng.normal(0.0, 0.1, (m, n))
        for n, m in zip(lt.SIZES[:-1], lt.SIZES[1:], strict=True)
    ]
    r0 = [w.T.copy() for w in w0]
    bp = lt.simulate(0, None, 100, w0=w0)
    urfb = lt.simulate(0, 1.0, 100, w0=w0, r0=r0)
    np.testing.assert_allclose(urfb["log_error"], bp["log_error"], rtol=1e-12)
    for w_urfb, w_bp in zip(urfb["weights"], bp["weights"], strict=True):
        np.testing.assert_allclose(w_urfb, w_bp, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(urfb["corr"], 1.0)
    # The caller's initial matrices are not modified in place.
    np.testing.assert_array_equal(r0[0], w0[0].T)
    assert bp["log_error"][-1] < bp["log_error"][0] - 1


def test_feedback_is_initial_plus_epsilon_w_transpose():
    # Eq. 9: starting from W(0) = 0, R_l(t) = R_l(0) + eps W_l(t)^t.
    rng = np.random.default_rng(3)
    r0 = [
        rng.normal(0.0, 0.2, (n, m))
        for n, m in zip(lt.SIZES[:-1], lt.SIZES[1:], strict=True)
    ]
    run = lt.simulate(1, 0.5, 50, r0=r0)
    for r_start, r, w in zip(r0, run["feedback"], run["weights"], strict=True):
        assert np.abs(w).max() > 0.01  # the weights did move
        np.testing.assert_allclose(r, r_start + 0.5 * w.T, atol=1e-12)


def test_cli_writes_png(tmp_path):
    out = tmp_path / "fig.png"
    proc = subprocess.run(
        [sys.executable, str(TOOL), "--out", str(out), "--seeds", "0,1"]
        + ["--iterations", "30"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    assert f"wrote {out}" in proc.stdout
    assert "seed 1" in proc.stdout and "ε=1 (URFB)" in proc.stdout
