"""Exact loss and error of a model over a dataset, under any `tf.distribute` strategy.

Keras' `evaluate` averages batch means weighted by batch size, which is exact only
when every batch is full, and it cannot run under MultiWorkerMirroredStrategy in
Keras 3. This evaluator sums the per-example loss and error (and, with more than
10 classes, top-5 error) of the real examples (weight 1; the padding of
`urfbtf.data.eval_dataset` and of the streamed splits has weight 0) on every
replica, adds the sums across replicas, and divides once at the end.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from urfbtf.metrics import TOP5_MIN_CLASSES, classification_error, top_k_error


class Evaluator:
    """Computes {"loss", "error", "top5_error"} of `model` over datasets of
    (x, y, weight): a `tf.data.Dataset` of global batches, or a dataset the
    strategy already distributes. "error" is None for regression targets,
    "top5_error" unless there are more than 10 classes.

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
            classifying = y.dtype.is_integer
            error = (
                classification_error(y, outputs)
                if classifying
                else tf.zeros_like(weight)
            )
            top5 = (
                top_k_error(y, outputs, 5)
                if classifying and outputs.shape[-1] >= TOP5_MIN_CLASSES
                else tf.zeros_like(weight)
            )
            return tf.stack(
                [
                    tf.reduce_sum(weight * per_example),
                    tf.reduce_sum(weight * error),
                    tf.reduce_sum(weight),
                    tf.reduce_sum(weight * top5),
                ]
            )

        @tf.function(jit_compile=jit_compile)
        def sums(batch):
            per_replica = strategy.run(replica_sums, args=batch)
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        self._sums = sums
        outputs = model.outputs[0].shape[-1] if model.outputs else None
        self._top5 = outputs is not None and outputs >= TOP5_MIN_CLASSES

    def __call__(self, dataset) -> dict[str, float | None]:
        if isinstance(dataset, tf.data.Dataset):
            dataset = self._strategy.experimental_distribute_dataset(dataset)
        total = np.zeros(4)
        classifying = None
        for batch in dataset:
            if classifying is None:
                labels = self._strategy.experimental_local_results(batch[1])[0]
                classifying = labels.dtype.is_integer
            total += self._sums(batch).numpy()
        loss, error, count, top5 = total
        return {
            "loss": loss / count,
            "error": error / count if classifying else None,
            "top5_error": top5 / count if classifying and self._top5 else None,
        }
