"""How closely the feedback weights R follow the forward weights W, and how alike
the filters of an untied layer stay across space.

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


def angle_degrees(w: np.ndarray, r: np.ndarray, if_zero: float = float("nan")) -> float:
    """Angle between the flattened arrays, in degrees (`if_zero` if either is 0)."""
    w = np.asarray(w, np.float64).ravel()
    r = np.asarray(r, np.float64).ravel()
    denominator = np.sqrt((w @ w) * (r @ r))
    if denominator == 0:
        return if_zero
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


def filter_similarity(filters: np.ndarray, support: np.ndarray) -> float:
    """Mean correlation between each location's filter and the layer's mean filter.

    Amit (2019) sec. 4.1 and Fig. 8 observe that untied filters, though updated
    independently, stay spatially similar; this measures it. `filters` are
    per-location filters [H_out, W_out, kh, kw, C_in, C_out] and `support` says
    which taps are connections at each location (border locations lack the taps
    that fall on padding, which are left out of their correlation).

    Returns:
        The Pearson correlation, averaged over locations and output filters; 1
        when every location holds the same filter.
    """
    locations = filters.shape[0] * filters.shape[1]
    taps = filters.reshape(locations, -1, filters.shape[-1]).astype(np.float64)
    weight = np.broadcast_to(support, filters.shape).reshape(taps.shape).astype(float)
    # The mean filter, each tap averaged over the locations where it exists.
    mean = (weight * taps).sum(0, keepdims=True) / np.maximum(weight.sum(0), 1)
    # Pearson correlations over each location's own taps, all at once.
    count = np.maximum(weight.sum(1, keepdims=True), 1)
    x = taps - (weight * taps).sum(1, keepdims=True) / count
    y = mean - (weight * mean).sum(1, keepdims=True) / count
    covariance = (weight * x * y).sum(1)
    scale = np.sqrt((weight * x * x).sum(1) * (weight * y * y).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.where(scale > 0, covariance / scale, np.nan)
    return float(np.nanmean(correlation))


def untied_similarity(model) -> dict[str, float]:
    """`untied_similarity/<layer>` (see `filter_similarity`) for every untied layer."""
    stats = {}
    for layer in _all_layers(model):
        if hasattr(layer, "location_filters"):
            support = layer.connections.dense_support()
            stats[f"untied_similarity/{layer.name}"] = filter_similarity(
                layer.location_filters(), support
            )
    return stats


def _all_layers(model):
    """The layers of `model`, descending into nested models, in network order."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)
