"""Local TFRecords, and the CIFAR-10 sample that ships in the same schema.

A data directory holds `<name>-train.tfrecord-*` and `<name>-test.tfrecord-*`:
`tf.train.Example`s with `image/encoded` (JPEG or PNG bytes; `image/format` may be
present and is not needed) and `image/class/label` (int64, 0-based), plus an
optional `classes.json` (a list of class names, or `{"classes": [...]}`). That is
the usual layout of ImageNet TFRecords for TPUs. The shipped `cifar10_sample`
(`SAMPLE_DIR`, made by tools/make_cifar10_sample.py) is such a directory.
"""

import json
import pathlib

import numpy as np
import tensorflow as tf

from urfbtf.data.messages import clause, file_names
from urfbtf.errors import DataError

SAMPLE_DATASET = "cifar10_sample"
# The package data of setup.cfg: urfbtf/datasets/cifar10_sample.
SAMPLE_DIR = pathlib.Path(__file__).parents[1] / "datasets" / SAMPLE_DATASET

_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
}
# Files are decoded into numpy arrays in chunks of this many examples.
_READ_BATCH = 1024


def read_local(
    name: str, directory: pathlib.Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Reads `<name>-{train,test}.tfrecord-*` from a directory into numpy arrays.

    Args:
        name: The files' prefix.
        directory: The data directory.

    Returns:
        (train images, train labels, test images, test labels, number of classes):
        uint8 images [N, H, W, C] and int64 labels [N]. The number of classes is
        the length of classes.json, or else the largest label plus one.

    Raises:
        DataError: If the files are missing, unreadable or inconsistent, naming
            the file and what a valid one holds.
    """
    if not directory.is_dir():
        raise DataError(
            f"Data directory {str(directory)!r} does not exist or is not a "
            f"directory. Pass --data_dir=DIR for a directory that holds "
            f"{name}-train.tfrecord-* and {name}-test.tfrecord-* files, or leave it "
            "unset to download the dataset with tensorflow-datasets."
        )
    train_files = _find_files(directory, name, "train")
    test_files = _find_files(directory, name, "test")
    class_names = read_classes(str(directory / "classes.json"))

    train_x, train_y = _read_files(train_files)
    test_x, test_y = _read_files(test_files)
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(
            f"The images of {name}-train.tfrecord-* in {directory} have shape "
            f"{train_x.shape[1:]} but those of {name}-test.tfrecord-* have shape "
            f"{test_x.shape[1:]}; all images of a dataset read into memory must "
            "have the same shape (--input=stream resizes them to --image_size)."
        )

    if class_names is not None:
        num_classes = len(class_names)
        valid = (
            f"0 to {num_classes - 1}, indices into the {num_classes} classes of "
            f"{directory / 'classes.json'}; fix the labels or the class list"
        )
    else:
        num_classes = int(max(train_y.max(), test_y.max())) + 1
        valid = "0-based class indices (there is no classes.json); fix the labels"
    for files, labels in ((train_files, train_y), (test_files, test_y)):
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():
            raise DataError(
                f"Label {int(labels[bad][0])} in {file_names(files)} in {directory} "
                f"is out of range: labels must be {valid}."
            )
    return train_x, train_y, test_x, test_y, num_classes


def _find_files(directory: pathlib.Path, name: str, split: str) -> list[pathlib.Path]:
    """The split's files in name order (shard order), or a DataError saying why not."""
    pattern = f"{name}-{split}.tfrecord-*"
    files = sorted(directory.glob(pattern))
    if files:
        return files
    present = sorted(p.name for p in directory.iterdir() if ".tfrecord" in p.name)
    if present:
        found = f"its .tfrecord files are {file_names(present)}"
    elif any(directory.iterdir()):
        found = "it holds no .tfrecord files"
    else:
        found = "it is empty"
    raise DataError(
        f"No {split} files matching {pattern!r} in {directory} ({found}). A data "
        f"directory needs {name}-train.tfrecord-* and {name}-test.tfrecord-* files, "
        f"e.g. {name}-{split}.tfrecord-00000-of-00001; check --data_dir and the "
        "dataset name, which is the files' prefix."
    )


def read_classes(path: str) -> list | None:
    """Reads the class names: a JSON list, or {"classes": [...]}; None if absent.

    `path` may be local or a gs:// URL (read through `tf.io.gfile`).
    """
    try:
        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path, "r") as f:
            classes = json.loads(f.read())
    except (
        OSError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        tf.errors.OpError,
    ) as e:
        raise DataError(
            f"Could not read {path} ({clause(e)}); it must be a JSON list of class "
            'names or an object {"classes": [...]}.'
        ) from e
    if isinstance(classes, dict):
        classes = classes.get("classes")
    if not isinstance(classes, list) or not classes:
        raise DataError(
            f"{path} does not hold a class list; it must be a non-empty JSON list of "
            'class names or an object {"classes": [...]}.'
        )
    return classes


def _parse(record: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    example = tf.io.parse_single_example(record, _FEATURES)
    # decode_image detects JPEG, PNG, ... by content; without animations it
    # always returns a 3-D [H, W, C] image.
    image = tf.io.decode_image(
        example["image/encoded"], dtype=tf.uint8, expand_animations=False
    )
    return image, example["image/class/label"]


def _read_files(files: list[pathlib.Path]) -> tuple[np.ndarray, np.ndarray]:
    """Reads and decodes TFRecord files; every error names the file."""
    images, labels = [], []
    for path in files:
        dataset = tf.data.TFRecordDataset(str(path))
        dataset = dataset.map(_parse, num_parallel_calls=tf.data.AUTOTUNE)
        try:
            for x, y in dataset.batch(_READ_BATCH).as_numpy_iterator():
                if images and x.shape[1:] != images[0].shape[1:]:
                    raise DataError(
                        f"The images in {path} have shape {x.shape[1:]}, unlike the "
                        f"earlier ones of shape {images[0].shape[1:]}; all images of "
                        "a dataset read into memory must have the same shape "
                        "(--input=stream resizes them to --image_size)."
                    )
                images.append(x)
                labels.append(y)
        except tf.errors.OpError as e:
            raise DataError(
                f"Could not read {path} ({clause(e)}). The file is corrupt or not "
                "in the expected schema: TFRecords of tf.train.Example with "
                "image/encoded (JPEG or PNG bytes of images that all have the same "
                "shape) and image/class/label (int64). Replace or remove the file."
            ) from e
    if not images:
        raise DataError(
            f"The files {file_names(files)} in {files[0].parent} hold no records; "
            "re-create them or remove them."
        )
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)
