"""The GAIT-prop nets (`urfbtf.nets.gait`) built and compiled as their flagfiles
(flags/gait/) train them, for the tools and tests that step a model by hand."""

import keras

from urfbtf import losses, registry
from urfbtf.nets.builder import build_net


def compiled_model(
    net,
    rule,
    rule_settings=None,
    *,
    lr: float = 1e-4,
    input_shape=(32, 32, 3),
    num_classes: int = 10,
    metrics=(),
    seed: int = 0,
) -> keras.Model:
    """`net` (a name or a description) under `rule`, set up and compiled as the
    GAIT-prop flagfiles (flags/gait/) train it: leaky ReLU, orthogonal kernels,
    softmax cross-entropy and Adam at `lr`, Keras seeded with `seed`.

    `rule_settings` overrides the rule's own settings, whose defaults fill in
    the rest; the rule compiles the model, so a rule with several optimizers
    gets Adam at `lr` for each.
    """
    rule = registry.get_rule(rule)
    values = {setting.name: setting.default for setting in rule.settings}
    values.update(rule_settings or {})
    keras.utils.set_random_seed(seed)
    model = build_net(
        net,
        input_shape=input_shape,
        num_classes=num_classes,
        rule=rule,
        rule_settings=values,
        activation="leaky_relu",
        kernel_initializer="orthogonal",
    )
    rule.compile(
        model,
        make_optimizer=lambda lr_=None: keras.optimizers.Adam(lr),
        settings=values,
        loss=losses.get_loss("softmax"),
        metrics=list(metrics),
    )
    return model
