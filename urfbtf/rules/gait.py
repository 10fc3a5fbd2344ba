"""GAIT-prop and exact-inverse target propagation (Ahmad et al. 2020; the
GAIT-prop ImageNet paper, sec. 2).

Every block l > 1 is invertible: a square dense layer (`InvertibleDense`) or an
invertible convolution (`InvertibleConv2D`), then a leaky ReLU (the output
layer: linear), G_l(a_l) = W_l⁻¹(f⁻¹(a_l) − b_l) (eq. 3), with the units a
narrowing layer did not pass on kept from the forward pass (`Narrow`). A
training step (`urfbtf.targets.TargetModel`) sets the output's target from the
task loss, t_L = a_L − ∂ℓ/∂a_L, and carries it down:

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
start orthogonal and a regulariser λ Σ_l ‖W_l W_lᵀ − diag(W_l W_lᵀ)‖²
(`--ortho_reg`, the authors' form) keeps them near it, on every layer whose
inverse carries targets.

Row lengths (`--gait_row_lengths`, this project's extension). The regulariser
makes W's rows orthogonal but leaves their lengths d free, and a W = diag(d) Q
with Q orthogonal has W⁻¹ = Wᵀ diag(d)⁻²: eq. 4's targets then carry a
backpropagated error reweighted unit by unit, d_i⁻² where backpropagation has 1.
On gait_cifar_fc3 after 10 epochs the rows' lengths spread by 2-3% and that
reweighting is most of GAIT-prop's angle to backpropagation
(tools/gait_orthogonality.py). Scaling each unit's incremental factor by its
squared row length, ε_l = γ_l diag(d_l²) D(a_l)², a quantity local to the unit
(the length of its own incoming weights), gives W⁻¹ diag(d²) = Wᵀ: the targets
carry backpropagation's error through any W with orthogonal rows.

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

from urfbtf import targets
from urfbtf.errors import UsageError
from urfbtf.layers.invertible_dense import InvertibleDense, lu_factors
from urfbtf.layers.leaky_relu import LeakyReLU
from urfbtf.rules.target import TargetRule
from urfbtf.settings import Setting

GAIT_GAMMA = Setting(
    "gait_gamma",
    float,
    1e-3,
    "gait: γ, the fraction of the way to the target that each layer's step down "
    "takes (eq. 4; 1e-3 in the authors' code).",
    check=lambda v: 0 < v <= 1,
    valid="a number in (0, 1]",
)
GAIT_NORM = Setting(
    "gait_norm",
    float,
    0.0,
    "gait: η > 0 normalizes the targets, every hidden target at distance η from "
    "its activity (sec. 2.2.1); 0 keeps γ fixed (plain GAIT-prop).",
    check=lambda v: v >= 0,
    valid="a distance >= 0",
)
GAIT_DIFFERENCES = Setting(
    "gait_differences",
    bool,
    True,
    "gait/tp_exact: carry t - a down the net exactly (f^-1(a + m) - f^-1(a) "
    "without forming a + m, and each layer's loss from t - a itself); false "
    "forms G's argument and every target as float32 activities, as the paper, "
    "whose round-off loses a difference that shrinks by gamma per layer.",
)
GAIT_ROW_LENGTHS = Setting(
    "gait_row_lengths",
    bool,
    False,
    "gait: scale each unit's step by the squared length of its incoming weights, "
    "eps_l = gamma_l diag(|w_i|^2) D(a_l)^2, so that the inverse carries "
    "backpropagation's error through any W whose rows are orthogonal (the set "
    "the regulariser keeps W near, whatever its row lengths); false is eq. 4.",
)
ORTHO_REG = Setting(
    "ortho_reg",
    float,
    0.1,
    "gait/tp_exact: λ of the orthogonality regulariser λ‖WWᵀ − diag(WWᵀ)‖² on "
    "every inverted layer (0.1 in the authors' code).",
    check=lambda v: v >= 0,
    valid="a number >= 0",
)


def _square(layer) -> tf.Tensor:
    """W as a matrix [inputs of one output, outputs]: a dense kernel, or a
    convolution's kh·kw·C_in × C_out patch matrix."""
    kernel = tf.convert_to_tensor(layer.kernel)
    return tf.reshape(kernel, [-1, kernel.shape[-1]])


def _squared_row_lengths(layer) -> tf.Tensor:
    """‖w_i‖² of every output unit i: the squared length of its incoming
    weights, the paper's row of W (a column of the square matrix)."""
    return tf.reduce_sum(tf.square(_square(layer)), axis=0)


def orthogonality_penalty(layer) -> tf.Tensor:
    """‖WWᵀ − diag(WWᵀ)‖² for W = (the layer's matrix)ᵀ, one row per output
    unit: zero when the rows are orthogonal (Ahmad et al.'s regulariser)."""
    return _off_diagonal_energy(_square(layer))


@tf.custom_gradient
def _off_diagonal_energy(matrix):
    """Σ of the squared off-diagonal entries of MᵀM, with its gradient
    4 M (MᵀM − diag(MᵀM)) in one product (autodiff would take two more: one
    per factor of the Gram matrix; each costs as much as the layer's inverse)."""
    gram = tf.matmul(matrix, matrix, transpose_a=True)
    off = gram - tf.linalg.diag(tf.linalg.diag_part(gram))

    def grad(upstream):
        return upstream * 4.0 * tf.matmul(matrix, off)

    return tf.reduce_sum(tf.square(off)), grad


def _slope(activation, a) -> tf.Tensor:
    """D(a): the derivative of the block's nonlinearity where its output is a."""
    if activation is None:
        return tf.ones_like(a)
    return tf.where(a > 0, tf.ones_like(a), tf.cast(activation.slope, a.dtype))


def _field(activation, a) -> tf.Tensor:
    """f⁻¹(a): the field the block's nonlinearity turned into a."""
    return a if activation is None else activation.inverse(a)


def _field_change(activation, a, moved) -> tf.Tensor:
    """f⁻¹(a + m) − f⁻¹(a), without forming a + m: m/D(a) where a + m stays on
    a's side of the kink (exact whatever m's size), and the two sides' values
    apart only where it crosses (where m is as large as a)."""
    if activation is None:
        return moved
    slope = _slope(activation, a)
    crossed = tf.not_equal(a + moved > 0, a > 0)
    across = _field(activation, a + moved) - _field(activation, a)
    return tf.where(crossed, across, moved / slope)


def _per_example(scalars, like) -> tf.Tensor:
    """[batch] values shaped to multiply tensors like `like`."""
    return tf.reshape(scalars, [-1] + [1] * (like.shape.rank - 1))


def _norm(t) -> tf.Tensor:
    return tf.norm(tf.reshape(t, [tf.shape(t)[0], -1]), axis=1)


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

    def check(self, config):
        super().check(config)
        from urfbtf import nets  # The nets import the rules.

        steps = [
            s
            for s in nets.get_description(config.net)
            if isinstance(
                s, (nets.Conv, nets.Dense, nets.InvConv, nets.InvDense, nets.Output)
            )
        ]
        fixed = [
            s.name
            for s in steps[1:]
            if not isinstance(s, (nets.InvConv, nets.InvDense))
            and not (isinstance(s, nets.Output) and s.square)
        ]
        problems = []
        if fixed:
            problems.append(
                f"its layers {', '.join(fixed)} are not invertible (every layer but "
                "the first must be: use a gait_* net)"
            )
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

    def compile(self, model, **kwargs):
        self._check_model(model)
        super().compile(model, **kwargs)

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
        settings = model._urfbtf_settings
        stages = model.stages()
        count = len(stages)
        # d = t_L − a_L at the output block's whole output: the classes' error,
        # zero at the auxiliary units.
        top = activities[-1]
        error = targets.example_error(model, y, model.net_output(activities))
        difference = -targets.spread(model._urfbtf_head, top, error)
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
            inverse = inverses[k - 1]
            if self.incremental:
                # ε_l = γ_l D(a_l)² (eq. 4), each unit's also times its squared
                # row length with --gait_row_lengths; `unit` is the field change
                # of γ_l = 1 to first order, ε_l (t_l − a_l) / D(a_l).
                slope = _slope(activation, a)
                unit = slope * difference
                if settings["gait_row_lengths"]:
                    unit = unit * _squared_row_lengths(layer)
                gamma = self._gamma(settings, layer, inverse, unit)
                moved = _per_example(gamma, a) * slope * unit
            else:
                moved = difference
            if carried:
                change = _field_change(activation, a, moved)
            else:  # The paper's arithmetic: G's argument formed as an activity.
                change = _field(activation, a + moved) - _field(activation, a)
            step = layer.invert_linear(change, inverse)
            if self.incremental and settings["gait_norm"]:
                # A unit that the step moves across the leaky ReLU's kink moves
                # by another slope than D's: set the distance to η exactly.
                reach = _norm(step)
                exact = tf.where(
                    reach > 0, settings["gait_norm"] / tf.maximum(reach, 1e-30), 0.0
                )
                step = step * _per_example(exact, step)
                gamma = gamma * exact
            if self.incremental:
                scale = scale * gamma
            below = activities[k]
            x = below if stage.hand_on is None else stage.hand_on(below)
            difference = targets.spread(
                stage.hand_on, below, tf.reshape(step, tf.shape(x))
            )
            hidden[k - 1] = tf.stop_gradient(below + difference)
            differences[k - 1] = tf.stop_gradient(difference) if carried else None
            # The gradient of w‖a − t‖² is −2w·d: w = 1/(2s) gives ∂ℓ/∂a (and
            # an example with nothing to carry, s = 0, has nothing to learn).
            weights[k - 1] = tf.stop_gradient(
                tf.where(scale > 0, 0.5 / tf.maximum(scale, 1e-37), 0.0)
            )
        return targets.Targets(hidden, {}, weights, differences)

    @staticmethod
    def _gamma(settings, layer, inverse, unit) -> tf.Tensor:
        """γ_l for every example: `--gait_gamma`, or, normalized, η over the
        distance that the field change `unit` of γ_l = 1 moves the target below
        (module docstring)."""
        eta = settings["gait_norm"]
        batch = tf.shape(unit)[0]
        if not eta:
            return tf.fill([batch], tf.cast(settings["gait_gamma"], unit.dtype))
        distance = _norm(layer.invert_linear(unit, inverse))
        # An example the net already classifies perfectly has no error to carry.
        return tf.where(distance > 0, eta / tf.maximum(distance, 1e-30), 0.0)

    def penalty(self, model):
        strength = model._urfbtf_settings["ortho_reg"]
        if not strength:
            return None
        total = tf.add_n(
            [orthogonality_penalty(s.block.layer) for s in model.stages()[1:]]
        )
        return strength * total


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
