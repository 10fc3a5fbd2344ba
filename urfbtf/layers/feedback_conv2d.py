"""A 2-D convolution trained by a rule of `urfbtf.rules` (Amit 2019, sec. 3.1, 4)."""

from __future__ import annotations

import math

import keras

from urfbtf.backward import linear
from urfbtf.errors import UsageError
from urfbtf.layers.feedback_layer import FeedbackLayer


@keras.saving.register_keras_serializable(package="urfbtf")
class FeedbackConv2D(FeedbackLayer):
    """Convolution (NHWC) with forward kernel W and feedback kernel R.

    The weight gradient is the usual filter gradient (the Hebbian products summed
    over space: the kernel is shared); the error sent down is the transposed
    convolution with W (bp) or with R (frfb, urfb). The original code used stride
    1, SAME padding and no bias, which are the defaults.

    Args:
        filters: number of output channels.
        kernel_size: an int or a (height, width) pair.
        strides: the stride in both spatial dimensions.
        padding: "same" or "valid".
        **kwargs: see `FeedbackLayer` (rule, connectivity, use_bias, initializers,
            seed) and `keras.layers.Layer`.
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides: int = 1,
        padding: str = "same",
        **kwargs,
    ):
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size, kernel_size)
        self.filters = int(filters)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.strides = int(strides)
        self.padding = padding.lower()
        if self.padding not in ("same", "valid"):
            raise UsageError(
                f"padding={padding!r}: valid values are 'same' and 'valid'."
            )
        super().__init__(**kwargs)

    def kernel_shape(self, input_shape):
        return (*self.kernel_size, int(input_shape[-1]), self.filters)

    def linear_map(self, input_shape):
        return linear.conv2d_map(self.strides, self.padding.upper())

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (
            batch,
            *(
                self._output_size(n, k)
                for n, k in zip((height, width), self.kernel_size, strict=True)
            ),
            self.filters,
        )

    def _output_size(self, size, kernel):
        if size is None:
            return None
        if self.padding == "same":
            return math.ceil(size / self.strides)
        return (size - kernel) // self.strides + 1

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
        }
