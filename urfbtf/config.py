"""The settings of one run, declared once and validated before anything is built.

`RUN_SETTINGS` (`urfbtf.run_settings`) declares the runner's settings; each rule
declares its own (`urfbtf.rules.Rule.settings`). `Config` holds a value for each,
`python -m urfbtf.main` makes its flags from the same declarations, `config.json`
is `Config.to_dict()`, and a resumed run is compared with its `config.json` on
the settings not declared `resumable`.

To add a setting, add one `Setting` to `RUN_SETTINGS` (or to the rule it belongs
to), and read it where it acts: the flag, the `Config` field, `config.json` and
the resume check follow.
"""

from __future__ import annotations

from urfbtf import losses, nets, rules
from urfbtf.errors import UsageError
from urfbtf.layers.feedback_layer import check_connectivity
from urfbtf.run_settings import KERNEL_INITS, OPTIMIZERS, RUN_SETTINGS
from urfbtf.settings import Setting, unique

__all__ = ["KERNEL_INITS", "OPTIMIZERS", "RUN_SETTINGS", "Config", "check_data"]


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

    def changes_from(self, previous: dict, *, diverged: bool = False) -> list[str]:
        """The settings (not resumable) in which this run differs from a run
        recorded as `previous` (its `config.json`); a setting the record lacks
        (it predates the setting) counts as its default.

        A run that `diverged` may be resumed with a lower lr (from its last
        finite checkpoint, `urfbtf.divergence`); any other change of lr makes
        another experiment.
        """
        changes = []
        for setting in self.settings():
            before = previous.get(setting.name, setting.default)
            now = getattr(self, setting.name)
            if setting.resumable or before == now:
                continue
            if setting.name == "lr":
                if diverged and now < before:
                    continue
                changes.append(
                    f"lr: {before!r} -> {now!r} (lr may change only to resume a "
                    "run that diverged, and only downwards)"
                )
                continue
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
        rule.check(self, nets.summary(self.net, self.dropout))
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


def check_data(config: Config, splits) -> None:
    """Refuses a run whose net or loss cannot take its data, before anything is
    built: a classification loss on regression targets or the reverse, and a
    net with convolutions on examples that are not images.

    Args:
        config: the run's settings.
        splits: the loaded `urfbtf.data.Splits`.
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
