"""The tf.data pipelines that feed in-memory splits to a model, in full batches.

Images stay uint8 in memory; the pipelines scale them to float32 in [0, 1] (other
inputs, such as the synthetic tasks' features, pass as float32 unscaled). The
training pipeline shuffles each epoch with a stateless op keyed by (seed, epoch),
so a run resumed at epoch k sees exactly the batches an uninterrupted run would
have. Every batch has the same static shape, which TPUs need.

With a `urfbtf.data.preprocess.Preprocessing` (an --augment, --image_size or
--normalize), each example is prepared by it instead, its random draws keyed by
(seed, epoch, place in the epoch).
"""

import numpy as np
import tensorflow as tf

from urfbtf.data.preprocess import Preprocessing
from urfbtf.errors import UsageError


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Returns the number of full batches in one epoch (the remainder is dropped).

    Args:
        num_examples: Training examples per epoch.
        batch_size: Examples per batch, positive.

    Returns:
        `num_examples // batch_size`.

    Raises:
        UsageError: If `batch_size` is not positive.
    """
    _check_batch_size(batch_size)
    return num_examples // batch_size


def train_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    first_epoch: int,
    epochs: int,
    preprocessing: Preprocessing | None = None,
) -> tf.data.Dataset:
    """Builds the shuffled training stream for epochs `first_epoch` .. `epochs - 1`.

    Each epoch is a permutation of all examples that depends only on (seed, epoch),
    cut into `len(images) // batch_size` full batches (the rest is dropped, a
    different rest each epoch). The epochs follow each other in one stream.

    Args:
        images: uint8 images [N, H, W, C].
        labels: Integer labels [N].
        batch_size: Examples per batch, at most N.
        seed: The run's seed.
        first_epoch: The 0-based epoch to start at (to resume a run).
        epochs: The total number of epochs of the run.
        preprocessing: How each image is prepared (None: scaled to [0, 1]).

    Returns:
        A dataset of (float32 images in [0, 1], int64 labels) batches.

    Raises:
        UsageError: If the batch size is not in 1..N or the epochs are inconsistent.
    """
    num_examples = len(images)
    _check_batch_size(batch_size)
    if batch_size > num_examples:
        raise UsageError(
            f"batch_size={batch_size} is larger than the {num_examples} training "
            f"examples; use a batch size of at most {num_examples}."
        )
    if not 0 <= first_epoch <= epochs:
        raise UsageError(
            f"first_epoch={first_epoch} must be between 0 and epochs={epochs}."
        )
    steps = num_examples // batch_size
    images = tf.convert_to_tensor(images)
    labels = tf.convert_to_tensor(labels)
    seed = tf.constant(seed, tf.int64)

    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        order = tf.random.experimental.stateless_shuffle(
            tf.range(num_examples, dtype=tf.int64), seed=tf.stack([seed, epoch])
        )
        # Reshaping with Python ints keeps the batch dimension static.
        return tf.data.Dataset.from_tensor_slices(
            tf.reshape(order[: steps * batch_size], [steps, batch_size])
        )

    def gather(index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return _scale(tf.gather(images, index)), tf.gather(labels, index)

    epochs_range = tf.data.Dataset.range(first_epoch, epochs)
    if preprocessing is not None:
        return (
            _prepared_train(
                epochs_range, images, labels, preprocessing, seed, steps * batch_size
            )
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE)
        )
    dataset = epochs_range.flat_map(epoch_batches)
    dataset = dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _prepared_train(epochs_range, images, labels, preprocessing, seed, per_epoch):
    """The examples of each epoch in its (seed, epoch) order, each prepared with
    a stateless seed folded from (seed, epoch) and its place in the epoch."""
    num_examples = int(images.shape[0])

    def epoch_examples(epoch: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([seed, epoch])
        order = tf.random.experimental.stateless_shuffle(
            tf.range(num_examples, dtype=tf.int64), seed=key
        )[:per_epoch]
        return tf.data.Dataset.from_tensor_slices(
            (order, tf.range(per_epoch, dtype=tf.int64))
        ).map(
            lambda index, place: (
                index,
                tf.random.experimental.stateless_fold_in(key, place),
            )
        )

    def prepare(index, example_seed):
        image = preprocessing.train(
            tf.gather(images, index), example_seed, encoded=False
        )
        return image, tf.gather(labels, index)

    dataset = epochs_range.flat_map(epoch_examples)
    return dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def eval_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    preprocessing: Preprocessing | None = None,
) -> tf.data.Dataset:
    """Builds the evaluation stream: every example once, in order, in full batches.

    The last batch is completed with blank examples of weight 0, so that every
    batch has the same static shape (TPUs need it, and replicas then get equal
    shares) while weighted sums count each real example exactly once.

    Args:
        images: uint8 images [N, H, W, C].
        labels: Integer labels [N].
        batch_size: Examples per batch, positive.
        preprocessing: How each image is prepared (None: scaled to [0, 1]).

    Returns:
        A dataset of (float32 images in [0, 1], int64 labels, float32 weights)
        batches; weights are 1 for real examples and 0 for the padding.

    Raises:
        UsageError: If `batch_size` is not positive.
    """
    _check_batch_size(batch_size)
    count = len(images)
    padding = -count % batch_size
    real = tf.data.Dataset.from_tensor_slices(
        (
            tf.convert_to_tensor(images),
            tf.convert_to_tensor(labels),
            tf.ones([count], tf.float32),
        )
    )
    blank = tf.data.Dataset.from_tensor_slices(
        (
            tf.zeros([padding, *images.shape[1:]], tf.as_dtype(images.dtype)),
            tf.zeros([padding, *labels.shape[1:]], tf.as_dtype(labels.dtype)),
            tf.zeros([padding], tf.float32),
        )
    )
    dataset = real.concatenate(blank)
    if preprocessing is not None:
        dataset = dataset.map(
            lambda x, y, w: (preprocessing.evaluate(x, encoded=False), y, w),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.map(
        lambda x, y, w: (_scale(x), y, w), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def scaled(images: np.ndarray) -> np.ndarray:
    """Images as the pipelines feed them to a model: float32, pixels in [0, 1]."""
    return _scale(tf.convert_to_tensor(images)).numpy()


def _scale(images: tf.Tensor) -> tf.Tensor:
    # Pixels are stored as uint8; other inputs (synthetic features) as they are.
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return tf.cast(images, tf.float32)


def _check_batch_size(batch_size: int) -> None:
    if batch_size <= 0:
        raise UsageError(f"batch_size={batch_size} must be a positive integer.")
