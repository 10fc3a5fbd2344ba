"""The precision a net computes in: Keras' dtype policies, and what the rules
keep in float32 under them.

Under a mixed policy (`mixed_bfloat16`, as TPUs and CPUs with AVX-512 BF16 run
it; `mixed_float16`, for GPUs) every variable stays float32 and the layers
compute in the low precision: each layer casts its weights to its compute
dtype when it reads them, so the gradient a variable receives passes back
through that cast and arrives in float32. Losses, the rules' local objectives,
GAIT-prop's factorizations and solves, divergence checks and probes run in
float32 (`to_float32`): a squared distance summed over a layer, or a target a
small difference away from its activity, would round away in 8 bits of
mantissa.

`mixed_float16` has 5 exponent bits, so small gradients underflow: Keras wraps
the model's optimizer in a `keras.optimizers.LossScaleOptimizer` when it
compiles a model under that policy; a rule that owns another optimizer wraps
it so too (`loss_scaled`), and every training step of a rule's own multiplies the
loss it differentiates by `optimizer.scale_loss` (the optimizer divides the
gradients back before applying them, and skips a step whose scaled gradients
overflowed).
"""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

from urfbtf.errors import UsageError

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


def check_policy(name: str) -> None:
    """Raises `UsageError` unless `name` is one of `POLICIES`."""
    if name not in POLICIES:
        raise UsageError(
            f"Unknown precision {name!r}. Valid precisions: {', '.join(POLICIES)} "
            "(mixed_bfloat16 on TPUs and CPUs with native bfloat16, mixed_float16 "
            "on GPUs; variables stay float32 under both)."
        )


@contextlib.contextmanager
def policy(name: str):
    """Within this context Keras makes layers and models under the dtype
    policy `name` (`keras.config.set_dtype_policy`); the previous global
    policy comes back after it. A layer keeps the policy it was made with."""
    check_policy(name)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def loss_scaled(optimizer, model):
    """`optimizer`, wrapped in a `LossScaleOptimizer` like `model`'s own when
    that one is (`keras.Model.compile` wraps it under mixed_float16), with the
    same initial scale: a rule's other optimizers then scale as its model's."""
    own = model.optimizer
    if not isinstance(own, keras.optimizers.LossScaleOptimizer) or isinstance(
        optimizer, keras.optimizers.LossScaleOptimizer
    ):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(
        optimizer,
        initial_scale=own.initial_scale,
        dynamic_growth_steps=own.dynamic_growth_steps,
        name=f"loss_scale_{optimizer.name}",
    )


def to_float32(x: tf.Tensor) -> tf.Tensor:
    """x in float32 when it is of a lower precision (a cast, whose gradient
    casts back to x's dtype); float32 and float64 (a model built in float64,
    as the reference tests build theirs) pass unchanged."""
    x = tf.convert_to_tensor(x)
    return tf.cast(x, tf.float32) if x.dtype in (tf.bfloat16, tf.float16) else x
