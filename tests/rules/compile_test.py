"""Every rule trains a model compiled as Keras compiles any: a loss by name, a
loss object with either `from_logits`, a loss function, and a metrics list,
on a converted model (`urfbtf.convert`) and on a built net (`build_net`)
followed by a plain `model.compile`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import urfbtf
from tests.support.gait_nets import dense_net
from urfbtf import losses, nets, registry
from urfbtf.errors import UsageError
from urfbtf.nets.steps import Dense, Output
from urfbtf.rules.direct import output_error

RULES = tuple(registry.RULES)
CONVERTING = tuple(r for r in RULES if registry.get_rule(r).converts)
EXACT_INVERSES = ("gait", "tp_exact")


def _plain_net(output_activation=None):
    keras.utils.set_random_seed(0)
    x = keras.Input((6,))
    h = keras.layers.Dense(8, activation="tanh", name="dense1")(x)
    h = keras.layers.Dense(8, activation="tanh", name="dense2")(h)
    out = keras.layers.Dense(3, activation=output_activation, name="output")(h)
    return keras.Model(x, out)


def _data(shape=(6,), n=8):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, *shape)).astype("float32"), rng.integers(0, 3, n)


def _weights(model):
    return {w.path: w.numpy().copy() for w in model.weights}


def _one_step(model, x, y):
    before = _weights(model)
    history = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    after = _weights(model)
    changed = {path for path in before if not np.array_equal(before[path], after[path])}
    return history.history, changed


def _kernel(model, layer):
    return model.get_layer(layer).kernel.path


@pytest.mark.parametrize("rule", CONVERTING)
def test_a_converted_model_trains_with_a_loss_name(rule):
    model = urfbtf.convert(_plain_net("softmax"), rule, seed=0)
    model.compile(
        keras.optimizers.SGD(0.1),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    logs, changed = _one_step(model, *_data())
    assert np.isfinite(logs["loss"][0])
    assert "accuracy" in logs
    assert _kernel(model, "output") in changed
    hidden_learn = registry.get_rule(rule).hidden_layers_learn
    assert (_kernel(model, "dense1") in changed) == hidden_learn


def _built(rule, **rule_settings):
    if rule in EXACT_INVERSES:
        description, options = dense_net(), {"activation": "leaky_relu"}
    else:
        description, options = (Dense("dense1", 8), Dense("dense2", 8), Output()), {}
    keras.utils.set_random_seed(0)
    settings = {k: v for k, v in rule_settings.items() if k in _setting_names(rule)}
    return nets.build_net(
        description,
        input_shape=(4, 4, 1),
        num_classes=3,
        rule=rule,
        rule_settings=settings,
        **options,
    )


def _setting_names(rule):
    return {setting.name for setting in registry.get_rule(rule).settings}


@pytest.mark.parametrize("rule", RULES)
def test_a_built_net_trains_after_a_plain_compile(rule):
    # Forward weights and inverses in the same step, so one step shows both.
    model = _built(rule, tp_schedule="parallel")
    model.compile(
        keras.optimizers.SGD(0.1),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    logs, changed = _one_step(model, *_data((4, 4, 1)))
    assert np.isfinite(logs["loss"][0])
    assert "accuracy" in logs
    assert _kernel(model, "output") in changed
    hidden_learn = registry.get_rule(rule).hidden_layers_learn
    assert (_kernel(model, "dense1") in changed) == hidden_learn
    # A rule with learned inverses gets their optimizer from the plain compile.
    inverses = getattr(model, "inverse_variables", lambda: [])()
    assert {v.path for v in inverses} <= changed


def test_a_plain_compile_trains_the_inverses_first_on_the_default_schedule():
    # tp's default schedule trains the inverses alone in epoch 0.
    model = _built("tp")
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    _, changed = _one_step(model, *_data((4, 4, 1)))
    inverses = {v.path for v in model.inverse_variables()}
    assert inverses and changed == inverses


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_the_output_error_reads_from_logits_as_the_loss_says():
    rng = np.random.default_rng(1)
    logits = tf.constant(rng.normal(size=(5, 4)), tf.float32)
    labels = rng.integers(0, 4, 5)
    one_hot = np.eye(4, dtype="float32")[labels]
    expected = _softmax(logits.numpy()) - one_hot  # e = y - y*, Frenkel et al. 2021
    probabilities = tf.constant(_softmax(logits.numpy()))
    from_logits = [
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # A bare function: e is the gradient of each example's loss.
        lambda y, o: keras.losses.sparse_categorical_crossentropy(
            y, o, from_logits=True
        ),
    ]
    from_probabilities = [
        "sparse_categorical_crossentropy",
        keras.losses.SparseCategoricalCrossentropy(),
        ["sparse_categorical_crossentropy"],
    ]
    for loss in from_logits:
        np.testing.assert_allclose(
            output_error(loss, logits, labels), expected, atol=1e-6
        )
    for loss in from_probabilities:
        np.testing.assert_allclose(
            output_error(loss, probabilities, labels), expected, atol=1e-6
        )
    categorical = keras.losses.CategoricalCrossentropy(from_logits=True)
    np.testing.assert_allclose(
        output_error(categorical, logits, one_hot), expected, atol=1e-6
    )
    np.testing.assert_allclose(
        output_error("categorical_crossentropy", probabilities, one_hot),
        expected,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        output_error("mse", logits, one_hot), logits.numpy() - one_hot, atol=1e-6
    )


@pytest.mark.parametrize("rule", ["dfa", "sdfa", "drtp"])
def test_a_softmax_output_trains_as_its_logits_under_a_direct_rule(rule):
    x, y = _data()
    models = []
    for activation, loss in (
        (None, keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
        ("softmax", "sparse_categorical_crossentropy"),
    ):
        model = urfbtf.convert(_plain_net(activation), rule, seed=0)
        model.compile(keras.optimizers.SGD(0.5), loss)
        models.append(model)
    logits_model, softmax_model = models
    for a, b in zip(logits_model.weights, softmax_model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    _, changed = _one_step(logits_model, x, y)
    _one_step(softmax_model, x, y)
    assert _kernel(logits_model, "dense1") in changed
    for a, b in zip(logits_model.weights, softmax_model.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, err_msg=a.path)


def test_each_examples_loss_is_read_from_any_form_of_the_compiled_loss():
    """What the target rules differentiate (`losses.per_example`), against
    -log p_y in NumPy."""
    rng = np.random.default_rng(2)
    probabilities = _softmax(rng.normal(size=(4, 3))).astype("float32")
    labels = rng.integers(0, 3, 4)
    expected = -np.log(probabilities[np.arange(4), labels])
    for loss in (
        "sparse_categorical_crossentropy",
        ["sparse_categorical_crossentropy"],
        {"output": keras.losses.SparseCategoricalCrossentropy()},
        keras.losses.sparse_categorical_crossentropy,
    ):
        each = losses.per_example(loss)(labels, tf.constant(probabilities))
        np.testing.assert_allclose(each, expected, rtol=1e-5)


def test_a_loss_a_rule_cannot_read_is_refused_by_name():
    with pytest.raises(UsageError, match=r"loss='no_such_loss'.*Keras loss name"):
        losses.compiled_loss("no_such_loss")
    with pytest.raises(UsageError, match=r"loss=\['mse', 'mse'\]"):
        losses.compiled_loss(["mse", "mse"])


@pytest.mark.parametrize("rule", ["dfa", "drtp"])
def test_one_hot_targets_train_as_their_labels_under_a_direct_rule(rule):
    x, y = _data()
    models = []
    for loss, labels in (
        ("sparse_categorical_crossentropy", y),
        ("categorical_crossentropy", np.eye(3, dtype="float32")[y]),
    ):
        model = urfbtf.convert(_plain_net("softmax"), rule, seed=0)
        model.compile(keras.optimizers.SGD(0.5), loss)
        _one_step(model, x, labels)
        models.append(model)
    for a, b in zip(models[0].weights, models[1].weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, err_msg=a.path)
