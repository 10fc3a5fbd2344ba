"""The settings of one run, validated once, before anything is built.

`python -m urfbtf.main` fills a `Config` from its flags; library users build one
directly and call `urfbtf.train.run(config, model_dir)`. Defaults are the paper's
(Amit 2019, section 4): plain SGD with step 0.1, batch 500, the multi-class hinge
loss and the saturated linearity with the original code's slope 0.5.
"""

from __future__ import annotations

import dataclasses
import math

from urfbtf import direct, distribute, losses, nets, rules, untied
from urfbtf.errors import UsageError
from urfbtf.layers.feedback_layer import check_connectivity

OPTIMIZERS = ("sgd", "momentum", "adam")
KERNEL_INITS = ("glorot_uniform", "he_uniform")


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines a run (the output directory is given separately).

    Attributes:
        net: a name from `urfbtf.nets.NETS`.
        rule: a name from `urfbtf.rules.RULES`.
        loss: "hinge" (eq. 4) or "softmax" (cross-entropy).
        off_class_fac: numerator of the hinge loss's μ = off_class_fac/(C-1).
        connectivity: fraction of connections kept in all but the output layer.
        nonlin_scale: slope s of the saturated linearity clip(s·h, -1, 1).
        dataset: a tensorflow-datasets name, `cifar10_sample`, or the file prefix
            of local TFRecords in `data_dir`.
        data_dir: read `<dataset>-{train,test}.tfrecord-*` from here, not tfds.
        train_examples: keep only this many training examples (None: all).
        val_examples: validation examples held out of the training set (None: the
            dataset's default, 5000 for the full datasets).
        epochs: total epochs of training.
        batch_size: global minibatch size.
        eval_batch_size: batch size for validation and test passes.
        optimizer: "sgd" (plain, as the paper), "momentum" (0.9) or "adam".
        lr: learning rate (the paper's time step η).
        seed: seeds weights, masks, dropout and the order of examples.
        deterministic: make TensorFlow's ops deterministic, so that a run is
            reproducible bit for bit and a resumed run ends exactly where an
            uninterrupted one does (multithreaded CPU kernels otherwise vary).
        strategy: where the run executes, one of `urfbtf.distribute.STRATEGIES`.
        tpu: the TPU for strategy "tpu" ("" finds the local or Colab one).
        jit_compile: compile training and evaluation steps with XLA.
        steps_per_execution: training steps per call into the compiled step.
        untie: conv layers built as untied (locally connected) layers, comma
            separated, or "all" (Amit 2019, sec. 4.1).
        untied_impl: "dense" (XLA-friendly) or "sparse" (tf.sparse, as the
            original code).
        untie_after: 0 unties from the start; N > 0 trains the tied net for N
            epochs first and unties then (`urfbtf.protocol`).
        freeze: layers that stop learning when untied after `untie_after`.
        redraw: layers redrawn at random when untied after `untie_after`.
        untied_batch_size: batch size after `untie_after` (None: batch_size).
        activation: hidden nonlinearity, "saturated" (Amit) or "tanh" (Frenkel).
        output_activation: "linear" or "tanh" (Frenkel et al.'s regression).
        dropout: rate of the dropout of nets whose description leaves it open
            (Frenkel et al.'s nets: the input of every fully connected layer).
        kernel_init: initializer of the forward weights W ("glorot_uniform", as
            Amit; "he_uniform", as Frenkel et al.).
        zero_init: start the forward weights at 0 (Frenkel et al.'s runs of the
            feedback-alignment family; feedback matrices stay random).
        freeze_conv: keep the convolutions at their initial values ("CONV
            random" in Frenkel et al.).
        direct_output: for dfa, sdfa and drtp: "error" (the output layer learns
            with its true local gradient, as the DRTP code) or "direct" (with the
            projected signal).
        probe_every: measure the alignment of the rule's updates and errors with
            backpropagation's every this many steps (0: never).
    """

    net: str = "simpnet"
    rule: str = "urfb"
    loss: str = "hinge"
    off_class_fac: float = 1.0
    connectivity: float = 1.0
    nonlin_scale: float = 0.5
    dataset: str = "cifar10"
    data_dir: str | None = None
    train_examples: int | None = None
    val_examples: int | None = None
    epochs: int = 1000
    batch_size: int = 500
    eval_batch_size: int = 1000
    optimizer: str = "sgd"
    lr: float = 0.1
    seed: int = 0
    deterministic: bool = True
    strategy: str = "default"
    tpu: str = ""
    jit_compile: bool = False
    steps_per_execution: int = 1
    untie: str = ""
    untied_impl: str = "dense"
    untie_after: int = 0
    freeze: str = ""
    redraw: str = ""
    untied_batch_size: int | None = None
    activation: str = "saturated"
    output_activation: str = "linear"
    dropout: float = 0.0
    kernel_init: str = "glorot_uniform"
    zero_init: bool = False
    freeze_conv: bool = False
    direct_output: str = "error"
    probe_every: int = 0

    def validate(self) -> Config:
        """Returns self, or raises `UsageError` naming the first invalid value."""
        description = nets.get_description(self.net)
        self._validate_untying(description)
        rule = rules.get_rule(self.rule)
        losses.get_loss(self.loss)
        check_connectivity(self.connectivity, rule)
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(
                f"Unknown optimizer {self.optimizer!r}. Valid optimizers: "
                f"{', '.join(OPTIMIZERS)} (the paper uses plain sgd)."
            )
        _require(
            self.off_class_fac > 0,
            "off_class_fac",
            self.off_class_fac,
            "a positive number (the paper uses 1)",
        )
        _require(
            self.nonlin_scale > 0,
            "nonlin_scale",
            self.nonlin_scale,
            "a positive slope (the original code uses 0.5, the paper's text 1)",
        )
        _require(
            math.isfinite(self.lr) and self.lr > 0,
            "lr",
            self.lr,
            "a positive learning rate (the paper uses 0.1)",
        )
        distribute.check_name(self.strategy)
        self._validate_choice("activation", nets.ACTIVATIONS)
        self._validate_choice("output_activation", nets.OUTPUT_ACTIVATIONS)
        if self.loss in losses.REGRESSION_LOSSES and self.rule == "drtp":
            raise UsageError(
                f"rule='drtp' with loss={self.loss!r}: DRTP projects the one-hot "
                "target of a class, which regression has not. Use dfa or sdfa (or "
                "any other rule) for regression."
            )
        self._validate_choice("kernel_init", KERNEL_INITS)
        self._validate_choice("direct_output", direct.OUTPUT_SIGNALS)
        _require(
            0 <= self.dropout < 1,
            "dropout",
            self.dropout,
            "a rate in [0, 1): the fraction of units dropped",
        )
        _require(
            self.probe_every >= 0,
            "probe_every",
            self.probe_every,
            "0 (no probes) or a number of training steps",
        )
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
        for name in ("epochs", "batch_size", "eval_batch_size", "steps_per_execution"):
            _require(
                getattr(self, name) > 0, name, getattr(self, name), "a positive integer"
            )
        if self.train_examples is not None:
            _require(
                self.train_examples > 0,
                "train_examples",
                self.train_examples,
                "a positive integer, or unset for the whole training set",
            )
        if self.val_examples is not None:
            _require(
                self.val_examples >= 0,
                "val_examples",
                self.val_examples,
                "0 or more examples held out of the training set",
            )
        return self

    def _validate_choice(self, name: str, choices) -> None:
        value = getattr(self, name)
        if value not in choices:
            raise UsageError(
                f"{name}={value!r} is invalid. Valid values: {', '.join(choices)}."
            )

    def _validate_untying(self, description) -> None:
        nets.check_untie(description, self.untie)
        untied.check_layout(self.untied_impl)
        _require(
            0 <= self.untie_after,
            "untie_after",
            self.untie_after,
            "0 (untied from the start) or the number of tied epochs first",
        )
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
        if self.untied_batch_size is not None:
            _require(
                self.untied_batch_size > 0,
                "untied_batch_size",
                self.untied_batch_size,
                "a positive integer, or unset",
            )

    def run_name(self) -> str:
        """A directory name that identifies the run: net, rule, loss, connectivity,
        seed and untying (re-running the same command then resumes it)."""
        name = f"{self.net}-{self.rule}-{self.loss}-c{self.connectivity:g}-s{self.seed}"
        if self.untie:
            name += "-untied" + ("_all" if self.untie == "all" else "")
            name += f"_after{self.untie_after}" if self.untie_after else ""
        return name

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Settings that may change when a stopped run is continued: more epochs, another
# evaluation batch or another place to run leave the experiment the same.
RESUMABLE_CHANGES = (
    "epochs",
    "probe_every",
    "eval_batch_size",
    "deterministic",
    "strategy",
    "tpu",
    "jit_compile",
    "steps_per_execution",
)


def _require(ok: bool, name: str, value, valid: str) -> None:
    if not ok:
        raise UsageError(f"{name}={value!r} is invalid: expected {valid}.")
