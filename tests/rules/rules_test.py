"""The rules' gradients against NumPy oracles and TensorFlow autodiff."""

import numpy as np
import pytest
import tensorflow as tf

from urfbtf import rules
from urfbtf.errors import UsageError


def _grads(fn, x, kernel, feedback):
    x, kernel, feedback = (tf.constant(a, tf.float32) for a in (x, kernel, feedback))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, kernel, feedback])
        h = fn(x, kernel, feedback)
        # A non-uniform upstream error δ = ∂loss/∂h = cos(h).
        loss = tf.reduce_sum(tf.sin(h))
    dh = tape.gradient(loss, h)
    grads = tape.gradient(loss, [x, kernel, feedback])
    return h.numpy(), dh.numpy(), [None if g is None else g.numpy() for g in grads]


def _conv_oracle(x, dh, r, w_shape, stride, padding):
    """NumPy transposed convolution (input gradient with r) and filter gradient."""
    batch, height, width, channels = x.shape
    kh, kw = w_shape[:2]
    out_h, out_w = dh.shape[1:3]
    if padding == "SAME":
        top = max((out_h - 1) * stride + kh - height, 0) // 2
        left = max((out_w - 1) * stride + kw - width, 0) // 2
    else:
        top = left = 0
    dx = np.zeros_like(x, dtype=np.float64)
    dw = np.zeros(w_shape, np.float64)
    for i in range(out_h):
        for j in range(out_w):
            for p in range(kh):
                for q in range(kw):
                    row, col = i * stride + p - top, j * stride + q - left
                    if 0 <= row < height and 0 <= col < width:
                        # h[b,i,j,:] += x[b,row,col,:] @ w[p,q]
                        dx[:, row, col, :] += dh[:, i, j, :] @ r[p, q].T
                        dw[p, q] += x[:, row, col, :].T @ dh[:, i, j, :]
    return dx, dw


def test_dense_frfb_sends_delta_through_r_and_leaves_r_without_gradient():
    rng = np.random.default_rng(0)
    x, w, r = rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    fn = rules.with_feedback(rules.DENSE, feedback_learns=False)
    h, dh, (dx, dw, dr) = _grads(fn, x, w, r)
    np.testing.assert_allclose(h, x @ w, rtol=1e-5)
    np.testing.assert_allclose(dx, dh @ r.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dw, x.T @ dh, rtol=1e-5, atol=1e-6)
    assert dr is None


def test_dense_urfb_gives_r_exactly_the_gradient_of_w():
    rng = np.random.default_rng(1)
    x, w, r = rng.normal(size=(6, 4)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    fn = rules.with_feedback(rules.DENSE, feedback_learns=True)
    _, dh, (dx, dw, dr) = _grads(fn, x, w, r)
    np.testing.assert_array_equal(dr, dw)
    np.testing.assert_allclose(dx, dh @ r.T, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kernel,stride,padding,size",
    [
        (3, 1, "SAME", 6),
        (2, 1, "SAME", 5),
        (5, 1, "SAME", 7),
        (3, 2, "SAME", 7),
        (2, 2, "VALID", 6),
        (3, 1, "VALID", 5),
    ],
)
def test_conv_feedback_is_the_transposed_convolution_with_r(
    kernel, stride, padding, size
):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, size, size, 3))
    w = rng.normal(size=(kernel, kernel, 3, 4))
    r = rng.normal(size=(kernel, kernel, 3, 4))
    fn = rules.with_feedback(rules.conv2d_map(stride, padding), feedback_learns=False)
    _, dh, (dx, dw, _) = _grads(fn, x, w, r)
    dx_oracle, dw_oracle = _conv_oracle(x, dh, r, w.shape, stride, padding)
    np.testing.assert_allclose(dx, dx_oracle, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dw, dw_oracle, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "linear_map,shapes",
    [
        (rules.DENSE, ((5, 4), (4, 3))),
        (rules.conv2d_map(1, "SAME"), ((2, 6, 6, 3), (2, 2, 3, 4))),
        (rules.conv2d_map(2, "SAME"), ((2, 7, 7, 3), (3, 3, 3, 4))),
    ],
)
def test_feedback_equal_to_weights_is_exactly_backpropagation(linear_map, shapes):
    """With R = W the custom gradient is autodiff's, bit for bit."""
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    custom = rules.with_feedback(linear_map, feedback_learns=True)
    autodiff = rules.linear_rule(rules.get_rule("bp"), linear_map)
    _, _, (dx, dw, _) = _grads(custom, x, w, w)
    _, _, (dx_bp, dw_bp, _) = _grads(lambda a, b, c: autodiff(a, b), x, w, w)
    np.testing.assert_array_equal(dx, dx_bp)
    np.testing.assert_array_equal(dw, dw_bp)


def test_unknown_rule_names_the_valid_ones():
    with pytest.raises(UsageError, match=r"'nosuchrule'.*bp.*frfb.*urfb"):
        rules.get_rule("nosuchrule")
