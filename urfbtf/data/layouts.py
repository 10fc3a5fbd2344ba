"""Which TFRecord layout a data directory holds: the project's own, or ImageNet's.

Two layouts are recognised, by their file names:

* the project's: `<dataset>-train.tfrecord-*` and `<dataset>-test.tfrecord-*`,
  0-based labels (`urfbtf.data.tfrecords`);
* the standard ImageNet layout that TensorFlow's `build_imagenet_data.py` (the
  tensorflow/models inception and TPU ResNet preprocessing scripts) and the Cloud
  TPU tutorials produce: `train-00000-of-01024` .. `train-01023-of-01024` and
  `validation-00000-of-00128` .. `validation-00127-of-00128`, JPEG bytes under
  `image/encoded`, labels 1..1000 under `image/class/label` (0 was kept for a
  "background" class). ImageNet has no public test labels, so its validation
  set is the test split here, as in the papers that report ImageNet error.

A third kind, `TFDS`, is not found in a directory: `urfbtf.data.tfds_stream`
builds it from a prepared tensorflow-datasets dataset, whose records keep their
features under the features' own names ("image", "label"). Every layout carries
its feature keys, so reading and error messages follow the layout, not a fixed
schema.

Shard names that end in `-NNNNN-of-MMMMM` must form a complete set: a missing
shard is named before anything is read. Paths may be local or `gs://` URLs (read
through `tf.io.gfile`, as on a Cloud TPU).
"""

from __future__ import annotations

import dataclasses
import re

import tensorflow as tf

from urfbtf.data import shards
from urfbtf.data.messages import clause, file_names
from urfbtf.errors import DataError

PROJECT = "project"
IMAGENET = "imagenet"
TFDS = "tfds"
# The standard layout's file patterns: (training split, test split).
IMAGENET_PATTERNS = ("train-*-of-*", "validation-*-of-*")
_NUMBERED = re.compile(r"-(\d+)-of-(\d+)$")


@dataclasses.dataclass(frozen=True)
class Layout:
    """The shards of a data directory, in name (shard) order, and the feature
    keys of their records."""

    kind: str
    directory: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    image_key: str = shards.IMAGE_KEY
    label_key: str = shards.LABEL_KEY

    @property
    def patterns(self) -> tuple[str, str]:
        """The (train, test) file patterns that matched."""
        if self.kind == IMAGENET:
            return IMAGENET_PATTERNS
        return (_pattern(self.train_files[0]), _pattern(self.test_files[0]))

    @property
    def schema(self) -> str:
        """The schema of the records, for error messages."""
        return shards.schema_text(self.image_key, self.label_key)


def is_remote(directory: str) -> bool:
    """Whether `directory` is a URL (gs://...) rather than a local path."""
    return "://" in directory


def find(dataset: str, directory: str) -> Layout:
    """Finds the layout of `directory`: the project's for `dataset` if its files
    are there, else the standard ImageNet layout.

    Raises:
        DataError: If the directory is missing, holds neither layout, or a
            numbered shard set is incomplete, naming what was expected.
    """
    directory = directory.rstrip("/") or "/"
    try:
        exists = tf.io.gfile.isdir(directory)
    except tf.errors.OpError as e:
        raise DataError(
            f"Could not read the data directory {directory!r} ({clause(e)}); check "
            "--data_dir and your access to it."
        ) from e
    if not exists:
        raise DataError(
            f"Data directory {directory!r} does not exist or is not a directory. "
            f"Pass --data_dir=DIR for a directory that holds {_expected(dataset)}."
        )
    own = (f"{dataset}-train.tfrecord-*", f"{dataset}-test.tfrecord-*")
    for kind, patterns in ((PROJECT, own), (IMAGENET, IMAGENET_PATTERNS)):
        train = _glob(directory, patterns[0])
        if not train:
            continue
        test = _glob(directory, patterns[1])
        if not test:
            raise DataError(
                f"{directory} holds the training shards {patterns[0]!r} but no test "
                f"shards {patterns[1]!r}; {_expected(dataset)} are needed."
            )
        for files, pattern in ((train, patterns[0]), (test, patterns[1])):
            _check_complete(files, pattern, directory)
        return Layout(kind, directory, tuple(train), tuple(test))
    present = sorted(tf.io.gfile.listdir(directory))
    found = f"it holds {file_names(present)}" if present else "it is empty"
    raise DataError(
        f"No TFRecord shards for dataset {dataset!r} in {directory} ({found}). A "
        f"data directory holds {_expected(dataset)}; check --data_dir and the "
        "dataset name, which is the prefix of the project's files."
    )


def _expected(dataset: str) -> str:
    return (
        f"either {dataset}-train.tfrecord-* and {dataset}-test.tfrecord-* files "
        "(0-based labels) or the standard ImageNet layout train-00000-of-01024 ... "
        "and validation-00000-of-00128 ... (1-based labels)"
    )


def _glob(directory: str, pattern: str) -> list[str]:
    return sorted(tf.io.gfile.glob(f"{directory}/{pattern}"))


def _pattern(path: str) -> str:
    """The pattern of a shard's set: `<name>-<split>.tfrecord-*`."""
    name = path.rsplit("/", 1)[-1]
    return name.split(".tfrecord-", 1)[0] + ".tfrecord-*"


def _check_complete(files: list[str], pattern: str, directory: str) -> None:
    """Refuses a numbered set of shards with a shard missing (or of two sizes)."""
    numbered = [_NUMBERED.search(f) for f in files]
    if not all(numbered):
        return  # Names without "-N-of-M" carry no total to check.
    totals = {int(m.group(2)) for m in numbered}
    if len(totals) > 1:
        raise DataError(
            f"The shards {pattern!r} in {directory} come from sets of different "
            f"sizes ({', '.join(f'of-{t:05d}' for t in sorted(totals))}); keep "
            "the shards of one set only."
        )
    total = totals.pop()
    have = {int(m.group(1)) for m in numbered}
    missing = sorted(set(range(total)) - have)
    if missing:
        stem = _NUMBERED.sub("", files[0])
        width, total_text = len(numbered[0].group(1)), numbered[0].group(2)
        names = [f"{stem}-{i:0{width}d}-of-{total_text}" for i in missing]
        raise DataError(
            f"{len(missing)} of the {total} shards {pattern!r} are missing from "
            f"{directory}: {file_names(names)}. Copy them there (or re-create the "
            "set); a split is read whole."
        )
