"""tensorflow-datasets as a source: whole train and test splits as numpy arrays.

The test split is "test", or "validation" for datasets without one (`test_split`):
ImageNet's test labels are not public, so imagenet2012 and imagenet_resized are
tested on their validation split, as in the papers that report ImageNet error.
Images of different sizes (imagenet2012's) cannot be held as one array; they are
streamed (`urfbtf.data.tfds_stream`).

tfds downloads and prepares a dataset on first use, as usual, with one exception
made for machines without network (see `_retries_only_if_online`): there, the
download fails within seconds rather than after minutes of retries. Either way a
failed download is a `DataError` that points to the offline sources; nothing
falls back silently.
"""

import contextlib
import socket
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import downloader as tfds_downloader

from urfbtf.data.messages import clause, did_you_mean
from urfbtf.data.tfrecords import SAMPLE_DATASET
from urfbtf.errors import DataError, UsageError

# Whole splits are turned into numpy arrays in chunks of this many examples.
_READ_BATCH = 1024
# How long the check before a download waits for a host to accept a connection:
# ample for a working network, while a machine without one fails at once (no
# route, no name resolution, or a refused connection).
_CONNECT_TIMEOUT_SECONDS = 5.0
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}


def load_tfds(
    name: str, tfds_data_dir: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Loads the train and test splits of a tfds dataset as numpy arrays.

    Args:
        name: The tfds name, e.g. "cifar10" (or "name/config:version").
        tfds_data_dir: The data_dir passed to tfds; None for tfds' default.

    Returns:
        (train images, train labels, test images, test labels, number of classes):
        uint8 images [N, H, W, C] and int64 labels [N].

    Raises:
        UsageError: For an unknown name, images of different sizes, or a dataset
            that is not image classification with train and test (or validation)
            splits.
        DataError: If the download or the prepared files fail.
    """
    builder = tfds_builder(name, tfds_data_dir)
    shape = image_shape(builder.info)
    if shape is not None and None in shape[:2]:
        raise UsageError(
            f"The images of tfds dataset {name!r} have different sizes (shape "
            f"{shape}), and the memory path holds a split as one array of one "
            "shape. Use --input=stream (or auto), which decodes and resizes them "
            "on the fly (to --image_size, default 224)."
        )
    try:
        with _retries_only_if_online(builder):
            train, info = tfds.load(
                name,
                split="train",
                as_supervised=True,
                with_info=True,
                data_dir=tfds_data_dir,
            )
            test = tfds.load(
                name,
                split=test_split(info.splits),
                as_supervised=True,
                data_dir=tfds_data_dir,
            )
    except (tfds.download.DownloadError, OSError, ImportError, tf.errors.OpError) as e:
        # OSError covers ConnectionError and the requests library's errors.
        raise DataError(
            f"tensorflow-datasets could not download or prepare dataset {name!r} "
            f"({clause(e)}). Without network access, pass --data_dir=DIR for a "
            f"directory of local TFRecords {name}-train.tfrecord-* and "
            f"{name}-test.tfrecord-* (features image/encoded, image/class/label), "
            f"or use the dataset {SAMPLE_DATASET!r}, a small CIFAR-10 sample that "
            "ships with urfbtf and needs no download."
        ) from e
    except ValueError as e:
        # E.g. a dataset without a "test" split or without supervised keys.
        raise UsageError(
            f"Dataset {name!r} cannot be used ({clause(e)}); urfbtf needs a tfds "
            "image-classification dataset with (image, label) supervised keys and "
            "train and test (or validation) splits, such as cifar10, cifar100, "
            "mnist or fashion_mnist."
        ) from e

    # Not info.splits: it is empty under tfds.testing.mock_data.
    label_key = info.supervised_keys[1] if info.supervised_keys else "label"
    num_classes = int(info.features[label_key].num_classes)
    train_x, train_y = _tfds_to_numpy(train, name, "train")
    test_x, test_y = _tfds_to_numpy(test, name, "test")
    return train_x, train_y, test_x, test_y, num_classes


def tfds_builder(name: str, tfds_data_dir: str | None) -> tfds.core.DatasetBuilder:
    """The builder of a tfds name, without downloading or preparing anything.

    Raises:
        UsageError: For a name tfds does not know, suggesting close ones.
    """
    try:
        return tfds.builder(name, data_dir=tfds_data_dir)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise UsageError(_unknown_tfds_message(name)) from e


def test_split(splits: Iterable[str]) -> str:
    """The split a tfds dataset is tested on: "test", else "validation".

    ImageNet's datasets have only "train" and "validation" (its test labels are
    not public), and the validation set is then the test set, as in the papers.
    Splits that are not known (none are listed before a dataset is prepared, nor
    under tfds.testing.mock_data) give "test", so tfds itself names a missing one.
    """
    names = set(splits)
    return "validation" if "test" not in names and "validation" in names else "test"


def image_shape(info: tfds.core.DatasetInfo) -> tuple | None:
    """The (H, W, C) of the image feature, None where sizes vary (imagenet2012's
    (None, None, 3)); None without (image, label) supervised keys or an image
    feature of three dimensions, which the callers then refuse."""
    keys = info.supervised_keys
    if not keys or not isinstance(keys[0], str) or keys[0] not in info.features:
        return None
    shape = getattr(info.features[keys[0]], "shape", None)
    return tuple(shape) if shape is not None and len(shape) == 3 else None


@contextlib.contextmanager
def _retries_only_if_online(builder: tfds.core.DatasetBuilder) -> Iterator[None]:
    """Lets tfds retry its downloads only if one of its download hosts answers.

    tfds retries every failed request `MAX_RETRIES` (10) times with exponential
    backoff (urllib3's Retry, backoff_factor 0.2: 204 s in all, tfds 4.9
    core/download/downloader.py). That rides out a server's transient errors, but
    on a machine without network it turns an immediate failure into three and a
    half minutes of connection warnings. So when the dataset still has to be
    prepared and none of the hosts in its registered checksums (`url_infos`), nor
    the proxy configured for them, accepts a connection, tfds makes its requests
    once, without retries. It still prepares the data from downloads it finds in
    its cache or manual_dir; otherwise it fails at once, with the same error it
    raises after its retries. Datasets without registered URLs keep the retries.
    """
    if builder.is_prepared() or _any_reachable(builder.url_infos or {}):
        yield
        return
    retries = tfds_downloader.MAX_RETRIES
    # tfds reads it on every request (downloader._open_with_requests).
    tfds_downloader.MAX_RETRIES = 0
    try:
        yield
    finally:
        tfds_downloader.MAX_RETRIES = retries


def _any_reachable(urls: Iterable[str]) -> bool:
    """Whether a download of one of the urls could connect; True if none can be
    checked (not http, https or ftp)."""
    endpoints = list(dict.fromkeys(filter(None, map(_endpoint, urls))))
    for host, port in endpoints:
        try:
            socket.create_connection((host, port), _CONNECT_TIMEOUT_SECONDS).close()
        except OSError:
            continue
        return True
    return not endpoints


def _endpoint(url: str) -> tuple[str, int] | None:
    """The (host, port) a download of `url` connects to first: its proxy's, if the
    environment sets one (HTTPS_PROXY, NO_PROXY, ..., which requests reads too);
    None for URLs tfds does not fetch over the network (gs://, local paths)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(parts.hostname):
        # Like requests, read "host:port" as an http proxy.
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # A malformed port: leave the verdict to tfds.
        return None
    return (parts.hostname, port) if parts.hostname and port else None


def _tfds_to_numpy(
    dataset: tf.data.Dataset, name: str, split: str
) -> tuple[np.ndarray, np.ndarray]:
    # Chunked batches rather than tfds' batch_size=-1: under mock_data that asks TF
    # for a batch of sys.maxsize and aborts the process.
    try:
        chunks = list(tfds.as_numpy(dataset.batch(_READ_BATCH)))
    except tf.errors.OpError as e:
        raise DataError(
            f"Could not read the {split} split of tfds dataset {name!r} "
            f"({clause(e)}). urfbtf needs images of one fixed shape; if the prepared "
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
    return (
        f"Unknown dataset {name!r}: tensorflow-datasets has no dataset of that "
        f"name.{did_you_mean(name, builders)} Use a tfds image-classification "
        "dataset such as cifar10, cifar100, mnist or fashion_mnist, the offline "
        f"sample {SAMPLE_DATASET!r}, or --data_dir=DIR to read your own TFRecords."
    )
