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
the gradient history (SGD, momentum, Adam) gives R exactly W's increment (on the
entries both connectivity masks keep: see `urfbtf.layers.FeedbackLayer`). These
rules train with Keras' own training step, so with `model.fit`, any optimizer and
any `tf.distribute` strategy.

`--feedback_clip` b > 0 clips the error every layer sends down to
clip(b·g, -1, 1), as the original code's `b_nonlin_scale` (`linear.clip_error`).
"""

from __future__ import annotations

from urfbtf import alignment, graph
from urfbtf.backward import linear
from urfbtf.rules.base import Rule
from urfbtf.settings import Setting

FEEDBACK_CLIP = Setting(
    "feedback_clip",
    float,
    0.0,
    "bp/frfb/urfb: b > 0 sends clip(b*g, -1, 1) of the error g each conv, dense or "
    "untied layer sends down (the original's b_nonlin_scale); 0 is off.",
    check=lambda b: b >= 0,
    valid="0 (off) or a positive scale b",
)


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

    # 0 (off) in the original's parameter files of deepernet and deepnet_s, .5 in
    # simpnet at commit 9d59f23 (urfb_original.md, b_nonlin_scale).
    settings = (FEEDBACK_CLIP,)

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

    def build_model(self, inputs, outputs, *, name, settings):
        model = super().build_model(inputs, outputs, name=name, settings=settings)
        # The layers apply the clip to their input when called (`linear.clip_error`).
        clip = float(settings.get(FEEDBACK_CLIP.name, FEEDBACK_CLIP.default))
        for layer in graph.learning_layers(model):
            layer.feedback_clip = clip
        return model

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
