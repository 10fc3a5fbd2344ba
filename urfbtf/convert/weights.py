"""The original model's weights, copied into the converted one.

A converted layer takes W and the bias; its feedback weights R stay as drawn,
or, under `feedback="copy"`, start equal to W (under urfb, whose R has W's
gradient, R - W then never changes: exactly backpropagation, step for step).
Entries that the layer's fixed random masks prune stay 0. Every other layer
takes its weights one for one.
"""

from __future__ import annotations

import keras
import numpy as np

from urfbtf.errors import UsageError
from urfbtf.layers import FeedbackLayer


def _masked(values: np.ndarray, mask) -> np.ndarray:
    if mask is None:
        return values
    return np.where(keras.ops.convert_to_numpy(mask), values, 0).astype(values.dtype)


def copy_into_feedback_layer(new: FeedbackLayer, layer, feedback: str) -> None:
    """W and the bias from `layer`; R from W under "copy"; pruned entries 0."""
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    new.kernel.assign(_masked(kernel, new.kernel_mask))
    if new.bias is not None:
        new.bias.assign(keras.ops.convert_to_numpy(layer.bias))
    if new.feedback is not None and feedback == "copy":
        new.feedback.assign(_masked(kernel, new.feedback_mask))


def copy_weights(new, layer) -> None:
    """Every weight of `layer` into its copy `new`, in order."""
    if len(new.weights) != len(layer.weights):
        raise UsageError(
            f"Cannot copy the weights of layer {layer.name!r} "
            f"({type(layer).__name__}): its copy has {len(new.weights)} weights, "
            f"it has {len(layer.weights)}."
        )
    for target, source in zip(new.weights, layer.weights, strict=True):
        target.assign(source)
