"""The GAIT nets (urfbtf.nets.gait): the nets GAIT-prop refuses, and a GAIT net
saved and loaded with its exact inverses."""

import keras
import numpy as np
import pytest

from tests.support.gait_nets import (
    batch,
    compiled,
    conv_net,
)
from urfbtf import losses, nets, rules
from urfbtf.errors import UsageError
from urfbtf.layers import Narrow
from urfbtf.runner.config import Config


def test_gait_refuses_a_net_it_cannot_invert():
    config = Config(rule="gait", net="bartunov_mnist_fc", activation="leaky_relu")
    with pytest.raises(UsageError, match=r"dense2.*not invertible.*can train: gait_"):
        config.validate()
    config = Config(rule="gait", net="gait_cifar_fc3", activation="tanh")
    with pytest.raises(UsageError, match="activation='tanh' has no inverse"):
        rules.get_rule("gait").check(config, nets.summary(config.net))


def test_a_gait_net_saves_and_loads_with_its_exact_inverses(tmp_path):
    model = compiled(conv_net(), "gait", (8, 8, 2), gait_norm=1e-2)
    x, y = batch((8, 8, 2), n=4)
    path = tmp_path / "net.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert any(isinstance(layer, Narrow) for layer in loaded.layers)
    np.testing.assert_array_equal(loaded(x), model(x))
    loaded.rule.compile(
        loaded,
        make_optimizer=lambda lr=None: keras.optimizers.Adam(1e-3),
        settings=model.rule_settings,
        loss=losses.get_loss("softmax"),
    )
    ours = model.rule.targets(model, model.activities(x), y).hidden
    theirs = loaded.rule.targets(loaded, loaded.activities(x), y).hidden
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
