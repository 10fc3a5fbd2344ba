"""The streaming input path's memory and speed (`urfbtf.data.stream`).

    python tools/bench_stream.py [--sections memory,speed] [--records 2000]
                                 [--batch 16] [--image_size 224] [--json]

Both sections write synthetic ImageNet-like shards first (JPEGs of 300 to 500
pixels a side, as ImageNet's, in the standard layout train-*-of-* and
validation-*-of-*, 1-based labels of 1000 classes) into a temporary directory.

* memory: peak resident memory (VmHWM) of a separate process that streams one
  training epoch (random-resized crops at --image_size, --batch) and one pass
  over the test split, for `records` and for 4 x `records` training records.
  Keys `rss_mb/<n>` and `ratio/rss_4x` (4x over 1x). Both sizes are written in
  `--shards` shards (default `CYCLE_LENGTH`, the shards the stream reads at
  once), so that only the number of records differs; the stream holds at most
  `SHUFFLE_BUFFER` encoded records (`--shuffle_block` sets it here, so that a
  small run exceeds it) and `CYCLE_LENGTH` open shards, so the ratio stays
  near 1.
* speed: images/s of the training stream (decode, crop, resize, flip, batch)
  against the images/s that a training step of `bartunov_imagenet_lc` (bp,
  untied, Adam, as flags/bartunov/imagenet_lc_bp.cfg) consumes at --batch.
  Keys `images_per_s/pipeline`, `images_per_s/step/<net>` and
  `ratio/pipeline_over_step` (the pipeline must not be the bottleneck: >= 2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from urfbtf import data
from urfbtf.data import stream  # noqa: E402
from urfbtf.runner import recorder, train  # noqa: E402
from urfbtf.runner.config import Config  # noqa: E402

CLASSES = 1000
TEST_RECORDS = 250
STEP_NET = "bartunov_imagenet_lc"


def write_shards(directory: Path, records: int, shards: int, seed: int = 0) -> None:
    """`shards` standard-layout training shards of `records` JPEGs in all, and
    one test shard of `TEST_RECORDS`."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)

    def shard(name: str, count: int) -> None:
        with tf.io.TFRecordWriter(str(directory / name)) as writer:
            for _ in range(count):
                height, width = rng.integers(300, 501, 2)
                # Smooth structure plus grain: JPEGs of ImageNet's typical size.
                coarse = rng.uniform(0, 255, (height // 16, width // 16, 3))
                image = tf.image.resize(coarse[None], (height, width))[0].numpy()
                image += rng.normal(0, 12, image.shape)
                pixels = np.clip(image, 0, 255).astype(np.uint8)
                encoded = tf.io.encode_jpeg(pixels, quality=90).numpy()
                label = int(rng.integers(1, CLASSES + 1))
                feature = {
                    "image/encoded": tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[encoded])
                    ),
                    "image/class/label": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[label])
                    ),
                }
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())

    for k in range(shards):
        count = records // shards + (k < records % shards)
        shard(f"train-{k:05d}-of-{shards:05d}", count)
    shard("validation-00000-of-00001", TEST_RECORDS)


def _splits(directory: Path, image_size: int):
    return data.load_stream_splits(
        "imagenet2012",
        str(directory),
        val_examples=0,
        image_size=image_size,
        augment="inception",
    )


def epoch_peak_rss(directory: Path, batch: int, image_size: int) -> float:
    """Streams one training epoch and one test pass; returns VmHWM (MiB)."""
    splits = _splits(directory, image_size)
    strategy = tf.distribute.get_strategy()
    train_stream = stream.train_input(
        splits, strategy, batch_size=batch, seed=0, first_epoch=0, epochs=1
    )
    for _ in train_stream:
        pass
    for _ in stream.eval_input(splits, "test", strategy, batch_size=batch):
        pass
    return recorder.peak_rss_mb()


def memory(args, workdir: Path) -> dict:
    results = {}
    for records in (args.records, 4 * args.records):
        directory = workdir / f"records_{records}"
        write_shards(directory, records, args.shards)
        command = [
            sys.executable,
            __file__,
            "--_epoch",
            str(directory),
            "--batch",
            str(args.batch),
            "--image_size",
            str(args.image_size),
            "--shuffle_block",
            str(args.shuffle_block),
        ]
        env = {**os.environ, "URFBTF_CACHE_DIR": str(workdir / "cache")}
        out = subprocess.run(command, env=env, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr)
        results[f"rss_mb/{records}"] = float(out.stdout.strip().splitlines()[-1])
    results["ratio/rss_4x"] = (
        results[f"rss_mb/{4 * args.records}"] / results[f"rss_mb/{args.records}"]
    )
    return results


def pipeline_rate(directory: Path, batch: int, image_size: int, batches: int) -> float:
    """Images/s of the training stream, after a warm-up of 3 batches."""
    splits = _splits(directory, image_size)
    epochs = 1 + (3 + batches) * batch // splits.count("train")
    iterator = iter(
        stream.train_input(
            splits,
            tf.distribute.get_strategy(),
            batch_size=batch,
            seed=0,
            first_epoch=0,
            epochs=epochs,
        )
    )
    for _ in range(3):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch / (time.perf_counter() - start)


def step_rate(batch: int, image_size: int, steps: int) -> float:
    """Images/s that training steps of `STEP_NET` consume (after one warm-up)."""
    config = Config(
        net=STEP_NET,
        rule="bp",
        loss="softmax",
        activation="tanh",
        optimizer="adam",
        lr=2.4e-5,
        untie="all",
        batch_size=batch,
    )
    model = train.build_model(config, (image_size, image_size, 3), CLASSES)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(batch, image_size, image_size, 3)), tf.float32)
    y = tf.constant(rng.integers(0, CLASSES, batch))
    model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * batch / (time.perf_counter() - start)


def speed(args, workdir: Path) -> dict:
    directory = workdir / "speed"
    write_shards(directory, args.records, args.shards)
    os.environ["URFBTF_CACHE_DIR"] = str(workdir / "cache")
    pipeline = pipeline_rate(directory, args.batch, args.image_size, args.batches)
    step = step_rate(args.batch, args.image_size, args.steps)
    return {
        "images_per_s/pipeline": pipeline,
        f"images_per_s/step/{STEP_NET}": step,
        "ratio/pipeline_over_step": pipeline / step,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="memory,speed")
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--batches", type=int, default=30, help="timed batches")
    parser.add_argument("--steps", type=int, default=3, help="timed steps")
    parser.add_argument(
        "--shuffle_block",
        type=int,
        default=stream.SHUFFLE_BUFFER,
        help="records shuffled together (memory section)",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=stream.CYCLE_LENGTH,
        help="training shards (the stream keeps up to CYCLE_LENGTH open)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--_epoch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._epoch:
        stream.SHUFFLE_BUFFER = args.shuffle_block
        print(epoch_peak_rss(Path(args._epoch), args.batch, args.image_size))
        return
    train.make_deterministic()
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for section in args.sections.split(","):
            results.update(
                {"memory": memory, "speed": speed}[section](args, Path(workdir))
            )
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for key, value in results.items():
            print(f"{key:40s} {value:10.2f}")


if __name__ == "__main__":
    main()
