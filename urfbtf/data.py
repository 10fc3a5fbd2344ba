"""Image-classification data: loading whole splits into memory and batching them.

Three sources, chosen by `load_splits`:

* a tensorflow-datasets name (cifar10, mnist, ...), downloaded by tfds as usual;
* a local directory (`data_dir`) of TFRecords named
  `<dataset>-<split>.tfrecord-*` with the features `image/encoded` (JPEG or PNG
  bytes), `image/format` and `image/class/label` (int64, 0-based), plus an optional
  `classes.json`;
* `cifar10_sample`, 1000 training and 500 test CIFAR-10 images that ship inside the
  package in the same TFRecord schema, so everything runs offline;
* `synthetic_classification` and `synthetic_regression`, the 256-feature tasks of
  Frenkel et al. (2021), generated in memory by `urfbtf.synthetic` (features, not
  pixels; the regression's labels are float vectors of 10 targets).

Images stay uint8 in memory; the tf.data pipelines scale them to float32 in [0, 1].
The validation split is carved out of the training split with a fixed seed
(`VAL_SPLIT_SEED`), so it is the same for every run, whatever the run's seed. The
training pipeline shuffles each epoch with a stateless op keyed by (seed, epoch), so a
run resumed at epoch k sees exactly the batches an uninterrupted run would have.
"""

import dataclasses
import difflib
import json
import pathlib
import re

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from urfbtf import synthetic
from urfbtf.errors import DataError, UsageError

# The seed of the permutation that picks the validation examples. It is a constant,
# not the run's seed, so runs with different seeds are validated on the same images.
VAL_SPLIT_SEED = 0

SAMPLE_DATASET = "cifar10_sample"
# Frenkel et al. (2021)'s synthetic classification task, generated in memory.
SYNTHETIC_CLASSIFICATION = "synthetic_classification"
# ... and its regression task: 10 cosine targets (labels are float vectors).
SYNTHETIC_REGRESSION = "synthetic_regression"
SAMPLE_DIR = pathlib.Path(__file__).parent / "datasets" / SAMPLE_DATASET

_DEFAULT_VAL_EXAMPLES = 5000
# The sample has only 1000 training images; 5000 would not fit.
_SAMPLE_VAL_EXAMPLES = 200

_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
}
# Whole splits are turned into numpy arrays in chunks of this many examples.
_READ_BATCH = 1024
# Error messages list at most this many file names, to stay one paragraph.
_MAX_LISTED_FILES = 8


@dataclasses.dataclass(frozen=True, eq=False)
class Splits:
    """In-memory splits of an image-classification dataset.

    Images are uint8 arrays of shape [N, H, W, C], labels int64 arrays of shape [N].
    (Equality is identity: comparing the arrays element-wise is rarely what is meant.)
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    num_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The shape (H, W, C) of one image."""
        return tuple(int(d) for d in self.train_images.shape[1:])


def default_val_examples(dataset: str) -> int:
    """Returns the default size of the validation split for a dataset.

    Args:
        dataset: A dataset name as passed to `load_splits`.

    Returns:
        200 for the shipped `cifar10_sample`, 5000 for everything else.
    """
    return _SAMPLE_VAL_EXAMPLES if dataset == SAMPLE_DATASET else _DEFAULT_VAL_EXAMPLES


def load_splits(
    dataset: str,
    data_dir: str | None = None,
    *,
    val_examples: int | None = None,
    train_examples: int | None = None,
    tfds_data_dir: str | None = None,
) -> Splits:
    """Loads the train, validation and test splits of a dataset into memory.

    Args:
        dataset: A tensorflow-datasets name (e.g. "cifar10", "mnist"), or
            "cifar10_sample" for the sample shipped with urfbtf. With `data_dir` it
            is the file-name prefix of the local TFRecords.
        data_dir: A directory of local TFRecords `<dataset>-train.tfrecord-*` and
            `<dataset>-test.tfrecord-*` (see the module docstring). When given, the
            data is read from there and tfds is not used.
        val_examples: How many training examples to hold out for validation; None
            means `default_val_examples(dataset)`, 0 means no validation split.
        train_examples: If given, keep only the first this many of the training
            examples left after the validation split (all if there are fewer).
        tfds_data_dir: The data_dir passed to tfds (where it keeps downloads).

    Returns:
        The splits.

    Raises:
        UsageError: For a bad `val_examples` or `train_examples`, or an unknown
            tfds name.
        DataError: If the data cannot be found, downloaded or decoded.
    """
    if val_examples is not None and val_examples < 0:
        raise UsageError(
            f"val_examples={val_examples} is negative; it must be 0 (no validation "
            "split) or a positive number of training examples to hold out."
        )
    if train_examples is not None and train_examples <= 0:
        raise UsageError(
            f"train_examples={train_examples} must be a positive number of training "
            "examples, or left unset to use all of them."
        )

    if data_dir is not None:
        train_x, train_y, test_x, test_y, num_classes = _read_local(
            dataset, pathlib.Path(data_dir).expanduser()
        )
    elif dataset == SAMPLE_DATASET:
        train_x, train_y, test_x, test_y, num_classes = _read_local(dataset, SAMPLE_DIR)
    elif dataset == SYNTHETIC_CLASSIFICATION:
        train_x, train_y, test_x, test_y = synthetic.classification_splits()
        num_classes = int(train_y.max()) + 1
    elif dataset == SYNTHETIC_REGRESSION:
        train_x, train_y, test_x, test_y = synthetic.regression_splits()
        num_classes = train_y.shape[-1]  # Here: the number of regression targets.
    else:
        train_x, train_y, test_x, test_y, num_classes = _load_tfds(
            dataset, tfds_data_dir
        )

    if val_examples is None:
        val_examples = default_val_examples(dataset)
    num_train = len(train_x)
    if val_examples >= num_train:
        raise UsageError(
            f"val_examples={val_examples} is too large: dataset {dataset!r} has "
            f"{num_train} training examples and at least one must remain for "
            f"training. Use a value below {num_train}, e.g. "
            f"val_examples={num_train // 10}, or 0 for no validation split."
        )

    permutation = np.random.default_rng(VAL_SPLIT_SEED).permutation(num_train)
    # Sorting keeps both parts in the source's order (the order of `train_examples`).
    val_index = np.sort(permutation[:val_examples])
    train_index = np.sort(permutation[val_examples:])[:train_examples]
    return Splits(
        name=dataset,
        train_images=train_x[train_index],
        train_labels=train_y[train_index],
        val_images=train_x[val_index],
        val_labels=train_y[val_index],
        test_images=test_x,
        test_labels=test_y,
        num_classes=num_classes,
    )


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

    dataset = tf.data.Dataset.range(first_epoch, epochs).flat_map(epoch_batches)
    dataset = dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def eval_dataset(
    images: np.ndarray, labels: np.ndarray, *, batch_size: int
) -> tf.data.Dataset:
    """Builds the evaluation stream: every example once, in order, in full batches.

    The last batch is completed with blank examples of weight 0, so that every
    batch has the same static shape (TPUs need it, and replicas then get equal
    shares) while weighted sums count each real example exactly once.

    Args:
        images: uint8 images [N, H, W, C].
        labels: Integer labels [N].
        batch_size: Examples per batch, positive.

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
    dataset = real.concatenate(blank).batch(batch_size, drop_remainder=True)
    dataset = dataset.map(
        lambda x, y, w: (_scale(x), y, w), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _scale(images: tf.Tensor) -> tf.Tensor:
    # Pixels are stored as uint8; other inputs (synthetic features) as they are.
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return tf.cast(images, tf.float32)


def scaled(images: np.ndarray) -> np.ndarray:
    """Images as the pipelines feed them to a model: float32, pixels in [0, 1]."""
    return _scale(tf.convert_to_tensor(images)).numpy()


def _check_batch_size(batch_size: int) -> None:
    if batch_size <= 0:
        raise UsageError(f"batch_size={batch_size} must be a positive integer.")


# --- tensorflow-datasets ----------------------------------------------------------


def _load_tfds(name: str, tfds_data_dir: str | None):
    """Loads the train and test splits of a tfds dataset as numpy arrays."""
    try:
        train, info = tfds.load(
            name,
            split="train",
            as_supervised=True,
            with_info=True,
            data_dir=tfds_data_dir,
        )
        test = tfds.load(name, split="test", as_supervised=True, data_dir=tfds_data_dir)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise UsageError(_unknown_tfds_message(name)) from e
    except (tfds.download.DownloadError, OSError, ImportError, tf.errors.OpError) as e:
        # OSError covers ConnectionError and the requests library's errors.
        raise DataError(
            f"tensorflow-datasets could not download or prepare dataset {name!r} "
            f"({_clause(e)}). Without network access, pass --data_dir=DIR for a "
            f"directory of local TFRecords {name}-train.tfrecord-* and "
            f"{name}-test.tfrecord-* (features image/encoded, image/class/label), "
            f"or use the dataset {SAMPLE_DATASET!r}, a small CIFAR-10 sample that "
            "ships with urfbtf and needs no download."
        ) from e
    except ValueError as e:
        # E.g. a dataset without a "test" split or without supervised keys.
        raise UsageError(
            f"Dataset {name!r} cannot be used ({_clause(e)}); urfbtf needs a tfds "
            "image-classification dataset with (image, label) supervised keys and "
            "train and test splits, such as cifar10, cifar100, mnist or fashion_mnist."
        ) from e

    # Not info.splits: it is empty under tfds.testing.mock_data.
    label_key = info.supervised_keys[1] if info.supervised_keys else "label"
    num_classes = int(info.features[label_key].num_classes)
    train_x, train_y = _tfds_to_numpy(train, name, "train")
    test_x, test_y = _tfds_to_numpy(test, name, "test")
    return train_x, train_y, test_x, test_y, num_classes


def _tfds_to_numpy(dataset: tf.data.Dataset, name: str, split: str):
    # Chunked batches rather than tfds' batch_size=-1: under mock_data that asks TF
    # for a batch of sys.maxsize and aborts the process.
    try:
        chunks = list(tfds.as_numpy(dataset.batch(_READ_BATCH)))
    except tf.errors.OpError as e:
        raise DataError(
            f"Could not read the {split} split of tfds dataset {name!r} "
            f"({_clause(e)}). urfbtf needs images of one fixed shape; if the prepared "
            "files are damaged, delete them from the tfds data directory so tfds "
            "prepares them again."
        ) from e
    if not chunks:
        raise DataError(
            f"The {split} split of tfds dataset {name!r} is empty; delete it from "
            "the tfds data directory so tfds prepares it again."
        )
    images = np.concatenate([c[0] for c in chunks])
    labels = np.concatenate([c[1] for c in chunks]).astype(np.int64)
    return images.astype(np.uint8), labels


def _unknown_tfds_message(name: str) -> str:
    # Community datasets are left out: listing them needs the network.
    builders = tfds.list_builders(with_community_datasets=False)
    matches = difflib.get_close_matches(name.lower(), builders, n=3)
    hint = f" Did you mean {', '.join(matches)}?" if matches else ""
    return (
        f"Unknown dataset {name!r}: tensorflow-datasets has no dataset of that "
        f"name.{hint} Use a tfds image-classification dataset such as cifar10, "
        f"cifar100, mnist or fashion_mnist, the offline sample {SAMPLE_DATASET!r}, "
        "or --data_dir=DIR to read your own TFRecords."
    )


def _clause(error: BaseException) -> str:
    """The first line of an error's message, prefixed with its type."""
    # TF errors carry their text in .message, wrapped in op and graph context
    # ("{{function_node ...}} text [Op:IteratorGetNext]") that means nothing to users.
    message = (getattr(error, "message", None) or str(error)).strip()
    message = message.splitlines()[0] if message else ""
    message = re.sub(r"\{\{[^}]*\}\}|\[Op:.*$|\[\[.*$", "", message).strip()
    kind = type(error).__name__
    return f"{kind}: {message}" if message else kind


# --- local TFRecords --------------------------------------------------------------


def _read_local(name: str, directory: pathlib.Path):
    """Reads `<name>-{train,test}.tfrecord-*` from a directory into numpy arrays."""
    if not directory.is_dir():
        raise DataError(
            f"Data directory {str(directory)!r} does not exist or is not a "
            f"directory. Pass --data_dir=DIR for a directory that holds "
            f"{name}-train.tfrecord-* and {name}-test.tfrecord-* files, or leave it "
            "unset to download the dataset with tensorflow-datasets."
        )
    train_files = _find_files(directory, name, "train")
    test_files = _find_files(directory, name, "test")
    class_names = _read_classes(directory / "classes.json")

    train_x, train_y = _read_files(train_files)
    test_x, test_y = _read_files(test_files)
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(
            f"The images of {name}-train.tfrecord-* in {directory} have shape "
            f"{train_x.shape[1:]} but those of {name}-test.tfrecord-* have shape "
            f"{test_x.shape[1:]}; all images of a dataset must have the same shape."
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
                f"Label {int(labels[bad][0])} in {_names(files)} in {directory} is "
                f"out of range: labels must be {valid}."
            )
    return train_x, train_y, test_x, test_y, num_classes


def _find_files(directory: pathlib.Path, name: str, split: str) -> list[pathlib.Path]:
    pattern = f"{name}-{split}.tfrecord-*"
    files = sorted(directory.glob(pattern))
    if files:
        return files
    present = sorted(p.name for p in directory.iterdir() if ".tfrecord" in p.name)
    if present:
        found = f"its .tfrecord files are {_names(present)}"
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


def _names(paths) -> str:
    names = [pathlib.Path(p).name for p in paths]
    shown = ", ".join(names[:_MAX_LISTED_FILES])
    more = len(names) - _MAX_LISTED_FILES
    return shown + (f" and {more} more" if more > 0 else "")


def _read_classes(path: pathlib.Path) -> list | None:
    """Reads the class names: a JSON list, or {"classes": [...]}; None if absent."""
    if not path.exists():
        return None
    try:
        classes = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(
            f"Could not read {path} ({_clause(e)}); it must be a JSON list of class "
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
                        "a dataset must have the same shape."
                    )
                images.append(x)
                labels.append(y)
        except tf.errors.OpError as e:
            raise DataError(
                f"Could not read {path} ({_clause(e)}). The file is corrupt or not "
                "in the expected schema: TFRecords of tf.train.Example with "
                "image/encoded (JPEG or PNG bytes of images that all have the same "
                "shape) and image/class/label (int64). Replace or remove the file."
            ) from e
    if not images:
        raise DataError(
            f"The files {_names(files)} in {files[0].parent} hold no records; "
            "re-create them or remove them."
        )
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)
