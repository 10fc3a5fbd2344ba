"""What `convert` swaps: each Keras class it replaces, why one of its layers
may not be replaceable, and the urfbtf layer of the same map that replaces it.

Dense -> `FeedbackDense`, Conv2D -> `FeedbackConv2D`, DepthwiseConv2D ->
`FeedbackDepthwiseConv2D`, as biotorch swaps a PyTorch model's layers (Sanfiz
and Akrout 2021, "Benchmarking the accuracy and robustness of feedback alignment
algorithms"). The new layer keeps the old one's initializers, bias, dtype policy
and trainability; its feedback weights R, where the rule has them, are drawn
Glorot uniform, as Amit (2019) draws them.
"""

from __future__ import annotations

import keras

from urfbtf.layers import FeedbackConv2D, FeedbackDense, FeedbackDepthwiseConv2D

# Options of the Keras layers that urfbtf's layers do not apply: converting a
# layer that uses one would silently change what it computes or learns.
UNAPPLIED_OPTIONS = (
    "kernel_regularizer",
    "depthwise_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "depthwise_constraint",
    "bias_constraint",
)


def _square_stride(layer) -> str | None:
    if layer.strides[0] != layer.strides[1]:
        return f"strides={layer.strides} (urfbtf's convolutions take one stride)"
    return None


def _why_not_dense(layer) -> str | None:
    if getattr(layer, "lora_enabled", False):
        return "is LoRA-enabled"
    if getattr(layer, "quantization_mode", None):
        return f"is quantized ({layer.quantization_mode})"
    return None


def _why_not_conv(layer) -> str | None:
    if layer.data_format != "channels_last":
        return f"has data_format={layer.data_format!r} (urfbtf's convs are NHWC)"
    if tuple(layer.dilation_rate) != (1, 1):
        return f"has dilation_rate={layer.dilation_rate} (urfbtf's convs have none)"
    if getattr(layer, "groups", 1) != 1:
        return f"has groups={layer.groups}"
    if getattr(layer, "lora_enabled", False):
        return "is LoRA-enabled"
    if layer.padding not in ("same", "valid"):
        return f"has padding={layer.padding!r}"
    return _square_stride(layer)


def _dense(layer, **common):
    return FeedbackDense(layer.units, **common)


def _conv2d(layer, **common):
    return FeedbackConv2D(
        layer.filters,
        layer.kernel_size,
        strides=layer.strides[0],
        padding=layer.padding,
        **common,
    )


def _depthwise_conv2d(layer, **common):
    return FeedbackDepthwiseConv2D(
        layer.kernel_size,
        strides=layer.strides[0],
        padding=layer.padding,
        depth_multiplier=layer.depth_multiplier,
        **common,
    )


# Keras class -> (why a layer of it cannot be converted, its urfbtf layer). Exact
# classes only: a subclass may compute something else in its call.
SWAPS = {
    keras.layers.Dense: (_why_not_dense, _dense),
    keras.layers.Conv2D: (_why_not_conv, _conv2d),
    keras.layers.DepthwiseConv2D: (_why_not_conv, _depthwise_conv2d),
}
CONVERTED = tuple(cls.__name__ for cls in SWAPS)


def is_swappable(operation) -> bool:
    """Whether `operation` is of a class `convert` swaps (not a subclass)."""
    return type(operation) in SWAPS


def reason_not_converted(layer) -> str | None:
    """Why a layer of a convertible class cannot be converted, or None."""
    why_not, _ = SWAPS[type(layer)]
    for option in UNAPPLIED_OPTIONS:
        value = getattr(layer, option, None)
        if value is not None:
            return f"has a {option}, which urfbtf's layers do not apply"
    return why_not(layer)


def _kernel_initializer(layer):
    # DepthwiseConv2D calls its kernel's initializer depthwise_initializer.
    initializer = getattr(layer, "kernel_initializer", None)
    return initializer or layer.depthwise_initializer


def feedback_layer(
    layer, rule, *, name: str, index: int, is_output: bool, connectivity, seed
):
    """The urfbtf layer that replaces `layer` under `rule` (weights copied
    later, once the new graph has built it).

    Args:
        layer: a Keras layer of a class in `SWAPS`.
        rule: the `urfbtf.rules.Rule` it learns by.
        name: the new layer's name.
        index: its rank among the converted calls: the i-th uses seed + 3i for
            its masks and seed + 3i + 2 for R.
        is_output: it ends the net.
        connectivity, seed: see `urfbtf.convert`.
    """
    _, make = SWAPS[type(layer)]
    feedback_init = "glorot_uniform"
    if seed is not None:
        feedback_init = keras.initializers.GlorotUniform(seed + 3 * index + 2)
    new = make(
        layer,
        rule=rule,
        # The nets never prune their output layer (urfbtf.nets.builder).
        connectivity=1.0 if is_output else connectivity,
        use_bias=layer.use_bias,
        kernel_initializer=keras.initializers.serialize(_kernel_initializer(layer)),
        feedback_initializer=feedback_init,
        bias_initializer=keras.initializers.serialize(layer.bias_initializer),
        seed=None if seed is None else seed + 3 * index,
        name=name,
        dtype=layer.dtype_policy,
    )
    # As the nets: a rule whose hidden layers do not learn freezes them.
    learns = is_output or rule.hidden_layers_learn
    new.trainable = layer.trainable and learns
    return new
