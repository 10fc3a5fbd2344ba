"""Build the small CIFAR-10 sample that ships inside the package.

The images are CIFAR-10 (Krizhevsky, 2009, "Learning Multiple Layers of Features
from Tiny Images"), taken from the project's shared TFRecords, where they are stored
as JPEG (see shared/data/README.md). The sample lets `--dataset=cifar10_sample` run
offline, for tests and quick demos.

The script copies the first `--train` records of the training shards and the first
`--test` records of the test shards byte for byte (no re-decoding or re-encoding),
so the sample has exactly the source's pixels, labels and schema. The source
records are already in a fixed shuffled order, so a prefix mixes all classes.

Usage, from the repository root:

    .venv/bin/python tools/make_cifar10_sample.py \
        [--source ../shared/data/cifar10] [--out urfbtf/datasets/cifar10_sample] \
        [--train 1000] [--test 500]
"""

import argparse
import pathlib
import shutil
import sys

import tensorflow as tf

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "cifar10"
DEFAULT_OUT = REPO_ROOT / "urfbtf" / "datasets" / "cifar10_sample"
SAMPLE_NAME = "cifar10_sample"


def copy_records(
    source: pathlib.Path, split: str, count: int, out: pathlib.Path
) -> int:
    """Copies the first `count` serialized records of a split into one shard.

    Args:
        source: Directory holding `cifar10-<split>.tfrecord-*` shards.
        split: "train" or "test".
        count: How many records to copy.
        out: Output directory.

    Returns:
        The number of records written.

    Raises:
        FileNotFoundError: If the source has no shards for the split.
        ValueError: If the source has fewer than `count` records.
    """
    shards = sorted(str(p) for p in source.glob(f"cifar10-{split}.tfrecord-*"))
    if not shards:
        raise FileNotFoundError(f"no cifar10-{split}.tfrecord-* files in {source}")
    # Shards are read in name order, so "the first records" are well defined.
    records = tf.data.TFRecordDataset(shards).take(count)
    path = out / f"{SAMPLE_NAME}-{split}.tfrecord-00000-of-00001"
    written = 0
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record.numpy())
            written += 1
    if written < count:
        raise ValueError(f"{source} has only {written} {split} records, not {count}")
    return written


def main(argv: list[str] | None = None) -> int:
    """Parses arguments, writes the sample and prints what it wrote."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=pathlib.Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--test", type=int, default=500)
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", args.train), ("test", args.test)):
        copy_records(args.source, split, count, args.out)
    shutil.copyfile(args.source / "classes.json", args.out / "classes.json")

    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(
        f"wrote {args.train} train and {args.test} test records to {args.out} "
        f"({total} bytes)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
