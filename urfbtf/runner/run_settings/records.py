"""The settings of what a run records: the alignment probes, and what counts as
divergence and what happens then (`urfbtf.runner.divergence`)."""

from __future__ import annotations

from urfbtf.settings import Setting

SETTINGS: tuple[Setting, ...] = (
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
