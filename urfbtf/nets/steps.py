"""The steps a net is described by, and what a description says about its layers.

A description is a tuple of steps, bottom to top: `Conv` (a convolution, SAME
padding, at stride 1 unless it says otherwise, followed by the hidden
nonlinearity), `Pool`, `Drop`, `Sum` (two convolutions
a = σ(conv(x)), b = σ(conv'(a)) and their sum a + b, with no parameters and no
nonlinearity after it: Amit (2019)'s residual "SUM"), `Dense` (followed by the
nonlinearity) and `Output` (one unit per class, never pruned). A flatten (NHWC
order, as the original code) is inserted before the first dense step.

A `Layers` step, first in a description, says how every layer of the net is
made (biases, initial weights): a property of the whole net, which follows its
paper's code. A description without one gets Amit (2019)'s layers.
"""

from __future__ import annotations

import dataclasses

from urfbtf.errors import UsageError

# Initializers a `Layers` step may name: Keras' own, and PyTorch's default of
# nn.Linear and nn.Conv2d, kaiming_uniform_(W, a=√5), whose bound is
# √(6/((1 + a²)·fan_in)) = 1/√fan_in (torch/nn/modules/linear.py,
# reset_parameters).
FAN_IN_UNIFORM = "fan_in_uniform"
LAYER_INITIALIZERS = ("glorot_uniform", "he_uniform", "orthogonal", FAN_IN_UNIFORM)
# Initializers of the biases: PyTorch's default, or 0 (Glorot & Bengio 2010).
BIAS_INITIALIZERS = (FAN_IN_UNIFORM, "zeros")


@dataclasses.dataclass(frozen=True)
class Layers:
    """How every conv, dense and output layer of a net is made.

    Attributes:
        bias: every layer has a trained bias; False: none.
        bias_init: how the biases start, one of BIAS_INITIALIZERS: U(±1/√fan_in)
            (PyTorch's default, `urfbtf.layers.feedback_layer.FanInUniform`) or 0.
        kernel: initializer of the forward weights W, one of LAYER_INITIALIZERS.
        feedback: initializer of the feedback weights R (frfb, urfb).
        tied_init: an untied layer starts with one conv kernel copied to every
            location (Amit's code); False draws every connection independently,
            with the conv's fans (`urfbtf.layers.UntiedConv2D`, `tie_init`).
    The defaults are Amit (2019)'s: no biases, W and R Glorot uniform, drawn
    independently (the original code, yaliamit/URFB).
    """

    bias: bool = False
    bias_init: str = FAN_IN_UNIFORM
    kernel: str = "glorot_uniform"
    feedback: str = "glorot_uniform"
    tied_init: bool = True

    def __post_init__(self):
        for name in (self.kernel, self.feedback):
            if name not in LAYER_INITIALIZERS:
                raise ValueError(
                    f"initializer {name!r}; valid: {', '.join(LAYER_INITIALIZERS)}"
                )
        if self.bias_init not in BIAS_INITIALIZERS:
            raise ValueError(
                f"bias initializer {self.bias_init!r}; valid: "
                f"{', '.join(BIAS_INITIALIZERS)}"
            )


def layers_of(description) -> Layers:
    """The `Layers` step of a description, or Amit (2019)'s defaults."""
    found = [step for step in description if isinstance(step, Layers)]
    if len(found) > 1:
        raise UsageError("A net description has at most one Layers step.")
    return found[0] if found else Layers()


@dataclasses.dataclass(frozen=True)
class Conv:
    """A convolution (SAME padding) of `kernel_size`, moved `stride` pixels at a
    time: at stride s an H×W image gives ⌈H/s⌉×⌈W/s⌉ outputs."""

    name: str
    filters: int
    kernel_size: int
    stride: int = 1


@dataclasses.dataclass(frozen=True)
class Sum:
    """Residual block: σ(conv(x)) + σ(conv'(σ(conv(x))))."""

    name: str
    first: Conv
    second: Conv


@dataclasses.dataclass(frozen=True)
class Pool:
    name: str
    size: int
    stride: int


@dataclasses.dataclass(frozen=True)
class Drop:
    name: str
    # Fraction of units dropped, as in the paper and keras.layers.Dropout; None
    # takes the `dropout` argument of `build_net` (the DRTP paper's nets).
    rate: float | None


@dataclasses.dataclass(frozen=True)
class Dense:
    name: str
    units: int


@dataclasses.dataclass(frozen=True)
class InvDense:
    """A square dense layer (`urfbtf.layers.InvertibleDense`: as many outputs as
    inputs), its nonlinearity, and the first `keep` units passed on (all when
    None); the rest are auxiliary units, kept for the exact inverse."""

    name: str
    keep: int | None = None


@dataclasses.dataclass(frozen=True)
class InvConv:
    """An invertible convolution (`urfbtf.layers.InvertibleConv2D`: C_in·k²
    output channels, SAME padding), its nonlinearity, and the first `keep`
    channels passed on (all when None)."""

    name: str
    kernel_size: int
    keep: int | None = None
    stride: int = 1


@dataclasses.dataclass(frozen=True)
class Output:
    """One unit per class; `square`: the output layer is square
    (`InvDense`) and the classes are its first units, the rest auxiliary."""

    name: str = "output"
    square: bool = False


def conv_names(description) -> list[str]:
    """The names of the convolutions of a description, bottom to top."""
    names = []
    for step in description:
        if isinstance(step, (Conv, InvConv)):
            names.append(step.name)
        elif isinstance(step, Sum):
            names += [step.first.name, step.second.name]
    return names


def layer_names(description) -> list[str]:
    """The names of the layers with weights (convs, dense, output), bottom to top."""
    names = []
    for step in description:
        if isinstance(step, (Conv, Sum, InvConv)):
            names += conv_names([step])
        elif isinstance(step, (Dense, InvDense, Output)):
            names.append(step.name)
    return names


def has_open_dropout(description) -> bool:
    """Whether some dropout step takes its rate from `build_net`'s `dropout`."""
    return any(isinstance(step, Drop) and step.rate is None for step in description)


def check_untie(description, untie) -> frozenset:
    """The set of conv names `untie` asks for ("all" means every conv); raises
    `UsageError` for a name that is not a conv of the net."""
    # An invertible convolution's inverse is a transposed convolution with its
    # one kernel: it has no untied form.
    convs = conv_names([s for s in description if not isinstance(s, InvConv)])
    if isinstance(untie, str):
        untie = convs if untie == "all" else [n for n in untie.split(",") if n]
    unknown = sorted(set(untie) - set(convs))
    if unknown:
        raise UsageError(
            f"Cannot untie {', '.join(unknown)}: the convolutions of this net that "
            f"can be untied are {', '.join(convs) or 'none'} (or 'all')."
        )
    return frozenset(untie)
