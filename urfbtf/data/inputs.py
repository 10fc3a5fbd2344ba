"""A run's inputs, held in memory or streamed: one interface for `urfbtf.runner.train`.

`load_inputs` chooses the path (`--input`):

* `memory` (`urfbtf.data.splits`): whole splits as uint8 arrays; tfds names,
  the shipped sample, the synthetic tasks and the project's TFRecords.

A `data_dir` that tfds prepared (`urfbtf.data.prepared`) is read as the tfds
name it holds, on either path.
* `stream` (`urfbtf.data.stream`): TFRecord shards read on the fly; the project's
  layout and the standard ImageNet layout, local or on gs://, and the files of a
  prepared tfds dataset (`urfbtf.data.tfds_stream`).
* `auto` (the default): `stream` for a `--data_dir` that holds the standard
  ImageNet layout, lies in a bucket (gs://...), or whose training and test
  shards weigh more than `MEMORY_LIMIT_BYTES` on disk, and for a tfds name whose
  images have no fixed shape or, prepared, whose pixels exceed it; `memory`
  otherwise.

Both give the same things: the image shape and classes, training and evaluation
datasets under a strategy, and the probes' fixed batch.
"""

from __future__ import annotations

import tensorflow as tf

from urfbtf.data import layouts, pipeline, prepared, stream, tfds_stream
from urfbtf.data.preprocess import Preprocessing
from urfbtf.data.splits import (
    SYNTHETIC_CLASSIFICATION,
    SYNTHETIC_REGRESSION,
    Splits,
    load_splits,
)
from urfbtf.data.stream_splits import scan_layout, split_catalog
from urfbtf.data.tfrecords import SAMPLE_DATASET, SAMPLE_DIR
from urfbtf.errors import UsageError

INPUTS = ("auto", "memory", "stream")
# Above this many bytes of TFRecords, `auto` streams: JPEG and PNG bytes decode
# to several times their size, and the memory path holds every pixel. For a tfds
# name, whose decoded size its metadata gives, the bound is on the pixels.
MEMORY_LIMIT_BYTES = 1 << 30


class MemoryInputs:
    """Splits held in memory (`urfbtf.data.Splits`)."""

    def __init__(self, splits: Splits, preprocessing: Preprocessing | None):
        self.splits = splits
        self.preprocessing = preprocessing

    @property
    def image_shape(self) -> tuple:
        if self.preprocessing is not None:
            return self.preprocessing.shape
        return self.splits.image_shape

    @property
    def num_classes(self) -> int:
        return self.splits.num_classes

    def count(self, split: str) -> int:
        return len(getattr(self.splits, f"{split}_labels"))

    def train(self, strategy, *, batch_size, seed, first_epoch, epochs):
        """A dataset of global batches (fit and the own loop distribute it)."""
        del strategy
        return pipeline.train_dataset(
            self.splits.train_images,
            self.splits.train_labels,
            batch_size=batch_size,
            seed=seed,
            first_epoch=first_epoch,
            epochs=epochs,
            preprocessing=self.preprocessing,
        )

    def evaluation(self, split: str, strategy, *, batch_size):
        del strategy
        return pipeline.eval_dataset(
            getattr(self.splits, f"{split}_images"),
            getattr(self.splits, f"{split}_labels"),
            batch_size=batch_size,
            preprocessing=self.preprocessing,
        )

    def probe_batch(self, count: int):
        """The first `count` validation examples (training ones if there is no
        validation split), prepared as for evaluation."""
        split = "val" if self.count("val") else "train"
        images = getattr(self.splits, f"{split}_images")[:count]
        labels = getattr(self.splits, f"{split}_labels")[:count]
        if self.preprocessing is None:
            return pipeline.scaled(images), labels
        prepared = tf.map_fn(
            lambda image: self.preprocessing.evaluate(image, encoded=False),
            tf.convert_to_tensor(images),
            fn_output_signature=tf.float32,
        )
        return prepared.numpy(), labels

    def read_error(self, error):
        del error
        return None


class StreamInputs:
    """Shards streamed from a data directory (`urfbtf.data.stream`)."""

    def __init__(self, splits: stream.StreamSplits):
        self.splits = splits

    @property
    def image_shape(self) -> tuple:
        return self.splits.image_shape

    @property
    def num_classes(self) -> int:
        return self.splits.num_classes

    def count(self, split: str) -> int:
        return self.splits.count(split)

    def train(self, strategy, *, batch_size, seed, first_epoch, epochs):
        return stream.train_input(
            self.splits,
            strategy,
            batch_size=batch_size,
            seed=seed,
            first_epoch=first_epoch,
            epochs=epochs,
        )

    def evaluation(self, split: str, strategy, *, batch_size):
        return stream.eval_input(self.splits, split, strategy, batch_size=batch_size)

    def probe_batch(self, count: int):
        split = "val" if self.count("val") else "train"
        return stream.first_examples(self.splits, split, count)

    def read_error(self, error):
        """The `DataError` for a TensorFlow error raised while training, if
        reading the data caused it; else None."""
        return stream.read_error(error, self.splits)


def check_input(name: str) -> None:
    """Raises `UsageError` unless `name` is one of `INPUTS`."""
    if name not in INPUTS:
        raise UsageError(
            f"Unknown input path {name!r}. Valid values: auto (stream what does not "
            "fit in memory), memory (whole splits in memory) and stream (TFRecord "
            "shards read on the fly)."
        )


def load_inputs(
    dataset: str,
    data_dir: str | None = None,
    *,
    input_path: str = "auto",
    val_examples: int | None = None,
    train_examples: int | None = None,
    image_size: int | None = None,
    augment: str = "none",
    normalize: str = "none",
    label_offset: int | None = None,
    tfds_data_dir: str | None = None,
) -> MemoryInputs | StreamInputs:
    """Loads a dataset on the path `input_path` chooses (see the module's docstring).

    `tfds_data_dir` is tensorflow-datasets' data directory for a tfds name (None:
    tfds' default, $TFDS_DATA_DIR or ~/tensorflow_datasets).

    Raises:
        UsageError: bad settings, or a path the data cannot take.
        DataError: data that cannot be found or read.
    """
    check_input(input_path)
    if data_dir is not None:
        found = prepared.tfds_source(dataset, data_dir)
        if found is not None:  # A directory tfds prepared: read as its tfds name.
            (dataset, tfds_data_dir), data_dir = found, None
    directory = data_dir
    if directory is None and dataset == SAMPLE_DATASET:
        directory = str(SAMPLE_DIR)
    synthetic = dataset in (SYNTHETIC_CLASSIFICATION, SYNTHETIC_REGRESSION)
    tfds_name = directory is None and not synthetic
    # A data directory's layout is found once, where it is first needed: the
    # choice of path, the memory path's check and the scan all read it.
    layout = None
    if input_path == "auto":
        if data_dir is not None:
            layout = layouts.find(dataset, data_dir)
            input_path = _auto(layout)
        elif tfds_name:
            input_path = tfds_stream.auto_input(
                dataset, tfds_data_dir, MEMORY_LIMIT_BYTES
            )
        else:
            input_path = "memory"
    if input_path == "stream":
        if synthetic:
            raise UsageError(
                f"--input=stream reads TFRecord shards, and dataset {dataset!r} is "
                "generated in memory. Use --input=memory (or auto)."
            )
        settings = dict(
            val_examples=val_examples,
            train_examples=train_examples,
            image_size=image_size,
            augment=augment,
            normalize=normalize,
            label_offset=label_offset,
        )
        if tfds_name:
            return StreamInputs(
                tfds_stream.load_tfds_stream_splits(dataset, tfds_data_dir, **settings)
            )
        label_offset = settings.pop("label_offset")
        catalog = scan_layout(layout or layouts.find(dataset, directory), label_offset)
        return StreamInputs(split_catalog(dataset, catalog, **settings))
    if label_offset:
        raise UsageError(
            f"label_offset={label_offset} applies to the streaming path: the memory "
            "path reads 0-based labels. Add --input=stream, or drop --label_offset."
        )
    if data_dir is not None:
        layout = layout or layouts.find(dataset, data_dir)
        if layout.kind != layouts.PROJECT or layouts.is_remote(data_dir):
            raise UsageError(
                f"--input=memory cannot read {data_dir}: the standard ImageNet "
                "layout and gs:// buckets are read by the streaming path only. Use "
                "--input=stream (or auto)."
            )
    splits = load_splits(
        dataset,
        data_dir,
        val_examples=val_examples,
        train_examples=train_examples,
        tfds_data_dir=tfds_data_dir,
    )
    return MemoryInputs(
        splits, _memory_preprocessing(splits, image_size, augment, normalize)
    )


def _auto(layout: layouts.Layout) -> str:
    if layout.kind == layouts.IMAGENET or layouts.is_remote(layout.directory):
        return "stream"
    size = sum(
        tf.io.gfile.stat(path).length
        for path in (*layout.train_files, *layout.test_files)
    )
    return "stream" if size > MEMORY_LIMIT_BYTES else "memory"


def _memory_preprocessing(
    splits: Splits, image_size: int | None, augment: str, normalize: str
) -> Preprocessing | None:
    """The preprocessing of in-memory images; None for the plain [0, 1] scaling."""
    native = splits.image_shape
    resize = image_size is not None and tuple(native[:2]) != (image_size, image_size)
    if augment == "none" and normalize == "none" and not resize:
        return None
    if len(native) != 3 or splits.train_images.dtype.name != "uint8":
        raise UsageError(
            f"--augment, --image_size and --normalize prepare images, and the "
            f"examples of dataset {splits.name!r} are not images (shape {native}). "
            "Leave them at their defaults."
        )
    side = (image_size, image_size) if image_size is not None else tuple(native[:2])
    return Preprocessing(
        (*side, native[2]), augment=augment, normalize=normalize, resize=resize
    )
