"""The settings of a run's data: the dataset, its splits, size and preprocessing."""

from __future__ import annotations

from urfbtf.data.inputs import check_input
from urfbtf.data.preprocess import AUGMENTATIONS, NORMALIZATIONS
from urfbtf.runner.run_settings.conditions import positive, unless
from urfbtf.settings import Setting

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "dataset",
        str,
        "cifar10",
        "tensorflow-datasets name (cifar10, cifar100, mnist, ...), cifar10_sample "
        "(ships with urfbtf), synthetic_classification, synthetic_regression, or "
        "the file prefix of the TFRecords in --data_dir.",
    ),
    Setting(
        "data_dir",
        str,
        None,
        "Read <dataset>-{train,test}.tfrecord-*, or the standard ImageNet layout "
        "train-*-of-* and validation-*-of-*, from here (local or gs://) instead "
        "of tfds; or a directory tfds prepared (~/tensorflow_datasets/mnist/3.0.1, "
        "or ~/tensorflow_datasets holding <dataset>/), read by tfds.",
        optional=True,
    ),
    Setting(
        "train_examples",
        int,
        None,
        "Use only this many training examples.",
        optional=True,
        check=positive,
        valid="a positive integer, or unset for the whole training set",
    ),
    Setting(
        "val_examples",
        int,
        None,
        "Validation examples held out of the training set (default 5000; 200 for "
        "cifar10_sample).",
        optional=True,
        check=lambda n: n >= 0,
        valid="0 or more examples held out of the training set",
    ),
    Setting(
        "input",
        str,
        "auto",
        "Input path: memory (whole splits in memory), stream (TFRecord shards read "
        "on the fly), or auto (stream the standard ImageNet layout, gs://, shards "
        "over 1 GiB, and prepared tfds datasets too large for memory or of images "
        "of different sizes, such as imagenet2012).",
        validator=check_input,
    ),
    Setting(
        "image_size",
        int,
        None,
        "Side of the square images fed to the net (default: the images' own size; "
        "224 for the standard ImageNet layout).",
        optional=True,
        check=positive,
        valid="a positive number of pixels, or unset for the dataset's size",
    ),
    Setting(
        "augment",
        str,
        "none",
        "Training augmentation: none, flip_crop (CIFAR pad-4 random crops and "
        "flips) or inception (random-resized crops and flips; centre crops for "
        "evaluation).",
        choices=AUGMENTATIONS,
    ),
    Setting(
        "normalize",
        str,
        "none",
        "Per-channel mean/std normalisation of pixels in [0, 1]: none, imagenet or "
        "cifar10.",
        choices=tuple(NORMALIZATIONS),
    ),
    Setting(
        "label_offset",
        int,
        None,
        "Subtracted from the stored labels (default: detected; 1 for the 1-based "
        "labels of the standard ImageNet layout, else 0).",
        optional=True,
        check=lambda n: n >= 0,
        valid="0 (0-based labels), 1 (1-based), or unset to detect it",
        applies=unless(
            lambda c: c.data_dir is None,
            lambda c: (
                "it shifts the labels of TFRecords in --data_dir, and no "
                "--data_dir is given"
            ),
        ),
    ),
)
