"""The target rules' own settings, declared once.

Target propagation (tp, dtp, sdtp, aosdtp; `urfbtf.rules.target.propagation`)
takes the TP_* and INVERSE_* ones (the inverses' optimizer reads the
INVERSE_SETTINGS, `urfbtf.rules.target.rule.TargetRule.prepare`); the
exact-inverse rules (gait, tp_exact; `urfbtf.rules.target.gait`) the GAIT_* ones
and ORTHO_REG.
"""

from __future__ import annotations

from urfbtf.rules.target.model import SCHEDULES
from urfbtf.settings import Setting

_POSITIVE = dict(check=lambda v: v > 0, valid="a positive number")

TP_SCHEDULE = Setting(
    "tp_schedule",
    str,
    "alternating",
    "tp/dtp/sdtp/aosdtp: train forward weights and inverses every step (parallel) "
    "or in alternate passes over the training set, inverses first (alternating, "
    "as Lee et al.'s DTP code; each epoch is then an inverse pass and a forward "
    "pass, see --tp_alternating_epoch). Neither is better for every rule: in "
    "Bartunov et al.'s Table 1 alternating wins on MNIST, but not on CIFAR-10 LC "
    "(DTP ties, AO-SDTP parallel wins).",
    choices=SCHEDULES,
)
TP_ALTERNATING_EPOCHS = ("inverse_and_forward", "one_pass")
TP_ALTERNATING_EPOCH = Setting(
    "tp_alternating_epoch",
    str,
    "inverse_and_forward",
    "tp/dtp/sdtp/aosdtp with --tp_schedule=alternating: what one epoch is: an "
    "inverse pass then a forward pass over the training set (inverse_and_forward, "
    "Lee et al.'s conti_dtp.py loop; --epochs counts forward passes) or each pass "
    "alone (one_pass: --epochs counts both kinds, half of them forward; the "
    "meaning of runs made before this setting, which resume with it).",
    choices=TP_ALTERNATING_EPOCHS,
)
TP_ALPHA = Setting(
    "tp_alpha",
    float,
    0.15,
    "dtp: step α of the penultimate target h - α dL/dh, L the task loss averaged "
    "over the batch (Lee et al.'s conti_dtp.py, whose cost is the batch-mean NLL).",
    **_POSITIVE,
)
TP_LAYER_LOSSES = ("sum", "mean")
TP_LAYER_LOSS = Setting(
    "tp_layer_loss",
    str,
    "sum",
    "tp/dtp/sdtp/aosdtp: each layer's local and inverse loss is its squared "
    "distance summed over the layer's units (sum: Bartunov et al.'s ||.||_2^2 in "
    "sec. 2.1.2 and Algorithm 1, and Lee et al.'s mse(), sum over units, mean over "
    "the batch) or averaged over them (mean: the same directions, each layer's "
    "gradient divided by its width, which moves the balance between the gradient "
    "and Adam's epsilon); averaged over the batch either way.",
    choices=TP_LAYER_LOSSES,
)
TP_NOISE = Setting(
    "tp_noise",
    float,
    0.1,
    "tp/dtp/sdtp/aosdtp: σ of the Gaussian noise the inverses are trained on.",
    check=lambda v: v >= 0,
    valid="a standard deviation >= 0",
)
INVERSE_LR = Setting(
    "inverse_lr", float, 1e-3, "Target rules: Adam step of the inverses.", **_POSITIVE
)
INVERSE_BETA1 = Setting(
    "inverse_beta1",
    float,
    0.9,
    "Target rules: Adam β1 of the inverses.",
    check=lambda v: 0 <= v < 1,
    valid="a number in [0, 1)",
)
INVERSE_BETA2 = Setting(
    "inverse_beta2",
    float,
    0.999,
    "Target rules: Adam β2 of the inverses.",
    check=lambda v: 0 <= v < 1,
    valid="a number in [0, 1)",
)
INVERSE_EPSILON = Setting(
    "inverse_epsilon",
    float,
    1e-7,
    "Target rules: Adam ε of the inverses (Keras' default 1e-7).",
    **_POSITIVE,
)
AUX_OUTPUTS = Setting(
    "aux_outputs",
    int,
    512,
    "aosdtp: untrained random auxiliary output units that condition the last inverse.",
    check=lambda v: v > 0,
    valid="a positive integer",
)

INVERSE_LOSSES = ("lee", "drl", "ldrl")
INVERSE_LOSS = Setting(
    "inverse_loss",
    str,
    "lee",
    "dtp: the inverses' loss: lee (noise-preserving reconstruction, Lee et al. "
    "2015), drl (difference reconstruction, Meulemans et al. 2020) or ldrl (local "
    "difference reconstruction, Ernoult et al. 2022).",
    choices=INVERSE_LOSSES,
)

INVERSE_SETTINGS = (INVERSE_LR, INVERSE_BETA1, INVERSE_BETA2, INVERSE_EPSILON)

# The exact-inverse rules (Ahmad et al. 2020; the GAIT-prop ImageNet paper).

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
    "gait (this project's extension, not the papers'): scale the step below by "
    "each input unit's squared row length |w_i|^2 (its weights onto the layer), "
    "W^-1 diag(|w_i|^2) = W^T for any W whose rows are orthogonal (the set the "
    "regulariser keeps W near, whatever its row lengths); false is eq. 4.",
)
ORTHO_REG = Setting(
    "ortho_reg",
    float,
    0.1,
    "gait/tp_exact: λ of the orthogonality regulariser λ‖WWᵀ − diag(WWᵀ)‖², W "
    "as [in, out], on every square layer (the authors' ortho_gradients; 0.1 in "
    "nasiryahm/GAIT-prop's README).",
    check=lambda v: v >= 0,
    valid="a number >= 0",
)
