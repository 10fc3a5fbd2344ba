"""The settings of training: epochs, batches, the optimizer and its step, the seed,
the precision.

Defaults are Amit (2019)'s, section 4: plain SGD with step 0.1 and batch 500.
"""

from __future__ import annotations

from urfbtf import precision
from urfbtf.errors import UsageError
from urfbtf.runner.run_settings.conditions import POSITIVE, unless
from urfbtf.settings import Setting

OPTIMIZERS = ("sgd", "momentum", "adam")
# keras.optimizers.Adam's default epsilon (Keras 3.15; the paper's 1e-8 is
# Kingma and Ba's): runs that set none keep what they had before the setting.
ADAM_EPSILON = 1e-7


def _check_optimizer(name: str) -> None:
    if name not in OPTIMIZERS:
        raise UsageError(
            f"Unknown optimizer {name!r}. Valid optimizers: {', '.join(OPTIMIZERS)} "
            "(the paper uses plain sgd)."
        )


_ADAM_ONLY = unless(
    lambda c: c.optimizer != "adam",
    lambda c: f"it is a setting of Adam, and optimizer={c.optimizer!r}",
)
_ADAM_DECAY = dict(
    check=lambda rate: 0 <= rate < 1,
    valid="a decay rate in [0, 1)",
    applies=_ADAM_ONLY,
)

SETTINGS: tuple[Setting, ...] = (
    Setting("epochs", int, 1000, "Total training epochs.", resumable=True, **POSITIVE),
    Setting("batch_size", int, 500, "Global minibatch size.", **POSITIVE),
    Setting(
        "eval_batch_size",
        int,
        1000,
        "Batch size of validation and test passes.",
        resumable=True,
        **POSITIVE,
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
        check=lambda lr: lr > 0,  # Finite, as every float setting (Setting).
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
        check=lambda e: e > 0,
        valid="a positive constant",
        applies=_ADAM_ONLY,
    ),
    Setting("seed", int, 0, "Seed of weights, masks, dropout, data order."),
    Setting(
        "precision",
        str,
        "float32",
        "The Keras dtype policy the net computes in; variables stay float32 "
        "(mixed_bfloat16 on TPUs and CPUs with native bfloat16, mixed_float16 "
        "with loss scaling on GPUs; docs/running.md#precision).",
        choices=precision.POLICIES,
    ),
)
