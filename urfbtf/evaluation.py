"""Exact loss and error of a model over a dataset, under any `tf.distribute` strategy.

Keras' `evaluate` averages batch means weighted by batch size, which is exact only
when every batch is full, and it cannot run under MultiWorkerMirroredStrategy in
Keras 3. This evaluator sums the per-example loss and error of the real examples
(weight 1; the padding of `urfbtf.data.eval_dataset` has weight 0) on every
replica, adds the sums across replicas, and divides once at the end.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from urfbtf.metrics import classification_error


class Evaluator:
    """Computes {"loss", "error"} of `model` over datasets of (x, y, weight).

    Args:
        model: the Keras model (its variables live in `strategy`'s scope).
        loss: a `keras.losses.Loss`; its `call` gives per-example losses.
        strategy: the strategy the model was built in.
        jit_compile: compile the evaluation step with XLA.
    """

    def __init__(
        self,
        model: keras.Model,
        loss: keras.losses.Loss,
        strategy: tf.distribute.Strategy,
        jit_compile: bool = False,
    ):
        self._strategy = strategy

        def replica_sums(x, y, weight):
            outputs = model(x, training=False)
            per_example = tf.cast(loss.call(y, outputs), tf.float32)
            # Regression targets (float labels) have no error rate.
            error = (
                classification_error(y, outputs)
                if y.dtype.is_integer
                else tf.zeros_like(weight)
            )
            return tf.stack(
                [
                    tf.reduce_sum(weight * per_example),
                    tf.reduce_sum(weight * error),
                    tf.reduce_sum(weight),
                ]
            )

        @tf.function(jit_compile=jit_compile)
        def sums(batch):
            per_replica = strategy.run(replica_sums, args=batch)
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        self._sums = sums

    def __call__(self, dataset: tf.data.Dataset) -> dict[str, float | None]:
        total = np.zeros(3)
        for batch in self._strategy.experimental_distribute_dataset(dataset):
            total += self._sums(batch).numpy()
        loss, error, count = total
        classifying = dataset.element_spec[1].dtype.is_integer
        return {"loss": loss / count, "error": error / count if classifying else None}
