"""The splits of a streamed dataset: which shard records are train, val and test.

* test: the test shards, all of them: `<dataset>-test.tfrecord-*`, or ImageNet's
  `validation-*` (ImageNet's test labels are not public; the papers' ImageNet
  errors are on its validation set).
* val: the last `val_examples` records of the training shards, in shard order
  (the tail of the last shards; the boundary may cut a shard). ImageNet's
  standard shards are a random permutation of its images (build_imagenet_data.py
  shuffles them before sharding with a fixed seed), so the tail is a random,
  fixed sample of the training set, the same for every run and seed. Shards of
  your own should be shuffled as well (the memory path, which holds the whole
  set, draws its validation examples by a fixed permutation instead).
* train: the records before it; with `train_examples`, only the first that many.

A prepared tensorflow-datasets dataset is split the same way (`split_catalog`);
its test split is "test", or "validation" when it has no "test" (ImageNet's
convention again, `urfbtf.data.tfds_source.test_split`).

Labels are stored 0-based in the project's layout and 1-based in ImageNet's. The
offset is detected (1 when the standard layout's smallest training label is 1,
else 0) unless `label_offset` is given; the number of classes is the length of
`classes.json` if there is one, else the largest label (after the offset) plus
one. Labels out of range are refused before training, naming the shard.
"""

from __future__ import annotations

import dataclasses

from urfbtf.data import layouts, shards
from urfbtf.data.messages import file_names
from urfbtf.data.preprocess import Preprocessing
from urfbtf.data.shards import Piece
from urfbtf.data.splits import default_val_examples
from urfbtf.data.stream import StreamSplits
from urfbtf.data.tfrecords import read_classes
from urfbtf.errors import DataError, UsageError

# The input side of the nets made for ImageNet (Bartunov et al. 2018, Table 3).
IMAGENET_IMAGE_SIZE = 224


@dataclasses.dataclass(frozen=True)
class Catalog:
    """What a streamed dataset's shards hold, before it is split: found by a scan
    for a data directory, read from tensorflow-datasets' metadata for a tfds
    name (`urfbtf.data.tfds_stream`), so that both are split alike.

    Attributes:
        layout: the shards and their feature keys.
        train_counts, test_counts: the records of each shard, in file order.
        num_classes: the number of classes.
        label_offset: subtracted from the stored labels.
        image_shape: the (H, W, C) fed to the net unless `image_size` is given.
    """

    layout: layouts.Layout
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]
    num_classes: int
    label_offset: int
    image_shape: tuple[int, int, int]


def load_stream_splits(
    dataset: str,
    data_dir: str,
    *,
    val_examples: int | None = None,
    train_examples: int | None = None,
    image_size: int | None = None,
    augment: str = "none",
    normalize: str = "none",
    label_offset: int | None = None,
) -> StreamSplits:
    """Finds, scans and splits the shards of a data directory.

    Args:
        dataset: the dataset's name (the prefix of the project's files).
        data_dir: the directory (local or gs://).
        val_examples: training records held out for validation (None: the
            default of `default_val_examples`; 0: none).
        train_examples: keep only the first this many training records.
        image_size: the side of the square images fed to the net; None: 224
            for the ImageNet layout, else the first training image's size.
        augment, normalize: see `urfbtf.data.preprocess`.
        label_offset: subtracted from every stored label; None detects it.

    Raises:
        DataError: missing, corrupt or inconsistent shards, or labels out of
            range, naming the shard.
        UsageError: a bad val_examples or train_examples.
    """
    catalog = scan_layout(layouts.find(dataset, data_dir), label_offset)
    return split_catalog(
        dataset,
        catalog,
        val_examples=val_examples,
        train_examples=train_examples,
        image_size=image_size,
        augment=augment,
        normalize=normalize,
    )


def scan_layout(layout: layouts.Layout, label_offset: int | None = None) -> Catalog:
    """The `Catalog` of a data directory's shards, from their scan (cached, see
    `urfbtf.data.shards`); `label_offset` None detects it.

    Raises:
        DataError: corrupt or unreadable shards, or labels out of range, naming
            the shard.
    """
    found = shards.scan([*layout.train_files, *layout.test_files], layout.directory)
    train_info, test_info = (
        found[: len(layout.train_files)],
        found[len(layout.train_files) :],
    )
    if label_offset is None:
        smallest = min(info.min_label for info in train_info)
        label_offset = 1 if layout.kind == layouts.IMAGENET and smallest >= 1 else 0
    classes_file = f"{layout.directory}/classes.json"
    classes = read_classes(classes_file)
    if classes is not None:
        num_classes, source = (
            len(classes),
            f"the {len(classes)} classes of {classes_file}",
        )
    else:
        largest = max(info.max_label for info in (*train_info, *test_info))
        num_classes, source = largest - label_offset + 1, "the largest label"
    for files, infos in (
        (layout.train_files, train_info),
        (layout.test_files, test_info),
    ):
        for path, info in zip(files, infos, strict=True):
            _check_labels(path, info, label_offset, num_classes, source)

    height, width, channels = train_info[0].first_shape
    if layout.kind == layouts.IMAGENET:
        height = width = IMAGENET_IMAGE_SIZE
    return Catalog(
        layout=layout,
        train_counts=tuple(info.count for info in train_info),
        test_counts=tuple(info.count for info in test_info),
        num_classes=num_classes,
        label_offset=label_offset,
        # Colour unless the images are grey: RGBA (PNG) and CMYK (JPEG) become RGB.
        image_shape=(height, width, 1 if channels == 1 else 3),
    )


def split_catalog(
    dataset: str,
    catalog: Catalog,
    *,
    val_examples: int | None = None,
    train_examples: int | None = None,
    image_size: int | None = None,
    augment: str = "none",
    normalize: str = "none",
) -> StreamSplits:
    """Cuts a catalog's shards into train, val and test pieces (the module's
    docstring) and sets how their images are prepared; the arguments are those
    of `load_stream_splits`.

    Raises:
        UsageError: a val_examples that leaves no training record.
    """
    layout = catalog.layout
    pieces = [
        Piece(path, 0, count)
        for path, count in zip(layout.train_files, catalog.train_counts, strict=True)
    ]
    if val_examples is None:
        val_examples = default_val_examples(dataset)
    num_train = sum(p.count for p in pieces)
    if val_examples >= num_train:
        raise UsageError(
            f"val_examples={val_examples} is too large: the training shards of "
            f"{layout.directory} hold {num_train} records and at least one must "
            f"remain for training. Use a value below {num_train}, e.g. "
            f"val_examples={num_train // 10}, or 0 for no validation split."
        )
    train, val = shards.take_tail(pieces, val_examples)
    if train_examples is not None:
        train = shards.take_head(train, train_examples)
    test = [
        Piece(path, 0, count)
        for path, count in zip(layout.test_files, catalog.test_counts, strict=True)
    ]
    height, width, channels = catalog.image_shape
    if image_size is not None:
        height = width = image_size
    return StreamSplits(
        name=dataset,
        layout=layout,
        train=tuple(train),
        val=tuple(val),
        test=tuple(test),
        num_classes=catalog.num_classes,
        label_offset=catalog.label_offset,
        preprocessing=Preprocessing(
            (height, width, channels), augment=augment, normalize=normalize
        ),
    )


def _check_labels(path, info, offset: int, num_classes: int, source: str) -> None:
    low, high = info.min_label - offset, info.max_label - offset
    if low >= 0 and high < num_classes:
        return
    stored = info.min_label if low < 0 else info.max_label
    hint = (
        " The labels look 0-based: pass --label_offset=0."
        if offset == 1 and info.min_label == 0
        else " The labels look 1-based: pass --label_offset=1."
        if offset == 0 and high == num_classes and source != "the largest label"
        else ""
    )
    raise DataError(
        f"Label {stored} in the shard {file_names([path])} of "
        f"{path.rsplit('/', 1)[0]} is out of range: with --label_offset={offset} "
        f"the labels must be {offset} to {num_classes - 1 + offset} ({source})."
        f"{hint}"
    )
