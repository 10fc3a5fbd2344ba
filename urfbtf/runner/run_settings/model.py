"""The settings of what a run trains: the net, its rule and loss, and the net's form.

Defaults are Amit (2019)'s, section 4: the multi-class hinge loss and the
saturated linearity with the original code's slope 0.5.
"""

from __future__ import annotations

from urfbtf import losses, nets, rules
from urfbtf.runner.run_settings.conditions import positive, unless
from urfbtf.settings import Setting

# fan_in_uniform is PyTorch's default of nn.Linear and nn.Conv2d, U(±1/√fan_in),
# which the DRTP reference code uses (`urfbtf.nets.steps.FAN_IN_UNIFORM`).
KERNEL_INITS = ("glorot_uniform", "he_uniform", "orthogonal", "fan_in_uniform")

# The net, the rule and the loss.
CHOICE: tuple[Setting, ...] = (
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
        check=positive,
        valid="a positive number (the paper uses 1)",
        applies=unless(
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
        check=positive,
        valid="a positive slope (the original code uses 0.5, the paper's text 1)",
        applies=unless(
            lambda c: c.activation != "saturated",
            lambda c: (
                f"it is the slope of the saturated linearity, and "
                f"activation={c.activation!r}"
            ),
        ),
    ),
)

# The net's nonlinearities and initial weights.
FORM: tuple[Setting, ...] = (
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
        applies=unless(
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
        applies=unless(
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
        applies=unless(
            lambda c: not nets.conv_names(nets.get_description(c.net)),
            lambda c: f"net {c.net!r} has no convolutions",
        ),
    ),
)
