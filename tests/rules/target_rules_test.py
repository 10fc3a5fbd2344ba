"""Target propagation (tp, dtp, sdtp, aosdtp) and the target machinery it shares.

Bartunov et al. (2018), sec. 2.1.2: the properties the issue names, each one
checked on small shapes against a hand-derived fact or a NumPy oracle.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.support import killed_run, target_run
from tests.support.paths import SUPPORT
from tests.support.runs import QUIET
from urfbtf import losses, nets, probes, rules
from urfbtf.backward import untied
from urfbtf.errors import UsageError
from urfbtf.layers import LearnedInverse
from urfbtf.metrics import ErrorRate
from urfbtf.records import read_records
from urfbtf.rules import target as targets
from urfbtf.runner import checkpoint, train

TARGET_RULES = ("tp", "dtp", "sdtp", "aosdtp")


def _small_net(rule, *, width=16, depth=3, settings=None, **options):
    """A chain of `depth` dense layers of `width` and a 5-class output on 6x6x1
    images, compiled under `rule` with Adam."""
    rule = rules.get_rule(rule)
    values = {s.name: s.default for s in rule.settings}
    values.update({"aux_outputs": 7} if "aux_outputs" in values else {})
    values.update(settings or {})
    description = (
        nets.steps.Layers(bias=options.pop("bias", True)),
        *(nets.Dense(f"dense{i}", width) for i in range(1, depth + 1)),
        nets.Output(),
    )
    options.setdefault("activation", "tanh")
    model = nets.build_net(
        description,
        input_shape=(6, 6, 1),
        num_classes=5,
        rule=rule,
        rule_settings=values,
        **options,
    )
    rule.compile(
        model,
        make_optimizer=lambda lr=None: keras.optimizers.Adam(1e-3),
        settings=values,
        loss=losses.get_loss("softmax"),
        metrics=[ErrorRate()],
    )
    return model


def _batch(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 6, 6, 1)).astype("float32")
    y = (x.reshape(n, -1)[:, :5].argmax(1)).astype("int32")
    return x, y


# The difference-correction theorem ------------------------------------------------


def _exact_linear_dtp(alpha=0.04):
    """DTP on a linear net (leaky ReLU of slope 1 is the identity) of square
    orthogonal layers, each inverse set to its exact inverse x = h Wᵀ. α acts
    on the batch-mean loss: 0.04 on `_batch`'s 40 examples is a step of 1e-3
    on each example's own loss, small, and large against float32 round-off."""
    keras.utils.set_random_seed(3)
    model = _small_net(
        "dtp",
        width=36,  # The flattened 6x6 image: every hidden layer is square.
        settings={"tp_alpha": alpha},
        activation="leaky_relu",
        leaky_slope=1.0,
        kernel_initializer="orthogonal",
        bias=False,
    )
    for stage in model.stages():
        if stage.inverse is not None:
            stage.inverse.kernel.assign(stage.block.layer.kernel)
    return model


def test_dtp_with_exact_inverses_follows_backpropagation():
    """With g_l = f_l⁻¹ and a small α the difference correction turns the
    penultimate gradient step into backpropagation's targets at every layer
    (Lee et al. 2015, Theorem 1; for orthogonal layers, W⁻¹ = Wᵀ)."""
    model = _exact_linear_dtp()
    x, y = _batch()
    angles = probes.Prober(model)(x, y)
    layers = [s.name for s in model.stages()]
    for name in layers:
        assert angles[f"update_angle/{name}"] < 1.0, (name, angles)
        assert angles[f"signal_angle/{name}"] < 1.0, (name, angles)


def test_dtp_with_wrong_inverses_does_not_follow_backpropagation():
    """The control of the test above: the same net with the inverses it started
    with (random, not inverses) sends the lower layers elsewhere."""
    keras.utils.set_random_seed(3)
    model = _small_net(
        "dtp",
        width=36,
        settings={"tp_alpha": 0.04},
        activation="leaky_relu",
        leaky_slope=1.0,
        kernel_initializer="orthogonal",
        bias=False,
    )
    x, y = _batch()
    angles = probes.Prober(model)(x, y)
    assert angles["update_angle/dense1"] > 20.0
    assert angles["update_angle/dense3"] < 1.0  # The gradient step itself.


# Locality ------------------------------------------------------------------------


def test_changing_one_target_changes_only_that_layers_update():
    model = _small_net("dtp")
    x, y = _batch()
    kernels = [s.block.layer.kernel for s in model.stages()]

    def updates(hidden):
        with tf.GradientTape() as tape:
            activities = model.activities(x)
            objective, _ = model.local_objective(activities, hidden, y)
        return [g.numpy() for g in tape.gradient(objective, kernels)]

    found = model.rule.targets(model, model.activities(x), y).hidden
    before = updates(found)
    for k in range(len(found)):
        moved = list(found)
        moved[k] = found[k] + 0.5
        after = updates(moved)
        for j, (a, b) in enumerate(zip(before, after, strict=True)):
            if j == k:
                assert np.abs(a - b).max() > 1e-3, f"target {k} did not move layer {j}"
            else:
                np.testing.assert_array_equal(a, b, err_msg=f"target {k} moved {j}")


class _Spy:
    """Counts the calls of a linear map's `input_grad`: the only way an error
    reaches the input of a layer whose rule sends none down."""

    def __init__(self, linear_map):
        self.calls = 0
        self.map = linear_map

    def input_grad(self, *args):
        self.calls += 1
        return self.map.input_grad(*args)


@pytest.mark.parametrize("rule, differentiates", [("sdtp", False), ("dtp", True)])
def test_sdtp_never_differentiates_the_task_loss_below_the_output(rule, differentiates):
    """Traced training step: sdtp never sends the task loss's error through the
    output layer (and nothing else could carry it below: every layer sends
    none); dtp does, once, for its penultimate target."""
    model = _small_net(rule)
    output = model.stages()[-1].block.layer
    spy = _Spy(output._linear_map)
    output._linear_map = rules.LinearMap(
        output._linear_map.forward, spy.input_grad, output._linear_map.weight_grad
    )
    x, y = _batch(20)
    step = tf.function(model.train_step)
    step((tf.constant(x), tf.constant(y)))
    assert (spy.calls > 0) == differentiates
    # And no gradient of the task loss reaches any hidden activity.
    with tf.GradientTape() as tape:
        activities = model.activities(x, training=True)
        loss = model.compute_loss(y=y, y_pred=activities[-1])
    assert all(g is None for g in tape.gradient(loss, activities[1:-1]))


# The inverses --------------------------------------------------------------------


def _reconstruction_errors(model, x, y):
    found = model.rule.targets(model, model.activities(x), y)
    activities = model.activities(x)
    return {
        k: float(np.mean((activities[k] - r) ** 2))
        for k, r in found.reconstructions.items()
    }


@pytest.mark.parametrize("rule", ["dtp", "sdtp"])
def test_training_the_inverses_alone_lowers_their_error_and_moves_nothing_else(rule):
    keras.utils.set_random_seed(1)
    model = _small_net(
        rule,
        settings={
            "tp_schedule": "alternating",
            "tp_alternating_epoch": "one_pass",
            "inverse_lr": 0.01,
        },
    )
    x, y = _batch(100)
    forward = [v.numpy().copy() for v in model.forward_variables()]
    before = _reconstruction_errors(model, x, y)
    model.fit(x, y, batch_size=20, epochs=1, verbose=0)  # Epoch 0: the inverses.
    for v, old in zip(model.forward_variables(), forward, strict=True):
        np.testing.assert_array_equal(v.numpy(), old, err_msg=v.path)
    after = _reconstruction_errors(model, x, y)
    assert set(after) == set(before) and before
    for k in before:
        assert after[k] < 0.9 * before[k], (k, before[k], after[k])
    # Epoch 1 trains the forward weights and leaves the inverses.
    inverse = [v.numpy().copy() for v in model.inverse_variables()]
    model.fit(x, y, batch_size=20, epochs=2, initial_epoch=1, verbose=0)
    for v, old in zip(model.inverse_variables(), inverse, strict=True):
        np.testing.assert_array_equal(v.numpy(), old, err_msg=v.path)
    assert any(
        np.abs(v.numpy() - old).max() > 0
        for v, old in zip(model.forward_variables(), forward, strict=True)
    )


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@pytest.mark.parametrize("strides, padding", [(1, "same"), (2, "same"), (2, "valid")])
def test_the_transposed_locally_connected_inverse_is_the_matrix_transpose(
    layout, strides, padding
):
    """g(h) = Aᵀ(V) h for the untied map A(V), with A's matrix built column by
    column from the forward map (NumPy oracle: h @ Mᵀ)."""
    image, kernel, filters = (5, 6, 2), (3, 3), 3
    conns = untied.connections(image, kernel, filters, strides, padding)
    inverse = LearnedInverse(
        image,
        kind="untied",
        geometry=dict(
            kernel_size=kernel, strides=strides, padding=padding, implementation=layout
        ),
    )
    out = (*conns.output_size, filters)
    inverse.build((None, *out))
    rng = np.random.default_rng(0)
    values = rng.normal(size=inverse.kernel.shape).astype("float32")
    if layout == "dense":
        values = np.where(conns.dense_support(), values, 0).astype("float32")
    inverse.kernel.assign(values)
    forward = untied.linear_map(conns, layout).forward
    basis = np.eye(conns.n_in, dtype="float32").reshape(-1, *image)
    # Row i: A(V) applied to the i-th input unit.
    matrix = forward(tf.constant(basis), tf.constant(values)).numpy()
    matrix = matrix.reshape(conns.n_in, conns.n_out)
    h = rng.normal(size=(4, *out)).astype("float32")
    expected = (h.reshape(4, -1) @ matrix.T).reshape(4, *image)
    np.testing.assert_allclose(inverse.invert(h).numpy(), expected, atol=1e-4)


def test_an_inverse_saves_and_loads_with_its_model(tmp_path):
    model = _small_net("aosdtp")
    x, _ = _batch(8)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    ours = model.stages()[-1].inverse
    theirs = loaded.stages()[-1].inverse
    assert theirs.aux_units == 7
    np.testing.assert_array_equal(theirs.aux.numpy(), ours.aux.numpy())
    h = model.activities(x)
    np.testing.assert_allclose(
        theirs.invert(tf.nn.softmax(h[-1]), theirs.auxiliary(h[-2])),
        ours.invert(tf.nn.softmax(h[-1]), ours.auxiliary(h[-2])),
        rtol=1e-6,
    )


# Configuration -------------------------------------------------------------------


def test_target_rules_refuse_nets_with_layers_that_have_no_inverse():
    with pytest.raises(UsageError, match=r"pool1 \(Pool\).*no inverse"):
        target_run.quick_config(net="simpnet").validate()
    with pytest.raises(UsageError, match=r"needs --loss=softmax"):
        target_run.quick_config(rule="sdtp", loss="hinge").validate()
    with pytest.raises(UsageError, match=r"tp_alpha=0\.1 does not apply to rule"):
        target_run.quick_config(rule="sdtp").replace(tp_alpha=0.1).validate()
    with pytest.raises(UsageError, match=r"tp_schedule='daily' is invalid"):
        target_run.quick_config(tp_schedule="daily").validate()


# Runs ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("rule", TARGET_RULES)
def test_a_target_rule_run_learns_and_records_its_inverses(rule, tmp_path):
    cfg = target_run.quick_config(rule=rule, epochs=5, probe_every=1)
    train.run(cfg, tmp_path, **QUIET)
    records = read_records(tmp_path)
    # 200 CIFAR-10 examples: the loss is noisy from epoch to epoch, but falls.
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    layers = nets.layer_names(nets.NETS["bartunov_mnist_fc"])
    with_inverse = (
        layers[1:-1] if rules.get_rule(rule).top == "gradient" else layers[1:]
    )
    assert {k for k in records[-1] if k.startswith("inverse_error/")} == {
        f"inverse_error/{name}" for name in with_inverse
    }
    for name in layers:
        assert 0 <= records[-1][f"update_angle/{name}"] <= 180
        assert 0 <= records[-1][f"signal_angle/{name}"] <= 180
    # The output layer learns from the task loss itself.
    assert records[-1]["update_angle/output"] < 1e-3
    state = checkpoint.variables_at(tmp_path, 5)
    assert int(state["inverse_adam/iteration"]) == 5 * 10
    assert json.loads((tmp_path / "config.json").read_text())["tp_noise"] == 0.1


@pytest.mark.slow
@pytest.mark.parametrize("rule", TARGET_RULES)
def test_a_target_rule_under_mirrored_gives_the_single_device_result(
    rule, tmp_path, mirrored
):
    # dtp's hidden targets move by α times the gradient of the batch-MEAN loss:
    # most of its hidden layers' gradients are then near 0, where Adam's 1/√v
    # turns the replicas' other summation order into differences of up to 4e-3
    # (0.45% of a 256x256 kernel, seen in CI); plain SGD keeps them at rounding.
    plain = dict(optimizer="sgd", lr=0.1) if rule == "dtp" else {}
    cfg = target_run.quick_config(
        rule=rule, epochs=2, tp_schedule="alternating", **plain
    )
    train.run(cfg, tmp_path / "one", **QUIET)
    train.run(
        cfg.replace(strategy="mirrored"), tmp_path / "two", strategy=mirrored, **QUIET
    )
    one = checkpoint.variables_at(tmp_path / "one", 2)
    two = checkpoint.variables_at(tmp_path / "two", 2)
    assert list(one) == list(two)
    # Two replicas sum the batch's gradients in another order than one device;
    # Adam divides each step by √v, which turns those last-bit differences into
    # ~1e-4 on the few weights whose gradient is nearly 0.
    for path, value in one.items():
        np.testing.assert_allclose(two[path], value, rtol=1e-3, atol=3e-4, err_msg=path)
    records = read_records(tmp_path / "one"), read_records(tmp_path / "two")
    for a, b in zip(*records, strict=True):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize(
    "rule, schedule",
    [("dtp", "parallel"), ("dtp", "alternating"), ("sdtp", "alternating")],
)
def test_a_target_run_killed_mid_run_resumes_to_identical_weights(
    rule, schedule, tmp_path
):
    epochs = 10
    killed_run.kill_after_first_epoch(
        SUPPORT / "target_run.py", tmp_path / "killed", epochs, rule, schedule
    )
    cfg = target_run.quick_config(rule=rule, tp_schedule=schedule, epochs=epochs)
    train.run(cfg, tmp_path / "whole", **QUIET)
    whole = checkpoint.variables_at(tmp_path / "whole", epochs)
    resumed = checkpoint.variables_at(tmp_path / "killed", epochs)
    assert list(whole) == list(resumed)
    assert any("inverse_adam" in path for path in whole)
    for path, value in whole.items():
        np.testing.assert_array_equal(value, resumed[path], err_msg=path)
    assert [r["epoch"] for r in read_records(tmp_path / "killed")] == list(
        range(1, epochs + 1)
    )


def test_phases_of_the_schedules():
    assert [targets.phase_of("parallel", e) for e in range(3)] == ["both"] * 3
    assert [targets.phase_of("alternating", e) for e in range(4)] == [
        "inverse",
        "forward",
        "inverse",
        "forward",
    ]
    # Two passes per epoch: the first half of every epoch's steps inverse.
    for epoch in (0, 1):
        assert [
            targets.phase_of("alternating", epoch, s, 6, passes=2) for s in range(6)
        ] == ["inverse"] * 3 + ["forward"] * 3
    assert targets.pass_steps("alternating", 3, 6, passes=2) == {
        "inverse_steps": 3,
        "forward_steps": 3,
    }
    assert targets.pass_steps("alternating", 1, 6) == {
        "inverse_steps": 0,
        "forward_steps": 6,
    }
    assert targets.pass_steps("parallel", 1, 6) == {}


def test_an_alternating_epoch_trains_the_inverses_then_the_forward_weights():
    """Lee et al.'s loop: one epoch is a pass of inverse steps, then a pass of
    forward steps; each optimizer steps only in its own pass."""
    keras.utils.set_random_seed(1)
    model = _small_net("sdtp", settings={"tp_schedule": "alternating"})
    assert model.passes_per_epoch == 2
    x, y = _batch(100)
    seen = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(
                (
                    int(model.inverse_optimizer.iterations.numpy()),
                    int(model.optimizer.iterations.numpy()),
                )
            )

    # Two passes over the 100 examples: 10 steps of 20.
    twice = np.concatenate([x, x]), np.concatenate([y, y])
    model.fit(*twice, batch_size=20, epochs=2, shuffle=False, callbacks=[Count()])
    first = [(i, 0) for i in range(1, 6)] + [(5, f) for f in range(1, 6)]
    second = [(5 + i, 5) for i in range(1, 6)] + [(10, 5 + f) for f in range(1, 6)]
    assert seen == first + second
    assert model.epoch_passes == {"inverse_steps": 5, "forward_steps": 5}
    assert model.rule.epoch_metrics(model)["schedule/inverse_steps"] == 5


def test_as_started_keeps_an_old_alternating_runs_epochs_single_passes():
    cfg = target_run.quick_config(rule="sdtp", tp_schedule="alternating")
    assert cfg.tp_alternating_epoch == "inverse_and_forward"
    old = {k: v for k, v in cfg.to_dict().items() if k != "tp_alternating_epoch"}
    assert train._as_started(cfg, old).tp_alternating_epoch == "one_pass"
    assert train._as_started(cfg, None) == cfg  # A new run.
    assert train._as_started(cfg, cfg.to_dict()) == cfg  # A run that records it.
    parallel = cfg.replace(tp_schedule="parallel")
    old["tp_schedule"] = "parallel"
    assert train._as_started(parallel, old) == parallel


@pytest.mark.slow
def test_an_alternating_run_counts_forward_passes_and_an_old_run_resumes(tmp_path):
    cfg = target_run.quick_config(rule="sdtp", tp_schedule="alternating", epochs=2)
    train.run(cfg, tmp_path / "new", **QUIET)
    records = read_records(tmp_path / "new")
    # 200 examples in batches of 20: 10 inverse steps, then 10 forward steps.
    for record in records:
        assert record["schedule/inverse_steps"] == 10
        assert record["schedule/forward_steps"] == 10
    state = checkpoint.variables_at(tmp_path / "new", 2)
    assert int(state["inverse_adam/iteration"]) == 20
    assert int(state["adam/iteration"]) == 20
    # A run made when each pass was an epoch: its config.json lacks the setting.
    old = tmp_path / "old"
    train.run(cfg.replace(tp_alternating_epoch="one_pass", epochs=1), old, **QUIET)
    path = old / "config.json"
    settings = json.loads(path.read_text())
    del settings["tp_alternating_epoch"]
    path.write_text(json.dumps(settings))
    train.run(cfg, old, **QUIET)  # Resumed to 2 epochs, the second forward.
    records = read_records(old)
    assert [r["schedule/forward_steps"] for r in records] == [0, 10]
    state = checkpoint.variables_at(old, 2)
    assert int(state["adam/iteration"]) == 10
    assert json.loads(path.read_text())["tp_alternating_epoch"] == "one_pass"


# Vanilla TP and DTP's step ---------------------------------------------------------


def test_tp_sends_the_one_hot_label_down_unchanged_but_for_the_inverses():
    """Vanilla TP (Bartunov et al., sec. 2.1.2): ĥ_{L-1} = g_L(ô) and
    ĥ_{l-1} = g_l(ĥ_l). With exact inverses of orthogonal linear layers each
    target is carried up by its layer to the one above unchanged, and the
    targets depend on the label alone, not on the input."""
    keras.utils.set_random_seed(3)
    model = _small_net(
        "tp",
        width=36,
        activation="leaky_relu",
        leaky_slope=1.0,  # The identity: every layer linear.
        kernel_initializer="orthogonal",
        bias=False,
    )
    stages = model.stages()
    for stage in stages[1:-1]:
        stage.inverse.kernel.assign(stage.block.layer.kernel)  # W⁻¹ = Wᵀ.
    x, y = _batch()
    found = model.rule.targets(model, model.activities(x), y)
    hidden = [t.numpy() for t in found.hidden]
    top = stages[-1].inverse
    label = np.eye(5, dtype="float32")[y]
    np.testing.assert_allclose(
        hidden[-1], label @ top.kernel.numpy().T + top.bias.numpy(), atol=1e-5
    )
    for k in range(len(hidden) - 1):
        kernel = stages[k + 1].block.layer.kernel.numpy()
        np.testing.assert_allclose(hidden[k], hidden[k + 1] @ kernel.T, atol=1e-5)
        np.testing.assert_allclose(hidden[k] @ kernel, hidden[k + 1], atol=1e-4)
    other, _ = _batch(seed=1)
    again = model.rule.targets(model, model.activities(other), y)
    for a, b in zip(hidden, again.hidden, strict=True):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-6)


def test_dtp_top_target_steps_down_the_batch_mean_loss():
    """ĥ_{L-1} = h_{L-1} − α ∂L/∂h_{L-1}, L the batch-mean cross-entropy (Lee et
    al.'s conti_dtp.py), from a GradientTape through the output layer."""
    alpha = 0.2
    keras.utils.set_random_seed(0)
    model = _small_net("dtp", settings={"tp_alpha": alpha})
    x, y = _batch()
    activities = model.activities(x)
    found = model.rule.targets(model, activities, y)
    h = tf.constant(activities[-2])
    # The output layer written out: its own call sends no error down.
    output = model.stages()[-1].block.layer
    with tf.GradientTape() as tape:
        tape.watch(h)
        logits = tf.matmul(h, output.kernel) + output.bias
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        )
    expected = h - alpha * tape.gradient(loss, h)
    np.testing.assert_allclose(found.hidden[-1], expected, atol=1e-7)
    assert np.abs(found.hidden[-1] - h).max() > 1e-4  # A step, not nothing.


@pytest.mark.parametrize(
    "rule, settings",
    # A large α, so that the local losses are not lost beside the task loss.
    [("sdtp", {"tp_noise": 0.0}), ("dtp", {"tp_noise": 0.0, "tp_alpha": 40.0})],
)
def test_the_mean_layer_loss_is_the_summed_one_over_the_layers_width(rule, settings):
    keras.utils.set_random_seed(0)
    model = _small_net(rule, width=16, settings=settings)
    x, y = _batch()
    activities = model.activities(x)
    found = model.rule.targets(model, activities, y)
    values = {}
    for reduction in ("sum", "mean"):
        model.rule_settings = {**model.rule_settings, "tp_layer_loss": reduction}
        objective, loss = model.local_objective(activities, found.hidden, y)
        inverse = model.rule.inverse_loss(model, activities)
        values[reduction] = float(objective - loss), float(inverse)
    assert values["sum"][0] > 0 and values["sum"][1] > 0
    # Every hidden layer and every reconstructed input is 16 units wide.
    np.testing.assert_allclose(
        values["sum"], np.multiply(16, values["mean"]), rtol=1e-5
    )


@pytest.mark.parametrize("kind", ["drl", "ldrl"])
def test_drl_learns_the_inverse_and_ldrl_the_transpose(kind):
    """On a linear layer f(x) = x W of full rank, the difference reconstruction
    loss (Meulemans et al. 2020) is least at g = f⁻¹ (W Vᵀ = I) and the local
    one (Ernoult et al. 2022) at g's Jacobian = f's transpose (V = W)."""
    keras.utils.set_random_seed(0)
    model = _small_net(
        "dtp",
        width=8,
        depth=2,
        settings={"inverse_loss": kind, "tp_noise": 0.1, "inverse_lr": 0.01},
        activation="leaky_relu",
        leaky_slope=1.0,
        bias=False,
    )
    stage = model.stages()[1]  # dense2: 8 -> 8, with the only inverse dtp trains.
    rng = np.random.default_rng(0)
    w = (np.eye(8) + 0.1 * rng.normal(size=(8, 8))).astype(
        "float32"
    )  # Well conditioned.
    stage.block.layer.kernel.assign(w)
    x = tf.constant(rng.uniform(-1, 1, (256, 6, 6, 1)).astype("float32"))
    variables = model.inverse_variables()

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = model.rule.inverse_loss(model, model.activities(x))
        gradients = tape.gradient(loss, variables)
        model.inverse_optimizer.apply_gradients(zip(gradients, variables, strict=True))

    for _ in range(2000):
        step()
    v = stage.inverse.kernel.numpy()
    if kind == "drl":
        np.testing.assert_allclose(w @ v.T, np.eye(8), atol=0.1)
    else:
        np.testing.assert_allclose(v, w, atol=0.1)
