"""A prepared tensorflow-datasets dataset, streamed from its own TFRecord files.

tfds prepares a dataset once as TFRecord shards in its data directory
(`<name>-<split>.tfrecord-00000-of-00016` ...), one `tf.train.Example` per record
with the features under their own names ("image": JPEG or PNG bytes, "label":
an int64 class index from 0). Those shards go through the streaming path as
they are (`urfbtf.data.stream`): tfds' own reader would not give the exact,
stateless per-(seed, epoch) order, exact evaluation and named read errors of the
other streamed layouts. Everything the scan of a data directory finds is in the
dataset's metadata instead (shard lengths, the label's classes, the image shape),
so nothing is read before the first step.

`auto_input` is `--input=auto`'s choice for a tfds name: datasets that fit in
memory (cifar10, mnist, ...) keep the memory path, where tfds downloads them as
usual; prepared ones too large for it, and images of different sizes, stream.
"""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_datasets as tfds

from urfbtf.data import layouts
from urfbtf.data.messages import clause, file_names
from urfbtf.data.stream import StreamSplits
from urfbtf.data.stream_splits import IMAGENET_IMAGE_SIZE, Catalog, split_catalog
from urfbtf.data.tfds_source import image_shape, test_split, tfds_builder
from urfbtf.errors import DataError, UsageError

# Manual-download instructions longer than this are cut in error messages.
_INSTRUCTIONS_CHARS = 400


def auto_input(name: str, tfds_data_dir: str | None, memory_limit: int) -> str:
    """The path, "stream" or "memory", of a tfds name under `--input=auto`.

    Streams images without a fixed shape (they cannot be one array), whether
    prepared or not (the stream path says how to prepare them), and prepared
    datasets whose train and test pixels (uint8, as the memory path holds them)
    exceed `memory_limit` bytes. Everything else takes the memory path: with
    unknown splits (not prepared, or under tfds.testing.mock_data), tfds
    downloads and loads it as usual.
    """
    builder = tfds_builder(name, tfds_data_dir)
    shape = image_shape(builder.info)
    if shape is None:
        return "memory"  # Not an (image, label) dataset: the memory path says so.
    if None in shape[:2]:
        return "stream"
    splits = builder.info.splits
    if not builder.is_prepared() or "train" not in splits:
        return "memory"
    examples = sum(
        splits[split].num_examples
        for split in {"train", test_split(splits)}
        if split in splits
    )
    pixels = examples * math.prod(d or 3 for d in shape)
    return "stream" if pixels > memory_limit else "memory"


def load_tfds_stream_splits(
    name: str,
    tfds_data_dir: str | None = None,
    *,
    val_examples: int | None = None,
    train_examples: int | None = None,
    image_size: int | None = None,
    augment: str = "none",
    normalize: str = "none",
    label_offset: int | None = None,
) -> StreamSplits:
    """The streamed splits of a prepared tfds dataset.

    Args:
        name: the tfds name ("imagenet2012", "imagenet_resized/64x64", ...).
        tfds_data_dir: tfds' data directory; None for its default
            ($TFDS_DATA_DIR, else ~/tensorflow_datasets).
        image_size: the side of the images fed to the net; None: the image
            feature's fixed size, else 224 (as the standard ImageNet layout).
        label_offset: None or 0: tfds' labels are 0-based.
        val_examples, train_examples, augment, normalize: as
            `urfbtf.data.load_stream_splits`.

    Raises:
        DataError: the dataset is not prepared, or some of its files are missing.
        UsageError: an unknown name, a dataset that is not image classification
            in TFRecords, or a label offset.
    """
    if label_offset:
        raise UsageError(
            f"label_offset={label_offset} does not apply to tfds dataset {name!r}, "
            "whose labels are 0-based class indices. Drop --label_offset."
        )
    return split_catalog(
        name,
        catalog(name, tfds_data_dir),
        val_examples=val_examples,
        train_examples=train_examples,
        image_size=image_size,
        augment=augment,
        normalize=normalize,
    )


def catalog(name: str, tfds_data_dir: str | None = None) -> Catalog:
    """What a prepared tfds dataset's shards hold, from its metadata alone.

    Raises:
        DataError, UsageError: see `load_tfds_stream_splits`.
    """
    builder = tfds_builder(name, tfds_data_dir)
    if not builder.is_prepared():
        raise DataError(_unprepared_message(name, builder))
    info = builder.info
    shape = image_shape(info)
    keys = info.supervised_keys
    if (
        shape is None
        or not isinstance(info.features[keys[0]], tfds.features.Image)
        or keys[1] not in info.features
        or not isinstance(info.features[keys[1]], tfds.features.ClassLabel)
    ):
        raise UsageError(
            f"tfds dataset {name!r} cannot be streamed: urfbtf streams image "
            "classification with (image, label) supervised keys, an encoded image "
            "feature and a class label, such as imagenet2012, "
            "imagenet_resized/64x64 or cifar10."
        )
    if info.file_format != tfds.core.FileFormat.TFRECORD:
        raise UsageError(
            f"tfds dataset {name!r} is prepared as {info.file_format.value} files in "
            f"{builder.data_dir}; the streaming path reads TFRecords. Prepare it "
            "again with tfds' default file format, or use --input=memory."
        )
    test = test_split(info.splits)
    if "train" not in info.splits or test not in info.splits:
        raise UsageError(
            f"tfds dataset {name!r} has the splits {sorted(info.splits)}; streaming "
            "needs a train split and a test (or validation) split."
        )
    files = {split: _split_files(name, builder, split) for split in ("train", test)}
    height, width, channels = shape
    if height is None or width is None:
        height = width = IMAGENET_IMAGE_SIZE
    layout = layouts.Layout(
        layouts.TFDS,
        str(builder.data_dir),
        files["train"],
        files[test],
        image_key=keys[0],
        label_key=keys[1],
    )
    return Catalog(
        layout=layout,
        train_counts=tuple(info.splits["train"].shard_lengths),
        test_counts=tuple(info.splits[test].shard_lengths),
        num_classes=int(info.features[keys[1]].num_classes),
        label_offset=0,
        # Colour unless the images are grey, as the other layouts.
        image_shape=(height, width, 1 if channels == 1 else 3),
    )


def _split_files(
    name: str, builder: tfds.core.DatasetBuilder, split: str
) -> tuple[str, ...]:
    """The shard paths of a split in shard order; refuses a set with files
    missing (one listing, not a look-up per shard, which is slow on gs://)."""
    paths = builder.info.splits[split].filepaths
    directory = str(builder.data_dir)
    try:
        present = set(tf.io.gfile.listdir(directory))
    except tf.errors.OpError as e:
        raise DataError(
            f"Could not list the prepared files of tfds dataset {name!r} in "
            f"{directory} ({clause(e)}); check the tfds data directory and your "
            "access to it."
        ) from e
    missing = [str(path) for path in paths if path.name not in present]
    if missing:
        raise DataError(
            f"{len(missing)} of the {len(paths)} {split} shards of tfds dataset "
            f"{name!r} are missing from {directory}: {file_names(missing)}. Delete "
            f"{directory} and prepare the dataset again (tfds build {name})."
        )
    return tuple(str(path) for path in paths)


def _unprepared_message(name: str, builder: tfds.core.DatasetBuilder) -> str:
    """One paragraph: what is missing, and how to prepare it."""
    root = str(builder.data_dir_root)
    text = (
        f"tfds dataset {name!r} is not prepared in {root}: the streaming path reads "
        f"the TFRecord files tfds prepares, and finds none in {builder.data_dir}. "
        f"Prepare it once (tfds build {name} --data_dir={root}, or "
        f"tfds.builder({name!r}, data_dir={root!r}).download_and_prepare())"
    )
    instructions = builder.MANUAL_DOWNLOAD_INSTRUCTIONS
    if instructions:
        words = " ".join(instructions.split())
        if len(words) > _INSTRUCTIONS_CHARS:
            words = words[: _INSTRUCTIONS_CHARS - 3].rstrip() + "..."
        return (
            f"{text}; tfds cannot download it itself: first put its files in the "
            f"manual directory ({root}/downloads/manual, or --manual_dir=DIR of "
            f"tfds build). {words}"
        )
    return (
        f"{text}, or let the memory path download it (--input=memory) if it fits "
        "in memory."
    )
