"""The connections of an untied (locally connected) convolution, and its two
weight layouts.

Amit (2019), section 4.1: an untied layer keeps a convolution's sparsity
pattern but gives every connection its own weight. A connection joins output
unit (i, j, c_out) to input unit (r, c, c_in) with r = i·s + p - top and
c = j·s + q - left for a kernel tap (p, q), where s is the stride and top/left
the SAME padding TensorFlow would add. Only taps that fall inside the image are
connections: taps on the padding join nothing.

The same weights have two layouts (`urfbtf.backward.untied`): a sparse value
vector [nnz] over the connections, and per-location kernels [H_out, W_out, kh,
kw, C_in, C_out], zero on the padding taps. `to_dense`, `to_sparse` and
`tile_kernel` convert between them and from a tied kernel.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import tensorflow as tf

from urfbtf.errors import UsageError

LAYOUTS = ("dense", "sparse")


def output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """Output length of a convolution along one axis, as TensorFlow defines it."""
    if padding.upper() == "SAME":
        return math.ceil(size / stride)
    return (size - kernel) // stride + 1


def _padding_before(size: int, kernel: int, stride: int, padding: str) -> int:
    # TensorFlow's SAME padding puts the odd extra row (column) after the image.
    if padding.upper() == "VALID":
        return 0
    needed = (output_size(size, kernel, stride, padding) - 1) * stride + kernel
    total = max(needed - size, 0)
    return total // 2


@dataclasses.dataclass(frozen=True, eq=False)
class Connections:
    """The connections of an untied convolution (NHWC, row-major unit indices).

    Attributes:
        input_shape: (H, W, C_in).
        kernel_size: (kh, kw).
        filters: C_out.
        strides: the stride in both spatial dimensions.
        padding: "SAME" or "VALID".
        output_size: (H_out, W_out).
        padding_before: (top, left) rows and columns TensorFlow pads before the
            image (0 for VALID).
        out_index: [nnz] int64, output unit (i·W_out + j)·C_out + c_out of each
            connection.
        in_index: [nnz] int64, input unit (r·W + c)·C_in + c_in.
        dense_index: [nnz] int64, flat position of each connection in the dense
            layout [H_out, W_out, kh, kw, C_in, C_out] (see `position`).

    Connections are sorted by (out_index, in_index): row-major order of the
    [n_out, n_in] matrix, as `tf.SparseTensor` expects.
    """

    input_shape: tuple[int, int, int]
    kernel_size: tuple[int, int]
    filters: int
    strides: int
    padding: str
    output_size: tuple[int, int]
    padding_before: tuple[int, int]
    out_index: np.ndarray
    in_index: np.ndarray
    dense_index: np.ndarray

    @property
    def nnz(self) -> int:
        return int(self.out_index.size)

    @property
    def n_in(self) -> int:
        return math.prod(self.input_shape)

    @property
    def n_out(self) -> int:
        return math.prod(self.output_size) * self.filters

    @property
    def conv_shape(self) -> tuple[int, int, int, int]:
        """Shape of the tied kernel: (kh, kw, C_in, C_out)."""
        return (*self.kernel_size, self.input_shape[-1], self.filters)

    @property
    def dense_shape(self) -> tuple[int, ...]:
        """Shape of the dense layout: (H_out, W_out, kh, kw, C_in, C_out)."""
        return (*self.output_size, *self.conv_shape)

    @property
    def position(self) -> tuple[np.ndarray, ...]:
        """(i, j, p, q, c_in, c_out) of each connection: its output location, its
        tap in the kernel at that location and its two channels."""
        return np.unravel_index(self.dense_index, self.dense_shape)

    @property
    def kernel_index(self) -> np.ndarray:
        """[nnz] flat index of each connection's entry in the tied kernel."""
        # The dense layout is the kernel repeated per location, so the position
        # within a location is the kernel's flat index.
        return self.dense_index % math.prod(self.conv_shape)

    def tap_support(self) -> np.ndarray:
        """[H_out, W_out, kh, kw] bool: True where the tap falls inside the image."""
        return _tap_support(
            self.input_shape[:2],
            self.kernel_size,
            self.strides,
            self.output_size,
            self.padding_before,
        )

    def dense_support(self) -> np.ndarray:
        """Bool of the dense shape: True on connections, False on padding taps."""
        return np.broadcast_to(self.tap_support()[..., None, None], self.dense_shape)

    @functools.cached_property
    def _dense_to_connection(self) -> np.ndarray:
        # For every dense entry, its connection index, or nnz for padding taps
        # (which `to_dense` maps to an appended zero).
        index = np.full(math.prod(self.dense_shape), self.nnz, np.int64)
        index[self.dense_index] = np.arange(self.nnz)
        return index


def _tap_support(image_size, kernel_size, strides, out_size, before):
    axes = []
    for n, k, n_out, pad in zip(image_size, kernel_size, out_size, before, strict=True):
        # Input coordinate of output i and tap p: i·s + p - pad.
        coord = np.arange(n_out)[:, None] * strides + np.arange(k)[None, :] - pad
        axes.append((coord >= 0) & (coord < n))
    rows, cols = axes
    return rows[:, None, :, None] & cols[None, :, None, :]


def connections(
    input_shape, kernel_size, filters: int, strides: int = 1, padding: str = "SAME"
) -> Connections:
    """The connection list of a convolution with these arguments.

    Vectorised: the connections are the nonzeros of a boolean array over
    (i, j, c_out, p, q, c_in), whose row-major order is already the (output,
    input) order of the matrix, so no sort is needed.

    Args:
        input_shape: (H, W, C_in), or (batch, H, W, C_in).
        kernel_size: an int or (kh, kw).
        filters: C_out.
        strides: the stride in both spatial dimensions.
        padding: "SAME" or "VALID" (any case), as `tf.nn.conv2d` defines them.

    Returns:
        The `Connections`.

    Raises:
        UsageError: for an unknown padding or a VALID kernel larger than the image.
    """
    height, width, channels = (int(n) for n in tuple(input_shape)[-3:])
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    kh, kw = (int(k) for k in kernel_size)
    padding = padding.upper()
    if padding not in ("SAME", "VALID"):
        raise UsageError(f"padding={padding!r}: valid values are 'same' and 'valid'.")
    out_h, out_w = (
        output_size(n, k, strides, padding) for n, k in ((height, kh), (width, kw))
    )
    if out_h < 1 or out_w < 1:
        raise UsageError(
            f"A {kh}x{kw} kernel with VALID padding does not fit a {height}x{width} "
            "image; use padding='same' or a smaller kernel."
        )
    top, left = (
        _padding_before(n, k, strides, padding) for n, k in ((height, kh), (width, kw))
    )
    support = _tap_support(
        (height, width), (kh, kw), strides, (out_h, out_w), (top, left)
    )
    every = np.broadcast_to(
        support[:, :, None, :, :, None], (out_h, out_w, filters, kh, kw, channels)
    )
    i, j, c_out, p, q, c_in = np.nonzero(every)
    out_index = (i * out_w + j) * filters + c_out
    in_index = ((i * strides + p - top) * width + (j * strides + q - left)) * channels
    in_index += c_in
    dense_index = np.ravel_multi_index(
        (i, j, p, q, c_in, c_out), (out_h, out_w, kh, kw, channels, filters)
    )
    return Connections(
        input_shape=(height, width, channels),
        kernel_size=(kh, kw),
        filters=int(filters),
        strides=int(strides),
        padding=padding,
        output_size=(out_h, out_w),
        padding_before=(top, left),
        out_index=out_index.astype(np.int64),
        in_index=in_index.astype(np.int64),
        dense_index=dense_index.astype(np.int64),
    )


# --- Conversions between the layouts ------------------------------------------


def to_dense(values, conns: Connections) -> tf.Tensor:
    """Sparse value vector [nnz] -> dense layout (0, or False, on padding taps).

    Works for any dtype, including the boolean connectivity masks.
    """
    values = tf.convert_to_tensor(values)
    if tuple(values.shape) != (conns.nnz,):
        raise UsageError(
            f"Expected a value vector of shape ({conns.nnz},), one value per "
            f"connection; got shape {tuple(values.shape)}."
        )
    padded = tf.concat([values, tf.zeros([1], values.dtype)], axis=0)
    return tf.reshape(tf.gather(padded, conns._dense_to_connection), conns.dense_shape)


def to_sparse(dense, conns: Connections) -> tf.Tensor:
    """Dense layout -> sparse value vector [nnz] (padding-tap entries dropped)."""
    return tf.gather(tf.reshape(tf.convert_to_tensor(dense), [-1]), conns.dense_index)


def tile_kernel(kernel, conns: Connections, layout: str = "dense") -> tf.Tensor:
    """A conv kernel [kh, kw, C_in, C_out] copied to every location.

    The original code started every untied layer this way (from the trained or a
    random tied kernel). Dense layout: zero on padding taps; sparse layout: the
    real connections only.
    """
    kernel = tf.convert_to_tensor(kernel)
    if tuple(kernel.shape) != conns.conv_shape:
        raise UsageError(
            f"Kernel of shape {tuple(kernel.shape)} does not fit this untied layer, "
            f"whose conv kernel has shape {conns.conv_shape}."
        )
    if check_layout(layout) == "sparse":
        return tf.gather(tf.reshape(kernel, [-1]), conns.kernel_index)
    tiled = tf.broadcast_to(kernel, conns.dense_shape)
    return tf.where(conns.dense_support(), tiled, tf.zeros_like(tiled))


def check_layout(layout: str) -> str:
    """Returns `layout` if it is "dense" or "sparse"; raises `UsageError` otherwise."""
    if layout not in LAYOUTS:
        raise UsageError(
            f"implementation={layout!r}: valid values are 'dense' (per-location "
            "kernels, compiles with XLA) and 'sparse' (tf.SparseTensor, as the "
            "original code)."
        )
    return layout
