"""A `--data_dir` that tensorflow-datasets prepared, read as the tfds name it holds.

tfds keeps a prepared dataset in `<root>/<name>[/<config>]/<version>/`: its
TFRecord shards and `dataset_info.json` (the name, config and version). Two
such directories are accepted as a data directory:

* the builder's own directory (`~/tensorflow_datasets/mnist/3.0.1`): read as
  the tfds name `mnist:3.0.1` (that version, whatever tfds' default is now)
  under the root two or three levels up;
* a root that holds the dataset (`~/tensorflow_datasets`, containing `mnist/`):
  read as the tfds name `--dataset` under that root, as `TFDS_DATA_DIR` would.

Anything else is left to the TFRecord layouts (`urfbtf.data.layouts`), with
their errors.
"""

from __future__ import annotations

import json

import tensorflow as tf

from urfbtf.data.messages import clause
from urfbtf.errors import DataError, UsageError

INFO_FILE = "dataset_info.json"


def tfds_source(dataset: str, directory: str) -> tuple[str, str] | None:
    """(tfds name, tfds data directory) of `directory` if tfds prepared it (see
    the module's docstring), else None.

    Raises:
        UsageError: the builder's directory holds another dataset than
            `dataset`.
        DataError: its `dataset_info.json` cannot be read, or the directory is
            not where tfds would keep that dataset.
    """
    path = directory.rstrip("/") or "/"
    base = dataset.split(":", 1)[0]
    try:
        own = tf.io.gfile.exists(f"{path}/{INFO_FILE}")
        holds = not own and tf.io.gfile.glob(f"{path}/{base}/*/{INFO_FILE}")
    except tf.errors.OpError:
        # Unreadable: the layouts' check names the directory and the error.
        return None
    if own:
        return _builder_directory(dataset, path)
    return (dataset, path) if holds else None


def _builder_directory(dataset: str, path: str) -> tuple[str, str]:
    info_path = f"{path}/{INFO_FILE}"
    try:
        with tf.io.gfile.GFile(info_path) as f:
            info = json.load(f)
        name, version = info["name"], info["version"]
    except (tf.errors.OpError, ValueError, KeyError, TypeError) as e:
        raise DataError(
            f"{info_path} could not be read as a tfds dataset_info.json "
            f"({clause(e) if not isinstance(e, KeyError) else f'no {e}'}); "
            "prepare the dataset again with tfds, or point --data_dir elsewhere."
        ) from e
    config = info.get("configName") or ""
    parts = [name, config, version] if config else [name, version]
    full = "/".join(parts[:-1])
    given = dataset.split(":", 1)[0]
    if given not in (name, full):
        raise UsageError(
            f"--data_dir={path} is the tfds directory of dataset {full!r} "
            f"(version {version}), and the dataset is {dataset!r}. Pass "
            f"--dataset={full}, or point --data_dir at {dataset!r}'s data."
        )
    suffix = "/" + "/".join(parts)
    if not path.endswith(suffix):
        raise DataError(
            f"{path} holds tfds dataset {full!r} {version}, but not in the "
            f"directories tfds reads it from (<data dir>{suffix}). Move it there "
            "and pass --data_dir=<data dir>/" + "/".join(parts) + "."
        )
    root = path[: -len(suffix)] or "/"
    return f"{full}:{version}", root
