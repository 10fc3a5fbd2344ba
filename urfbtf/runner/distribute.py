"""One factory for the `tf.distribute` strategies a run can use.

`--strategy` picks where a run executes; the experiment is the same everywhere:
`--batch_size` is the global batch, split evenly across replicas, and gradients
(including URFB's feedback gradients) are summed across replicas, so a
distributed run follows the single-device one up to float rounding.

* `default`: one device (TensorFlow's default strategy).
* `mirrored`: every local GPU (or the given devices) of one machine.
* `multi_worker`: several machines, each running the same command, described by
  the `TF_CONFIG` environment variable (see the README).
* `tpu`: a Cloud TPU or the TPU of a Colab runtime (`--tpu=` names it; empty
  finds the local or Colab one).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from urfbtf.errors import UsageError

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name: str, *, tpu: str = "", devices=None) -> tf.distribute.Strategy:
    """Returns the strategy called `name` (one of `STRATEGIES`).

    Args:
        name: the strategy's name.
        tpu: for "tpu": a TPU name or grpc:// address; "" looks for the TPU of
            this machine or Colab runtime.
        devices: for "mirrored": the devices to mirror across (default: every
            GPU, or the CPU if there is none).

    Raises:
        UsageError: for an unknown name, a `TF_CONFIG` that does not describe a
            cluster, or no TPU reachable.
    """
    check_name(name)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    return _tpu_strategy(tpu)


def check_name(name: str) -> None:
    """Raises `UsageError` unless `name` is one of `STRATEGIES`."""
    if name not in STRATEGIES:
        raise UsageError(
            f"Unknown strategy {name!r}. Valid strategies: default (one device), "
            "mirrored (the GPUs of one machine), multi_worker (several machines, "
            "described by TF_CONFIG) and tpu."
        )


def check_tf_config(text: str | None) -> dict:
    """Parses TF_CONFIG; raises `UsageError` unless it describes this worker."""
    example = (
        '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
        '"task": {"type": "worker", "index": 0}}'
    )
    if not text:
        raise UsageError(
            "--strategy=multi_worker needs the TF_CONFIG environment variable, "
            f"set on every worker, e.g. TF_CONFIG='{example}' (index 1 on the "
            "second worker)."
        )
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        task = config["task"]
        valid = (
            isinstance(workers, list)
            and workers
            and task["type"] in ("worker", "chief")
            and 0 <= int(task["index"]) < len(workers) + ("chief" in config["cluster"])
        )
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(
            f"TF_CONFIG={text!r} does not parse ({type(error).__name__}: {error}); "
            f"it must be JSON like {example}."
        ) from error
    if not valid:
        raise UsageError(
            f"TF_CONFIG={text!r} does not describe a worker of its cluster: it needs "
            "a non-empty cluster.worker list and a task of type worker (or chief) "
            f"whose index is in that list, e.g. {example}."
        )
    return config


def find_tpu(tpu: str = ""):
    """A `TPUClusterResolver` for `tpu`, or None when no TPU can be found.

    With `tpu` empty it looks for the TPU the environment names (Colab's, or
    TPU_NAME on Google Cloud), then for TPU chips attached to this host (a TPU
    VM).
    """
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver
    try:
        if tpu:
            return resolver(tpu=tpu)
        found = resolver()
        if found.master():
            return found
    except (ValueError, RuntimeError, tf.errors.OpError, OSError):
        if tpu:
            return None
    if tf.config.list_physical_devices("TPU"):
        return resolver(tpu="local")
    return None


def _tpu_strategy(tpu: str) -> tf.distribute.TPUStrategy:
    resolver = find_tpu(tpu)
    help_text = (
        "On Colab, choose Runtime > Change runtime type > TPU; on Google Cloud, "
        "pass --tpu=NAME or --tpu=grpc://ADDRESS; without a TPU use "
        "--strategy=default or mirrored."
    )
    if resolver is None:
        where = f" at {tpu!r}" if tpu else ""
        raise UsageError(f"--strategy=tpu found no TPU{where}. {help_text}")
    try:
        if resolver.master() not in ("", "local"):
            # A remote TPU: this process must join its cluster first.
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UsageError(
            f"--strategy=tpu could not start the TPU {resolver.master()!r} "
            f"({type(error).__name__}: {first_line}). {help_text}"
        ) from error
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (one writer per cluster).

    In a multi-worker cluster that is the "chief" task if there is one, else
    worker 0, as `tf.distribute` itself decides; every other strategy runs in
    one process, which writes.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    resolver = strategy.cluster_resolver
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
