"""Untied (locally connected) convolutions as `rules.LinearMap`s.

Amit (2019), section 4.1. A convolution is the product h = W x (eq. 1) with a
sparse matrix W whose rows repeat one kernel at displaced positions, and its
weight gradient sums the Hebbian products δ_{l,i} x_{l-1,i+k} over every location
i. An *untied* layer keeps the convolution's sparsity pattern but gives every
connection its own weight, updated by its own product δ_{l,i} x_{l-1,i+k} summed
over the batch only. Under rule bp the error sent down is Wᵀδ (eq. 2); under
frfb and urfb it is Rᵀδ with R an untied matrix on the same support.

A connection joins output unit (i, j, c_out) to input unit (r, c, c_in) with
r = i·s + p - top and c = j·s + q - left for a kernel tap (p, q), where s is the
stride and top/left the SAME padding TensorFlow would add. Only taps that fall
inside the image are connections: taps on the padding join nothing.

Two layouts of the same weights, with the same mathematics:

* sparse: a value vector [nnz] over the connections sorted by (output, input)
  unit, used through `tf.SparseTensor` products as in the original code (which
  built the matrices by convolving one-hot images). `SparseTensorDenseMatMul`
  has no XLA kernel, so this layout cannot be compiled.
* dense: per-location kernels [H_out, W_out, kh, kw, C_in, C_out], used through
  extracted patches and one small matrix product per location, which XLA (and
  TPUs) compile. Entries for taps on padding are not connections; they multiply
  padded zeros, so their weight gradient is exactly 0 and, started at 0, they
  stay 0 under any optimizer whose update is 0 for a zero gradient.

Both maps carry their own gradients (`tf.custom_gradient`), so rule bp uses
the same memory-bounded backward pass as the feedback rules.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import tensorflow as tf

from urfbtf import rules
from urfbtf.errors import UsageError

LAYOUTS = ("dense", "sparse")

# Connections per chunk of the sparse weight gradient: each chunk gathers two
# [chunk, batch] blocks (about 130 MB each at batch 500) instead of the original's
# two [nnz, batch] blocks (4.5 GB each for simpnet_s at batch 500).
SPARSE_GRAD_CHUNK = 2**16


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


# --- The linear maps ------------------------------------------------------------


def _with_own_gradient(forward, input_grad, weight_grad) -> rules.LinearMap:
    """A LinearMap whose forward differentiates through its own backward halves.

    Rule bp differentiates `forward` by autodiff; this makes it use the same
    explicit halves as the feedback rules (for the sparse layout, TensorFlow's
    own gradient of the values would gather two unchunked [nnz, batch] blocks).
    """

    @tf.custom_gradient
    def apply(x, w):
        def grad(dh):
            return input_grad(dh, w, x), weight_grad(x, dh, w)

        return forward(x, w), grad

    return rules.LinearMap(apply, input_grad, weight_grad)


def sparse_map(conns: Connections, chunk: int = SPARSE_GRAD_CHUNK) -> rules.LinearMap:
    """The untied convolution on a value vector w [nnz], with `tf.SparseTensor`s.

    forward: h = W x with W the [n_out, n_in] sparse matrix of w.
    input_grad: Wᵀδ with the given values (the current R under frfb/urfb; the
        original used a transposed copy refreshed once per epoch).
    weight_grad: Σ_b x[b, in_e]·δ[b, out_e] for every connection e, by gathering
        both columns, chunk by chunk (`chunk` connections at a time).

    About 20x slower than `dense_map` on CPU (simpnet_s's layer at batch 500:
    2.4 s against 0.1 s for forward + both gradients), as the paper found the
    sparse layers "significantly slower" than convolutions.
    """
    n_in, n_out = conns.n_in, conns.n_out
    in_shape = [-1, *conns.input_shape]
    out_shape = [-1, *conns.output_size, conns.filters]
    # Eager tensors, captured by reference (not copied as constants) by every
    # tf.function that uses the map.
    with tf.init_scope():
        indices = tf.constant(np.stack([conns.out_index, conns.in_index], axis=1))
        chunks = [
            (
                tf.constant(conns.in_index[s : s + chunk].astype(np.int32)),
                tf.constant(conns.out_index[s : s + chunk].astype(np.int32)),
            )
            for s in range(0, conns.nnz, chunk)
        ]

    def matrix(w):
        return tf.SparseTensor(indices, w, [n_out, n_in])

    def forward(x, w):
        # [n_out, n_in] @ [n_in, B]: TF's sparse-dense product takes the sparse
        # operand first.
        h_t = tf.sparse.sparse_dense_matmul(
            matrix(w), tf.reshape(x, [-1, n_in]), adjoint_b=True
        )
        return tf.reshape(tf.transpose(h_t), out_shape)

    def input_grad(dh, w, x):
        del x  # The shape is static.
        dx_t = tf.sparse.sparse_dense_matmul(
            matrix(w), tf.reshape(dh, [-1, n_out]), adjoint_a=True, adjoint_b=True
        )
        return tf.reshape(tf.transpose(dx_t), in_shape)

    def weight_grad(x, dh, w):
        del w
        # Unit-major [n, B]: each gathered row is one unit's batch, contiguous.
        x_t = tf.transpose(tf.reshape(x, [-1, n_in]))
        dh_t = tf.transpose(tf.reshape(dh, [-1, n_out]))
        parts = []
        for in_index, out_index in chunks:
            # Chain the chunks so that a graph runs them one after the other and
            # only one chunk's gathers are alive at a time.
            with tf.control_dependencies(parts[-1:]):
                product = tf.gather(x_t, in_index) * tf.gather(dh_t, out_index)
                parts.append(tf.reduce_sum(product, axis=1))
        return tf.concat(parts, axis=0)

    return _with_own_gradient(forward, input_grad, weight_grad)


def dense_map(conns: Connections) -> rules.LinearMap:
    """The untied convolution on per-location kernels w [H_out, W_out, kh, kw,
    C_in, C_out], with static slices and a batched matrix product.

    The batch is kept as the minor axis throughout ("unit-major" [.., B] tensors):
    patches P [L, K, B] with L = H_out·W_out locations and K = kh·kw·C_in taps,
    then h[l] = w[l]ᵀ P[l], δP[l] = w[l] δ[l] and Δw[l] = P[l] δ[l]ᵀ.

    Measured on 2 CPU cores for simpnet_s's layer (32x32x3, 5x5, 32 filters,
    SAME) at batch 500, forward + both gradients: about 1.5-2x the tied
    convolution, the same with or without XLA, and 5x faster without XLA than an
    einsum over NHWC patches differentiated by autodiff (whose StridedSliceGrad
    adjoint is slow on CPU; under XLA the einsum was 25% faster).
    tf.image.extract_patches was 2x slower than the static slices.
    """
    height, width, channels = conns.input_shape
    kh, kw = conns.kernel_size
    out_h, out_w = conns.output_size
    stride = conns.strides
    top, left = conns.padding_before
    # Padded image: enough rows and columns for the last window.
    pad_h = max(height + top, (out_h - 1) * stride + kh)
    pad_w = max(width + left, (out_w - 1) * stride + kw)
    locations, taps = out_h * out_w, kh * kw * channels
    span_h, span_w = (out_h - 1) * stride + 1, (out_w - 1) * stride + 1

    def patches(x):
        # [B, H, W, C] -> [L, K, B], K ordered (p, q, c_in) like the kernel.
        image = tf.transpose(x, [1, 2, 3, 0])
        image = tf.pad(
            image,
            [[top, pad_h - height - top], [left, pad_w - width - left], [0, 0], [0, 0]],
        )
        windows = [
            image[p : p + span_h : stride, q : q + span_w : stride]
            for p in range(kh)
            for q in range(kw)
        ]
        return tf.reshape(tf.stack(windows, axis=2), [locations, taps, -1])

    def unit_major(dh):
        # [B, H_out, W_out, C_out] -> [L, C_out, B].
        return tf.transpose(tf.reshape(dh, [-1, locations, conns.filters]), [1, 2, 0])

    def per_location(w):
        return tf.reshape(w, [locations, taps, conns.filters])

    def forward(x, w):
        h = tf.matmul(per_location(w), patches(x), transpose_a=True)  # [L, C_out, B]
        return tf.transpose(
            tf.reshape(h, [*conns.output_size, conns.filters, -1]), [3, 0, 1, 2]
        )

    def input_grad(dh, w, x):
        del x  # The shape is static.
        d_patches = tf.matmul(per_location(w), unit_major(dh))  # [L, K, B]
        d_patches = tf.reshape(d_patches, [out_h, out_w, kh * kw, channels, -1])
        if stride > 1:
            # Put window (i, j) back at padded row i·s, column j·s.
            d_patches = tf.reshape(
                d_patches, [out_h, 1, out_w, 1, kh * kw, channels, -1]
            )
            d_patches = tf.pad(
                d_patches,
                [
                    [0, 0],
                    [0, stride - 1],
                    [0, 0],
                    [0, stride - 1],
                    [0, 0],
                    [0, 0],
                    [0, 0],
                ],
            )
            d_patches = tf.reshape(
                d_patches, [out_h * stride, out_w * stride, kh * kw, channels, -1]
            )[:span_h, :span_w]
        # The adjoint of the slices: every tap's window added back at its offset.
        # (Pads and one sum: autodiff's StridedSliceGrad was 5x slower on CPU.)
        shifted = [
            tf.pad(
                d_patches[:, :, p * kw + q],
                [[p, pad_h - span_h - p], [q, pad_w - span_w - q], [0, 0], [0, 0]],
            )
            for p in range(kh)
            for q in range(kw)
        ]
        image = tf.add_n(shifted)[top : top + height, left : left + width]
        return tf.transpose(image, [3, 0, 1, 2])

    def weight_grad(x, dh, w):
        del w
        grad = tf.matmul(patches(x), unit_major(dh), transpose_b=True)  # [L, K, C_out]
        return tf.reshape(grad, conns.dense_shape)

    return _with_own_gradient(forward, input_grad, weight_grad)


def linear_map(conns: Connections, layout: str) -> rules.LinearMap:
    """The `dense_map` or `sparse_map` of `conns`, by layout name."""
    if check_layout(layout) == "sparse":
        return sparse_map(conns)
    return dense_map(conns)
