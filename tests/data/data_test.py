"""Tests for urfbtf.data: the shipped sample, local TFRecords, tfds and pipelines."""

import json
import socket
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import downloader as tfds_downloader

from tests.support.paths import REPO
from urfbtf import data
from urfbtf.data import tfds_source
from urfbtf.errors import DataError, UsageError

# The project's real data, beside the checkout on developer and CI machines only.
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="module")
def sample():
    return data.load_splits("cifar10_sample", val_examples=200)


def _row_set(images):
    """The images as a set of byte strings, to compare splits by content."""
    return {image.tobytes() for image in images}


def _write_records(path, images, labels, encode):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image, label in zip(images, labels, strict=True):
            encoded = encode(tf.constant(image)).numpy()
            feature = {
                "image/encoded": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[encoded])
                ),
                "image/class/label": tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[int(label)])
                ),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())


def _random_images(count, shape=(8, 8, 3), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, *shape), np.uint8)


@pytest.fixture
def local_dir(tmp_path):
    """A tiny dataset "toy": 12 PNG training images, 5 JPEG test images, 3 classes."""
    train_x = _random_images(12)
    train_y = np.arange(12) % 3
    # Flat-coloured test images, so JPEG's loss stays small and checkable.
    test_x = np.repeat(np.arange(5, dtype=np.uint8)[:, None, None, None] * 50, 3, -1)
    test_x = np.broadcast_to(test_x, (5, 8, 8, 3)).copy()
    test_y = np.array([0, 1, 2, 0, 1])
    # Two training shards, to check they are read in name order.
    _write_records(
        tmp_path / "toy-train.tfrecord-00000-of-00002",
        train_x[:7],
        train_y[:7],
        tf.io.encode_png,
    )
    _write_records(
        tmp_path / "toy-train.tfrecord-00001-of-00002",
        train_x[7:],
        train_y[7:],
        tf.io.encode_png,
    )
    _write_records(
        tmp_path / "toy-test.tfrecord-00000-of-00001",
        test_x,
        test_y,
        tf.io.encode_jpeg,
    )
    (tmp_path / "classes.json").write_text(json.dumps({"classes": ["a", "b", "c"]}))
    return tmp_path, train_x, train_y, test_x, test_y


# --- the shipped sample ------------------------------------------------------------


def test_sample_loads_offline_with_expected_sizes_shapes_and_labels(sample):
    assert len(sample.train_images) + len(sample.val_images) == 1000
    assert len(sample.val_images) == 200
    assert len(sample.test_images) == 500
    assert sample.image_shape == (32, 32, 3)
    assert sample.num_classes == 10
    for images, labels in (
        (sample.train_images, sample.train_labels),
        (sample.val_images, sample.val_labels),
        (sample.test_images, sample.test_labels),
    ):
        assert images.dtype == np.uint8 and labels.dtype == np.int64
        assert len(images) == len(labels)
        assert labels.min() >= 0 and labels.max() < 10
    # A real sample of CIFAR-10 has every class and is not blank.
    assert set(sample.train_labels.tolist()) == set(range(10))
    assert sample.train_images.std() > 20


def test_sample_default_val_examples_is_200():
    assert data.default_val_examples("cifar10_sample") == 200
    assert data.default_val_examples("cifar10") == 5000
    assert len(data.load_splits("cifar10_sample").val_images) == 200


def test_val_split_is_fixed_across_calls_and_disjoint_from_train(sample):
    again = data.load_splits("cifar10_sample", val_examples=200)
    np.testing.assert_array_equal(again.val_images, sample.val_images)
    np.testing.assert_array_equal(again.train_labels, sample.train_labels)
    val, train = _row_set(sample.val_images), _row_set(sample.train_images)
    assert not val & train
    assert len(val | train) == 1000


def test_smaller_val_split_is_a_subset_of_a_larger_one(sample):
    smaller = data.load_splits("cifar10_sample", val_examples=50)
    assert len(smaller.val_images) == 50
    assert _row_set(smaller.val_images) <= _row_set(sample.val_images)


def test_val_examples_zero_gives_empty_val_arrays_with_image_shape():
    splits = data.load_splits("cifar10_sample", val_examples=0)
    assert splits.val_images.shape == (0, 32, 32, 3)
    assert splits.val_labels.shape == (0,)
    assert len(splits.train_images) == 1000


def test_train_examples_keeps_the_first_remaining_examples(sample):
    capped = data.load_splits("cifar10_sample", val_examples=200, train_examples=100)
    assert len(capped.train_images) == 100
    np.testing.assert_array_equal(capped.train_images, sample.train_images[:100])
    np.testing.assert_array_equal(capped.val_images, sample.val_images)
    more = data.load_splits("cifar10_sample", val_examples=200, train_examples=10**6)
    assert len(more.train_images) == 800


@pytest.mark.skipif(
    not (SHARED_DATA / "cifar10").is_dir(), reason="shared CIFAR-10 not present"
)
def test_sample_is_the_first_records_of_shared_cifar10_byte_for_byte():
    def records(pattern, count):
        files = sorted(str(p) for p in pattern.parent.glob(pattern.name))
        return [r.numpy() for r in tf.data.TFRecordDataset(files).take(count)]

    for split, count in (("train", 1000), ("test", 500)):
        shipped = records(data.SAMPLE_DIR / f"cifar10_sample-{split}.tfrecord-*", 2000)
        source = records(SHARED_DATA / "cifar10" / f"cifar10-{split}.tfrecord-*", count)
        assert shipped == source


# --- local TFRecords ---------------------------------------------------------------


def test_local_png_round_trips_exact_pixels_and_labels(local_dir):
    directory, train_x, train_y, test_x, test_y = local_dir
    splits = data.load_splits("toy", str(directory), val_examples=0)
    np.testing.assert_array_equal(splits.train_images, train_x)
    np.testing.assert_array_equal(splits.train_labels, train_y)
    np.testing.assert_array_equal(splits.test_labels, test_y)
    assert splits.num_classes == 3
    assert splits.image_shape == (8, 8, 3)


def test_local_jpeg_decodes_to_close_pixels(local_dir):
    directory, _, _, test_x, _ = local_dir
    splits = data.load_splits("toy", str(directory), val_examples=0)
    assert splits.test_images.dtype == np.uint8
    assert splits.test_images.shape == test_x.shape
    diff = np.abs(splits.test_images.astype(int) - test_x.astype(int))
    assert diff.max() <= 3


def test_local_val_split_takes_requested_examples_from_train(local_dir):
    directory, train_x, _, _, _ = local_dir
    splits = data.load_splits("toy", str(directory), val_examples=4)
    assert len(splits.val_images) == 4 and len(splits.train_images) == 8
    assert _row_set(splits.val_images) | _row_set(splits.train_images) == _row_set(
        train_x
    )


def test_val_split_keeps_the_remaining_train_examples_in_source_order(local_dir):
    directory, train_x, _, _, _ = local_dir
    splits = data.load_splits("toy", str(directory), val_examples=5)
    source_index = {image.tobytes(): i for i, image in enumerate(train_x)}
    order = [source_index[image.tobytes()] for image in splits.train_images]
    assert order == sorted(order)


def test_classes_json_as_a_list_sets_num_classes(local_dir):
    directory = local_dir[0]
    (directory / "classes.json").write_text(json.dumps(["a", "b", "c", "d", "e"]))
    assert data.load_splits("toy", str(directory), val_examples=0).num_classes == 5


def test_num_classes_without_classes_json_is_max_label_plus_one(local_dir):
    directory = local_dir[0]
    (directory / "classes.json").unlink()
    assert data.load_splits("toy", str(directory), val_examples=0).num_classes == 3


def test_data_dir_is_used_for_the_sample_name_too(local_dir, tmp_path):
    directory, train_x, train_y, test_x, test_y = local_dir
    for split, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
        _write_records(
            tmp_path / f"cifar10_sample-{split}.tfrecord-00000-of-00001",
            x,
            y,
            tf.io.encode_png,
        )
    splits = data.load_splits("cifar10_sample", str(directory), val_examples=0)
    np.testing.assert_array_equal(splits.train_images, train_x)


@pytest.mark.skipif(
    not (SHARED_DATA / "mnist").is_dir(), reason="shared MNIST not present"
)
def test_reads_the_shared_mnist_tfrecords():
    splits = data.load_splits("mnist", str(SHARED_DATA / "mnist"), train_examples=10)
    assert splits.image_shape == (28, 28, 1)
    assert splits.num_classes == 10
    assert len(splits.test_images) == 10_000
    assert len(splits.val_images) == 5000 and len(splits.train_images) == 10
    assert splits.test_images.max() == 255 and splits.test_images.min() == 0


# --- errors ------------------------------------------------------------------------


def test_missing_data_dir_is_a_data_error_naming_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="nowhere"):
        data.load_splits("toy", str(missing))


def test_empty_data_dir_is_a_data_error_showing_the_expected_pattern(tmp_path):
    with pytest.raises(DataError) as info:
        data.load_splits("toy", str(tmp_path))
    assert "toy-train.tfrecord-*" in str(info.value)
    assert "empty" in str(info.value)


def test_data_dir_with_other_files_lists_them(local_dir):
    directory = local_dir[0]
    with pytest.raises(DataError) as info:
        data.load_splits("other", str(directory))
    message = str(info.value)
    assert "other-train.tfrecord-*" in message
    assert "toy-train.tfrecord-00000-of-00002" in message


def test_missing_test_files_is_a_data_error(local_dir):
    directory = local_dir[0]
    (directory / "toy-test.tfrecord-00000-of-00001").unlink()
    with pytest.raises(DataError, match=r"toy-test\.tfrecord-\*"):
        data.load_splits("toy", str(directory))


def test_random_bytes_file_is_a_data_error_naming_the_file(local_dir):
    directory = local_dir[0]
    bad = directory / "toy-test.tfrecord-00000-of-00001"
    bad.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(DataError, match="toy-test.tfrecord-00000-of-00001"):
        data.load_splits("toy", str(directory))


def test_garbage_image_bytes_is_a_data_error_naming_the_file(local_dir):
    directory = local_dir[0]
    bad = directory / "toy-train.tfrecord-00001-of-00002"
    _write_records(bad, _random_images(2), [0, 1], lambda image: tf.constant(b"junk"))
    with pytest.raises(DataError, match="toy-train.tfrecord-00001-of-00002"):
        data.load_splits("toy", str(directory))


def test_images_of_different_shapes_are_a_data_error(local_dir):
    directory = local_dir[0]
    _write_records(
        directory / "toy-train.tfrecord-00001-of-00002",
        _random_images(2, shape=(4, 4, 3)),
        [0, 1],
        tf.io.encode_png,
    )
    with pytest.raises(DataError, match="same shape"):
        data.load_splits("toy", str(directory))


def test_label_outside_classes_json_is_a_data_error(local_dir):
    directory = local_dir[0]
    (directory / "classes.json").write_text(json.dumps(["a", "b"]))
    with pytest.raises(DataError) as info:
        data.load_splits("toy", str(directory))
    assert "Label 2" in str(info.value) and "classes.json" in str(info.value)


def test_val_examples_too_large_is_a_usage_error_with_the_count(local_dir):
    directory = local_dir[0]
    with pytest.raises(UsageError, match="12 training examples"):
        data.load_splits("toy", str(directory), val_examples=12)
    # The default (5000) does not fit this tiny dataset either.
    with pytest.raises(UsageError, match="val_examples=5000"):
        data.load_splits("toy", str(directory))


@pytest.mark.parametrize(
    "kwargs", [{"val_examples": -1}, {"train_examples": 0}, {"train_examples": -5}]
)
def test_negative_or_zero_counts_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        data.load_splits("cifar10_sample", **kwargs)


def test_unknown_tfds_name_is_a_usage_error_suggesting_close_matches():
    # tfds rejects unknown names from its local registry, before any download.
    with pytest.raises(UsageError) as info:
        data.load_splits("cifar1O")
    message = str(info.value)
    assert "'cifar1O'" in message
    assert "cifar10," in message
    assert "cifar10_sample" in message and "--data_dir" in message


@pytest.mark.parametrize(
    "error",
    [
        tfds.download.DownloadError("failed to reach the server"),
        ConnectionError("Connection refused"),
        ModuleNotFoundError("No module named 'importlib_resources'"),
    ],
)
def test_tfds_download_failure_is_a_data_error_pointing_offline(monkeypatch, error):
    def failing_load(*args, **kwargs):
        raise error

    monkeypatch.setattr(tfds, "load", failing_load)
    with pytest.raises(DataError) as info:
        data.load_splits("cifar10")
    message = str(info.value)
    assert "'cifar10'" in message and str(error) in message
    assert "--data_dir=DIR" in message and "cifar10_sample" in message


@pytest.fixture
def no_proxy(monkeypatch):
    """No proxy variables, as the tests of the check before a download assume."""
    for scheme in ("http", "https", "ftp", "all", "no"):
        for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
            monkeypatch.delenv(name, raising=False)


def test_tfds_download_without_network_fails_at_once_without_retries(
    monkeypatch, tmp_path, caplog, no_proxy
):
    # conftest.py refuses every connection; where DNS works too, lookups still
    # happen, so counting them counts the connection attempts either way.
    host = "www.cs.toronto.edu"  # Where tfds downloads CIFAR-10 from.
    lookups = []
    real_getaddrinfo = socket.getaddrinfo

    def counting_getaddrinfo(name, *args, **kwargs):
        lookups.append(name)
        return real_getaddrinfo(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting_getaddrinfo)
    retries = tfds_downloader.MAX_RETRIES
    start = time.monotonic()
    with pytest.raises(DataError) as info:
        data.load_splits("cifar10", tfds_data_dir=str(tmp_path))
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert "'cifar10'" in message and "ConnectionError" in message
    assert "--data_dir=DIR" in message and "cifar10_sample" in message
    # One look-up for urfbtf's check, one for tfds' single attempt: no retries
    # (tfds would retry 10 times over 3.5 minutes), and no warnings about them.
    assert lookups.count(host) == 2
    assert not [r for r in caplog.records if "Retrying" in r.getMessage()]
    assert elapsed < 30
    assert tfds_downloader.MAX_RETRIES == retries  # Restored for later downloads.


def test_tfds_keeps_its_retries_when_a_download_host_answers(
    monkeypatch, tmp_path, no_proxy
):
    class Connection:
        def close(self):
            pass

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: Connection())
    seen = []

    def failing_load(*args, **kwargs):
        seen.append(tfds_downloader.MAX_RETRIES)
        raise ConnectionError("server unavailable")

    monkeypatch.setattr(tfds, "load", failing_load)
    with pytest.raises(DataError, match="server unavailable"):
        data.load_splits("cifar10", tfds_data_dir=str(tmp_path))
    assert seen == [tfds_downloader.MAX_RETRIES] and seen[0] > 0


def test_download_check_connects_to_the_proxy_unless_bypassed(monkeypatch, no_proxy):
    monkeypatch.setenv("https_proxy", "proxy.example:3128")
    monkeypatch.setenv("no_proxy", "mirror.example")
    endpoint = tfds_source._endpoint
    assert endpoint("https://data.example/a.tar.gz") == ("proxy.example", 3128)
    assert endpoint("https://mirror.example/a.tar.gz") == ("mirror.example", 443)
    assert endpoint("http://data.example:8080/a.gz") == ("data.example", 8080)
    assert endpoint("gs://bucket/a.tar.gz") is None


def test_tfds_mock_mnist_gives_consistent_splits():
    with tfds.testing.mock_data(
        num_examples=30, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        splits = data.load_splits("mnist", val_examples=6, train_examples=20)
    assert splits.image_shape == (28, 28, 1)
    assert splits.num_classes == 10
    assert len(splits.val_images) == 6
    assert len(splits.train_images) == 20
    assert len(splits.test_images) == 30
    assert splits.train_images.dtype == np.uint8
    assert splits.train_labels.dtype == np.int64


# --- pipelines ---------------------------------------------------------------------


def _indexed_examples(count):
    """Images whose every pixel is the example's index, and labels index % 7."""
    images = np.broadcast_to(
        np.arange(count, dtype=np.uint8)[:, None, None, None], (count, 2, 2, 1)
    ).copy()
    return images, np.arange(count, dtype=np.int64) % 7


def _batch_indices(dataset):
    """The example indices of every batch, recovered from the scaled pixels."""
    batches = []
    for images, labels in dataset:
        index = np.rint(images.numpy()[:, 0, 0, 0] * 255).astype(int)
        np.testing.assert_array_equal(labels.numpy(), index % 7)
        batches.append(index)
    return batches


def _train(count, **kwargs):
    images, labels = _indexed_examples(count)
    return data.train_dataset(images, labels, **kwargs)


def test_train_stream_has_epochs_times_full_batches():
    batches = _batch_indices(_train(13, batch_size=4, seed=1, first_epoch=1, epochs=4))
    assert len(batches) == (4 - 1) * (13 // 4) == 3 * data.steps_per_epoch(13, 4)
    assert all(len(b) == 4 for b in batches)


def test_each_epoch_is_a_permutation_and_epochs_differ():
    batches = _batch_indices(_train(12, batch_size=4, seed=3, first_epoch=0, epochs=3))
    epochs = [np.concatenate(batches[i : i + 3]) for i in range(0, 9, 3)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(12))
    assert len({tuple(order) for order in epochs}) == 3


def test_same_seed_gives_identical_batches_and_other_seed_differs():
    first = _batch_indices(_train(12, batch_size=4, seed=5, first_epoch=0, epochs=2))
    again = _batch_indices(_train(12, batch_size=4, seed=5, first_epoch=0, epochs=2))
    other = _batch_indices(_train(12, batch_size=4, seed=6, first_epoch=0, epochs=2))
    np.testing.assert_array_equal(np.stack(first), np.stack(again))
    assert not np.array_equal(np.stack(first), np.stack(other))


def test_resumed_stream_equals_tail_of_uninterrupted_stream():
    full = _batch_indices(_train(10, batch_size=3, seed=9, first_epoch=0, epochs=3))
    resumed = _batch_indices(_train(10, batch_size=3, seed=9, first_epoch=1, epochs=3))
    np.testing.assert_array_equal(np.stack(resumed), np.stack(full[3:]))


def test_train_batches_are_float32_in_unit_range_with_static_shape():
    images = np.array([[[[0]]], [[[255]]], [[[128]]], [[[7]]]], np.uint8)
    dataset = data.train_dataset(
        images, np.zeros(4, np.int64), batch_size=2, seed=0, first_epoch=0, epochs=1
    )
    assert dataset.element_spec[0].shape == (2, 1, 1, 1)
    values = np.concatenate([x.numpy().ravel() for x, _ in dataset])
    assert values.dtype == np.float32 and dataset.element_spec[1].dtype == tf.int64
    np.testing.assert_allclose(sorted(values), [0, 7 / 255, 128 / 255, 1], rtol=1e-6)


def test_batch_size_larger_than_examples_is_a_usage_error():
    with pytest.raises(UsageError, match="batch_size=11.*10 training"):
        _train(10, batch_size=11, seed=0, first_epoch=0, epochs=1)


def test_eval_stream_keeps_order_and_pads_the_last_batch_with_zero_weights():
    images, labels = _indexed_examples(10)
    dataset = data.eval_dataset(images, labels, batch_size=4)
    assert dataset.element_spec[0].shape == (4, *images.shape[1:])  # Static.
    batches = list(dataset)
    assert len(batches) == 3
    weights = np.concatenate([w.numpy() for _, _, w in batches])
    np.testing.assert_array_equal(weights, [1] * 10 + [0] * 2)
    index = np.rint(
        np.concatenate([x.numpy()[:, 0, 0, 0] for x, _, _ in batches]) * 255
    )
    np.testing.assert_array_equal(index[:10], np.arange(10))
    labels_seen = np.concatenate([y.numpy() for _, y, _ in batches])
    np.testing.assert_array_equal(labels_seen[:10], np.arange(10) % 7)


def test_synthetic_classification_is_a_dataset_of_features():
    splits = data.load_splits("synthetic_classification", val_examples=1000)
    assert splits.train_images.shape == (24_000, 256)
    assert splits.test_images.shape == (5_000, 256)
    assert splits.train_images.dtype == np.float32 and splits.num_classes == 10
    batch, _ = next(
        iter(
            data.train_dataset(
                splits.train_images,
                splits.train_labels,
                batch_size=8,
                seed=0,
                first_epoch=0,
                epochs=1,
            )
        )
    )
    assert batch.dtype == tf.float32  # Features pass unscaled.
    assert np.abs(batch.numpy()).max() > 1.0
