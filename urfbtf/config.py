"""The settings of one run, declared once and validated before anything is built.

`RUN_SETTINGS` declares the runner's settings; each rule declares its own
(`urfbtf.rules.Rule.settings`). `Config` holds a value for each, `python -m
urfbtf.main` makes its flags from the same declarations, `config.json` is
`Config.to_dict()`, and a resumed run is compared with its `config.json` on the
settings not declared `resumable`. Defaults are Amit (2019)'s, section 4: plain
SGD with step 0.1, batch 500, the multi-class hinge loss and the saturated
linearity with the original code's slope 0.5.

To add a setting, add one `Setting` here (or to the rule it belongs to), and read
it where it acts: the flag, the `Config` field, `config.json` and the resume
check follow.
"""

from __future__ import annotations

import math

from urfbtf import distribute, losses, nets, rules, untied
from urfbtf.errors import UsageError
from urfbtf.layers.feedback_layer import check_connectivity
from urfbtf.settings import Setting, unique

OPTIMIZERS = ("sgd", "momentum", "adam")
KERNEL_INITS = ("glorot_uniform", "he_uniform")


def _check_optimizer(name: str) -> None:
    if name not in OPTIMIZERS:
        raise UsageError(
            f"Unknown optimizer {name!r}. Valid optimizers: {', '.join(OPTIMIZERS)} "
            "(the paper uses plain sgd)."
        )


def _positive(value) -> bool:
    return value > 0


def _unless(condition, reason):
    """An `applies` function: the setting applies unless condition(config)."""
    return lambda config: reason(config) if condition(config) else None


_POSITIVE = dict(check=_positive, valid="a positive integer")

RUN_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "net",
        str,
        "simpnet",
        "Network; selects flags/<net>.cfg.",
        validator=nets.get_description,
        choices=lambda: nets.NETS,
    ),
    Setting(
        "rule",
        str,
        rules.DEFAULT_RULE,
        "Learning rule.",
        validator=rules.get_rule,
        choices=lambda: rules.RULES,
    ),
    Setting(
        "loss", str, "hinge", "Loss.", validator=losses.get_loss, choices=losses.LOSSES
    ),
    Setting(
        "off_class_fac",
        float,
        1.0,
        "Hinge loss: μ = off_class_fac/(C-1) (eq. 4).",
        check=_positive,
        valid="a positive number (the paper uses 1)",
        applies=_unless(
            lambda c: c.loss != "hinge",
            lambda c: (
                f"it weighs the hinge loss's off-class terms, and loss={c.loss!r}"
            ),
        ),
    ),
    Setting(
        "connectivity",
        float,
        1.0,
        "Fraction of forward and feedback connections kept (0, 1].",
    ),
    Setting(
        "nonlin_scale",
        float,
        0.5,
        "Slope s of the saturated linearity clip(s*h, -1, 1).",
        check=_positive,
        valid="a positive slope (the original code uses 0.5, the paper's text 1)",
        applies=_unless(
            lambda c: c.activation != "saturated",
            lambda c: (
                f"it is the slope of the saturated linearity, and "
                f"activation={c.activation!r}"
            ),
        ),
    ),
    Setting(
        "dataset",
        str,
        "cifar10",
        "tensorflow-datasets name (cifar10, cifar100, mnist, ...), cifar10_sample "
        "(ships with urfbtf), synthetic_classification, synthetic_regression, or "
        "the file prefix of the TFRecords in --data_dir.",
    ),
    Setting(
        "data_dir",
        str,
        None,
        "Read <dataset>-{train,test}.tfrecord-* from here instead of tfds.",
        optional=True,
    ),
    Setting(
        "train_examples",
        int,
        None,
        "Use only this many training examples.",
        optional=True,
        check=_positive,
        valid="a positive integer, or unset for the whole training set",
    ),
    Setting(
        "val_examples",
        int,
        None,
        "Validation examples held out of the training set (default 5000; 200 for "
        "cifar10_sample).",
        optional=True,
        check=lambda n: n >= 0,
        valid="0 or more examples held out of the training set",
    ),
    Setting("epochs", int, 1000, "Total training epochs.", resumable=True, **_POSITIVE),
    Setting("batch_size", int, 500, "Global minibatch size.", **_POSITIVE),
    Setting(
        "eval_batch_size",
        int,
        1000,
        "Batch size of validation and test passes.",
        resumable=True,
        **_POSITIVE,
    ),
    Setting(
        "optimizer",
        str,
        "sgd",
        f"Optimizer: {', '.join(OPTIMIZERS)}.",
        validator=_check_optimizer,
    ),
    Setting(
        "lr",
        float,
        0.1,
        "Learning rate (the paper's time step).",
        check=lambda lr: math.isfinite(lr) and lr > 0,
        valid="a positive learning rate (the paper uses 0.1)",
    ),
    Setting("seed", int, 0, "Seed of weights, masks, dropout, data order."),
    Setting(
        "deterministic",
        bool,
        True,
        "Deterministic TensorFlow ops: bitwise reproducible runs and resumes.",
        resumable=True,
    ),
    Setting(
        "strategy",
        str,
        "default",
        "Where to run: default (one device), mirrored (the GPUs of this machine), "
        "multi_worker (several machines, described by TF_CONFIG), tpu.",
        validator=distribute.check_name,
        resumable=True,
    ),
    Setting(
        "tpu",
        str,
        "",
        "For --strategy=tpu: TPU name or grpc:// address ('' finds the local or "
        "Colab TPU).",
        resumable=True,
        applies=_unless(
            lambda c: c.strategy != "tpu",
            lambda c: (
                f"it names the TPU of --strategy=tpu, and strategy={c.strategy!r}"
            ),
        ),
    ),
    Setting(
        "jit_compile",
        bool,
        False,
        "Compile the training and evaluation steps with XLA.",
        resumable=True,
    ),
    Setting(
        "steps_per_execution",
        int,
        1,
        "Training steps per call into the compiled step.",
        resumable=True,
        **_POSITIVE,
    ),
    Setting(
        "untie",
        str,
        "",
        "Conv layers to build untied (locally connected), comma separated, or 'all'.",
    ),
    Setting(
        "untied_impl",
        str,
        "dense",
        "Untied layers: dense (per-location kernels, compiles with XLA) or sparse "
        "(tf.sparse, as the original code).",
        validator=untied.check_layout,
        applies=_unless(
            lambda c: not c.untie,
            lambda c: "no layer is untied (--untie)",
        ),
    ),
    Setting(
        "untie_after",
        int,
        0,
        "Train the tied net for this many epochs, then untie (0: untied from the "
        "start).",
        check=lambda n: n >= 0,
        valid="0 (untied from the start) or the number of tied epochs first",
    ),
    Setting(
        "freeze",
        str,
        "",
        "Layers that stop learning when the net is untied (--untie_after).",
    ),
    Setting(
        "redraw",
        str,
        "",
        "Layers redrawn at random when the net is untied (--untie_after); untied "
        "layers not listed start from their trained kernel.",
    ),
    Setting(
        "untied_batch_size",
        int,
        None,
        "Batch size after --untie_after (default --batch_size).",
        optional=True,
        check=_positive,
        valid="a positive integer, or unset",
        applies=_unless(
            lambda c: not c.untie_after,
            lambda c: "it is the batch size after --untie_after, which is 0",
        ),
    ),
    Setting(
        "activation",
        str,
        "saturated",
        "Hidden nonlinearity: saturated (Amit 2019), tanh (Frenkel et al. 2021) or "
        "leaky_relu (invertible).",
        choices=nets.ACTIVATIONS,
    ),
    Setting(
        "leaky_slope",
        float,
        0.1,
        "Slope of the leaky ReLU for negative inputs.",
        check=lambda a: 0 < a <= 1,
        valid="a slope in (0, 1] (0 would not be invertible)",
        applies=_unless(
            lambda c: c.activation != "leaky_relu",
            lambda c: f"it is the leaky ReLU's slope, and activation={c.activation!r}",
        ),
    ),
    Setting(
        "output_activation",
        str,
        "linear",
        "Output units: linear, or tanh (for regression).",
        choices=nets.OUTPUT_ACTIVATIONS,
    ),
    Setting(
        "dropout",
        float,
        0.0,
        "Dropout rate of nets that leave it open (Frenkel et al.'s).",
        check=lambda rate: 0 <= rate < 1,
        valid="a rate in [0, 1): the fraction of units dropped",
        applies=_unless(
            lambda c: not nets.has_open_dropout(nets.get_description(c.net)),
            lambda c: (
                f"net {c.net!r} has no dropout left open (its paper fixes its rates)"
            ),
        ),
    ),
    Setting(
        "kernel_init",
        str,
        "glorot_uniform",
        "Forward weights: glorot_uniform or he_uniform.",
        choices=KERNEL_INITS,
    ),
    Setting(
        "zero_init",
        bool,
        False,
        "Start the forward weights at 0 (feedback stays random) under the rules "
        "that can learn from there (not bp and shallow, which keep --kernel_init).",
    ),
    Setting(
        "freeze_conv",
        bool,
        False,
        "Keep the convolutions at their initial values.",
        applies=_unless(
            lambda c: not nets.conv_names(nets.get_description(c.net)),
            lambda c: f"net {c.net!r} has no convolutions",
        ),
    ),
    Setting(
        "probe_every",
        int,
        0,
        "Alignment probes against backprop every N steps (0: off).",
        resumable=True,
        check=lambda n: n >= 0,
        valid="0 (no probes) or a number of training steps",
    ),
)


def declared_settings() -> dict:
    """{name: Setting}: the runner's and every registered rule's."""
    return unique(
        [*RUN_SETTINGS, *(s for rule in rules.RULES.values() for s in rule.settings)]
    )


class Config:
    """Everything that defines a run (the output directory is given separately).

    Build it from keyword arguments, `Config(net="deepernet", rule="frfb")`: every
    setting not given takes its declared default (see `RUN_SETTINGS` and the
    rules' `settings`). Values are read as attributes (`config.lr`); a config is
    frozen, and `replace(**changes)` makes a changed copy.
    """

    __slots__ = ("_values",)

    def __init__(self, **values):
        declared = declared_settings()
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise TypeError(
                f"Config got unknown settings {', '.join(unknown)}; the declared ones "
                f"are {', '.join(declared)}."
            )
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name):
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        declared = declared_settings()
        if name in declared:
            return declared[name].default
        raise AttributeError(f"Config has no setting {name!r}")

    def __setattr__(self, name, value):
        raise AttributeError(f"Config is frozen; use config.replace({name}=...)")

    def __eq__(self, other):
        return isinstance(other, Config) and self._all() == other._all()

    def __hash__(self):
        return hash(tuple(sorted(self._all().items(), key=lambda kv: kv[0])))

    def __repr__(self):
        given = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Config({given})"

    def _all(self) -> dict:
        return {name: getattr(self, name) for name in declared_settings()}

    def replace(self, **changes) -> Config:
        return Config(**{**self._values, **changes})

    def rule_settings(self) -> dict:
        """The values of the run's rule's own settings."""
        return {
            s.name: getattr(self, s.name) for s in rules.get_rule(self.rule).settings
        }

    def settings(self) -> list[Setting]:
        """The declarations of the settings of this run: the runner's and its
        rule's (a rule that is not registered has none)."""
        rule = rules.RULES.get(self.rule)
        return [*RUN_SETTINGS, *(rule.settings if rule else ())]

    def to_dict(self) -> dict:
        """{name: value} of this run's settings, as `config.json` holds them."""
        return {s.name: getattr(self, s.name) for s in self.settings()}

    def changes_from(self, previous: dict) -> list[str]:
        """The settings (not resumable) in which this run differs from a run
        recorded as `previous` (its `config.json`); a setting the record lacks
        (it predates the setting) counts as its default."""
        changes = []
        for setting in self.settings():
            before = previous.get(setting.name, setting.default)
            now = getattr(self, setting.name)
            if not setting.resumable and before != now:
                changes.append(f"{setting.name}: {before!r} -> {now!r}")
        return changes

    def validate(self) -> Config:
        """Returns self, or raises `UsageError` naming the first invalid value."""
        for setting in RUN_SETTINGS:
            setting.validate(getattr(self, setting.name))
        rule = rules.get_rule(self.rule)
        for setting in rule.settings:
            setting.validate(getattr(self, setting.name))
        self._refuse_other_rules_settings(rule)
        for setting in self.settings():
            setting.check_applies(getattr(self, setting.name), self)
        check_connectivity(self.connectivity, rule)
        self._validate_untying()
        self._validate_compilation()
        rule.check(self)
        return self

    def _refuse_other_rules_settings(self, rule) -> None:
        own = {s.name for s in self.settings()}
        for name, setting in declared_settings().items():
            value = getattr(self, name)
            if name not in own and value != setting.default:
                owners = [r.name for r in rules.RULES.values() if setting in r.settings]
                raise UsageError(
                    f"{name}={value!r} does not apply to rule {rule.name!r}: it is a "
                    f"setting of {', '.join(owners)}. Drop it, or choose one of those "
                    "rules."
                )

    def _validate_compilation(self) -> None:
        if self.jit_compile and self.strategy in ("mirrored", "multi_worker"):
            raise UsageError(
                f"jit_compile=True with strategy={self.strategy!r}: XLA cannot "
                "compile steps whose variables live on several devices (TensorFlow "
                "2.21 fails with 'Trying to access resource ... located in device'). "
                "Use strategy default or tpu (always compiled) for XLA, or leave "
                "jit_compile off with mirrored and multi_worker."
            )
        if self.strategy == "tpu" and self.deterministic:
            raise UsageError(
                "strategy='tpu' with deterministic=True: TPUs always compile with "
                "XLA, and TensorFlow refuses to compile max-pool gradients under op "
                "determinism. Add --nodeterministic for TPU runs."
            )
        if self.jit_compile and self.deterministic:
            raise UsageError(
                "jit_compile=True with deterministic=True: Keras turns XLA off, "
                "silently, whenever TensorFlow's op determinism is on. Add "
                "--nodeterministic to compile with XLA (runs are then no longer "
                "reproducible bit for bit), or leave --jit_compile off."
            )

    def _validate_untying(self) -> None:
        description = nets.get_description(self.net)
        nets.check_untie(description, self.untie)
        if self.untie_after and not self.untie:
            raise UsageError(
                f"untie_after={self.untie_after} unties nothing: name the layers "
                "to untie with --untie (e.g. --untie=all)."
            )
        layers = nets.layer_names(description)
        for name in ("freeze", "redraw"):
            names = {n for n in getattr(self, name).split(",") if n}
            if names and not self.untie_after:
                raise UsageError(
                    f"{name}={getattr(self, name)!r} acts when the net is untied "
                    "after tied training; set --untie_after=N (the tied epochs)."
                )
            unknown = sorted(names - set(layers))
            if unknown:
                raise UsageError(
                    f"{name}: {', '.join(unknown)} is not a layer of net "
                    f"{self.net!r}; its layers with weights are {', '.join(layers)}."
                )

    def run_name(self) -> str:
        """A directory name that identifies the run: net, rule, loss, connectivity,
        seed and untying (re-running the same command then resumes it)."""
        name = f"{self.net}-{self.rule}-{self.loss}-c{self.connectivity:g}-s{self.seed}"
        if self.untie:
            name += "-untied" + ("_all" if self.untie == "all" else "")
            name += f"_after{self.untie_after}" if self.untie_after else ""
        return name
