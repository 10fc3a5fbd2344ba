"""The runner's settings, each declared once (`urfbtf.settings.Setting`).

Defaults are Amit (2019)'s, section 4: plain SGD with step 0.1, batch 500, the
multi-class hinge loss and the saturated linearity with the original code's
slope 0.5. A rule's own settings are declared by the rule
(`urfbtf.rules.Rule.settings`); `urfbtf.config.Config` holds a value for each.
"""

from __future__ import annotations

import math

from urfbtf import distribute, losses, nets, rules
from urfbtf.backward import untied
from urfbtf.data.inputs import check_input
from urfbtf.data.preprocess import AUGMENTATIONS, NORMALIZATIONS
from urfbtf.errors import UsageError
from urfbtf.settings import Setting

OPTIMIZERS = ("sgd", "momentum", "adam")
# fan_in_uniform is PyTorch's default of nn.Linear and nn.Conv2d, U(±1/√fan_in),
# which the DRTP reference code uses (`urfbtf.nets.steps.FAN_IN_UNIFORM`).
KERNEL_INITS = ("glorot_uniform", "he_uniform", "orthogonal", "fan_in_uniform")
# keras.optimizers.Adam's default epsilon (Keras 3.15; the paper's 1e-8 is
# Kingma and Ba's): runs that set none keep what they had before the setting.
ADAM_EPSILON = 1e-7


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
_ADAM_ONLY = _unless(
    lambda c: c.optimizer != "adam",
    lambda c: f"it is a setting of Adam, and optimizer={c.optimizer!r}",
)
_ADAM_DECAY = dict(
    check=lambda rate: 0 <= rate < 1,
    valid="a decay rate in [0, 1)",
    applies=_ADAM_ONLY,
)

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
        "Read <dataset>-{train,test}.tfrecord-*, or the standard ImageNet layout "
        "train-*-of-* and validation-*-of-*, from here (local or gs://) instead "
        "of tfds.",
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
    Setting(
        "input",
        str,
        "auto",
        "Input path: memory (whole splits in memory), stream (TFRecord shards read "
        "on the fly), or auto (stream the standard ImageNet layout, gs://, shards "
        "over 1 GiB, and prepared tfds datasets too large for memory or of images "
        "of different sizes, such as imagenet2012).",
        validator=check_input,
    ),
    Setting(
        "image_size",
        int,
        None,
        "Side of the square images fed to the net (default: the images' own size; "
        "224 for the standard ImageNet layout).",
        optional=True,
        check=_positive,
        valid="a positive number of pixels, or unset for the dataset's size",
    ),
    Setting(
        "augment",
        str,
        "none",
        "Training augmentation: none, flip_crop (CIFAR pad-4 random crops and "
        "flips) or inception (random-resized crops and flips; centre crops for "
        "evaluation).",
        choices=AUGMENTATIONS,
    ),
    Setting(
        "normalize",
        str,
        "none",
        "Per-channel mean/std normalisation of pixels in [0, 1]: none, imagenet or "
        "cifar10.",
        choices=tuple(NORMALIZATIONS),
    ),
    Setting(
        "label_offset",
        int,
        None,
        "Subtracted from the stored labels (default: detected; 1 for the 1-based "
        "labels of the standard ImageNet layout, else 0).",
        optional=True,
        check=lambda n: n >= 0,
        valid="0 (0-based labels), 1 (1-based), or unset to detect it",
        applies=_unless(
            lambda c: c.data_dir is None,
            lambda c: (
                "it shifts the labels of TFRecords in --data_dir, and no "
                "--data_dir is given"
            ),
        ),
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
    Setting(
        "adam_beta1",
        float,
        0.9,
        "Adam: decay rate of the running mean of the gradient (beta_1).",
        **_ADAM_DECAY,
    ),
    Setting(
        "adam_beta2",
        float,
        0.999,
        "Adam: decay rate of the running mean of the squared gradient (beta_2).",
        **_ADAM_DECAY,
    ),
    Setting(
        "adam_epsilon",
        float,
        ADAM_EPSILON,
        "Adam: constant added to the root of the second moment (default: Keras').",
        check=lambda e: math.isfinite(e) and e > 0,
        valid="a positive constant",
        applies=_ADAM_ONLY,
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
        "Forward weights: glorot_uniform (Amit), he_uniform (Frenkel et al.'s "
        "text), orthogonal (GAIT-prop) or fan_in_uniform (U(+-1/sqrt(fan_in)), "
        "their code's).",
        choices=KERNEL_INITS,
    ),
    Setting(
        "zero_init",
        bool,
        False,
        "Start the fully connected weights at 0 (convolutions, biases and "
        "feedback keep their draw) under the rules that can learn from there (not "
        "bp and shallow, which keep --kernel_init).",
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
    Setting(
        "on_divergence",
        str,
        "stop",
        "When the training loss or state becomes NaN or infinite, or the loss "
        "rises above --loss_ceiling: stop (exit status 3) or continue training; "
        "either way non-finite state is never checkpointed.",
        choices=("stop", "continue"),
        resumable=True,
    ),
    Setting(
        "loss_ceiling",
        float,
        10.0,
        "A training loss (Keras' running mean over the epoch) above this many "
        "times the loss of an all-zero output (chance: ln C for softmax, "
        "1 + off_class_fac for the hinge loss) counts as divergence too, as a "
        "NaN does (--on_divergence); 0: only a NaN or infinite loss. "
        "Classification losses only.",
        resumable=True,
        check=lambda v: v == 0 or v > 1,
        valid="0 (only NaN or infinity) or a factor above 1",
    ),
)
