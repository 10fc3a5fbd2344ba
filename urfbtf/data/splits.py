"""The in-memory splits of a dataset: `load_splits` picks the source by name and
carves the validation split out of the training split.

The validation split is a fixed permutation's first `val_examples` training
examples, with the seed `VAL_SPLIT_SEED`, so it is the same for every run, whatever
the run's seed; the official test split is the test set.
"""

import dataclasses
import os
import pathlib

import numpy as np

from urfbtf.data import prepared, synthetic
from urfbtf.data.pipeline import scaled
from urfbtf.data.tfds_source import load_tfds
from urfbtf.data.tfrecords import SAMPLE_DATASET, SAMPLE_DIR, read_local
from urfbtf.errors import UsageError

# The seed of the permutation that picks the validation examples. It is a constant,
# not the run's seed, so runs with different seeds are validated on the same images.
VAL_SPLIT_SEED = 0

# Frenkel et al. (2021)'s synthetic classification task, generated in memory.
SYNTHETIC_CLASSIFICATION = "synthetic_classification"
# ... and its regression task: 10 cosine targets (labels are float vectors).
SYNTHETIC_REGRESSION = "synthetic_regression"

_DEFAULT_VAL_EXAMPLES = 5000
# The sample has only 1000 training images; 5000 would not fit.
_SAMPLE_VAL_EXAMPLES = 200


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
        dataset: A tensorflow-datasets name (e.g. "cifar10", "mnist"),
            "cifar10_sample" for the sample shipped with urfbtf, or
            "synthetic_classification" / "synthetic_regression". With `data_dir`
            it is the file-name prefix of the local TFRecords.
        data_dir: A directory of local TFRecords `<dataset>-train.tfrecord-*` and
            `<dataset>-test.tfrecord-*` (see `urfbtf.data.tfrecords`), read
            without tfds; or a directory tfds prepared (`urfbtf.data.prepared`:
            the builder's own, or a data directory holding `<dataset>/`), read
            by tfds from there.
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
        found = prepared.tfds_source(dataset, os.path.expanduser(str(data_dir)))
        if found is not None:  # A directory tfds prepared: read as its tfds name.
            (dataset, tfds_data_dir), data_dir = found, None
    if data_dir is not None:
        train_x, train_y, test_x, test_y, num_classes = read_local(
            dataset, pathlib.Path(data_dir).expanduser()
        )
    elif dataset == SAMPLE_DATASET:
        train_x, train_y, test_x, test_y, num_classes = read_local(dataset, SAMPLE_DIR)
    elif dataset == SYNTHETIC_CLASSIFICATION:
        train_x, train_y, test_x, test_y = synthetic.classification_splits()
        num_classes = int(train_y.max()) + 1
    elif dataset == SYNTHETIC_REGRESSION:
        train_x, train_y, test_x, test_y = synthetic.regression_splits()
        num_classes = train_y.shape[-1]  # Here: the number of regression targets.
    else:
        train_x, train_y, test_x, test_y, num_classes = load_tfds(
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


def first_training_examples(dataset: str, examples: int, data_dir=None):
    """(images in [0, 1], labels): the first `examples` training examples of
    `dataset`, read as `load_splits` reads it (from `data_dir`'s TFRecords when
    given), with no validation split taken out."""
    from_splits = load_splits(
        dataset, data_dir=data_dir, train_examples=examples, val_examples=0
    )
    images = from_splits.train_images[:examples]
    return scaled(images), from_splits.train_labels[:examples]
