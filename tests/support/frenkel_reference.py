"""One training step of the DRTP reference code, in plain NumPy (no autodiff).

A helper module, not a test file: it holds no test functions. It restates, by
hand-derived formulas, what the PyTorch reference code of Frenkel, Lefebvre & Bol
(2021) computes in one training step of a fully connected net with tanh hidden
layers, sigmoid outputs and its binary cross-entropy loss, so that tests can
compare urfbtf's rules with it. The reference is the public GitHub repository
ChFrenkel/DirectRandomTargetProjection, read at these commits (the index holds one
version of most files and two of models.py and train.py):

* function.py, module.py, main.py, setup.py: faf2d4d0a8e5c942238c4a033e870b569f1fbb07
* models.py, train.py: b84e3fe965bf98b8531f3036604cbe16424a5cc6 (the version that
  passes `loss` to the network builder and applies a softmax for CE; for sigmoid
  outputs with BCE it computes what faf2d4d's version computes).

Conventions, all the reference's own (PyTorch):

* weights[k] has nn.Linear's layout [out, in], biases[k] is [out]; the layer
  computes z = h_prev @ W.T + b (every FC layer has a bias: models.py:99,
  `bias=True`).
* B[k] (DFA, sDFA, DRTP) is the fixed matrix of hidden layer k, of shape
  [num_classes, units_k] (models.py:102, `dim_hook=[label_features,output_dim]`),
  one per hidden layer (module.py:90-92); a hidden layer's signal is
  `signal.mm(B)` [batch, units_k] (function.py:57-62).
* fa_B[k] (FA) has the shape of weights[k] (models.py:136, `dim=self.fc.weight.shape`),
  one for every layer including the output layer; the error sent below layer k is
  `delta_k.mm(fa_B[k])` (module.py:67-70).
* Targets are one-hot floats (train.py:103); the loss is
  `F.binary_cross_entropy(output, targets)` with its default reduction 'mean' over
  all batch x classes elements (train.py:72-73, 106).
* A "gradient" here is what PyTorch leaves in `.grad` after `loss_val.backward()`
  (train.py:104-107); the optimizer then steps with it (train.py:108).

Dropout (models.py:143-144) is not modelled: call these with dropout off.

Run `python tests/support/frenkel_reference.py` for a self-check on random arrays.
"""

from __future__ import annotations

import math

import numpy as np

REPOSITORY = "ChFrenkel/DirectRandomTargetProjection"
COMMITS = {
    "function.py": "faf2d4d0a8e5c942238c4a033e870b569f1fbb07",
    "module.py": "faf2d4d0a8e5c942238c4a033e870b569f1fbb07",
    "main.py": "faf2d4d0a8e5c942238c4a033e870b569f1fbb07",
    "setup.py": "faf2d4d0a8e5c942238c4a033e870b569f1fbb07",
    "models.py": "b84e3fe965bf98b8531f3036604cbe16424a5cc6",
    "train.py": "b84e3fe965bf98b8531f3036604cbe16424a5cc6",
}
MODES = ("bp", "fa", "dfa", "sdfa", "drtp", "shallow")
OPTIMIZERS = ("sgd", "momentum", "nag", "adam")


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function, computed without overflow."""
    out = np.empty_like(z, dtype=np.result_type(z, np.float32))
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def one_hot(labels: np.ndarray, num_classes: int, dtype=np.float64) -> np.ndarray:
    """One-hot targets as the reference builds them:
    `torch.zeros(N, C).scatter_(1, label.unsqueeze(1), 1.0)` (train.py:103)."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    targets = np.zeros((labels.size, num_classes), dtype=dtype)
    targets[np.arange(labels.size), labels] = 1.0
    return targets


def forward(weights, biases, x):
    """Forward pass of FC_block after FC_block (models.py:142-148, dropout off):
    z_k = h_{k-1} @ W_k.T + b_k, h_k = tanh(z_k) for hidden layers, and the
    output y = sigmoid(z_K) (models.py:100, `activation=output_act if output_layer
    else hidden_act`; main.py:66-67, defaults tanh and sigmoid).

    Returns:
        (hs, zs): hs[0] = x, hs[k] = output of layer k (hs[-1] = y, the
        post-sigmoid output); zs[k-1] = pre-activation of layer k.
    """
    if len(weights) != len(biases):
        raise ValueError("one bias per layer")
    hs, zs = [np.asarray(x)], []
    for k, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = hs[-1] @ w.T + b
        zs.append(z)
        hs.append(sigmoid(z) if k == len(weights) - 1 else np.tanh(z))
    return hs, zs


def bce_loss(y: np.ndarray, targets: np.ndarray) -> float:
    """`F.binary_cross_entropy(y, targets)` (train.py:73, 106): the mean over all
    N x C elements (reduction 'mean'; PyTorch clamps each log at -100)."""
    log_y = np.maximum(np.log(np.maximum(y, 1e-300)), -100.0)
    log_1my = np.maximum(np.log(np.maximum(1.0 - y, 1e-300)), -100.0)
    return float(np.mean(-(targets * log_y + (1.0 - targets) * log_1my)))


def output_delta(y: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """∂loss/∂z_K of the output layer, which always learns from the true loss
    (models.py:105: the output FC_block's hook is "BP", or "FA" under FA, whose own
    weight gradient is exact too). For mean BCE after a sigmoid:
    (y - y*) / (N * C)."""
    n, c = targets.shape
    return (y - targets) / (n * c)


def hidden_signal(mode: str, y: np.ndarray, targets: np.ndarray, b: np.ndarray):
    """The tensor HookFunction.backward returns in place of ∂loss/∂h_k, the
    gradient with respect to the hidden layer's *post-activation* output
    (function.py:56-66; the hook sits after the activation, models.py:145-147):

    * dfa:  (y - y*) @ B     function.py:57-58, y = post-sigmoid output
      (models.py:118-122 copies the network output into self.y, which the hooks
      saved; softmax(output) only for loss CE with output_act none, models.py:48,
      119-120);
    * sdfa: sign(y - y*) @ B   function.py:59-60;
    * drtp: y* @ B           function.py:61-62 (positive sign: it is descended,
      so the weight update is -lr (B.T y*) ⊙ f'(z) x.T, the paper's lemma
      W_1 = -s (B_1.T y*) x.T).

    No 1/N, no 1/C, no other scale: the signal of each example is used as is, and
    the weight gradient then sums over the batch (nn.Linear's backward).
    The gradient arriving from the layer above is discarded (the hook returns
    grad_output_est, not grad_output), so no error travels between layers.
    """
    if mode == "dfa":
        s = y - targets
    elif mode == "sdfa":
        s = np.sign(y - targets)
    elif mode == "drtp":
        s = targets
    else:
        raise ValueError(f"no hidden signal for mode {mode!r}")
    return s @ b


def gradients(mode, weights, biases, x, labels, B=None, fa_B=None):
    """The `.grad` of every forward weight and bias after one `loss_val.backward()`
    of the reference (train.py:104-107), for `mode` in MODES.

    Args:
        mode: "bp", "fa", "dfa", "sdfa", "drtp" or "shallow" (main.py:52).
        weights: [W_1, ..., W_K], W_k of shape [out_k, in_k] (nn.Linear layout).
        biases: [b_1, ..., b_K], b_k of shape [out_k].
        x: inputs [N, in_1] (flattened, as models.py:115 reshapes them).
        labels: integer labels [N].
        B: for dfa/sdfa/drtp, [B_1, ..., B_{K-1}], B_k of shape [C, out_k]
            (models.py:102; module.py:90-92).
        fa_B: for fa, [F_1, ..., F_K], F_k of W_k's shape (models.py:136,
            module.py:50); F_1 is never used (the input does not require grad,
            module.py:54, 60-61).

    Returns:
        (dWs, dbs, loss): lists like weights and biases, and the BCE loss.

    Each layer: δz_k = g_k ⊙ f'(z_k) with f' = 1 - tanh²(z_k) = 1 - h_k²,
    autograd's Tanh backward applied to the hook's output g_k (models.py:146-147:
    act, then hook, so f' of the pre-activation multiplies the projected signal);
    dW_k = δz_kᵀ h_{k-1} and db_k = Σ_n δz_k (nn.Linear's backward, a sum over the
    batch). g_k is
      bp:  δz_{k+1} @ W_{k+1}                     (HookFunction "BP", function.py:50-51)
      fa:  δz_{k+1} @ F_{k+1}                     (FA_hook_pre, module.py:67-70)
      dfa, sdfa, drtp: hidden_signal(...)         (function.py:56-66)
      shallow: 0                                  (function.py:52-54)
    and the output layer's δz_K = (y - y*)/(N·C) in every mode.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}; valid: {', '.join(MODES)}")
    num_layers = len(weights)
    hs, _ = forward(weights, biases, x)
    y = hs[-1]
    targets = one_hot(labels, y.shape[1], dtype=y.dtype)
    loss = bce_loss(y, targets)
    if mode in ("dfa", "sdfa", "drtp"):
        if B is None or len(B) != num_layers - 1:
            raise ValueError("dfa, sdfa and drtp need one B per hidden layer")
    if mode == "fa" and (fa_B is None or len(fa_B) != num_layers):
        raise ValueError("fa needs one feedback matrix per layer")

    deltas = [None] * num_layers
    deltas[-1] = output_delta(y, targets)
    for k in range(num_layers - 2, -1, -1):  # hidden layer k+1 of the paper
        h = hs[k + 1]
        if mode == "bp":
            g = deltas[k + 1] @ weights[k + 1]
        elif mode == "fa":
            g = deltas[k + 1] @ fa_B[k + 1]
        elif mode == "shallow":
            g = np.zeros_like(h)
        else:
            g = hidden_signal(mode, y, targets, B[k])
        deltas[k] = g * (1.0 - h * h)
    d_weights = [deltas[k].T @ hs[k] for k in range(num_layers)]
    d_biases = [deltas[k].sum(axis=0) for k in range(num_layers)]
    return d_weights, d_biases, loss


def first_step(grad: np.ndarray, lr: float, optimizer: str = "sgd") -> np.ndarray:
    """The change of a parameter in the *first* step of a fresh optimizer of the
    reference (train.py:58-65), from its gradient:

    * "sgd": plain gradient descent, -lr g (no reference option is plain SGD);
    * "momentum": the reference's "SGD", optim.SGD(momentum=0.9, nesterov=False):
      the first step's momentum buffer is g, so -lr g as well (train.py:58-59);
    * "nag": the reference's default "NAG" (main.py:53), optim.SGD(momentum=0.9,
      nesterov=True): -lr (g + 0.9 g) = -1.9 lr g on the first step (train.py:60-61);
    * "adam": optim.Adam(lr) with PyTorch's defaults betas=(0.9, 0.999), eps=1e-8
      (train.py:62-63): m̂ = g, v̂ = g², so -lr g / (|g| + 1e-8).
    Later steps depend on the optimizer's state and are not modelled here.
    """
    if optimizer == "sgd" or optimizer == "momentum":
        return -lr * grad
    if optimizer == "nag":
        return -lr * 1.9 * grad
    if optimizer == "adam":
        return -lr * grad / (np.abs(grad) + 1e-8)
    raise ValueError(f"optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")


def sgd_step(mode, weights, biases, x, labels, lr, B=None, fa_B=None, optimizer="sgd"):
    """One training step of the reference from the given arrays.

    Args: as `gradients`, plus the learning rate `lr` and `optimizer` (see
    `first_step`; the default "sgd" is θ ← θ - lr·∂, i.e. also the first step of
    the reference's "SGD" with momentum).

    Returns:
        (new_weights, new_biases).
    """
    d_weights, d_biases, _ = gradients(mode, weights, biases, x, labels, B, fa_B)
    new_weights = [
        w + first_step(g, lr, optimizer)
        for w, g in zip(weights, d_weights, strict=True)
    ]
    new_biases = [
        b + first_step(g, lr, optimizer) for b, g in zip(biases, d_biases, strict=True)
    ]
    return new_weights, new_biases


def init_reference(sizes, rng, zero_init: bool = False, dtype=np.float64):
    """Initial arrays drawn as the reference draws them (values differ, laws agree).

    * W_k, b_k: nn.Linear's defaults (torch/nn/modules/linear.py, reset_parameters:
      kaiming_uniform_(W, a=√5) and b ~ U(±1/√fan_in)), i.e. both U(±1/√in_k); with
      --fc-zero-init only the weights are zeroed, the biases keep their draw
      (models.py:132-134).
    * B_k (dfa, sdfa, drtp): torch.nn.init.kaiming_uniform_ with its defaults
      (a=0, mode fan_in, leaky_relu gain √2) on a [C, units_k] tensor, whose fan_in
      is size(1) = units_k: U(±√(6/units_k)) (module.py:90-92, 96-98;
      torch/nn/init.py _calculate_fan_in_and_fan_out, kaiming_uniform_).
    * F_k (fa): the same on W_k's shape [out_k, in_k]: U(±√(6/in_k)) (module.py:50,
      63-65).

    Args:
        sizes: [in, hidden_1, ..., hidden_{K-1}, C].

    Returns:
        dict with "weights", "biases", "B", "fa_B".
    """
    weights, biases, fa_B = [], [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1.0 / math.sqrt(fan_in)
        w = rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(dtype)
        weights.append(np.zeros_like(w) if zero_init else w)
        biases.append(rng.uniform(-bound, bound, size=(fan_out,)).astype(dtype))
        fa_bound = math.sqrt(6.0 / fan_in)
        fa_B.append(
            rng.uniform(-fa_bound, fa_bound, size=(fan_out, fan_in)).astype(dtype)
        )
    num_classes = sizes[-1]
    B = []
    for units in sizes[1:-1]:
        bound = math.sqrt(6.0 / units)
        B.append(rng.uniform(-bound, bound, size=(num_classes, units)).astype(dtype))
    return {"weights": weights, "biases": biases, "B": B, "fa_B": fa_B}


def _close(a, b, tol=1e-10):
    return all(np.allclose(u, v, rtol=tol, atol=tol) for u, v in zip(a, b, strict=True))


def _numerical_gradients(weights, biases, x, labels, eps=1e-6):
    def loss_of(ws, bs):
        y = forward(ws, bs, x)[0][-1]
        return bce_loss(y, one_hot(labels, y.shape[1]))

    def numeric(params, other, params_are_weights):
        grads = []
        for p in params:
            g = np.zeros_like(p)
            for idx in np.ndindex(p.shape):
                saved = p[idx]
                p[idx] = saved + eps
                up = loss_of(
                    *((params, other) if params_are_weights else (other, params))
                )
                p[idx] = saved - eps
                down = loss_of(
                    *((params, other) if params_are_weights else (other, params))
                )
                p[idx] = saved
                g[idx] = (up - down) / (2 * eps)
            grads.append(g)
        return grads

    return numeric(weights, biases, True), numeric(biases, weights, False)


def _self_check():
    rng = np.random.default_rng(0)
    n, c = 7, 4
    checks = []

    # 1. Backprop: hand-derived gradients of the reference loss vs finite differences.
    net = init_reference([5, 6, 3, c], rng)
    x = rng.normal(size=(n, 5))
    labels = rng.integers(0, c, size=n)
    dws, dbs, _ = gradients("bp", net["weights"], net["biases"], x, labels)
    nws, nbs = _numerical_gradients(
        [w.copy() for w in net["weights"]], [b.copy() for b in net["biases"]], x, labels
    )
    checks.append(
        (
            "bp == finite differences of mean BCE",
            _close(dws, nws, 1e-7) and _close(dbs, nbs, 1e-7),
        )
    )

    # 2. One hidden layer: DFA with B_1 = W_2 scaled by 1/(N*C) is exactly BP; with
    #    B_1 = W_2 itself (the reference layout's W_2, i.e. W_2ᵀ in Keras' layout)
    #    the hidden layer's gradient is N*C times BP's, the output layer's equal.
    net = init_reference([5, 8, c], rng)
    w, b = net["weights"], net["biases"]
    bp = gradients("bp", w, b, x, labels)
    dfa_scaled = gradients("dfa", w, b, x, labels, B=[w[1] / (n * c)])
    checks.append(
        (
            "dfa(B_1 = W_2/(N*C)) == bp, 1 hidden layer",
            _close(bp[0], dfa_scaled[0]) and _close(bp[1], dfa_scaled[1]),
        )
    )
    dfa_raw = gradients("dfa", w, b, x, labels, B=[w[1]])
    checks.append(
        (
            "dfa(B_1 = W_2): hidden grads == N*C * bp's, output grads == bp's",
            _close([dfa_raw[0][0] / (n * c), dfa_raw[0][1]], [bp[0][0], bp[0][1]])
            and _close([dfa_raw[1][0] / (n * c), dfa_raw[1][1]], [bp[1][0], bp[1][1]]),
        )
    )
    new_bp = sgd_step("bp", w, b, x, labels, 0.1)
    new_dfa = sgd_step("dfa", w, b, x, labels, 0.1, B=[w[1] / (n * c)])
    checks.append(
        (
            "sgd_step dfa(W_2/(N*C)) == sgd_step bp",
            _close(new_bp[0], new_dfa[0]) and _close(new_bp[1], new_dfa[1]),
        )
    )

    # 3. Two hidden layers: DFA with B_2 = W_3/(N*C) matches BP on the last hidden
    #    layer (and the output), not on the first one (tanh' and W_2 intervene).
    net = init_reference([5, 6, 3, c], rng)
    w, b = net["weights"], net["biases"]
    bp = gradients("bp", w, b, x, labels)
    dfa = gradients("dfa", w, b, x, labels, B=[net["B"][0], w[2] / (n * c)])
    checks.append(
        (
            "dfa(B_2 = W_3/(N*C)) == bp on layers 2 and 3",
            _close(bp[0][1:], dfa[0][1:]) and _close(bp[1][1:], dfa[1][1:]),
        )
    )
    checks.append(("... and differs on layer 1", not _close(bp[0][:1], dfa[0][:1])))

    # 4. FA with feedback matrices equal to the forward weights is BP.
    fa = gradients("fa", w, b, x, labels, fa_B=[wk.copy() for wk in w])
    checks.append(
        ("fa(F_k = W_k) == bp", _close(bp[0], fa[0]) and _close(bp[1], fa[1]))
    )

    # 5. DRTP's sign: from zero weights and biases, one example, one SGD step gives
    #    W_1 = -lr (B_1ᵀ y*) xᵀ (the paper's lemma with s = lr, tanh'(0) = 1).
    zero_w = [np.zeros_like(wk) for wk in w]
    zero_b = [np.zeros_like(bk) for bk in b]
    lr = 0.05
    new_w, _ = sgd_step("drtp", zero_w, zero_b, x[:1], labels[:1], lr, B=net["B"])
    y_star = one_hot(labels[:1], c)
    lemma = -lr * np.outer(net["B"][0].T @ y_star[0], x[0])
    checks.append(
        ("drtp from zero: W_1 == -lr (B_1ᵀ y*) xᵀ", np.allclose(new_w[0], lemma))
    )

    # 6. DRTP's hidden gradients do not depend on the layers above (no update
    #    locking); sDFA's signal is sign(y - y*) = 1 - 2 y*, so the reference's
    #    DRTP target y* = (1 - sign(y - y*))/2: the *negated*, shifted sDFA sign.
    w_other = [w[0], w[1], rng.normal(size=w[2].shape)]
    drtp_a = gradients("drtp", w, b, x, labels, B=net["B"])
    drtp_b = gradients("drtp", w_other, b, x, labels, B=net["B"])
    checks.append(
        (
            "drtp: layer 1-2 grads independent of W_3",
            _close(drtp_a[0][:2], drtp_b[0][:2]),
        )
    )
    y = forward(w, b, x)[0][-1]
    t = one_hot(labels, c)
    bk = net["B"][1]
    checks.append(
        (
            "sdfa signal == (1 - 2 y*) @ B",
            np.allclose(hidden_signal("sdfa", y, t, bk), (1 - 2 * t) @ bk),
        )
    )
    checks.append(
        (
            "drtp signal == ((1 - sign(y - y*)) / 2) @ B",
            np.allclose(
                hidden_signal("drtp", y, t, bk), ((1 - np.sign(y - t)) / 2) @ bk
            ),
        )
    )

    # 7. shallow: hidden layers get no gradient, the output layer BP's.
    sh = gradients("shallow", w, b, x, labels)
    checks.append(
        (
            "shallow: hidden grads 0, output grads == bp's",
            all(not g.any() for g in sh[0][:-1] + sh[1][:-1])
            and _close(sh[0][-1:], bp[0][-1:]),
        )
    )

    # 8. Adam's first step is about lr * sign(gradient), whatever the gradient's scale.
    g = rng.normal(size=(3, 3))
    checks.append(
        (
            "adam first step ~ -lr sign(g) for g and g/600",
            np.allclose(first_step(g, 1e-3, "adam"), -1e-3 * np.sign(g), rtol=1e-5)
            and np.allclose(
                first_step(g / 600, 1e-3, "adam"), -1e-3 * np.sign(g), rtol=1e-3
            ),
        )
    )

    # 9. Initial laws: B_k bound √(6/units_k), nn.Linear's U(±1/√in).
    big = init_reference([784, 500, 10], np.random.default_rng(1))
    checks.append(
        (
            "B_1 of a 784-500-10 net within ±√(6/500), W_1 within ±1/√784",
            np.abs(big["B"][0]).max()
            <= math.sqrt(6 / 500)
            < 1.01 * np.abs(big["B"][0]).max()
            and np.abs(big["weights"][0]).max() <= 1 / math.sqrt(784),
        )
    )

    width = max(len(name) for name, _ in checks)
    for name, ok in checks:
        print(f"{name:<{width}}  {'ok' if ok else 'FAILED'}")
    failed = [name for name, ok in checks if not ok]
    if failed:
        raise SystemExit(f"{len(failed)} check(s) failed")
    print(f"all {len(checks)} checks passed")


if __name__ == "__main__":
    _self_check()
