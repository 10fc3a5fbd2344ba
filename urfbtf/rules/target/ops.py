"""The tensor arithmetic the target rules and their model share: each example's
task-loss error, putting a selection back where it came from, the local losses'
squared distances, and noise drawn alike on every replica."""

from __future__ import annotations

import keras
import tensorflow as tf

from urfbtf import losses
from urfbtf.precision import to_float32


def example_error(model, y, logits) -> tf.Tensor:
    """∂ℓ_n/∂o_n: the gradient of each example's own task loss at the net's
    output o (so a step along it does not depend on the batch size)."""
    with tf.GradientTape() as tape:
        tape.watch(logits)
        total = tf.reduce_sum(losses.per_example(model.loss)(y, logits))
    return tape.gradient(total, logits)


def spread(model: keras.Model | None, h: tf.Tensor, v: tf.Tensor) -> tf.Tensor:
    """Sᵀv, for S the Jacobian at h of a model that only selects and reshapes
    (a stage's `hand_on`, the net's head): v put back where its entries came
    from, zero at the units that were not passed on. None is the identity."""
    if model is None:
        return v
    with tf.GradientTape() as tape:
        tape.watch(h)
        selected = model(h)
    # Under a mixed policy the model selects in its compute dtype.
    found = tape.gradient(selected, h, output_gradients=tf.cast(v, selected.dtype))
    return tf.cast(found, v.dtype)


def metric_name(layer: str) -> str:
    """The Keras metric of a layer's inverse reconstruction error (Keras
    metric names cannot hold "/"; the run's records say inverse_error/<layer>)."""
    return f"inverse_error_{layer}"


def per_example_sq(difference: tf.Tensor, weights=None, reduction="sum") -> tf.Tensor:
    """Σ over units of difference² (or, with `reduction` "mean", its mean over
    the units), averaged over the batch (each example's value times its weight,
    when `weights` [batch] are given), in float32 under any policy."""
    flat = tf.reshape(to_float32(difference), [tf.shape(difference)[0], -1])
    squares = tf.square(flat)
    if reduction == "mean":
        each = tf.reduce_mean(squares, axis=1)
    elif reduction == "sum":
        each = tf.reduce_sum(squares, axis=1)
    else:
        raise ValueError(f"reduction={reduction!r}; valid: sum, mean")
    if weights is not None:
        each = each * tf.cast(weights, each.dtype)
    return tf.reduce_mean(each)


def mean_square(difference: tf.Tensor) -> tf.Tensor:
    """The mean of difference² over units and batch (a reconstruction error
    comparable between layers of different widths)."""
    return tf.reduce_mean(tf.square(to_float32(difference)))


def global_batch_noise(like: tf.Tensor, stddev: float, seed_generator) -> tf.Tensor:
    """Gaussian noise N(0, stddev²) of `like`'s shape, the same for an example
    whatever the replica that holds it: drawn for the global batch from a
    checkpointed `keras.random.SeedGenerator` (so a resumed run draws what an
    uninterrupted one would), and sliced to this replica's rows, as
    `urfbtf.layers.Dropout` does for its masks."""
    replica = tf.distribute.get_replica_context()
    replicas = 1 if replica is None else replica.num_replicas_in_sync
    local = tf.shape(like)[0]
    shape = tf.concat([[local * replicas], tf.shape(like)[1:]], 0)
    noise = keras.random.normal(
        shape, stddev=stddev, dtype=like.dtype, seed=seed_generator
    )
    if replicas == 1:
        return noise
    start = tf.cast(replica.replica_id_in_sync_group, tf.int32) * local
    return noise[start : start + local]
