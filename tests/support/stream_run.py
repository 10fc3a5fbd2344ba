"""Streaming runs for the tests: generated ImageNet-layout TFRecords, one small
configuration, and a script.

The data: JPEG images of four sizes, 12 classes (so the top-5 error applies) with
labels 1..12 as ImageNet's, in train-0000k-of-00004 and validation-0000k-of-00002.

Run as a script it trains one run, so that a test can kill it mid-run:
    python tests/support/stream_run.py MODEL_DIR EPOCHS DATA_DIR
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

CLASSES = 12
TRAIN_SHARDS, PER_TRAIN_SHARD = 4, 24
TEST_SHARDS, PER_TEST_SHARD = 2, 15
SIZES = ((20, 28), (32, 24), (24, 24), (40, 30))
VAL_EXAMPLES = 16
# 96 training records, 16 held out: 80 train, 5 steps of 16.
QUICK = dict(
    net="fc2_100",
    rule="bp",
    loss="softmax",
    dataset="imagenet2012",
    image_size=12,
    augment="inception",
    val_examples=VAL_EXAMPLES,
    batch_size=16,
    eval_batch_size=8,
    optimizer="adam",
    lr=1e-3,
)


def write_imagenet(directory: Path, corrupt_image_at: int | None = None) -> None:
    """Writes the standard-layout shards into `directory`; with
    `corrupt_image_at`, that training record's image bytes are not an image."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)

    def shard(name: str, count: int, first: int) -> None:
        with tf.io.TFRecordWriter(str(directory / name)) as writer:
            for i in range(first, first + count):
                height, width = SIZES[i % len(SIZES)]
                label = i % CLASSES + 1  # 1-based, as ImageNet's.
                image = rng.integers(0, 256, (height, width, 3), np.uint8)
                image[..., 0] = 20 * label  # Learnable: the red channel.
                encoded = tf.io.encode_jpeg(image).numpy()
                if i == corrupt_image_at:
                    encoded = b"not an image"
                feature = {
                    "image/encoded": _bytes(encoded),
                    "image/class/label": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[label])
                    ),
                    "image/format": _bytes(b"JPEG"),
                }
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())

    for k in range(TRAIN_SHARDS):
        name = f"train-{k:05d}-of-{TRAIN_SHARDS:05d}"
        shard(name, PER_TRAIN_SHARD, k * PER_TRAIN_SHARD)
    for k in range(TEST_SHARDS):
        name = f"validation-{k:05d}-of-{TEST_SHARDS:05d}"
        shard(name, PER_TEST_SHARD, 1000 + k * PER_TEST_SHARD)


def _bytes(value: bytes):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def quick_config(data_dir, **changes):
    from urfbtf.runner.config import Config

    return Config(data_dir=str(data_dir), **{**QUICK, **changes})


def _main(model_dir: str, epochs: str, data_dir: str) -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from urfbtf.runner import train

    train.make_deterministic()
    config = quick_config(data_dir, epochs=int(epochs))
    train.run(config, model_dir, verbose=0, log=lambda _: None)


if __name__ == "__main__":
    _main(*sys.argv[1:])
