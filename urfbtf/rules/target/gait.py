"""GAIT-prop and exact-inverse target propagation (Ahmad et al. 2020; the
GAIT-prop ImageNet paper, sec. 2).

Every block l > 1 is invertible: a square dense layer (`InvertibleDense`) or an
invertible convolution (`InvertibleConv2D`), then a leaky ReLU (the output
layer: linear), G_l(a_l) = W_l⁻¹(f⁻¹(a_l) − b_l) (eq. 3), with the units a
narrowing layer did not pass on kept from the forward pass (`Narrow`). A
training step (`urfbtf.rules.target.model.TargetModel`) sets the output's
target from the task loss, t_L = a_L − ∂ℓ/∂a_L, and carries it down:

=========  ===========================================================
rule       target of block l−1's output
=========  ===========================================================
gait       t_{l-1} = G_l((1 − ε_l) a_l + ε_l t_l), ε_l = γ_l D(a_l)²
           (eq. 4), D(a_l) the derivative of block l's nonlinearity
tp_exact   t_{l-1} = G_l(t_l) (TP with exact inverses: the authors'
           baseline)
=========  ===========================================================

Why GAIT-prop is backpropagation: to first order the step down is
t_{l-1} − a_{l-1} = γ_l W_l⁻¹ D(a_l)(t_l − a_l), and with W_l orthogonal,
W_l⁻¹ = W_lᵀ, so t_{l-1} − a_{l-1} = −(γ_l ⋯ γ_L) ∂ℓ/∂a_{l-1}: the targets carry
backpropagation's error, shrunk by the product s_{l-1} of the γ's above. Each
block's loss ‖a_l − t_l‖² is weighted by 1/(2 s_l), example by example, so its
gradient is backpropagation's (the authors' code divides its error by γ once
per layer down); the output layer learns from the task loss itself. Weights
start orthogonal and a regulariser λ Σ_l Σ_{i≠j} ((W_l W_lᵀ)_ij)², W_l as the
authors' matrix [in, out] (`--ortho_reg`; the loss whose gradient is
nasiryahm/GAIT-prop's `ortho_gradients`, `exact_ops.orthogonality_penalty`),
keeps the rows of each square W_l, one per input unit, orthogonal. As the
authors' code, it regularises every square layer: all of them in
nasiryahm/GAIT-prop's nets, every one but the non-square first layer in the
ImageNet paper's (artcogsys/GAIT_prop_scaling `inv_net.add_ortho_gradients`).

Row lengths (`--gait_row_lengths`, this project's extension, not the papers').
The regulariser makes W's rows orthogonal but leaves their lengths d free, and
W[in, out] = diag(d) Q with Q orthogonal has W⁻¹ = Wᵀ diag(d)⁻² (x = aW): eq.
4's targets then carry a backpropagated error reweighted input unit by input
unit, d_i⁻² where backpropagation has 1. Scaling the step below by each input
unit's squared row length, W⁻¹ diag(d²) = Wᵀ, carries backpropagation's error
through any W with orthogonal rows; the factor is local to the unit below (the
length of its own outgoing weights).

Normalized targets (sec. 2.2.1): with `--gait_norm` η > 0, γ_l is set for each
example so that the target of the block below lies at distance η from its
activity, to first order: γ_l = η / ‖W_l⁻¹ D(a_l)(t_l − a_l)‖; the step is then
scaled to η exactly (the first order misses the units it moves across the leaky
ReLU's kink), and γ_l with it. Eq. 5 prints
γ_l = η / ‖a_l − t_l‖²; the text says the step is divided by the L2 norm of the
difference, and only a step scaled to the distance it makes gives the distance
η that eq. 5's caption promises (divided by the square, the distance would be
‖a_l − t_l‖/‖·‖² ≈ 1 after the first layer, whatever η).

The inverse is applied to the difference t − a, never to the target alone:
G_l(y) − a_{l-1} = W_l⁻¹(f⁻¹(y) − f⁻¹(a_l)) exactly (for a convolution, the
overlap correction of sec. 2.2.2 cancels in the difference, and the error from
every overlapping field is kept in full). Rebuilding a_{l-1} as G_l(a_l) and
subtracting would lose a difference that shrinks by γ at every layer to the
inverse's round-off.

Arithmetic (`--gait_differences`). The paper forms G's argument
(1 − ε)a + εt and each target t as activities, so in float32 a difference of
γᵏ‖∂ℓ/∂a‖ below k layers rounds away once it nears 1e-7‖a‖: the precision
failure that its normalized targets are for (sec. 2.2.1). By default the
difference itself is carried down, f⁻¹(a + m) − f⁻¹(a) computed without forming
a + m, and each layer's loss ‖a − t‖² evaluated as ‖(a − a) − (t − a)‖², the
same function and gradient with nothing to cancel; `--gait_differences=false`
is the paper's arithmetic, to reproduce its failure.
"""

from __future__ import annotations

import tensorflow as tf

from urfbtf.errors import UsageError
from urfbtf.layers.invertible_dense import InvertibleDense, lu_factors
from urfbtf.layers.leaky_relu import LeakyReLU
from urfbtf.precision import to_float32
from urfbtf.rules.target.exact_ops import (
    activation_slope,
    example_norms,
    field_change,
    field_of,
    is_square,
    orthogonality_penalty,
    per_example,
    squared_input_lengths,
)
from urfbtf.rules.target.model import Targets
from urfbtf.rules.target.ops import example_error, spread
from urfbtf.rules.target.rule import TargetRule
from urfbtf.rules.target.settings import (
    GAIT_DIFFERENCES,
    GAIT_GAMMA,
    GAIT_NORM,
    GAIT_ROW_LENGTHS,
    ORTHO_REG,
)


class ExactInverseTargets(TargetRule):
    """Target rules through exact inverses: `gait` and `tp_exact`.

    Args:
        name, summary: see `Rule`.
        incremental: GAIT-prop's step ε_l (eq. 4) and its rescaled losses;
            False: plain TP through exact inverses.
    """

    learned_inverses = False

    def __init__(self, name: str, summary: str, *, incremental: bool):
        super().__init__(name, summary)
        self.incremental = incremental
        self.settings = (
            *((GAIT_GAMMA, GAIT_NORM, GAIT_ROW_LENGTHS) if incremental else ()),
            GAIT_DIFFERENCES,
            ORTHO_REG,
        )

    # Nets --------------------------------------------------------------------

    def attach(self, block, num_classes, settings):
        del num_classes, settings
        return block.output  # The inverses are the layers' own.

    def attach_output(self, block, num_classes, settings):
        return self.attach(block, num_classes, settings)

    def refuses(self, net):
        fixed = net.fixed_above_first
        if fixed:
            layers = "layer" if len(fixed) == 1 else "layers"
            are = "is" if len(fixed) == 1 else "are"
            return (
                f"it inverts every layer above the first exactly, and the {layers} "
                f"{', '.join(fixed)} {are} not invertible"
            )
        return super().refuses(net)

    def check(self, config, net):
        super().check(config, net)
        problems = []
        if config.activation != "leaky_relu":
            problems.append(
                f"activation={config.activation!r} has no inverse (use "
                "--activation=leaky_relu)"
            )
        if config.output_activation != "linear":
            problems.append(
                f"output_activation={config.output_activation!r} (use linear)"
            )
        if problems:
            raise UsageError(
                f"rule={self.name!r} with net={config.net!r} inverts every layer "
                f"above the first exactly, but {'; '.join(problems)}."
            )

    def prepare(self, model):
        self._check_model(model)
        super().prepare(model)

    def _check_model(self, model):
        for stage in model.stages()[1:]:
            layer, activation = stage.block.layer, stage.block.activation
            invertible = hasattr(layer, "invert_linear")
            if not invertible or not (
                activation is None or isinstance(activation, LeakyReLU)
            ):
                raise UsageError(
                    f"rule={self.name!r}: block {stage.name!r} "
                    f"({type(layer).__name__}, "
                    f"{type(activation).__name__ if activation else 'linear'}) has "
                    "no exact inverse. Every block above the first must be an "
                    "InvertibleDense or InvertibleConv2D followed by a LeakyReLU "
                    "(the output: linear)."
                )

    # The targets ---------------------------------------------------------------

    @staticmethod
    def _inverses(layers) -> list:
        """What each layer's `invert_linear` applies, from the current weights:
        computed once per step, shared by every example; the dense layers'
        LU factors batched (`urfbtf.layers.invertible_dense.lu_factors`)."""
        dense = [layer for layer in layers if isinstance(layer, InvertibleDense)]
        factors = dict(zip(map(id, dense), lu_factors(dense), strict=True))
        return [
            factors[id(layer)] if id(layer) in factors else layer.inverse_filters()
            for layer in layers
        ]

    def targets(self, model, activities, y):
        settings = model.rule_settings
        stages = model.stages()
        count = len(stages)
        # Targets carried in float32 under every policy: a difference a γ^k
        # away from its activity, and the solves (`urfbtf.precision`).
        activities = [to_float32(a) for a in activities]
        # d = t_L − a_L at the output block's whole output: the classes' error,
        # zero at the auxiliary units.
        top = activities[-1]
        error = to_float32(example_error(model, y, model.net_output(activities)))
        difference = -spread(model.head(), top, error)
        batch = tf.shape(top)[0]
        scale = tf.ones([batch], top.dtype)  # s: d ≈ −s ∂ℓ/∂a.
        hidden, weights = [None] * (count - 1), [None] * (count - 1)
        differences = [None] * (count - 1)
        carried = settings["gait_differences"]
        inverses = self._inverses([stage.block.layer for stage in stages[1:]])
        # Stage k maps a_k = activities[k] to a_{k+1}; its inverse carries the
        # difference at a_{k+1} down to a_k.
        for k in range(count - 1, 0, -1):
            stage = stages[k]
            activation, layer = stage.block.activation, stage.block.layer
            a = activities[k + 1]
            lengths = self.incremental and settings["gait_row_lengths"]
            down = self._step_down(layer, inverses[k - 1], lengths)
            if self.incremental:
                # ε_l = γ_l D(a_l)² (eq. 4); `unit` is the field change of
                # γ_l = 1 to first order, ε_l (t_l − a_l) / D(a_l).
                slope = activation_slope(activation, a)
                unit = slope * difference
                gamma = self._gamma(settings, down, unit)
                moved = per_example(gamma, a) * slope * unit
            else:
                moved = difference
            if carried:
                change = field_change(activation, a, moved)
            else:  # The paper's arithmetic: G's argument formed as an activity.
                change = field_of(activation, a + moved) - field_of(activation, a)
            step = down(change)
            if self.incremental and settings["gait_norm"]:
                # A unit that the step moves across the leaky ReLU's kink moves
                # by another slope than D's: set the distance to η exactly.
                reach = example_norms(step)
                exact = tf.where(
                    reach > 0, settings["gait_norm"] / tf.maximum(reach, 1e-30), 0.0
                )
                step = step * per_example(exact, step)
                gamma = gamma * exact
            if self.incremental:
                scale = scale * gamma
            below = activities[k]
            x = below if stage.hand_on is None else stage.hand_on(below)
            difference = spread(stage.hand_on, below, tf.reshape(step, tf.shape(x)))
            hidden[k - 1] = tf.stop_gradient(below + difference)
            differences[k - 1] = tf.stop_gradient(difference) if carried else None
            # The gradient of w‖a − t‖² is −2w·d: w = 1/(2s) gives ∂ℓ/∂a (and
            # an example with nothing to carry, s = 0, has nothing to learn).
            weights[k - 1] = tf.stop_gradient(
                tf.where(scale > 0, 0.5 / tf.maximum(scale, 1e-37), 0.0)
            )
        return Targets(hidden, {}, weights, differences)

    @staticmethod
    def _step_down(layer, inverse, lengths: bool):
        """The map of a field change to the step below: W⁻¹, or with
        `lengths` (--gait_row_lengths) W⁻¹ diag(‖w_i‖²) over the input units
        i, which is Wᵀ for any W[in, out] = diag(d) Q with Q orthogonal (module
        docstring). A convolution's field is a patch: its inverse filters are
        scaled along their patch index, so every overlapping field's share is."""
        if not lengths:
            return lambda change: layer.invert_linear(change, inverse)
        squared = squared_input_lengths(layer)
        if isinstance(layer, InvertibleDense):
            return lambda change: layer.invert_linear(change, inverse) * squared
        filters = inverse * tf.reshape(squared, [*inverse.shape[:-1], 1])
        return lambda change: layer.invert_linear(change, filters)

    @staticmethod
    def _gamma(settings, down, unit) -> tf.Tensor:
        """γ_l for every example: `--gait_gamma`, or, normalized, η over the
        distance that the field change `unit` of γ_l = 1 moves the target below
        (module docstring)."""
        eta = settings["gait_norm"]
        batch = tf.shape(unit)[0]
        if not eta:
            return tf.fill([batch], tf.cast(settings["gait_gamma"], unit.dtype))
        distance = example_norms(down(unit))
        # An example the net already classifies perfectly has no error to carry.
        return tf.where(distance > 0, eta / tf.maximum(distance, 1e-30), 0.0)

    def penalty(self, model):
        strength = model.rule_settings["ortho_reg"]
        if not strength:
            return None
        # Every square layer, the first too when it is square, as the authors'
        # code (exact_ops.is_square).
        layers = [s.block.layer for s in model.stages() if is_square(s.block.layer)]
        if not layers:
            return None
        return strength * tf.add_n([orthogonality_penalty(x) for x in layers])


GAIT = ExactInverseTargets(
    "gait",
    "GAIT-prop: incremental targets through exact inverses (Ahmad et al. 2020)",
    incremental=True,
)
TP_EXACT = ExactInverseTargets(
    "tp_exact",
    "target propagation through exact inverses (GAIT-prop's TP baseline)",
    incremental=False,
)

__all__ = ["GAIT", "TP_EXACT", "ExactInverseTargets", "orthogonality_penalty"]
