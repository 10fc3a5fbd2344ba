"""The streaming input path (`urfbtf.data.stream`) on generated TFRecords in the
standard ImageNet layout (`tests/support/stream_run.py`): layout, scan and splits, the
training stream's order under one device and two, exact evaluation, top-5 error,
the errors of bad shards, and whole runs that train and resume bit for bit."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.support import killed_run
from tests.support.paths import REPO, SUPPORT
from tests.support.runs import QUIET, parsed_settings
from tests.support.stream_run import (
    CLASSES,
    PER_TEST_SHARD,
    PER_TRAIN_SHARD,
    TEST_SHARDS,
    TRAIN_SHARDS,
    VAL_EXAMPLES,
    quick_config,
    write_imagenet,
)
from urfbtf import data
from urfbtf.data import inputs, layouts, shards, stream
from urfbtf.errors import DataError, UsageError
from urfbtf.metrics import top_k_error
from urfbtf.records import read_records
from urfbtf.runner import checkpoint, train
from urfbtf.runner.evaluation import Evaluator


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Every test scans into a cache of its own."""
    monkeypatch.setenv("URFBTF_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def imagenet_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("imagenet")
    write_imagenet(directory)
    return directory


@pytest.fixture
def own_imagenet(tmp_path):
    """A copy of the data that a test may damage."""
    directory = tmp_path / "imagenet"
    write_imagenet(directory)
    return directory


def _splits(directory, **changes):
    settings = dict(val_examples=VAL_EXAMPLES, image_size=12, augment="inception")
    return data.load_stream_splits(
        "imagenet2012", str(directory), **{**settings, **changes}
    )


def _numpy(dataset, strategy=None):
    """The batches of a (distributed) dataset as lists of numpy tuples, each
    replica's part separately."""
    out = []
    for batch in dataset:
        if strategy is None:
            out.append([tuple(t.numpy() for t in batch)])
            continue
        parts = [strategy.experimental_local_results(t) for t in batch]
        out.append([tuple(p[r].numpy() for p in parts) for r in range(2)])
    return out


def _oracle_labels(directory, files):
    """The 0-based labels of shards, read without the library."""
    labels = []
    for path in files:
        for record in tf.data.TFRecordDataset(str(path)):
            example = tf.train.Example.FromString(record.numpy())
            value = example.features.feature["image/class/label"].int64_list.value
            labels.append(value[0] - 1)
    return np.array(labels)


# --- the layout, the scan and the splits -------------------------------------


def test_standard_layout_is_found_with_1_based_labels_and_counted(imagenet_dir):
    splits = _splits(imagenet_dir, image_size=None)
    assert splits.layout.kind == layouts.IMAGENET
    assert splits.label_offset == 1 and splits.num_classes == CLASSES
    assert splits.image_shape == (224, 224, 3)  # ImageNet's default size.
    assert splits.count("train") == TRAIN_SHARDS * PER_TRAIN_SHARD - VAL_EXAMPLES
    assert splits.count("val") == VAL_EXAMPLES
    assert splits.count("test") == TEST_SHARDS * PER_TEST_SHARD
    # The validation split is the tail of the last training shard.
    last = str(imagenet_dir / f"train-00003-of-{TRAIN_SHARDS:05d}")
    assert splits.val == (shards.Piece(last, PER_TRAIN_SHARD - VAL_EXAMPLES, 16),)
    assert splits.train[-1] == shards.Piece(last, 0, PER_TRAIN_SHARD - 16)


def test_label_offset_overrides_the_detected_one(imagenet_dir):
    splits = _splits(imagenet_dir, label_offset=0)
    assert splits.label_offset == 0 and splits.num_classes == CLASSES + 1


def test_train_examples_keeps_the_first_training_records(imagenet_dir):
    splits = _splits(imagenet_dir, train_examples=30)
    assert splits.count("train") == 30
    assert [p.count for p in splits.train] == [24, 6]


def test_a_second_scan_reads_the_cache_not_the_shards(imagenet_dir, monkeypatch):
    first = _splits(imagenet_dir)

    def unread(path):
        raise AssertionError(f"read {path} again")

    monkeypatch.setattr(shards, "_scan_one", unread)
    again = _splits(imagenet_dir)
    assert again.train == first.train and again.num_classes == first.num_classes


def test_auto_streams_the_imagenet_layout(imagenet_dir):
    loaded = data.load_inputs(
        "imagenet2012",
        str(imagenet_dir),
        val_examples=VAL_EXAMPLES,
        image_size=12,
    )
    assert isinstance(loaded, data.StreamInputs)
    # The probes' fixed batch: the first validation examples, as evaluated.
    images, labels = loaded.probe_batch(5)
    assert images.shape == (5, 12, 12, 3) and images.dtype == np.float32
    assert labels.min() >= 0 and labels.max() < CLASSES
    with pytest.raises(UsageError, match="--input=stream"):
        data.load_inputs("imagenet2012", str(imagenet_dir), input_path="memory")


def test_auto_streams_shards_larger_than_the_memory_limit(monkeypatch):
    sample = str(data.SAMPLE_DIR)
    small = data.load_inputs("cifar10_sample", sample, val_examples=200)
    assert isinstance(small, data.MemoryInputs)
    monkeypatch.setattr(inputs, "MEMORY_LIMIT_BYTES", 1000)
    large = data.load_inputs("cifar10_sample", sample, val_examples=200)
    assert isinstance(large, data.StreamInputs)


def test_the_shipped_sample_streams_the_pixels_it_loads():
    memory = data.load_splits("cifar10_sample", val_examples=200)
    streamed = data.load_inputs("cifar10_sample", input_path="stream", val_examples=200)
    assert isinstance(streamed, data.StreamInputs)
    assert streamed.image_shape == memory.image_shape == (32, 32, 3)
    assert streamed.count("train") == 800 and streamed.count("test") == 500
    images, labels = stream.first_examples(streamed.splits, "test", 4)
    # PNG is lossless and the size is the images' own: the memory path's pixels.
    np.testing.assert_array_equal(labels, memory.test_labels[:4])
    np.testing.assert_allclose(images, memory.test_images[:4] / 255.0, atol=1e-6)


# --- the training stream ------------------------------------------------------


def test_each_epoch_is_distinct_records_and_depends_only_on_seed_and_epoch(
    imagenet_dir,
):
    splits = _splits(imagenet_dir, augment="none")
    strategy = tf.distribute.get_strategy()
    run = dict(batch_size=16, seed=3, epochs=3)
    whole = _numpy(stream.train_input(splits, strategy, first_epoch=0, **run))
    resumed = _numpy(stream.train_input(splits, strategy, first_epoch=2, **run))
    assert len(whole) == 3 * 5 and len(resumed) == 5
    for a, b in zip(whole[10:], resumed, strict=True):
        np.testing.assert_array_equal(a[0][0], b[0][0])
        np.testing.assert_array_equal(a[0][1], b[0][1])
    epochs = [
        np.concatenate([b[0][0] for b in whole[5 * e : 5 * e + 5]]) for e in range(3)
    ]
    for images in epochs:
        rows = {image.tobytes() for image in images}
        assert len(rows) == 80  # Every record once: none drawn twice.
    assert not np.array_equal(epochs[0], epochs[1])  # A new order each epoch.
    other = _numpy(
        stream.train_input(splits, strategy, first_epoch=0, **{**run, "seed": 4})
    )
    assert not np.array_equal(np.concatenate([b[0][0] for b in other[:5]]), epochs[0])


def test_augmentations_are_reproducible_and_vary_by_epoch(imagenet_dir):
    splits = _splits(imagenet_dir)
    strategy = tf.distribute.get_strategy()
    run = dict(batch_size=16, seed=0, epochs=2)
    a = _numpy(stream.train_input(splits, strategy, first_epoch=0, **run))
    b = _numpy(stream.train_input(splits, strategy, first_epoch=0, **run))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x[0][0], y[0][0])
    images = a[0][0][0]
    assert images.shape == (16, 12, 12, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0


def test_mirrored_replicas_get_distinct_halves_of_the_single_device_batch(
    imagenet_dir, mirrored
):
    splits = _splits(imagenet_dir)
    run = dict(batch_size=16, seed=0, first_epoch=0, epochs=1)
    single = _numpy(stream.train_input(splits, tf.distribute.get_strategy(), **run))
    replicas = _numpy(stream.train_input(splits, mirrored, **run), mirrored)
    assert len(single) == len(replicas) == 5
    for whole, (first, second) in zip(single, replicas, strict=True):
        assert first[0].shape == second[0].shape == (8, 12, 12, 3)
        rows = {image.tobytes() for image in (*first[0], *second[0])}
        assert len(rows) == 16  # Distinct examples on the two replicas.
        np.testing.assert_array_equal(
            np.concatenate([first[0], second[0]]), whole[0][0]
        )
        np.testing.assert_array_equal(
            np.concatenate([first[1], second[1]]), whole[0][1]
        )


# --- preprocessing ------------------------------------------------------------


def test_inception_evaluation_is_the_central_square_of_seven_eighths():
    image = np.random.default_rng(0).integers(0, 256, (16, 32, 3), np.uint8)
    # Shorter side 16: a 14-pixel square, 1 pixel from the top, 9 from the left.
    prepare = data.Preprocessing((14, 14, 3), augment="inception")
    for encoded, given in ((False, image), (True, tf.io.encode_png(image))):
        out = prepare.evaluate(tf.constant(given), encoded=encoded).numpy()
        np.testing.assert_allclose(out, image[1:15, 9:23] / 255.0, atol=1e-6)


def test_flip_crop_is_a_window_of_the_padded_image_maybe_flipped():
    image = np.random.default_rng(0).integers(1, 256, (8, 8, 3), np.uint8)
    prepare = data.Preprocessing((8, 8, 3), augment="flip_crop", resize=False)
    padded = np.pad(image, [(4, 4), (4, 4), (0, 0)]) / 255.0
    windows = {
        (y, x, flip) for y in range(9) for x in range(9) for flip in (False, True)
    }
    seen = set()
    for k in range(20):
        out = prepare.train(tf.constant(image), tf.constant([0, k]), False).numpy()
        found = [
            (y, x, flip)
            for (y, x, flip) in windows
            if np.allclose(
                out[:, ::-1] if flip else out, padded[y : y + 8, x : x + 8], atol=1e-6
            )
        ]
        assert found, "not a window of the padded image"
        seen.add(found[0])
    assert len(seen) > 5  # The windows and flips vary with the seed.


def test_memory_path_augmentation_depends_only_on_seed_and_epoch():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 8, 8, 3), np.uint8)
    labels = rng.integers(0, 3, 40)
    prepare = data.Preprocessing((8, 8, 3), augment="flip_crop", resize=False)
    run = dict(batch_size=10, seed=1, epochs=3, preprocessing=prepare)
    whole = list(data.train_dataset(images, labels, first_epoch=0, **run))
    resumed = list(data.train_dataset(images, labels, first_epoch=2, **run))
    assert len(whole) == 12 and len(resumed) == 4
    for (x, y), (rx, ry) in zip(whole[8:], resumed, strict=True):
        np.testing.assert_array_equal(x.numpy(), rx.numpy())
        np.testing.assert_array_equal(y.numpy(), ry.numpy())
    plain = list(
        data.train_dataset(
            images, labels, first_epoch=0, batch_size=10, seed=1, epochs=1
        )
    )
    # The same examples in the same order as without augmentation, augmented.
    np.testing.assert_array_equal(plain[0][1].numpy(), whole[0][1].numpy())
    assert not np.array_equal(plain[0][0].numpy(), whole[0][0].numpy())


def test_normalization_and_resizing_of_the_memory_path():
    splits = data.load_splits("cifar10_sample", val_examples=200)
    loaded = data.load_inputs(
        "cifar10_sample", val_examples=200, image_size=16, normalize="imagenet"
    )
    assert isinstance(loaded, data.MemoryInputs) and loaded.image_shape == (16, 16, 3)
    batch = next(iter(loaded.evaluation("test", None, batch_size=500)))
    assert batch[0].shape == (500, 16, 16, 3)
    mean = splits.test_images.reshape(-1, 3).mean(axis=0) / 255.0
    expected = (mean - np.array([0.485, 0.456, 0.406])) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(
        batch[0].numpy().reshape(-1, 3).mean(axis=0), expected, atol=0.02
    )
    with pytest.raises(UsageError, match="not images"):
        data.load_inputs("synthetic_classification", augment="flip_crop")


# --- evaluation ---------------------------------------------------------------


@pytest.mark.parametrize("strategy_name", ["default", "mirrored"])
def test_evaluation_counts_every_example_exactly_once(
    imagenet_dir, mirrored, strategy_name
):
    strategy = mirrored if strategy_name == "mirrored" else tf.distribute.get_strategy()
    splits = _splits(imagenet_dir)
    files = sorted(imagenet_dir.glob("validation-*"))
    expected = np.sort(_oracle_labels(imagenet_dir, files))
    batches = _numpy(
        stream.eval_input(splits, "test", strategy, batch_size=8),
        strategy if strategy_name == "mirrored" else None,
    )
    labels = np.concatenate([y[w == 1] for batch in batches for (_, y, w) in batch])
    weights = np.concatenate([w for batch in batches for (_, _, w) in batch])
    np.testing.assert_array_equal(np.sort(labels), expected)  # 30 once each.
    assert weights.sum() == 30 and set(np.unique(weights)) <= {0.0, 1.0}
    assert len(batches) == 4  # 30 examples in batches of 8: 2 blanks.


def test_top5_error_matches_a_numpy_oracle():
    rng = np.random.default_rng(1)
    outputs = rng.normal(size=(64, CLASSES)).astype(np.float32)
    outputs[:4] = 0.0  # Ties: every class equals the label's, which is in.
    labels = rng.integers(0, CLASSES, 64)
    own = outputs[np.arange(64), labels]
    oracle = ((outputs > own[:, None]).sum(axis=1) >= 5).astype(np.float32)
    np.testing.assert_array_equal(top_k_error(labels, outputs, 5).numpy(), oracle)
    ranks = (-outputs).argsort(axis=1)[:, :5]
    in_top5 = (ranks == labels[:, None]).any(axis=1)
    np.testing.assert_array_equal(oracle[4:], 1.0 - in_top5[4:])


@pytest.mark.parametrize("strategy_name", ["default", "mirrored"])
def test_evaluated_top5_error_matches_numpy_over_the_streamed_split(
    imagenet_dir, mirrored, strategy_name
):
    strategy = mirrored if strategy_name == "mirrored" else tf.distribute.get_strategy()
    splits = _splits(imagenet_dir)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential(
            [
                keras.Input((12, 12, 3)),
                keras.layers.Flatten(),
                keras.layers.Dense(CLASSES),
            ]
        )
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    result = Evaluator(model, loss, strategy)(
        stream.eval_input(splits, "test", strategy, batch_size=8)
    )
    images, labels = stream.first_examples(splits, "test", 30)
    outputs = model.predict(images, verbose=0)
    own = outputs[np.arange(30), labels]
    top5 = ((outputs > own[:, None]).sum(axis=1) >= 5).mean()
    top1 = (outputs.argmax(axis=1) != labels).mean()
    assert result["top5_error"] == pytest.approx(top5)
    assert result["error"] == pytest.approx(top1)


@pytest.mark.parametrize(
    "rule,net,settings",
    [
        ("bp", "fc2_100", {}),  # Keras' own training step.
        ("dfa", "fc2_100", {}),  # A rule's own step (urfbtf.rules.base.step_metrics).
        ("dtp", "bartunov_mnist_fc", dict(activation="tanh", tp_schedule="parallel")),
    ],
)
def test_training_top5_error_matches_numpy_for_every_kind_of_step(rule, net, settings):
    config = quick_config("unused", rule=rule, net=net, **settings)
    keras.utils.set_random_seed(0)
    model = train.build_model(config, (12, 12, 3), CLASSES)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 12, 12, 3)).astype(np.float32)
    y = rng.integers(0, CLASSES, 16)
    outputs = model(x, training=False).numpy()  # What the one step measures.
    own = outputs[np.arange(16), y]
    expected = ((outputs > own[:, None]).sum(axis=1) >= 5).mean()
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert history.history["top5_error"][0] == pytest.approx(expected)


# --- errors -------------------------------------------------------------------


def test_a_missing_shard_is_named(own_imagenet):
    (own_imagenet / "train-00002-of-00004").unlink()
    with pytest.raises(DataError, match=r"1 of the 4 shards.*train-00002-of-00004"):
        _splits(own_imagenet)


def test_a_truncated_shard_is_named(own_imagenet):
    path = own_imagenet / "validation-00001-of-00002"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"validation-00001-of-00002.*truncated"):
        _splits(own_imagenet)


def test_garbage_instead_of_a_shard_is_named(own_imagenet):
    (own_imagenet / "train-00001-of-00004").write_bytes(b"\x00garbage" * 50)
    with pytest.raises(DataError) as info:
        _splits(own_imagenet)
    assert "train-00001-of-00004" in str(info.value)
    assert "image/encoded" in str(info.value) and "\n" not in str(info.value)


def test_an_empty_directory_shows_both_layouts(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"it is empty.*train-00000-of-01024"):
        _splits(tmp_path / "empty")


def test_input_stream_of_a_synthetic_task_is_a_usage_error():
    with pytest.raises(UsageError, match="generated in memory"):
        data.load_inputs("synthetic_classification", input_path="stream")
    with pytest.raises(UsageError, match="Valid values: auto"):
        inputs.check_input("disk")


def _cli(data_dir, model_dir, *args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [
        sys.executable,
        "-m",
        "urfbtf",
        "--net=fc2_100",
        "--rule=bp",
        "--loss=softmax",
        "--dataset=imagenet2012",
        f"--data_dir={data_dir}",
        "--image_size=12",
        f"--val_examples={VAL_EXAMPLES}",
        "--batch_size=16",
        "--eval_batch_size=8",
        "--epochs=1",
        f"--model_dir={model_dir}",
        *args,
    ]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_a_corrupt_shard_exits_1_with_one_paragraph(own_imagenet, tmp_path):
    shard = own_imagenet / "train-00001-of-00004"
    shard.write_bytes(shard.read_bytes()[:-100])
    result = _cli(own_imagenet, tmp_path / "run")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    message = [line for line in result.stderr.splitlines() if "urfbtf: error" in line]
    assert len(message) == 1 and "train-00001-of-00004" in message[0]


@pytest.mark.slow
def test_an_image_that_is_not_one_stops_the_run_naming_its_shard(tmp_path):
    directory = tmp_path / "imagenet"
    write_imagenet(directory, corrupt_image_at=30)  # In train-00001-of-00004.
    config = quick_config(directory, epochs=1, augment="none")
    with pytest.raises(DataError) as info:
        train.run(config, tmp_path / "run", **QUIET)
    assert "train-00001-of-00004" in str(info.value)
    assert "neither JPEG nor PNG" in str(info.value)


# --- whole runs ---------------------------------------------------------------


@pytest.mark.slow
def test_an_epoch_streamed_under_mirrored_equals_the_single_device_one(
    imagenet_dir, tmp_path, mirrored
):
    config = quick_config(imagenet_dir, epochs=2)
    runs = {"default": None, "mirrored": mirrored}
    summaries = {
        name: train.run(config, tmp_path / name, strategy=strategy, **QUIET)
        for name, strategy in runs.items()
    }
    for name in runs:
        records = read_records(tmp_path / name)
        assert [r["epoch"] for r in records] == [1, 2]
        for record in records:
            for split in ("train", "val", "test"):
                assert 0.0 <= record[f"{split}_top5_error"] <= record[f"{split}_error"]
        assert records[1]["train_loss"] < records[0]["train_loss"]
        assert records[-1]["examples_per_second"] > 0
        assert summaries[name]["test_top5_error"] == records[-1]["test_top5_error"]
    # The replicas' halves of each batch sum to the single device's gradient (in
    # another order of float additions, hence the tolerance).
    single = checkpoint.variables_at(tmp_path / "default", 2)
    replicated = checkpoint.variables_at(tmp_path / "mirrored", 2)
    assert list(single) == list(replicated)
    for path, value in single.items():
        np.testing.assert_allclose(value, replicated[path], atol=2e-5, err_msg=path)


@pytest.mark.slow
def test_a_killed_streaming_run_resumes_to_identical_weights(imagenet_dir, tmp_path):
    # Enough epochs that the kill lands mid-run (each takes a fraction of a second).
    epochs = 3
    killed_run.kill_after_first_epoch(
        SUPPORT / "stream_run.py", tmp_path / "killed", epochs, str(imagenet_dir)
    )
    train.run(quick_config(imagenet_dir, epochs=epochs), tmp_path / "whole", **QUIET)
    whole = checkpoint.variables_at(tmp_path / "whole", epochs)
    resumed = checkpoint.variables_at(tmp_path / "killed", epochs)
    assert list(whole) == list(resumed)
    for path, value in whole.items():
        np.testing.assert_array_equal(value, resumed[path], err_msg=path)
    assert [r["epoch"] for r in read_records(tmp_path / "killed")] == list(
        range(1, epochs + 1)
    )


# --- the ImageNet flagfiles ---------------------------------------------------

IMAGENET_FLAGFILES = sorted(
    [
        *(REPO / "flags" / "bartunov").glob("imagenet_*.cfg"),
        *(REPO / "flags" / "gait").glob("imagenet_*.cfg"),
    ]
)


@pytest.mark.parametrize("path", IMAGENET_FLAGFILES, ids=lambda p: p.name)
def test_an_imagenet_flagfile_streams_the_standard_layout_at_224(path, imagenet_dir):
    from absl import flags

    from urfbtf.runner import main
    from urfbtf.runner.config import Config

    try:
        main.parse_flags(["urfbtf", f"--flagfile={path}", f"--data_dir={imagenet_dir}"])
        config = Config(**parsed_settings()).validate()
    finally:
        flags.FLAGS.unparse_flags()
    assert config.dataset == "imagenet2012" and config.image_size == 224
    loaded = data.load_inputs(
        config.dataset,
        config.data_dir,
        input_path=config.input,
        val_examples=VAL_EXAMPLES,
        image_size=config.image_size,
        augment=config.augment,
        normalize=config.normalize,
        label_offset=config.label_offset,
    )
    assert isinstance(loaded, inputs.StreamInputs)
    assert loaded.image_shape == (224, 224, 3) and loaded.num_classes == CLASSES
    assert loaded.splits.label_offset == 1
