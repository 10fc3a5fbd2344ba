"""Every rule's training step compiles with XLA (`--jit_compile`, and as a TPU
compiles it) and trains, on every net family it can train."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from urfbtf import nets, rules
from urfbtf.errors import UsageError
from urfbtf.runner import build
from urfbtf.runner.config import Config

EXACT_INVERSES = dict(
    activation="leaky_relu", output_activation="linear", kernel_init="orthogonal"
)
# One net of each family, on small images: Amit's (convolution, pooling,
# dropout), Frenkel's (dense), Bartunov's (untied, in its dense XLA form) and
# GAIT-prop's (invertible dense and convolutions).
FAMILIES = {
    "amit": ("simpnet", (16, 16, 3)),
    "frenkel": ("fc2_100", (8, 8, 3)),
    "bartunov": ("bartunov_cifar_lc", (8, 8, 3)),
    "gait_fc": ("gait_cifar_fc3", (8, 8, 3)),
    "gait_conv": ("gait_cifar_conv", (8, 8, 3)),
}
# The first family each rule trains: every rule in the quick tests.
FIRST = {
    "bp": "amit",
    "frfb": "amit",
    "urfb": "bartunov",
    "dfa": "amit",
    "sdfa": "frenkel",
    "drtp": "gait_conv",
    "shallow": "frenkel",
    "tp": "frenkel",
    "dtp": "bartunov",
    "sdtp": "frenkel",
    "aosdtp": "frenkel",
    "gait": "gait_conv",
    "tp_exact": "gait_fc",
}
# The rules whose output target is the one-hot label refuse a square output
# layer, wider than its classes (`check`, which needs a run's Config: the
# runner calls it before building).
REFUSED = {("tp", "gait_fc"), ("sdtp", "gait_fc"), ("aosdtp", "gait_fc")}


@pytest.fixture
def nondeterministic():
    """Op determinism off for the test: Keras compiles nothing with XLA while
    it is on (the runner refuses --jit_compile with --deterministic)."""
    tf_config.disable_op_determinism()
    try:
        yield
    finally:
        tf.config.experimental.enable_op_determinism()


def _config(rule, net, **settings) -> Config:
    extra = EXACT_INVERSES if rule in ("gait", "tp_exact") else {}
    return Config(
        net=net,
        rule=rule,
        dataset="cifar10_sample",
        lr=0.01,
        loss="softmax",
        deterministic=False,
        jit_compile=True,
        **{"untied_impl": "dense", **extra, **settings},
    )


def _trains_compiled(rule, family):
    net, shape = FAMILIES[family]
    keras.utils.set_random_seed(0)
    config = _config(rule, net)
    config.validate()
    model = build.build_model(config, shape, 10)
    build.check_compilable(model, config, tf.distribute.get_strategy())
    assert model.jit_compile
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, *shape)).astype("float32")
    y = np.arange(16) % 10
    before = [v.numpy() for v in model.trainable_variables]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][-1])
    moved = [
        np.any(v.numpy() != b)
        for v, b in zip(model.trainable_variables, before, strict=True)
    ]
    assert any(moved)


def _cases(every: bool):
    for rule in rules.RULES:
        for family, (net, _) in FAMILIES.items():
            if (rule, family) in REFUSED:
                continue
            if rules.get_rule(rule).refuses(nets.summary(net, 0.0)):
                continue
            if every != (FIRST[rule] == family):
                yield rule, family


# One rule of each kind of step in the quick tests (Keras' own, the direct
# rules', the learned inverses', GAIT-prop's); XLA compiles take seconds each.
QUICK = ("urfb", "dfa", "dtp", "gait")


@pytest.mark.parametrize(
    "rule",
    [r if r in QUICK else pytest.param(r, marks=pytest.mark.slow) for r in FIRST],
)
def test_every_rules_step_compiles_with_xla_and_trains(rule, nondeterministic):
    _trains_compiled(rule, FIRST[rule])


@pytest.mark.slow
@pytest.mark.parametrize(("rule", "family"), list(_cases(every=True)))
def test_every_rule_compiles_on_every_net_family_it_trains(
    rule, family, nondeterministic
):
    _trains_compiled(rule, family)


def test_the_sparse_untied_form_is_refused_under_xla_naming_the_dense_one():
    config = _config("urfb", "simpnet_s", untie="all", untied_impl="sparse")
    model = build.build_model(config, (16, 16, 3), 10)
    with pytest.raises(UsageError, match=r"--untied_impl=dense"):
        build.check_compilable(model, config, tf.distribute.get_strategy())
