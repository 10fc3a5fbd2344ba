"""The checks a run's settings pass before anything is built.

`validate(config)` refuses an invalid value, a setting that does not apply to
the run, and combinations the run cannot train (`Config.validate` calls it);
`check_data(config, splits)` refuses a net or loss that cannot take the loaded
data. Each refusal is a `UsageError` whose message names the value and what to
do instead.
"""

from __future__ import annotations

from urfbtf import losses, nets, rules
from urfbtf.errors import UsageError
from urfbtf.layers.feedback_layer import check_connectivity
from urfbtf.runner.run_settings import RUN_SETTINGS, declared_settings

# The checks take a `urfbtf.runner.config.Config` (not imported: it calls them).


def validate(config) -> None:
    """Raises `UsageError` naming the first invalid value of `config`."""
    for setting in RUN_SETTINGS:
        setting.validate(config.value(setting.name))
    rule = rules.get_rule(config.rule)
    for setting in rule.settings:
        setting.validate(config.value(setting.name))
    _refuse_other_rules_settings(config, rule)
    for setting in config.settings():
        setting.check_applies(config.value(setting.name), config)
    check_connectivity(config.connectivity, rule)
    _validate_untying(config)
    _validate_compilation(config)
    net = nets.summary(config.net, config.dropout)
    _refuse_net(config, rule, net)
    rule.check(config, net)


def _refuse_net(config, rule, net) -> None:
    """A net the rule cannot train, refused with the nets it can train and the
    rules that can train this net, both asked of the rules themselves."""
    refusal = rule.refuses(net)
    if not refusal:
        return
    usable = nets.trainable_by(rule, config.dropout)
    others = [r.name for r in rules.RULES.values() if r.refuses(net) is None]
    raise UsageError(
        f"rule={rule.name!r} cannot train net={config.net!r}: {refusal}. The nets "
        f"it can train: {', '.join(usable) or 'none'}; the rules that can train "
        f"{config.net}: {', '.join(others)}."
    )


def _refuse_other_rules_settings(config, rule) -> None:
    own = {s.name for s in config.settings()}
    for name, setting in declared_settings().items():
        value = config.value(name)
        if name not in own and value != setting.default:
            owners = [r.name for r in rules.RULES.values() if setting in r.settings]
            raise UsageError(
                f"{name}={value!r} does not apply to rule {rule.name!r}: it is a "
                f"setting of {', '.join(owners)}. Drop it, or choose one of those "
                "rules."
            )


def _validate_compilation(config) -> None:
    if config.jit_compile and config.strategy in ("mirrored", "multi_worker"):
        raise UsageError(
            f"jit_compile=True with strategy={config.strategy!r}: XLA cannot "
            "compile steps whose variables live on several devices (TensorFlow "
            "2.21 fails with 'Trying to access resource ... located in device'). "
            "Use strategy default or tpu (always compiled) for XLA, or leave "
            "jit_compile off with mirrored and multi_worker."
        )
    if config.strategy == "tpu" and config.deterministic:
        raise UsageError(
            "strategy='tpu' with deterministic=True: TPUs always compile with "
            "XLA, and TensorFlow refuses to compile max-pool gradients under op "
            "determinism. Add --nodeterministic for TPU runs."
        )
    if config.jit_compile and config.deterministic:
        raise UsageError(
            "jit_compile=True with deterministic=True: Keras turns XLA off, "
            "silently, whenever TensorFlow's op determinism is on. Add "
            "--nodeterministic to compile with XLA (runs are then no longer "
            "reproducible bit for bit), or leave --jit_compile off."
        )


def _validate_untying(config) -> None:
    description = nets.get_description(config.net)
    nets.check_untie(description, config.untie)
    if config.untie_after and not config.untie:
        raise UsageError(
            f"untie_after={config.untie_after} unties nothing: name the layers "
            "to untie with --untie (e.g. --untie=all)."
        )
    layers = nets.layer_names(description)
    for name in ("freeze", "redraw"):
        names = {n for n in config.value(name).split(",") if n}
        if names and not config.untie_after:
            raise UsageError(
                f"{name}={config.value(name)!r} acts when the net is untied "
                "after tied training; set --untie_after=N (the tied epochs)."
            )
        unknown = sorted(names - set(layers))
        if unknown:
            raise UsageError(
                f"{name}: {', '.join(unknown)} is not a layer of net "
                f"{config.net!r}; its layers with weights are {', '.join(layers)}."
            )


def check_data(config, splits, image_shape=None) -> None:
    """Refuses a run whose net or loss cannot take its data, before anything is
    built: a classification loss on regression targets or the reverse, a net
    with convolutions on examples that are not images, and more classes than a
    square output layer holds.

    Args:
        config: the run's settings.
        splits: the loaded `urfbtf.data.Splits` (or streamed ones).
        image_shape: the shape of the net's inputs, when preprocessing changes
            it from `splits.image_shape` (--image_size).
    """
    regression_data = splits.train_labels.ndim > 1
    regression_loss = config.loss in losses.REGRESSION_LOSSES
    if regression_data and not regression_loss:
        raise UsageError(
            f"Dataset {config.dataset!r} is a regression task (each label is "
            f"{splits.train_labels.shape[-1]} float targets), and loss="
            f"{config.loss!r} needs class labels. Use a regression loss: "
            f"{', '.join(losses.REGRESSION_LOSSES)} (Frenkel et al. add "
            "--output_activation=tanh)."
        )
    if regression_loss and not regression_data:
        classification = [n for n in losses.LOSSES if n not in losses.REGRESSION_LOSSES]
        raise UsageError(
            f"loss={config.loss!r} fits float targets, but dataset {config.dataset!r} "
            f"has class labels ({splits.num_classes} classes). Use a classification "
            f"loss: {', '.join(classification)}."
        )
    convs = nets.conv_names(nets.get_description(config.net))
    if convs and len(splits.image_shape) != 3:
        flat = [n for n, d in nets.NETS.items() if not nets.conv_names(d)]
        raise UsageError(
            f"Net {config.net!r} has convolutions ({', '.join(convs)}), which need "
            f"images (height, width, channels), but the examples of dataset "
            f"{config.dataset!r} have shape {splits.image_shape}. Use a fully "
            f"connected net: {', '.join(flat)}."
        )
    _check_classes(config, splits.num_classes, image_shape or splits.image_shape)


def _check_classes(config, classes: int, image_shape) -> None:
    """Refuses more classes than the net's square output layer has units."""
    width = nets.output_width(config.net, image_shape)
    if width is None or classes <= width:
        return
    shape = "x".join(str(d) for d in image_shape)
    larger = (
        ", larger images (--image_size)"
        if nets.conv_names(nets.get_description(config.net))
        else ""
    )
    raise UsageError(
        f"Dataset {config.dataset!r} has {classes} classes, and net {config.net!r} "
        f"holds at most {width}: its output layer is square, {width} units on "
        f"inputs of {shape}, its first ones the classes. Use a dataset of at most "
        f"{width} classes{larger}, or a net whose output layer has one unit per "
        "class."
    )
