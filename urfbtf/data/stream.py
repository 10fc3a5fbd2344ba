"""The streaming input path: TFRecord shards read, decoded and prepared on the fly.

Nothing holds a whole split: shards are read by `interleave`, records shuffled in
bounded blocks, decoded and prepared (`urfbtf.data.preprocess`) by a parallel
map, batched and prefetched. Memory stays bounded by `SHUFFLE_BUFFER` encoded
records and a few batches, whatever the number of records.

Under `tf.distribute`, every input pipeline (one per worker: the host of a TPU,
each machine of a cluster; one for `mirrored`) builds its own stream through
`distribute_datasets_from_function`, batched per replica (the global
`--batch_size` divided by the replicas) from the shards it owns.

Order, for exact resumes: epoch e's order is a function of (seed, e) only. The
shard pieces are permuted by a stateless shuffle keyed by (seed, e) and dealt to
the pipelines in turn; each pipeline interleaves its pieces deterministically,
permutes their records in blocks of `SHUFFLE_BUFFER` by stateless shuffles keyed
by (seed, e, block), and augments each example with a stateless seed folded
from (seed, e) and its place in the epoch. A run resumed at epoch k therefore
sees the batches an uninterrupted run would have. An epoch is
`num_train // batch_size` full steps (as in memory); a pipeline whose shards hold
fewer records than its share starts its records again.

Evaluation reads every example of a split exactly once: each pipeline reads its
pieces in order and completes its batches with blank examples of weight 0, and
every pipeline gives the same number of batches (record counts are known from the
scan), so weighted sums across replicas count each example once.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import tensorflow as tf

from urfbtf.data import layouts, shards
from urfbtf.data.messages import clause
from urfbtf.data.preprocess import Preprocessing
from urfbtf.data.shards import Piece
from urfbtf.errors import DataError, UsageError

# Encoded records shuffled together: each pipeline permutes its stream in
# blocks of this many, about 0.5 GB of ImageNet JPEGs (110 kB each). The shards
# are permuted before, and a block mixes records of `CYCLE_LENGTH` of them.
SHUFFLE_BUFFER = 4096
# Shards each pipeline reads at once.
CYCLE_LENGTH = 16
# Read buffer per open shard.
_READ_BUFFER_BYTES = 1 << 20
# Marks the assertion that names a record's shard, to recognise its error.
_MARK = "urfbtf: not a JPEG or PNG image in shard"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass(frozen=True, eq=False)
class StreamSplits:
    """The splits of a streamed dataset: pieces of TFRecord shards.

    Attributes:
        name: the dataset's name.
        layout: the data directory's layout (`urfbtf.data.layouts`).
        train, val, test: the pieces of each split.
        num_classes: the number of classes.
        label_offset: subtracted from the stored labels (1 for 1-based ones).
        preprocessing: how images become the net's inputs.
    """

    name: str
    layout: layouts.Layout
    train: tuple[Piece, ...]
    val: tuple[Piece, ...]
    test: tuple[Piece, ...]
    num_classes: int
    label_offset: int
    preprocessing: Preprocessing

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The shape (H, W, C) of the images fed to the net."""
        return self.preprocessing.shape

    @property
    def train_labels(self) -> np.ndarray:
        """No labels, only their kind (class indices, shape [0]): what
        `urfbtf.runner.config.check_data` reads of a dataset's labels."""
        return np.zeros([0], np.int64)

    def count(self, split: str) -> int:
        """The number of examples of "train", "val" or "test"."""
        return sum(piece.count for piece in getattr(self, split))


def train_input(
    splits: StreamSplits,
    strategy: tf.distribute.Strategy,
    *,
    batch_size: int,
    seed: int,
    first_epoch: int,
    epochs: int,
):
    """The training stream of epochs `first_epoch` .. `epochs - 1`, distributed.

    Args:
        splits: the dataset.
        strategy: the run's strategy; every input pipeline reads its own shards.
        batch_size: the global batch size, at most the training examples.
        seed: the run's seed.
        first_epoch: the 0-based epoch to start at (to resume a run).
        epochs: the total number of epochs of the run.

    Returns:
        What `fit` takes: a `tf.distribute.DistributedDataset` of (float32
        images, int64 labels) per-replica batches (a `tf.data.Dataset` of global
        batches under the default strategy and under MultiWorkerMirroredStrategy,
        whose loop distributes it).
    """
    num_train = splits.count("train")
    if not 0 < batch_size <= num_train:
        raise UsageError(
            f"batch_size={batch_size} must be between 1 and the {num_train} training "
            "examples."
        )
    steps = num_train // batch_size

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return _train_stream(
            splits, context, batch_size, seed, first_epoch, epochs, steps
        )

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # urfbtf.runner.own_loop distributes a dataset of global batches itself: every
        # worker reads every shard and keeps its share of each batch.
        dataset = dataset_fn(tf.distribute.InputContext())
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return dataset.with_options(options)
    return strategy.distribute_datasets_from_function(dataset_fn)


def eval_input(
    splits: StreamSplits,
    split: str,
    strategy: tf.distribute.Strategy,
    *,
    batch_size: int,
):
    """Every example of `split` ("val" or "test") once, in padded batches.

    Returns:
        A `tf.distribute.DistributedDataset` (a `tf.data.Dataset` under the
        default strategy) of (float32 images, int64 labels, float32 weights)
        per-replica batches, weight 1 for real examples and 0 for the padding.
    """
    pieces = list(getattr(splits, split))

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        per_replica = context.get_per_replica_batch_size(batch_size)
        pipelines = context.num_input_pipelines
        local_replicas = context.num_replicas_in_sync // pipelines
        per_step = per_replica * local_replicas
        owned = [pieces[i::pipelines] for i in range(pipelines)]
        steps = max(
            1, *(math.ceil(sum(p.count for p in own) / per_step) for own in owned)
        )
        mine = owned[context.input_pipeline_id]
        padding = steps * per_step - sum(p.count for p in mine)
        shape = splits.image_shape
        examples = tf.data.Dataset.from_tensors(
            (tf.zeros(shape), tf.constant(0, tf.int64), tf.constant(0.0))
        ).repeat(padding)
        if mine:
            real = _records(mine, cycle_length=min(CYCLE_LENGTH, len(mine)))
            real = real.map(
                lambda record, path: _evaluation_example(splits, record, path),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
            examples = real.concatenate(examples)
        batches = examples.batch(per_replica, drop_remainder=True)
        return batches.prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(dataset_fn)


def first_examples(splits: StreamSplits, split: str, count: int):
    """The first `count` examples of `split`, prepared for evaluation, as numpy
    arrays (float32 images, int64 labels): the fixed batch of the probes."""
    pieces = shards.take_head(list(getattr(splits, split)), count)
    dataset = _records(pieces, cycle_length=1).map(
        lambda record, path: _evaluation_example(splits, record, path)[:2]
    )
    images, labels = next(dataset.batch(count).as_numpy_iterator())
    return images, labels


def read_error(error: tf.errors.OpError, splits: StreamSplits) -> DataError | None:
    """The `DataError` for an error the stream raised while training, or None if
    `error` did not come from reading the data."""
    text = getattr(error, "message", str(error))
    bad_image = re.search(re.escape(_MARK) + r"\] \[([^\]]+)\]", text)
    if bad_image:
        return DataError(
            f"The shard {bad_image.group(1)} holds a record whose "
            f"{splits.layout.image_key} is neither JPEG nor PNG bytes; every shard "
            f"must hold {splits.layout.schema}. Replace the shard (copy it again or "
            "re-create it), then run the same command again: the run resumes from "
            "its last checkpoint."
        )
    from_data = "IteratorGetNext" in text or isinstance(
        error, tf.errors.DataLossError | tf.errors.NotFoundError
    )
    if not from_data:
        return None
    return DataError(
        f"Could not read the data in {splits.layout.directory} while training "
        f"({_reason(error)}). A shard is corrupt, changed or went missing after it "
        f"was scanned; every shard must hold {splits.layout.schema}. Check the "
        f"shards {', '.join(splits.layout.patterns)} (the file named above, if "
        "any), then run the same command again: the run resumes from its last "
        "checkpoint."
    )


def _reason(error: tf.errors.OpError) -> str:
    """The line of a tf.data error that says what failed, without the graph and
    iterator context around it."""
    text = getattr(error, "message", str(error))
    for line in text.splitlines():
        line = re.sub(r"^.*transformation with iterator: [\w:]+: ", "", line.strip())
        noise = ("Graph execution error", "Detected at node", "<stack traces")
        if line and not line.startswith(noise):
            return clause(type(error)(None, None, line))
    return clause(error)


def _train_stream(splits, context, batch_size, seed, first_epoch, epochs, steps):
    """One input pipeline's training stream (see the module's docstring)."""
    pieces = splits.train
    pipelines, pipeline = context.num_input_pipelines, context.input_pipeline_id
    if len(pieces) < pipelines:
        raise UsageError(
            f"The training split of {splits.layout.directory} has {len(pieces)} "
            f"shards, fewer than the {pipelines} input pipelines (workers) that "
            "each read shards of their own; write it in more shards."
        )
    per_replica = context.get_per_replica_batch_size(batch_size)
    records_per_epoch = steps * batch_size // pipelines
    paths = tf.constant([p.path for p in pieces])
    starts = tf.constant([p.start for p in pieces], tf.int64)
    counts = tf.constant([p.count for p in pieces], tf.int64)
    seed = tf.constant(seed, tf.int64)
    cycle_length = min(CYCLE_LENGTH, math.ceil(len(pieces) / pipelines))

    def epoch_records(epoch: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([seed, epoch])
        order = tf.random.experimental.stateless_shuffle(
            tf.range(len(pieces), dtype=tf.int64), seed=key
        )[pipeline::pipelines]
        mine = tf.data.Dataset.from_tensor_slices(
            (
                tf.gather(paths, order),
                tf.gather(starts, order),
                tf.gather(counts, order),
            )
        )
        records = mine.interleave(
            _read_piece,
            cycle_length=cycle_length,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        records = _shuffled_in_blocks(records, key)
        records = records.repeat().take(records_per_epoch)
        return tf.data.Dataset.zip(
            tf.data.Dataset.from_tensors(key).repeat(),
            tf.data.Dataset.range(records_per_epoch),
            records,
        )

    def example(key, position, record_and_path):
        record, path = record_and_path
        example_seed = tf.random.experimental.stateless_fold_in(
            key, position * pipelines + pipeline
        )
        encoded, label = _parse(splits, record, path)
        return splits.preprocessing.train(encoded, example_seed, encoded=True), label

    dataset = tf.data.Dataset.range(first_epoch, epochs).flat_map(epoch_records)
    dataset = dataset.map(
        example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return dataset.batch(per_replica, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _shuffled_in_blocks(records: tf.data.Dataset, key: tf.Tensor) -> tf.data.Dataset:
    """`records` cut in blocks of `SHUFFLE_BUFFER`, each permuted by a stateless
    shuffle keyed by (key, block): tf.data's shuffle takes only Python seeds, and
    an epoch's seed here is a tensor."""

    def permuted(index, block):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(tf.shape(block[0])[0]),
            seed=tf.random.experimental.stateless_fold_in(key, index),
        )
        return tf.data.Dataset.from_tensor_slices(
            tuple(tf.gather(part, order) for part in block)
        )

    return records.batch(SHUFFLE_BUFFER).enumerate().flat_map(permuted)


def _read_piece(path, start, count) -> tf.data.Dataset:
    records = tf.data.TFRecordDataset(path, buffer_size=_READ_BUFFER_BYTES)
    return records.skip(start).take(count).map(lambda record: (record, path))


def _records(pieces: list[Piece], cycle_length: int) -> tf.data.Dataset:
    """The (record, shard path) pairs of `pieces`, interleaved deterministically."""
    slices = tf.data.Dataset.from_tensor_slices(
        (
            tf.constant([p.path for p in pieces]),
            tf.constant([p.start for p in pieces], tf.int64),
            tf.constant([p.count for p in pieces], tf.int64),
        )
    )
    return slices.interleave(
        _read_piece,
        cycle_length=cycle_length,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def _parse(splits: StreamSplits, record, path):
    """(encoded image, 0-based label) of a record, under its layout's feature keys;
    an image that is neither JPEG nor PNG fails with an error naming its shard."""
    image_key, label_key = splits.layout.image_key, splits.layout.label_key
    example = tf.io.parse_single_example(
        record,
        {
            image_key: tf.io.FixedLenFeature([], tf.string),
            label_key: tf.io.FixedLenFeature([], tf.int64),
        },
    )
    encoded = example[image_key]
    known = tf.logical_or(
        tf.io.is_jpeg(encoded),
        tf.equal(tf.strings.substr(encoded, 0, len(_PNG_MAGIC)), _PNG_MAGIC),
    )
    check = tf.debugging.Assert(known, [_MARK, path], summarize=1)
    with tf.control_dependencies([check]):
        encoded = tf.identity(encoded)
    return encoded, example[label_key] - splits.label_offset


def _evaluation_example(splits: StreamSplits, record, path):
    encoded, label = _parse(splits, record, path)
    return splits.preprocessing.evaluate(encoded, encoded=True), label, tf.constant(1.0)
