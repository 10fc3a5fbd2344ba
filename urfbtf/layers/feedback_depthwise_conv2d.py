"""A depthwise 2-D convolution trained by a rule of `urfbtf.rules`.

Each input channel is convolved with `depth_multiplier` filters of its own (the
depthwise half of a separable convolution, as in MobileNets; Howard et al. 2017,
"MobileNets", sec. 3.1). It is linear in its kernel like any convolution, so
every rule applies to it through its `LinearMap`: the weight gradient is the
Hebbian product of each channel's input and error summed over space, and the
error sent down is the transposed depthwise convolution with W (bp) or with the
feedback kernel R (frfb, urfb), of W's shape.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from urfbtf.backward.linear import LinearMap
from urfbtf.errors import UsageError
from urfbtf.layers.feedback_layer import FeedbackLayer


def depthwise_conv2d_map(strides: int = 1, padding: str = "SAME") -> LinearMap:
    """The depthwise convolution (NHWC, no dilation) as a `LinearMap`.

    The forward map is `tf.nn.depthwise_conv2d`, which Keras' DepthwiseConv2D
    calls on this backend, and the backward halves are the two ops of its
    registered gradient, so in backpropagation mode the layer computes what
    Keras' layer computes.
    """
    stride_list = [1, strides, strides, 1]

    def forward(x, w):
        return tf.nn.depthwise_conv2d(x, w, strides=stride_list, padding=padding)

    def input_grad(dh, w, x):
        return tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
            input_sizes=tf.shape(x),
            filter=w,
            out_backprop=dh,
            strides=stride_list,
            padding=padding,
        )

    def weight_grad(x, dh, w):
        return tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
            input=x,
            filter_sizes=tf.shape(w),
            out_backprop=dh,
            strides=stride_list,
            padding=padding,
        )

    return LinearMap(forward, input_grad, weight_grad)


@keras.saving.register_keras_serializable(package="urfbtf")
class FeedbackDepthwiseConv2D(FeedbackLayer):
    """Depthwise convolution (NHWC) with forward kernel W and feedback kernel R,
    both [kh, kw, channels, depth_multiplier] as Keras' DepthwiseConv2D kernel.

    Args:
        kernel_size: an int or a (height, width) pair.
        strides: the stride in both spatial dimensions.
        padding: "same" or "valid".
        depth_multiplier: output channels per input channel.
        **kwargs: see `FeedbackLayer` (rule, connectivity, use_bias, initializers,
            seed) and `keras.layers.Layer`.
    """

    def __init__(
        self,
        kernel_size,
        strides: int = 1,
        padding: str = "same",
        depth_multiplier: int = 1,
        **kwargs,
    ):
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size, kernel_size)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.strides = int(strides)
        self.padding = padding.lower()
        self.depth_multiplier = int(depth_multiplier)
        if self.padding not in ("same", "valid"):
            raise UsageError(
                f"padding={padding!r}: valid values are 'same' and 'valid'."
            )
        super().__init__(**kwargs)

    def kernel_shape(self, input_shape):
        return (*self.kernel_size, int(input_shape[-1]), self.depth_multiplier)

    def bias_shape(self, input_shape):
        return (int(input_shape[-1]) * self.depth_multiplier,)

    def fan_in(self, input_shape) -> int:
        # Each output unit reads one input channel's window.
        return math.prod(self.kernel_size)

    def linear_map(self, input_shape):
        return depthwise_conv2d_map(self.strides, self.padding.upper())

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        sizes = []
        for size, kernel in zip((height, width), self.kernel_size, strict=True):
            if size is None:
                sizes.append(None)
            elif self.padding == "same":
                sizes.append(math.ceil(size / self.strides))
            else:
                sizes.append((size - kernel) // self.strides + 1)
        return (batch, *sizes, channels * self.depth_multiplier)

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "depth_multiplier": self.depth_multiplier,
        }
