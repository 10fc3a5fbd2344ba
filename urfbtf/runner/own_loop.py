"""A minimal `fit` for MultiWorkerMirroredStrategy, where Keras 3's cannot run.

Under MultiWorkerMirroredStrategy, Keras 3.15's `fit` fails before the first step
(it reduces a sample batch across replicas to build the model symbolically:
"Attempt to convert a value (PerReplica...) to a Tensor"), and its compiled train
function fails again when it reduces the step's logs; Keras' maintainers do not
support this strategy in Keras 3 (keras-team/keras#20601). Every other strategy
trains with `fit`.

This loop keeps what matters of `fit`: the same callbacks called in the same
order (so `RunRecorder` and the progress bar work unchanged), the model's own
`train_step` run on every replica (so rules that bring their own training step
work here too), `steps_per_execution` steps per call into the compiled function,
and the epoch's training loss and error read from the model's metrics, which the
strategy aggregates over all workers.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def fit(
    model: keras.Model,
    dataset: tf.data.Dataset,
    *,
    strategy: tf.distribute.Strategy,
    epochs: int,
    initial_epoch: int,
    steps_per_epoch: int,
    steps_per_execution: int = 1,
    callbacks=(),
    verbose: int = 2,
) -> None:
    """Trains like `model.fit(dataset, epochs, initial_epoch, steps_per_epoch, ...)`.

    `dataset` yields global batches for every remaining epoch in one stream.
    """
    # A model that switches its training step between epochs (a target rule's
    # alternating schedule) brings the callback that does it, as its `fit` does.
    own = getattr(model, "training_callbacks", lambda: [])()
    callbacks = keras.callbacks.CallbackList(
        [*own, *callbacks],
        add_history=True,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=epochs,
        steps=steps_per_epoch,
        model=model,
    )
    iterator = iter(strategy.experimental_distribute_dataset(dataset))

    def make_train_steps():
        @tf.function
        def train_steps(iterator, count):
            for _ in tf.range(count):
                strategy.run(model.train_step, args=(next(iterator),))

        return train_steps

    # One compiled function for each variant of the model's step (the phase
    # `step_variant` names is read when the step is traced).
    compiled = {}

    model.stop_training = False
    callbacks.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        for step in range(0, steps_per_epoch, steps_per_execution):
            count = min(steps_per_execution, steps_per_epoch - step)
            callbacks.on_train_batch_begin(step)
            # Read at every step: an epoch may switch variants in its middle.
            variant = getattr(model, "step_variant", None)
            if variant not in compiled:
                compiled[variant] = make_train_steps()
            compiled[variant](iterator, tf.constant(count))
            callbacks.on_train_batch_end(step + count - 1, {})
        logs = {
            name: float(value) for name, value in model.get_metrics_result().items()
        }
        callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callbacks.on_train_end()
