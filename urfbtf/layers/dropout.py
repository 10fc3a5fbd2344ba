"""Dropout whose masks do not depend on how the batch is split across replicas.

The original code (and the paper's "Drop q") zeroes a fraction q of the units and
scales the others by 1/(1-q), exactly like `keras.layers.Dropout`. Under
`tf.distribute` however every replica of Keras' layer draws its mask from the same
seed for its own slice of the batch, so two replicas drop the same units of
different examples and a distributed run differs from a single-device run with the
same global batch. This layer draws the mask of the whole global batch, the one a
single device would draw, and each replica keeps the rows of its own examples.
Single-device results are bitwise those of `keras.layers.Dropout`.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="urfbtf")
class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` with replica-independent masks (same arguments).

    Rows of the global batch are assigned to replicas in order (replica r holds
    rows r·b to (r+1)·b - 1 for a per-replica batch b), which is how urfbtf's
    input pipelines split batches.
    """

    def call(self, inputs, training=False):
        replica = tf.distribute.get_replica_context()
        replicas = 1 if replica is None else replica.num_replicas_in_sync
        if not training or self.rate == 0 or replicas == 1:
            return super().call(inputs, training=training)
        local = tf.shape(inputs)[0]
        global_shape = tf.concat([[local * replicas], tf.shape(inputs)[1:]], 0)
        # 1/(1-rate) where kept, 0 where dropped: the single-device mask.
        scale = keras.random.dropout(
            tf.ones(global_shape, inputs.dtype), self.rate, seed=self.seed_generator
        )
        start = tf.cast(replica.replica_id_in_sync_group, tf.int32) * local
        return inputs * scale[start : start + local]
