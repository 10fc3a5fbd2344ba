"""Maps linear in their weights, and the backward passes the rules give them.

Amit (2019), section 3.1. Every trainable map of a network is linear in its
weights, h = x ⊛ W (a dense product, a convolution, an untied layer). Its
backward pass has two halves (eq. 2):

* the weight gradient δ ⊗ x, a product of the activity of the two units that each
  weight connects (Hebbian), and
* the error sent to the layer below, Wᵀδ.

A `LinearMap` holds the forward map and both halves; the functions here build
from it the three backward passes the rules use: exact backpropagation
(`backprop`), the error sent down through separate feedback weights R
(`with_feedback`, Amit's eq. 2 with R in place of Wᵀ), and no error sent down at
all (`local_only`, the direct rules and layer-local losses). `clip_error` clips
the error a layer sends down, as the original code's `b_nonlin_scale` does.

R is stored with W's shape and orientation, so R = W makes `with_feedback` exact
backpropagation. The functions take tensors positionally and capture everything
else by closure: `tf.custom_gradient` silently drops the custom gradient for
keyword arguments in eager mode, and rejects Keras variables, so layers read
their weights into tensors before calling them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

import tensorflow as tf

# A process-wide switch, not a thread-local one: tf.distribute runs replicas in
# threads of their own.
_FORCED = {"active": False}


@contextlib.contextmanager
def exact_backprop():
    """Within this context every urfbtf layer computes exact backpropagation,
    whatever its rule: the reference the alignment probes compare rules with.

    It acts when a layer is called (eagerly) or traced, not inside functions
    traced before.
    """
    previous = _FORCED["active"]
    _FORCED["active"] = True
    try:
        yield
    finally:
        _FORCED["active"] = previous


def backprop_forced() -> bool:
    """Whether `exact_backprop` is active."""
    return _FORCED["active"]


@dataclasses.dataclass(frozen=True)
class LinearMap:
    """A map h = forward(x, w), linear in w, with the two halves of its backward pass.

    Attributes:
        forward: (x, w) -> h.
        input_grad: (dh, w, x) -> dx, the adjoint of `forward` in x applied with
            the weights w (W for backpropagation, R for random feedback); x only
            supplies its shape.
        weight_grad: (x, dh, w) -> dw, the Hebbian product of the input x and the
            error dh, summed over the batch (and over space for a convolution); w
            only supplies its shape.
    """

    forward: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    input_grad: Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]
    weight_grad: Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]


def _dense_forward(x, w):
    return tf.matmul(x, w)


def _dense_input_grad(dh, w, x):
    del x  # Same shape as dh @ wᵀ.
    return tf.matmul(dh, w, transpose_b=True)


def _dense_weight_grad(x, dh, w):
    del w
    return tf.matmul(x, dh, transpose_a=True)


# x: [batch, n_in], w: [n_in, n_out].
DENSE = LinearMap(_dense_forward, _dense_input_grad, _dense_weight_grad)


def conv2d_map(strides: int = 1, padding: str = "SAME") -> LinearMap:
    """The 2-D convolution (NHWC, no dilation) as a `LinearMap`.

    The backward halves are the two ops TensorFlow's own convolution gradient
    uses, so in backpropagation mode the result is bitwise that of autodiff; with
    R in place of W, `input_grad` is the transposed convolution with R.
    """
    stride_list = [1, strides, strides, 1]

    def forward(x, w):
        return tf.nn.conv2d(x, w, strides=stride_list, padding=padding)

    def input_grad(dh, w, x):
        return tf.raw_ops.Conv2DBackpropInput(
            input_sizes=tf.shape(x),
            filter=w,
            out_backprop=dh,
            strides=stride_list,
            padding=padding,
        )

    def weight_grad(x, dh, w):
        return tf.raw_ops.Conv2DBackpropFilter(
            input=x,
            filter_sizes=tf.shape(w),
            out_backprop=dh,
            strides=stride_list,
            padding=padding,
        )

    return LinearMap(forward, input_grad, weight_grad)


def explicit_gradient(forward, input_grad, weight_grad) -> LinearMap:
    """A `LinearMap` whose forward differentiates through its own backward halves.

    Rule bp differentiates `forward` by autodiff; this makes it use the same
    explicit halves as the feedback rules (for the sparse untied layout,
    TensorFlow's own gradient of the values would gather two unchunked
    [nnz, batch] blocks).
    """

    @tf.custom_gradient
    def apply(x, w):
        def grad(dh):
            return input_grad(dh, w, x), weight_grad(x, dh, w)

        return forward(x, w), grad

    return LinearMap(apply, input_grad, weight_grad)


def with_feedback(
    linear_map: LinearMap, feedback_learns: bool
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    """Returns f(x, kernel, feedback) = linear_map.forward(x, kernel) with the
    error sent down through `feedback` (Amit 2019, eq. 2 with R in place of Wᵀ).

    Gradients: x gets the adjoint applied with `feedback`; kernel gets the Hebbian
    product; feedback gets the same product if `feedback_learns` (urfb), and no
    gradient otherwise (frfb).
    """

    @tf.custom_gradient
    def apply(x, kernel, feedback):
        def grad(dh):
            dx = linear_map.input_grad(dh, feedback, x)
            # R's update (which is dw under urfb) must wait for the error sent
            # down through R: without this edge the optimizer may update R while
            # the layer below still reads it (seen as a race under urfb, about
            # one step in two differing from backpropagation with R = W).
            with tf.control_dependencies([dx]):
                dw = tf.identity(linear_map.weight_grad(x, dh, kernel))
            return dx, dw, (dw if feedback_learns else None)

        return linear_map.forward(x, kernel), grad

    return apply


def local_only(
    linear_map: LinearMap,
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor | None], tf.Tensor]:
    """Returns f(x, kernel, feedback=None) whose backward pass gives the kernel
    its Hebbian gradient and sends nothing to the layer below.

    Frenkel et al. (2021): with direct feedback each layer's update needs only
    its input, its output and the projected signal, not the layers above.
    """

    @tf.custom_gradient
    def apply(x, kernel):
        def grad(dh):
            return None, linear_map.weight_grad(x, dh, kernel)

        return linear_map.forward(x, kernel), grad

    def local(x, kernel, feedback=None):
        del feedback
        return apply(x, kernel)

    return local


def backprop(
    linear_map: LinearMap,
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor | None], tf.Tensor]:
    """Returns f(x, kernel, feedback=None) = linear_map.forward(x, kernel) with
    TensorFlow's own gradient: exact backpropagation."""

    def apply(x, kernel, feedback=None):
        del feedback
        return linear_map.forward(x, kernel)

    return apply


def clip_error(x: tf.Tensor, scale: float) -> tf.Tensor:
    """The identity on x, whose backward pass replaces the error g arriving at x
    by clip(scale·g, -1, 1).

    Amit's original code (yaliamit/URFB, `b_nonlin_scale` b; see
    shared/research/urfb_original.md, sec. 3.3 step 5 and its parameter table):
    after each conv, dense or untied layer has computed the error it sends down,
    g_below = δ Fᵀ (F = R under frfb and urfb, W under bp), and b > 0, the code
    sends clip(b·g_below, -1, 1) instead. A layer applies this to its own input,
    so the clip acts on exactly that error, before the backward pass of whatever
    lies below (pooling, dropout, the nonlinearity). It clips the feedback
    signal, not the weight gradient: the layer's own update is unchanged.
    """

    @tf.custom_gradient
    def apply(inputs):
        def grad(error):
            return tf.clip_by_value(scale * error, -1.0, 1.0)

        return tf.identity(inputs), grad

    return apply(x)
