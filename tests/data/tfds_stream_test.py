"""tensorflow-datasets names streamed from their prepared files
(`urfbtf.data.tfds_stream`), on tiny real tfds datasets built offline here: every
record once in evaluation with the generator's labels, the epoch order, the
memory path's pixels, "validation" as the test split, auto's choice, and the
errors of an unprepared or damaged dataset."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tests.support.runs import QUIET
from urfbtf import data
from urfbtf.data import inputs, layouts, stream, tfds_source, tfds_stream
from urfbtf.errors import DataError, UsageError
from urfbtf.records import read_records
from urfbtf.runner import train
from urfbtf.runner.config import Config

CLASSES = 5
TRAIN, VALIDATION = 60, 20  # Examples of each split.
SHARDS = 3  # Per split.
FIXED = (8, 6, 3)
VARIED = ((10, 7), (6, 9), (8, 8))


def _pixels(index: int, shape) -> np.ndarray:
    """Example `index`'s image: random, but its first two values spell the index."""
    image = np.random.default_rng(index).integers(0, 256, shape, np.uint8)
    image[0, 0, 0], image[0, 0, 1] = index % 256, index // 256
    return image


def _label(index: int) -> int:
    return index * 7 % CLASSES


def _generated(first: int, count: int, shape_of):
    for index in range(first, first + count):
        yield index, {"image": _pixels(index, shape_of(index)), "label": _label(index)}


class TinyFixed(tfds.core.GeneratorBasedBuilder):
    """Images of one shape, as cifar10's; only "train" and "validation"."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=FIXED),
                    "label": tfds.features.ClassLabel(num_classes=CLASSES),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        return {
            "train": self._generate_examples(0, TRAIN),
            "validation": self._generate_examples(1000, VALIDATION),
        }

    def _generate_examples(self, first, count):
        return _generated(first, count, lambda index: FIXED)


class TinyVaried(TinyFixed):
    """Images of different sizes, as imagenet2012's (JPEG, shape (None, None, 3))."""

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(
                        shape=(None, None, 3), encoding_format="jpeg"
                    ),
                    "label": tfds.features.ClassLabel(num_classes=CLASSES),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _generate_examples(self, first, count):
        return _generated(first, count, lambda index: (*VARIED[index % 3], 3))


def _prepare(builder_class, directory: Path) -> tfds.core.DatasetBuilder:
    builder = builder_class(data_dir=str(directory))
    config = tfds.download.DownloadConfig(num_shards=SHARDS)
    builder.download_and_prepare(download_config=config)
    return builder


@pytest.fixture(scope="module")
def fixed_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tfds")
    _prepare(TinyFixed, directory)
    return directory


@pytest.fixture(scope="module")
def varied_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tfds_varied")
    _prepare(TinyVaried, directory)
    return directory


def _stream(name, directory, **changes):
    settings = dict(val_examples=10, augment="none")
    return data.load_tfds_stream_splits(name, str(directory), **{**settings, **changes})


def _evaluated(splits, split, strategy=None):
    """(images, labels) of every real example of one evaluation pass."""
    strategy = strategy or tf.distribute.get_strategy()
    images, labels = [], []
    for batch in stream.eval_input(splits, split, strategy, batch_size=8):
        # Each replica's part of the batch (the whole batch on one device).
        parts = [strategy.experimental_local_results(t) for t in batch]
        for x, y, w in zip(*parts, strict=True):
            real = w.numpy() == 1
            images.append(x.numpy()[real])
            labels.append(y.numpy()[real])
    return np.concatenate(images), np.concatenate(labels)


def _indices(images):
    """The generator's index of each (unresized) image."""
    spelled = np.rint(images[:, 0, 0, :2] * 255).astype(int)
    return spelled[:, 0] + 256 * spelled[:, 1]


# --- the catalog and the splits ----------------------------------------------


def test_the_prepared_files_are_the_layout_with_tfds_keys_and_counts(fixed_dir):
    builder = TinyFixed(data_dir=str(fixed_dir))
    splits = _stream("tiny_fixed", fixed_dir)
    layout = splits.layout
    assert layout.kind == layouts.TFDS and layout.directory == str(builder.data_dir)
    assert (layout.image_key, layout.label_key) == ("image", "label")
    assert len(layout.train_files) == len(layout.test_files) == SHARDS
    assert all("-validation.tfrecord-" in path for path in layout.test_files)
    assert layout.patterns == (
        "tiny_fixed-train.tfrecord-*",
        "tiny_fixed-validation.tfrecord-*",
    )
    assert "image (JPEG or PNG bytes) and label (int64)" in layout.schema
    assert splits.count("train") == TRAIN - 10 and splits.count("val") == 10
    assert splits.count("test") == builder.info.splits["validation"].num_examples
    assert splits.num_classes == CLASSES and splits.label_offset == 0
    assert splits.image_shape == FIXED  # The feature's own shape.
    assert _stream("tiny_fixed", fixed_dir, image_size=4).image_shape == (4, 4, 3)


def test_images_of_varied_sizes_default_to_224(varied_dir):
    splits = _stream("tiny_varied", varied_dir)
    assert splits.image_shape == (224, 224, 3)
    assert _stream("tiny_varied", varied_dir, image_size=5).image_shape == (5, 5, 3)


@pytest.mark.parametrize("split,first,count", [("val", 0, 10), ("test", 1000, 20)])
def test_evaluation_reads_every_record_once_with_the_generators_labels(
    fixed_dir, split, first, count
):
    images, labels = _evaluated(_stream("tiny_fixed", fixed_dir), split)
    found = _indices(images)
    if split == "val":
        # The tail of the training shards: records tfds shuffled, any 10 of them.
        assert len(set(found)) == count and set(found) <= set(range(TRAIN))
    else:
        np.testing.assert_array_equal(np.sort(found), np.arange(first, first + count))
    np.testing.assert_array_equal(labels, [_label(i) for i in found])
    for image, index in zip(images, found, strict=True):
        np.testing.assert_allclose(image, _pixels(index, FIXED) / 255.0, atol=1e-6)


def test_images_of_varied_sizes_are_all_evaluated_with_their_labels(
    varied_dir, mirrored
):
    splits = _stream("tiny_varied", varied_dir, image_size=5)
    for strategy in (None, mirrored):
        images, labels = _evaluated(splits, "test", strategy)
        assert images.shape == (VALIDATION, 5, 5, 3)
        expected = sorted(_label(i) for i in range(1000, 1000 + VALIDATION))
        assert sorted(labels) == expected


def test_the_epoch_order_depends_only_on_seed_and_epoch(fixed_dir):
    splits = _stream("tiny_fixed", fixed_dir, val_examples=0)
    strategy = tf.distribute.get_strategy()
    run = dict(batch_size=10, epochs=3)

    def epochs(seed, first_epoch):
        batches = stream.train_input(
            splits, strategy, seed=seed, first_epoch=first_epoch, **run
        )
        order = np.concatenate([_indices(x.numpy()) for x, _ in batches])
        return order.reshape(-1, TRAIN)

    whole, resumed = epochs(1, 0), epochs(1, 2)
    assert whole.shape == (3, TRAIN) and resumed.shape == (1, TRAIN)
    np.testing.assert_array_equal(whole[2], resumed[0])
    for order in whole:
        np.testing.assert_array_equal(np.sort(order), np.arange(TRAIN))
    assert not np.array_equal(whole[0], whole[1])
    assert not np.array_equal(epochs(2, 0)[0], whole[0])


def test_the_memory_path_and_the_stream_give_the_same_test_pixels(fixed_dir):
    memory = data.load_inputs(
        "tiny_fixed", input_path="memory", val_examples=10, tfds_data_dir=fixed_dir
    )
    streamed = data.load_inputs(
        "tiny_fixed", input_path="stream", val_examples=10, tfds_data_dir=fixed_dir
    )
    assert isinstance(memory, data.MemoryInputs)
    assert isinstance(streamed, data.StreamInputs)
    assert memory.image_shape == streamed.image_shape == FIXED
    assert memory.num_classes == streamed.num_classes == CLASSES
    # "validation" is the test split on both paths.
    assert memory.count("test") == streamed.count("test") == VALIDATION
    images, labels = stream.first_examples(streamed.splits, "test", VALIDATION)
    np.testing.assert_array_equal(labels, memory.splits.test_labels)
    np.testing.assert_allclose(images, memory.splits.test_images / 255.0, atol=1e-6)


def test_validation_is_the_test_split_only_without_a_test_split():
    assert tfds_source.test_split(["train", "validation"]) == "validation"
    assert tfds_source.test_split(["train", "validation", "test"]) == "test"
    assert tfds_source.test_split(["train", "test"]) == "test"
    assert tfds_source.test_split([]) == "test"  # Unprepared, or mock_data.


# --- auto's choice ------------------------------------------------------------


def test_auto_keeps_small_datasets_in_memory_and_streams_large_ones(
    fixed_dir, monkeypatch
):
    small = data.load_inputs("tiny_fixed", val_examples=10, tfds_data_dir=fixed_dir)
    assert isinstance(small, data.MemoryInputs)
    pixels = (TRAIN + VALIDATION) * int(np.prod(FIXED))
    monkeypatch.setattr(inputs, "MEMORY_LIMIT_BYTES", pixels - 1)
    large = data.load_inputs("tiny_fixed", val_examples=10, tfds_data_dir=fixed_dir)
    assert isinstance(large, data.StreamInputs)
    assert tfds_stream.auto_input("tiny_fixed", str(fixed_dir), pixels) == "memory"


def test_auto_streams_images_of_varied_sizes(varied_dir):
    loaded = data.load_inputs("tiny_varied", val_examples=10, tfds_data_dir=varied_dir)
    assert isinstance(loaded, data.StreamInputs)
    with pytest.raises(UsageError, match="different sizes.*--input=stream"):
        data.load_inputs("tiny_varied", input_path="memory", tfds_data_dir=varied_dir)


def test_auto_without_prepared_files_or_under_mock_data(tmp_path):
    empty = str(tmp_path)
    limit = inputs.MEMORY_LIMIT_BYTES
    # Unprepared with a fixed shape: the memory path, where tfds downloads it.
    assert tfds_stream.auto_input("cifar10", empty, limit) == "memory"
    assert tfds_stream.auto_input("imagenet_resized/64x64", empty, limit) == "memory"
    # Sizes that vary never fit; the stream path says how to prepare them.
    assert tfds_stream.auto_input("imagenet2012", empty, limit) == "stream"
    with tfds.testing.mock_data(num_examples=4):
        assert tfds_stream.auto_input("mnist", None, limit) == "memory"


# --- errors -------------------------------------------------------------------


def test_an_unprepared_dataset_is_one_paragraph_saying_how_to_prepare_it(tmp_path):
    with pytest.raises(DataError) as info:
        data.load_inputs("tiny_fixed", input_path="stream", tfds_data_dir=tmp_path)
    message = str(info.value)
    assert "'tiny_fixed' is not prepared" in message and "\n" not in message
    assert f"tfds build tiny_fixed --data_dir={tmp_path}" in message
    with pytest.raises(DataError) as info:
        data.load_inputs("imagenet2012", tfds_data_dir=tmp_path)  # auto: stream
    message = str(info.value)
    assert f"{tmp_path}/downloads/manual" in message and "\n" not in message
    assert "ILSVRC2012_img_train.tar" in message


def test_a_missing_prepared_shard_is_named(tmp_path):
    builder = _prepare(TinyFixed, tmp_path)
    missing = builder.info.splits["train"].filepaths[1]
    missing.unlink()
    with pytest.raises(DataError, match=rf"1 of the 3 train shards.*{missing.name}"):
        _stream("tiny_fixed", tmp_path)


def test_a_label_offset_is_refused_for_tfds_labels(fixed_dir):
    with pytest.raises(UsageError, match="0-based"):
        _stream("tiny_fixed", fixed_dir, label_offset=1)


# --- a data directory tfds prepared -------------------------------------------


@pytest.mark.parametrize("input_path", ["memory", "stream"])
def test_data_dir_reads_a_tfds_builder_directory_and_its_root(fixed_dir, input_path):
    by_name = data.load_inputs(
        "tiny_fixed", input_path=input_path, val_examples=10, tfds_data_dir=fixed_dir
    )
    expected = by_name.probe_batch(VALIDATION)
    for directory in (fixed_dir / "tiny_fixed" / "1.0.0", fixed_dir):
        loaded = data.load_inputs(
            "tiny_fixed", str(directory), input_path=input_path, val_examples=10
        )
        assert type(loaded) is type(by_name)
        assert loaded.image_shape == FIXED and loaded.num_classes == CLASSES
        assert loaded.count("test") == VALIDATION and loaded.count("train") == 50
        images, labels = loaded.probe_batch(VALIDATION)
        np.testing.assert_array_equal(labels, expected[1])
        np.testing.assert_array_equal(images, expected[0])


def test_load_splits_reads_a_tfds_builder_directory(fixed_dir):
    splits = data.load_splits(
        "tiny_fixed", fixed_dir / "tiny_fixed" / "1.0.0", val_examples=0
    )
    assert splits.num_classes == CLASSES
    indices = _indices(splits.test_images / 255.0)
    assert sorted(indices) == list(range(1000, 1000 + VALIDATION))
    assert [_label(i) for i in indices] == list(splits.test_labels)


def test_a_tfds_directory_of_another_dataset_or_moved_is_refused(fixed_dir, tmp_path):
    builder_dir = fixed_dir / "tiny_fixed" / "1.0.0"
    with pytest.raises(
        UsageError, match=r"'tiny_fixed'.*'cifar10'.*--dataset=tiny_fixed"
    ):
        data.load_inputs("cifar10", str(builder_dir))
    moved = tmp_path / "somewhere"
    moved.mkdir()
    (moved / "dataset_info.json").write_text(
        (builder_dir / "dataset_info.json").read_text()
    )
    with pytest.raises(DataError, match=r"<data dir>/tiny_fixed/1.0.0"):
        data.load_inputs("tiny_fixed", str(moved))
    # Anything else keeps the TFRecord layouts' errors.
    with pytest.raises(DataError, match="No TFRecord shards for dataset 'tiny_fixed'"):
        data.load_inputs("tiny_fixed", str(fixed_dir / "tiny_fixed"))


# --- a whole run --------------------------------------------------------------


@pytest.mark.slow
def test_a_run_trains_an_epoch_streamed_from_tfds_files(
    fixed_dir, tmp_path, monkeypatch
):
    # The command line has no flag for tfds' data directory: tfds' default it is.
    monkeypatch.setattr(tfds.core.constants, "DATA_DIR", str(fixed_dir))
    config = Config(
        net="fc2_100",
        rule="bp",
        loss="softmax",
        dataset="tiny_fixed",
        input="stream",
        val_examples=10,
        batch_size=10,
        eval_batch_size=8,
        epochs=1,
    )
    summary = train.run(config, tmp_path / "run", **QUIET)
    [record] = read_records(tmp_path / "run")
    assert record["epoch"] == 1 and np.isfinite(record["train_loss"])
    for split in ("train", "val", "test"):
        assert 0.0 <= record[f"{split}_error"] <= 1.0
    assert summary["test_error"] == record["test_error"]
