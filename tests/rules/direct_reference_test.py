"""urfbtf against the code behind its papers' results.

* Frenkel et al. (2021): a net of theirs under dfa, sdfa, drtp (and bp, frfb,
  shallow) takes the training steps of the DRTP reference code
  (ChFrenkel/DirectRandomTargetProjection), weights and biases, as restated in
  NumPy by tests/support/frenkel_reference.py; and its layers start with the
  reference's initial laws (hand-derived bounds).
* Amit (2019): the original code's feedback clipping (`b_nonlin_scale`)
  against a NumPy oracle, and what stays of R - W under URFB with pruning.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.support import frenkel_reference as ref
from urfbtf import losses, nets, rules
from urfbtf.layers import DirectFeedback, FeedbackConv2D, UntiedConv2D
from urfbtf.nets import frenkel
from urfbtf.runner import train
from urfbtf.runner.config import Config

SIZES = [12, 9, 7, 5]  # Input, two tanh hidden layers, classes.
N, STEPS, LR = 6, 4, 0.05
# Reference mode -> urfbtf rule (the reference's FA is frfb).
MODES = {
    "bp": "bp",
    "fa": "frfb",
    "dfa": "dfa",
    "sdfa": "sdfa",
    "drtp": "drtp",
    "shallow": "shallow",
}


@pytest.fixture
def float64():
    """Step-for-step equality to 1e-10 needs float64 on both sides. Layers take
    their dtype from the global dtype policy, which Keras caches once made, so
    set it as well as floatx."""
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    yield
    keras.config.set_floatx(floatx)
    keras.config.set_dtype_policy(policy)


def _frenkel_net(rule):
    """SIZES as a net of Frenkel et al. (`urfbtf.nets.frenkel`: biases, their
    initial laws), tanh hidden units, sigmoid outputs with BCE, plain SGD."""
    description = frenkel.net(*frenkel.fully_connected(*SIZES[1:-1]))
    model = nets.build_net(
        description,
        input_shape=(SIZES[0],),
        num_classes=SIZES[-1],
        rule=rule,
        activation="tanh",
    )
    model.compile(keras.optimizers.SGD(LR), losses.get_loss("bce"))
    return model


def _names():
    return [f"dense{k}" for k in range(1, len(SIZES) - 1)] + ["output"]


def _load(model, weights, biases, B=None, fa_B=None):
    """The reference's arrays into our layers: W [out, in] is our kernel
    transposed; B [C, units] is our projection as is; F [out, in] is R
    transposed (our R has W's [in, out] layout)."""
    for k, name in enumerate(_names()):
        layer = model.get_layer(name)
        layer.kernel.assign(weights[k].T)
        layer.bias.assign(biases[k])
        if fa_B is not None:
            layer.feedback.assign(fa_B[k].T)
    if B is not None:
        for k, name in enumerate(_names()[:-1]):
            model.get_layer(f"{name}_feedback").projection.assign(B[k])


def _read(model):
    found = [model.get_layer(name) for name in _names()]
    return [x.kernel.numpy().T for x in found], [x.bias.numpy() for x in found]


@pytest.mark.parametrize("zero_init", [False, True])
@pytest.mark.parametrize("mode", list(MODES))
def test_a_frenkel_net_takes_the_reference_codes_steps(mode, zero_init, float64):
    """STEPS plain-SGD steps on different batches, every weight and bias equal to
    the reference's after every step. zero_init: the reference's --fc-zero-init
    (weights 0, biases random), from which DRTP's first step is the paper's lemma
    plus the biases' contribution."""
    rng = np.random.default_rng(7)
    init = ref.init_reference(SIZES, rng, zero_init=zero_init)
    weights, biases = init["weights"], init["biases"]
    x = rng.normal(size=(STEPS, N, SIZES[0]))
    labels = rng.integers(0, SIZES[-1], size=(STEPS, N))
    model = _frenkel_net(MODES[mode])
    has_b = mode in ("dfa", "sdfa", "drtp")
    _load(
        model,
        weights,
        biases,
        B=init["B"] if has_b else None,
        fa_B=init["fa_B"] if mode == "fa" else None,
    )
    for step in range(STEPS):
        weights, biases = ref.sgd_step(
            mode,
            weights,
            biases,
            x[step],
            labels[step],
            LR,
            B=init["B"] if has_b else None,
            fa_B=init["fa_B"] if mode == "fa" else None,
        )
        model.train_on_batch(x[step], labels[step])
        ours_w, ours_b = _read(model)
        for k in range(len(weights)):
            np.testing.assert_allclose(ours_w[k], weights[k], rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(ours_b[k], biases[k], rtol=1e-10, atol=1e-12)
    start = init["weights"]
    moved = [np.abs(w - w0).max() for w, w0 in zip(weights, start, strict=True)]
    # The output layer always learns; the hidden ones under every rule but shallow.
    assert moved[-1] > 0 and (mode == "shallow") == (max(moved[:-1]) == 0)


def test_drtp_from_zero_weights_is_the_papers_lemma(float64):
    """Frenkel et al. (2021), lemma: from W = 0 (and no bias), one example, one
    step of rate s gives W_1 = -s (B_1ᵀ y*) xᵀ, tanh'(0) = 1. Hand-derived, in
    our layout W_1 = -s x (B_1ᵀ y*)ᵀ."""
    rng = np.random.default_rng(3)
    model = _frenkel_net("drtp")
    for layer in nets.learning_layers(model):
        layer.kernel.assign(np.zeros(layer.kernel.shape))
        layer.bias.assign(np.zeros(layer.bias.shape))
    x = rng.normal(size=(1, SIZES[0]))
    label = np.array([2])
    b1 = model.get_layer("dense1_feedback").projection.numpy()
    model.train_on_batch(x, label)
    y_star = np.eye(SIZES[-1])[2]
    np.testing.assert_allclose(
        model.get_layer("dense1").kernel.numpy(),
        -LR * np.outer(x[0], b1.T @ y_star),
        rtol=1e-12,
    )


# Initial laws -----------------------------------------------------------------


def _assert_uniform(values, bound):
    """Within ±bound and filling it: the largest of n draws of |U(-1, 1)| is below
    1 - 5/n with probability (1 - 5/n)^n < e^-5."""
    values = np.abs(np.asarray(values))
    assert values.max() <= bound * (1 + 1e-6)
    assert values.max() > bound * max(0.0, 1 - 5 / values.size)


def test_frenkel_nets_start_with_the_reference_codes_laws():
    """Bounds derived from the reference (tests/support/frenkel_reference.py,
    init_reference): W and b U(±1/√fan_in) (nn.Linear, nn.Conv2d defaults),
    B_l U(±√(6/units)) (kaiming_uniform_ on [C, units]), FA's matrix
    U(±√(6/fan_in)) (kaiming_uniform_ on [out, in])."""
    keras.utils.set_random_seed(0)
    for rule in ("drtp", "frfb"):
        model = nets.build_net(
            "conv_mnist",
            input_shape=(8, 8, 1),
            num_classes=10,
            rule=rule,
            activation="tanh",
        )
        fans = {"conv1": 5 * 5 * 1, "dense1": 4 * 4 * 32, "output": 1000}
        for name, fan_in in fans.items():
            layer = model.get_layer(name)
            _assert_uniform(layer.kernel.numpy(), 1 / math.sqrt(fan_in))
            _assert_uniform(layer.bias.numpy(), 1 / math.sqrt(fan_in))
            if rule == "frfb":
                _assert_uniform(layer.feedback.numpy(), math.sqrt(6 / fan_in))
        if rule == "drtp":
            # conv1's output, 8x8x32 before pooling, and dense1's 1000 units.
            for name, units in (("conv1", 8 * 8 * 32), ("dense1", 1000)):
                b = model.get_layer(f"{name}_feedback").projection.numpy()
                assert b.shape == (10, units)
                _assert_uniform(b, math.sqrt(6 / units))


def test_amit_nets_keep_no_biases_and_glorot_weights():
    keras.utils.set_random_seed(0)
    model = nets.build_net("simpnet", input_shape=(32, 32, 3), num_classes=10)
    for layer in nets.learning_layers(model):
        assert layer.bias is None and not layer.use_bias
    dense = model.get_layer("dense1")
    fan_in, fan_out = dense.kernel.shape
    _assert_uniform(dense.kernel.numpy(), math.sqrt(6 / (fan_in + fan_out)))
    _assert_uniform(dense.feedback.numpy(), math.sqrt(6 / (fan_in + fan_out)))


def _config(**changes):
    return Config(
        **{
            "net": "conv_cifar",
            "dataset": "cifar10",
            "rule": "drtp",
            "activation": "tanh",
            "loss": "bce",
            "zero_init": True,
            **changes,
        }
    )


def test_zero_init_zeroes_only_the_fully_connected_weights():
    """The reference's --fc-zero-init (models.py:133-134): FC weights 0, FC biases,
    conv weights and conv biases keep their draw; so the frozen "CONV random"
    net of Frenkel et al. still sees random features."""
    keras.utils.set_random_seed(0)
    model = train.build_model(_config(freeze_conv=True), (32, 32, 3), 10)
    for name in ("conv1", "conv2"):
        layer = model.get_layer(name)
        assert not layer.trainable
        assert np.abs(layer.kernel.numpy()).max() > 0
        assert np.abs(layer.bias.numpy()).max() > 0
    for name in ("dense1", "dense2", "output"):
        layer = model.get_layer(name)
        assert not np.abs(layer.kernel.numpy()).any()
        assert np.abs(layer.bias.numpy()).max() > 0
    features = keras.Model(model.inputs[0], model.get_layer("flatten").output)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3))
    assert np.abs(features(x).numpy()).max() > 0.01


def test_kernel_init_he_uniform_gives_the_papers_text():
    """--kernel_init=he_uniform replaces the reference's U(±1/√fan_in) by the
    paper's He uniform, U(±√(6/fan_in)); biases keep the reference's law."""
    keras.utils.set_random_seed(0)
    config = _config(net="fc2_500", rule="bp", kernel_init="he_uniform")
    model = train.build_model(config, (28, 28, 1), 10)
    layer = model.get_layer("dense1")
    _assert_uniform(layer.kernel.numpy(), math.sqrt(6 / 784))
    _assert_uniform(layer.bias.numpy(), 1 / math.sqrt(784))


# Amit's feedback clipping -----------------------------------------------------


def _saturated(h, s=0.5):
    return np.clip(s * h, -1, 1), np.where(np.abs(s * h) <= 1, s, 0.0)


def _hinge_error(outputs, labels):
    """∂(batch-mean hinge, eq. 4, μ = 1/(C-1))/∂outputs (eq. 5)."""
    n, c = outputs.shape
    on = np.eye(c)[labels]
    return (-(on * (outputs < 1)) + (1 - on) * (outputs > -1) / (c - 1)) / n


@pytest.mark.parametrize("rule", ["bp", "frfb", "urfb"])
def test_feedback_clip_clips_the_error_each_layer_sends_down(rule, float64):
    """Original code, back_prop step 5 (urfb_original.md sec. 3.3): g_below =
    clip(b·δ Fᵀ, -1, 1) after every dense layer, F = R (frfb, urfb) or W (bp)."""
    b = 8.0
    description = (nets.Dense("dense1", 6), nets.Dense("dense2", 5), nets.Output())
    keras.utils.set_random_seed(1)
    model = nets.build_net(
        description,
        input_shape=(4,),
        num_classes=3,
        rule=rule,
        rule_settings={"feedback_clip": b},
    )
    model.compile(keras.optimizers.SGD(0.1), losses.get_loss("hinge"))
    rng = np.random.default_rng(2)
    x, labels = rng.normal(size=(8, 4)), rng.integers(0, 3, 8)
    layers = [model.get_layer(n) for n in ("dense1", "dense2", "output")]
    ws = [layer.kernel.numpy() for layer in layers]
    # The error goes down through W under bp, through R otherwise.
    fs = [x.kernel.numpy() if rule == "bp" else x.feedback.numpy() for x in layers]

    h1 = x @ ws[0]
    a1, d1 = _saturated(h1)
    h2 = a1 @ ws[1]
    a2, d2 = _saturated(h2)
    delta3 = _hinge_error(a2 @ ws[2], labels)
    g2 = np.clip(b * delta3 @ fs[2].T, -1, 1)
    delta2 = g2 * d2
    g1 = np.clip(b * delta2 @ fs[1].T, -1, 1)
    delta1 = g1 * d1
    expected = [x.T @ delta1, a1.T @ delta2, a2.T @ delta3]
    clipped = np.abs(b * delta2 @ fs[1].T) > 1
    assert clipped.any() and not clipped.all()  # The clip is active, not saturated.

    with tf.GradientTape() as tape:
        loss = model.compute_loss(y=labels, y_pred=model(x))
    grads = tape.gradient(loss, [layer.kernel for layer in layers])
    for grad, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(grad.numpy(), want, rtol=1e-10, atol=1e-12)


def _conv_transpose(dh, filters, kernel_size):
    """dx of a stride-1 SAME conv with per-location filters F[i, j, a, b, c, k]:
    dx[n, i+a-p, j+b-p, c] += dh[n, i, j, k] F[i, j, a, b, c, k] (p = (k-1)/2)."""
    n, height, width, _ = dh.shape
    channels = filters.shape[4]
    p = (kernel_size - 1) // 2
    dx = np.zeros((n, height, width, channels))
    for i in range(height):
        for j in range(width):
            for a in range(kernel_size):
                for c in range(kernel_size):
                    u, v = i + a - p, j + c - p
                    if 0 <= u < height and 0 <= v < width:
                        dx[:, u, v] += dh[:, i, j] @ filters[i, j, a, c].T
    return dx


@pytest.mark.parametrize("layer_class", [FeedbackConv2D, UntiedConv2D])
def test_feedback_clip_in_conv_and_untied_layers(layer_class, float64):
    b = 3.0
    keras.utils.set_random_seed(4)
    layer = layer_class(4, 3, rule="frfb", feedback_clip=b)
    rng = np.random.default_rng(5)
    x = tf.constant(rng.normal(size=(2, 5, 5, 2)))
    upstream = rng.normal(size=(2, 5, 5, 4))
    with tf.GradientTape() as tape:
        tape.watch(x)
        objective = tf.reduce_sum(layer(x) * upstream)
    dx = tape.gradient(objective, x).numpy()
    if layer_class is UntiedConv2D:
        filters = layer.location_filters(feedback=True)
    else:
        filters = np.broadcast_to(layer.feedback.numpy(), (5, 5, 3, 3, 2, 4))
    sent = _conv_transpose(upstream, filters, 3)
    assert (np.abs(b * sent) > 1).any() and (np.abs(b * sent) < 1).any()
    np.testing.assert_allclose(dx, np.clip(b * sent, -1, 1), rtol=1e-10, atol=1e-12)
    with rules.exact_backprop():  # The probes' reference is never clipped.
        with tf.GradientTape() as tape:
            tape.watch(x)
            objective = tf.reduce_sum(layer(x) * upstream)
        exact = tape.gradient(objective, x).numpy()
    kernel = (
        layer.location_filters()
        if layer_class is UntiedConv2D
        else np.broadcast_to(layer.kernel.numpy(), (5, 5, 3, 3, 2, 4))
    )
    np.testing.assert_allclose(exact, _conv_transpose(upstream, kernel, 3), atol=1e-12)


def test_feedback_clip_is_off_by_default_and_a_gradient_rule_setting():
    from urfbtf.errors import UsageError

    assert Config().feedback_clip == 0.0
    with pytest.raises(UsageError, match="feedback_clip=0.5 does not apply"):
        Config(rule="drtp", feedback_clip=0.5, net="fc2_500").validate()
    with pytest.raises(UsageError, match="feedback_clip=-1"):
        Config(feedback_clip=-1.0).validate()


# R - W under URFB with pruning -------------------------------------------------


def test_urfb_r_minus_w_is_constant_only_where_both_masks_keep_the_entry():
    """R's gradient is the Hebbian product whatever W's mask: an entry pruned in W
    and kept in R moves R alone; one pruned in R and kept in W moves W alone."""
    keras.utils.set_random_seed(0)
    model = nets.build_net(
        (nets.Dense("dense1", 40), nets.Output()),
        input_shape=(30,),
        num_classes=4,
        rule="urfb",
        connectivity=0.5,
    )
    model.compile(keras.optimizers.SGD(0.5), losses.get_loss("hinge"))
    layer = model.get_layer("dense1")
    w_kept, r_kept = layer.kernel_mask.numpy(), layer.feedback_mask.numpy()
    before_w, before_r = layer.kernel.numpy(), layer.feedback.numpy()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 30)), rng.integers(0, 4, 64)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    dw, dr = layer.kernel.numpy() - before_w, layer.feedback.numpy() - before_r
    both = w_kept & r_kept
    np.testing.assert_allclose(dr[both], dw[both], atol=1e-6)
    assert not dw[~w_kept].any() and not dr[~r_kept].any()
    assert np.abs(dr[~w_kept & r_kept]).max() > 1e-3  # R moves, W stays 0.
    assert np.abs(dw[w_kept & ~r_kept]).max() > 1e-3  # W moves, R stays 0.


def test_direct_feedback_default_projection_is_the_reference_law():
    keras.utils.set_random_seed(0)
    tap = DirectFeedback(10)
    tap.build((None, 500))
    _assert_uniform(tap.projection.numpy(), math.sqrt(6 / 500))
