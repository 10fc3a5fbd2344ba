"""How closely the feedback weights R follow the forward weights W.

Amit (2019) section 4.2 and Figs. 10-11 plot the Pearson correlation of the
entries of W and R for every layer; a correlation near 1 means the network is
effectively backpropagating. The angle between W and R as vectors (0 degrees when
R is a positive multiple of W) is the uncentred counterpart. Both are computed on
the effective matrices: a pruned entry counts as the 0 it is.
"""

from __future__ import annotations

import numpy as np


def pearson(w: np.ndarray, r: np.ndarray) -> float:
    """Pearson correlation of the flattened arrays (nan if either is constant)."""
    w = np.asarray(w, np.float64).ravel()
    r = np.asarray(r, np.float64).ravel()
    w = w - w.mean()
    r = r - r.mean()
    denominator = np.sqrt((w @ w) * (r @ r))
    return float(w @ r / denominator) if denominator > 0 else float("nan")


def angle_degrees(w: np.ndarray, r: np.ndarray) -> float:
    """Angle between the flattened arrays, in degrees (nan if either is zero)."""
    w = np.asarray(w, np.float64).ravel()
    r = np.asarray(r, np.float64).ravel()
    denominator = np.sqrt((w @ w) * (r @ r))
    if denominator == 0:
        return float("nan")
    return float(np.degrees(np.arccos(np.clip(w @ r / denominator, -1.0, 1.0))))


def feedback_alignment(model) -> dict[str, float]:
    """`wr_corr/<layer>` and `wr_angle/<layer>` for every layer with feedback weights.

    Layers are those exposing `effective_kernel()` and `effective_feedback()` (the
    urfbtf feedback layers); layers without feedback (rule bp) are skipped.
    """
    stats = {}
    for layer in _all_layers(model):
        feedback = getattr(layer, "effective_feedback", lambda: None)()
        if feedback is None:
            continue
        kernel = layer.effective_kernel()
        stats[f"wr_corr/{layer.name}"] = pearson(kernel, feedback)
        stats[f"wr_angle/{layer.name}"] = angle_degrees(kernel, feedback)
    return stats


def _all_layers(model):
    """The layers of `model`, descending into nested models, in network order."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)
