"""The direct feedback rules (Frenkel et al. 2021): DFA, sDFA, DRTP, shallow."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.support.runs import QUIET
from urfbtf import losses, nets
from urfbtf.layers import DirectFeedback, FeedbackDense
from urfbtf.records import read_records
from urfbtf.rules import direct

CLASSES = 4


def _mlp(rule, widths=(6,), seed=0, output_signal="error"):
    """x(5) -> [dense -> tanh -> DirectFeedback]* -> output(4), under `rule`."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((5,))
    x = inputs
    for i, width in enumerate(widths):
        x = FeedbackDense(width, rule=rule, name=f"hidden{i}")(x)
        x = keras.layers.Activation("tanh", name=f"tanh{i}")(x)
        if rule not in ("bp", "frfb", "urfb"):
            x = DirectFeedback(CLASSES, name=f"tap{i}")(x)
    outputs = FeedbackDense(CLASSES, rule=rule, name="output")(x)
    model_class = (
        keras.Model if rule in ("bp", "frfb", "urfb") else direct.DirectFeedbackModel
    )
    model = model_class(inputs, outputs)
    model.output_signal = output_signal
    model.compile(keras.optimizers.SGD(0.1), losses.get_loss("bce"))
    return model


def _batch(n=8, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)).astype("float32"), rng.integers(0, CLASSES, n)


def _direct_grads(model, x, y):
    grads, _, _ = model.direct_gradients(tf.constant(x), tf.constant(y))
    return {
        v.path: g.numpy() for v, g in zip(model.trainable_weights, grads, strict=True)
    }


def _hidden_preactivation(model, x, name="hidden0"):
    sub = keras.Model(model.inputs[0], model.get_layer(name).output)
    return sub(x).numpy()


def test_dfa_with_feedback_equal_to_scaled_output_weights_transposed_is_backprop():
    """One hidden layer: DFA's signal is y - y* itself (the reference code's, no
    1/N, no 1/C), while backprop's error at the output is (y - y*)/(N·C) for the
    mean-over-N·C BCE. So B = W_outᵀ/(N·C) makes DFA backprop exactly (before,
    when the signal was the loss gradient, B = W_outᵀ did)."""
    x, y = _batch()
    dfa, bp = _mlp("dfa"), _mlp("bp")
    bp.set_weights([w for w in dfa.get_weights() if w.shape != (CLASSES, 6)])
    output = dfa.get_layer("output").kernel.numpy()
    dfa.get_layer("tap0").projection.assign(output.T / (len(x) * CLASSES))
    ours = _direct_grads(dfa, x, y)
    with tf.GradientTape() as tape:
        loss = bp.compute_loss(x=x, y=y, y_pred=bp(x))
    reference = tape.gradient(loss, bp.trainable_weights)
    for variable, grad in zip(bp.trainable_weights, reference, strict=True):
        np.testing.assert_allclose(
            ours[variable.path], grad.numpy(), rtol=1e-5, atol=1e-7
        )


def _oracle(model, x, signal, name="hidden0", tap="tap0"):
    """x_inᵀ ((s B) ⊙ tanh'(z)) for the first hidden layer."""
    z = _hidden_preactivation(model, x, name)
    projection = model.get_layer(tap).projection.numpy()
    return x.T @ ((signal @ projection) * (1 - np.tanh(z) ** 2))


def test_drtp_hidden_gradient_is_the_target_projection_oracle():
    """The gradient is +Σ_n x_n ((y*_n B) ⊙ f'(z_n)), so the update is
    -η (Bᵀy*) ⊙ f' xᵀ: the reference code's sign (function.py:61-62, descended)
    and the paper's lemma, no 1/N (before: the opposite sign, divided by N)."""
    x, y = _batch()
    model = _mlp("drtp", widths=(6, 7))
    target = np.eye(CLASSES)[y]
    expected = _oracle(model, x, target)
    np.testing.assert_allclose(
        _direct_grads(model, x, y)["hidden0/kernel"], expected, rtol=1e-5, atol=1e-7
    )


def test_sdfa_projects_the_sign_of_the_output_error():
    """sign(y - y*) with y the post-sigmoid output, unscaled, as the reference
    code (function.py:59-60; before: divided by N)."""
    x, y = _batch()
    model = _mlp("sdfa")
    outputs = model(x).numpy()
    error = 1 / (1 + np.exp(-outputs)) - np.eye(CLASSES)[y]
    expected = _oracle(model, x, np.sign(error))
    np.testing.assert_allclose(
        _direct_grads(model, x, y)["hidden0/kernel"], expected, rtol=1e-5, atol=1e-7
    )


def test_output_layer_learns_from_its_true_error_unless_told_otherwise():
    x, y = _batch()
    local = _mlp("drtp")
    with tf.GradientTape() as tape:
        loss = local.compute_loss(x=x, y=y, y_pred=local(x))
    true = tape.gradient(loss, local.get_layer("output").kernel)
    np.testing.assert_allclose(
        _direct_grads(local, x, y)["output/kernel"], true.numpy(), rtol=1e-5, atol=1e-7
    )
    # With the signal, the output layer learns like a hidden one: Σ_n h_n y*_nᵀ
    # (the reference's DRTP sign and scale; before: -y*/N).
    directed = _mlp("drtp", output_signal="direct")
    hidden = np.tanh(_hidden_preactivation(directed, x))
    expected = hidden.T @ np.eye(CLASSES)[y]
    np.testing.assert_allclose(
        _direct_grads(directed, x, y)["output/kernel"], expected, rtol=1e-5, atol=1e-7
    )


def test_drtp_update_of_a_layer_does_not_depend_on_the_layers_above():
    """No update locking: replace or remove every layer above the first one."""
    x, y = _batch()
    deep = _mlp("drtp", widths=(6, 9, 3))
    other = _mlp("drtp", widths=(6, 2), seed=5)  # Other layers above, other output.
    shallow_stack = _mlp("drtp", widths=(6,), seed=7)  # Nothing above but the output.
    for model in (other, shallow_stack):
        model.get_layer("hidden0").set_weights(deep.get_layer("hidden0").get_weights())
        model.get_layer("tap0").set_weights(deep.get_layer("tap0").get_weights())
    reference = _direct_grads(deep, x, y)["hidden0/kernel"]
    assert np.abs(reference).max() > 0
    for model in (other, shallow_stack):
        np.testing.assert_array_equal(
            _direct_grads(model, x, y)["hidden0/kernel"], reference
        )


def test_direct_layers_send_no_error_down():
    layer = FeedbackDense(3, rule="dfa")
    x = tf.constant(np.ones((2, 4), "float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    assert tape.gradient(y, x) is None


def test_shallow_net_trains_only_its_output_layer():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(32, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, 32)
    keras.utils.set_random_seed(0)
    model = nets.build_net(
        "conv_mnist",
        input_shape=(8, 8, 1),
        num_classes=10,
        rule="shallow",
        activation="tanh",
    )
    model.compile(keras.optimizers.Adam(1e-2), losses.get_loss("bce"))
    before = {layer.name: layer.get_weights() for layer in model.layers}
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    for name in ("conv1", "dense1"):
        for old, new in zip(
            before[name], model.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(old, new)
    assert not np.array_equal(before["output"][0], model.get_layer("output").kernel)
    assert not any(isinstance(layer, DirectFeedback) for layer in model.layers)


@pytest.mark.parametrize("rule", ["dfa", "sdfa", "drtp"])
def test_direct_rules_train_a_net_with_fit(rule):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 20)).astype("float32")
    y = (x[:, :4].argmax(axis=1)).astype("int64")  # Learnable from the inputs.
    keras.utils.set_random_seed(0)
    model = nets.build_net(
        "fc2_100",
        input_shape=(20,),
        num_classes=4,
        rule=rule,
        activation="tanh",
        kernel_initializer="zeros",
    )
    model.compile(keras.optimizers.Adam(5e-3), losses.get_loss("bce"))
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]


REGRESSION = dict(
    net="fc2_100",
    dataset="synthetic_regression",
    loss="mse",
    output_activation="tanh",
    activation="tanh",
    optimizer="adam",
    lr=5e-4,
    kernel_init="he_uniform",
    zero_init=True,
    val_examples=0,
    train_examples=2000,
    batch_size=50,
    eval_batch_size=500,
    epochs=3,
)


def test_regression_task_trains_and_reports_losses_without_error_rates(tmp_path):

    from urfbtf.runner import train
    from urfbtf.runner.config import Config

    train.run(Config(rule="dfa", **REGRESSION), tmp_path, **QUIET)
    records = read_records(tmp_path)
    assert all(r["test_error"] is None and r["train_error"] is None for r in records)
    assert records[-1]["test_loss"] < records[0]["test_loss"] < 1.0


def test_drtp_refuses_regression():
    from urfbtf.errors import UsageError
    from urfbtf.runner.config import Config

    with pytest.raises(UsageError, match="DRTP projects the one-hot target"):
        Config(rule="drtp", **REGRESSION).validate()
