"""The model of a run: its net, built under its rule and compiled with its optimizer.

`build_model(config, image_shape, num_classes)` is the model `urfbtf.runner.run`
trains (and the tests and tools build to compare with it): `urfbtf.nets.build_net`
with the run's settings, in one phase of the untying schedule, compiled by the
run's rule with the optimizer `make_optimizer` makes.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from urfbtf import losses, nets, precision, rules
from urfbtf.errors import UsageError
from urfbtf.metrics import TOP5_MIN_CLASSES, ErrorRate, TopKError
from urfbtf.runner import untying
from urfbtf.runner.config import Config


def make_optimizer(config: Config, lr: float | None = None):
    """The run's optimizer (`config.optimizer`) at `config.lr`, or at `lr`; Adam
    with `config.adam_beta1`, `adam_beta2` and `adam_epsilon`."""
    lr = config.lr if lr is None else lr
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr)
    if config.optimizer == "momentum":
        return keras.optimizers.SGD(lr, momentum=0.9)
    return keras.optimizers.Adam(
        lr,
        beta_1=config.adam_beta1,
        beta_2=config.adam_beta2,
        epsilon=config.adam_epsilon,
    )


def build_model(
    config: Config, image_shape, num_classes: int, phase: untying.Phase | None = None
) -> keras.Model:
    """The model of `config` in phase `phase` of its untying schedule
    (`urfbtf.runner.untying`; default: the first), built and compiled by its
    rule, under the dtype policy `config.precision`; call it inside the
    strategy's scope."""
    phase = phase or untying.schedule(config)[0]
    rule = rules.get_rule(config.rule)
    # The layers keep the policy they are made under (`urfbtf.precision`), and
    # compile wraps the optimizer for loss scaling under mixed_float16.
    with precision.policy(config.precision):
        return _build_and_compile(config, image_shape, num_classes, phase, rule)


def _build_and_compile(config, image_shape, num_classes, phase, rule):
    settings = config.rule_settings()
    model = nets.build_net(
        config.net,
        input_shape=tuple(image_shape),
        num_classes=num_classes,
        rule=rule,
        rule_settings=settings,
        connectivity=config.connectivity,
        nonlin_scale=config.nonlin_scale,
        leaky_slope=config.leaky_slope,
        dropout_seed=config.seed,
        untie=phase.untie,
        untied_impl=config.untied_impl,
        activation=config.activation,
        output_activation=config.output_activation,
        dropout=config.dropout,
        freeze_conv=config.freeze_conv,
        **_kernel_initializer(config, rule),
    )
    for name in phase.freeze:
        model.get_layer(name).trainable = False
    rule.compile(
        model,
        make_optimizer=lambda lr=None: make_optimizer(config, lr),
        settings=settings,
        loss=losses.get_loss(config.loss, config.off_class_fac),
        metrics=_metrics(config, num_classes),
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    return model


def _metrics(config: Config, num_classes: int) -> list:
    """The training metrics: the error, and the top-5 error with more than 10
    classes; none for regression."""
    if config.loss in losses.REGRESSION_LOSSES:
        return []
    return [ErrorRate(), *([TopKError(5)] if num_classes >= TOP5_MIN_CLASSES else [])]


def loss_ceiling(config: Config, model, num_classes: int) -> float | None:
    """The training loss above which a run counts as diverged although its loss
    is finite (`--loss_ceiling`): that many times chance, the loss of an
    all-zero output. None (only NaN or infinity counts) when it is off, and for
    regression, whose loss at a zero output depends on the targets."""
    if not config.loss_ceiling or config.loss in losses.REGRESSION_LOSSES:
        return None
    return config.loss_ceiling * losses.zero_output_loss(model.loss, num_classes)


def _kernel_initializer(config: Config, rule: rules.Rule) -> dict:
    """The options of `nets.build_net` that set the initial forward weights.

    * kernel_initializer: --kernel_init (Frenkel et al.'s flagfiles set the
      reference code's fan_in_uniform, U(±1/√fan_in); their paper says
      he_uniform).
    * zero_init: under --zero_init, for the rules that can leave 0 (Frenkel et
      al. zero-initialise their feedback-alignment family; bp and shallow keep
      their draw), the fully connected weights start at 0, as the DRTP reference
      code's --fc-zero-init (models.py:133-134): not the convolutions, whose
      random draw a frozen "CONV random" net needs, and not the biases.
    """
    return dict(
        kernel_initializer=config.kernel_init,
        zero_init=config.zero_init and rule.learns_from_zero,
    )


def check_compilable(model, config: Config, strategy) -> None:
    """Stops before training when XLA is asked of layers it cannot compile."""
    if not (config.jit_compile or isinstance(strategy, tf.distribute.TPUStrategy)):
        return
    blocked = [layer.name for layer in model.layers if not layer.supports_jit]
    if blocked:
        reason = "--jit_compile" if config.jit_compile else "a TPU (always compiled)"
        raise UsageError(
            f"Layers {', '.join(blocked)} cannot be compiled by XLA (tf.sparse ops "
            f"have no XLA kernel), which {reason} needs. Use their XLA form instead: "
            "implementation='dense' (--untied_impl=dense), or run without "
            "--jit_compile on a CPU or GPU."
        )
