"""Rules that change only how the error is sent down: bp, frfb, urfb.

Amit (2019), section 3.1 and eq. 2. Every layer computes its Hebbian weight
gradient δ ⊗ x; what differs is the error it sends to the layer below:

======  ===========  ==========================================================
rule    error down   feedback weights R
======  ===========  ==========================================================
bp      Wᵀδ          none: exact backpropagation
frfb    Rᵀδ          fixed at their random initial values (feedback alignment,
                     Lillicrap et al. 2016)
urfb    Rᵀδ          receive exactly W's increment, ΔR = ΔW (Zipser and
                     Rumelhart 1990; Amit 2019)
======  ===========  ==========================================================

Under urfb R's gradient *is* W's gradient, so any optimizer that is a function of
the gradient history (SGD, momentum, Adam) gives R exactly W's increment. These
rules train with Keras' own training step, so with `model.fit`, any optimizer and
any `tf.distribute` strategy.
"""

from __future__ import annotations

from urfbtf import alignment
from urfbtf.rules import linear
from urfbtf.rules.base import Rule


class GradientRule(Rule):
    """A rule acting only through the backward pass of each linear map.

    Args:
        name, summary: see `Rule`.
        has_feedback: the error goes down through feedback weights R (else Wᵀ).
        feedback_learns: R receives W's gradient.
        learns_from_zero: whether forward weights that start at 0 can learn.
        model_class: a `keras.Model` subclass with a training step of its own
            (default Keras' own).
    """

    def __init__(
        self,
        name: str,
        summary: str,
        *,
        has_feedback: bool,
        feedback_learns: bool = False,
        learns_from_zero: bool = True,
        model_class=None,
    ):
        super().__init__(name, summary)
        self.has_feedback = has_feedback
        self.feedback_learns = feedback_learns
        self.learns_from_zero = learns_from_zero
        if model_class is not None:
            self.model_class = model_class

    def linear(self, linear_map):
        if not self.has_feedback:
            return linear.backprop(linear_map)
        return linear.with_feedback(linear_map, self.feedback_learns)

    def epoch_metrics(self, model):
        """`wr_corr/<layer>` and `wr_angle/<layer>` (Amit 2019, Figs. 10-11)."""
        return alignment.feedback_alignment(model)


BP = GradientRule(
    "bp",
    "backpropagation: the error goes down through Wᵀ",
    has_feedback=False,
    # From W = 0 every error Wᵀδ below the output is 0: a saddle it cannot leave.
    learns_from_zero=False,
)
FRFB = GradientRule(
    "frfb", "fixed random feedback R (feedback alignment)", has_feedback=True
)
URFB = GradientRule(
    "urfb",
    "updated random feedback: R gets W's increment",
    has_feedback=True,
    feedback_learns=True,
)
