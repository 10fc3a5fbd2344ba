"""TFRecord shards for the streaming path: what each one holds, found once and cached.

A streaming run needs, before its first step, the number of records of every
shard (for the steps of an epoch and for exact evaluation), the range of its
labels (to detect 1-based labels and the number of classes) and the shape of one
image (its channels). `scan` reads every shard once, in parallel threads, without
decoding its images (but the first), and caches what it found in a small JSON
file per data directory (`cache_path`), keyed by each file's size and
modification time: the next run of the same data starts at once. Reading a whole
shard also checks its framing (TFRecord's lengths and CRCs), so a truncated or
corrupt shard is named before training starts.

A `Piece` is a run of consecutive records of one shard: the splits of a streamed
dataset are lists of pieces (the validation split is the tail of the training
shards, `take_tail`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import pathlib

import tensorflow as tf
from absl import logging

from urfbtf.data.messages import clause
from urfbtf.errors import DataError

IMAGE_KEY = "image/encoded"
LABEL_KEY = "image/class/label"
# Threads that read shards at once while scanning: enough to keep a cloud
# bucket's reads in flight, few enough for a laptop's disk.
SCAN_THREADS = 16
# Labels are gathered in batches of this many while scanning.
_SCAN_BATCH = 4096
# Bump when what the cache holds changes, so that old caches are ignored.
_CACHE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class ShardInfo:
    """What one shard holds: its records, their label range, its first image."""

    count: int
    min_label: int
    max_label: int
    first_shape: tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class Piece:
    """Records `start` .. `start + count - 1` of the shard `path`."""

    path: str
    start: int
    count: int


def schema_text(image_key: str = IMAGE_KEY, label_key: str = LABEL_KEY) -> str:
    """The schema every shard must follow, for error messages: the standard keys,
    or a layout's own (tensorflow-datasets' "image" and "label")."""
    return (
        f"TFRecords of tf.train.Example with {image_key} (JPEG or PNG bytes) and "
        f"{label_key} (int64)"
    )


def cache_dir() -> pathlib.Path:
    """Where scans are cached: $URFBTF_CACHE_DIR, else $XDG_CACHE_HOME/urfbtf,
    else ~/.cache/urfbtf."""
    if os.environ.get("URFBTF_CACHE_DIR"):
        return pathlib.Path(os.environ["URFBTF_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "urfbtf"


def cache_path(directory: str) -> pathlib.Path:
    """The cache file of one data directory (local or gs://)."""
    digest = hashlib.sha256(directory.rstrip("/").encode()).hexdigest()[:16]
    return cache_dir() / f"shards-{digest}.json"


def scan(paths: list[str], directory: str) -> list[ShardInfo]:
    """Returns what each shard of `paths` holds, reading only those not cached.

    Args:
        paths: The shards (local paths or gs:// URLs).
        directory: Their data directory, which names the cache file.

    Raises:
        DataError: Naming the first shard that is missing, unreadable, corrupt
            or not in the schema (`schema_text`).
    """
    keys = {path: _file_key(path) for path in paths}
    cached = _read_cache(directory)
    found = {p: cached[keys[p]] for p in paths if keys[p] in cached}
    todo = [p for p in paths if p not in found]
    if todo:
        logging.warning(
            "Scanning %d TFRecord shards of %s once (record counts and labels); "
            "the result is cached in %s.",
            len(todo),
            directory,
            cache_path(directory),
        )
        with concurrent.futures.ThreadPoolExecutor(SCAN_THREADS) as pool:
            # map keeps the order, so the first bad shard in name order is named.
            for path, info in zip(todo, pool.map(_scan_one, todo), strict=True):
                found[path] = info
        cached.update({keys[p]: found[p] for p in todo})
        _write_cache(directory, cached)
    return [found[p] for p in paths]


def take_tail(pieces: list[Piece], count: int) -> tuple[list[Piece], list[Piece]]:
    """Splits `pieces` into (all but the last `count` records, the last `count`).

    The boundary may cut a shard in two: its head stays, its tail goes.
    """
    head, tail, remaining = list(pieces), [], count
    while remaining > 0 and head:
        last = head.pop()
        if last.count <= remaining:
            tail.insert(0, last)
            remaining -= last.count
            continue
        keep = last.count - remaining
        head.append(Piece(last.path, last.start, keep))
        tail.insert(0, Piece(last.path, last.start + keep, remaining))
        remaining = 0
    return head, tail


def take_head(pieces: list[Piece], count: int) -> list[Piece]:
    """The first `count` records of `pieces` (all of them if they hold fewer)."""
    kept, remaining = [], count
    for piece in pieces:
        if remaining <= 0:
            break
        kept.append(Piece(piece.path, piece.start, min(piece.count, remaining)))
        remaining -= kept[-1].count
    return kept


def _file_key(path: str) -> str:
    try:
        stat = tf.io.gfile.stat(path)
    except tf.errors.OpError as e:
        raise DataError(
            f"Could not read the shard {path} ({clause(e)}). It was listed in its "
            "directory a moment ago; check that the data directory is not being "
            "changed, and run again."
        ) from e
    return f"{path}|{stat.length}|{stat.mtime_nsec}"


def _scan_one(path: str) -> ShardInfo:
    """Reads one shard's labels (all) and first image; every error names it."""
    try:
        records = tf.data.TFRecordDataset(path, buffer_size=8 << 20)
        # Parsed one by one, so that only labels are batched, not images.
        labels = records.map(
            lambda record: tf.io.parse_single_example(
                record, {LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
            )[LABEL_KEY]
        ).batch(_SCAN_BATCH)
        count, low, high = 0, None, None
        for chunk in labels.as_numpy_iterator():
            count += len(chunk)
            low = int(chunk.min()) if low is None else min(low, int(chunk.min()))
            high = int(chunk.max()) if high is None else max(high, int(chunk.max()))
        if not count:
            raise DataError(
                f"The shard {path} holds no records; a shard must hold "
                f"{schema_text()}. Re-create it, or remove it and renumber the others."
            )
        first = next(iter(records.take(1)))
        example = tf.io.parse_single_example(
            first, {IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}
        )
        image = tf.io.decode_image(example[IMAGE_KEY], expand_animations=False)
    except tf.errors.OpError as e:
        raise DataError(
            f"Could not read the shard {path} ({clause(e)}). The file is truncated, "
            f"corrupt or not in the expected schema: {schema_text()}. Replace it "
            "(copy it again or re-create it)."
        ) from e
    return ShardInfo(count, low, high, tuple(int(d) for d in image.shape))


def _read_cache(directory: str) -> dict[str, ShardInfo]:
    """{file key: ShardInfo} of the cache file. A cache that cannot be read or
    parsed, of another version or of the wrong structure (a list, an entry of
    the wrong types) is ignored where it is wrong: it costs only a rescan of
    the shards it should have held, and the rescan rewrites it."""
    path = cache_path(directory)
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(cached, dict) or cached.get("version") != _CACHE_VERSION:
        return {}
    entries = cached.get("shards")
    if not isinstance(entries, dict):
        return {}
    infos = {key: _shard_info(entry) for key, entry in entries.items()}
    return {key: info for key, info in infos.items() if info is not None}


def _shard_info(entry) -> ShardInfo | None:
    """The `ShardInfo` a cache entry holds, or None unless it is exactly what
    `_write_cache` writes (a bool is not a count, a shape has three sides)."""
    fields = [field.name for field in dataclasses.fields(ShardInfo)]
    if not isinstance(entry, dict) or sorted(entry) != sorted(fields):
        return None
    shape = entry["first_shape"]
    numbers = [entry["count"], entry["min_label"], entry["max_label"]]
    if not isinstance(shape, list) or len(shape) != 3:
        return None
    if not all(type(n) is int for n in [*numbers, *shape]):
        return None
    if entry["count"] < 1 or entry["min_label"] > entry["max_label"]:
        return None
    if min(shape) < 1:
        return None
    return ShardInfo(*numbers, tuple(shape))


def _write_cache(directory: str, shards: dict[str, ShardInfo]) -> None:
    """Writes the cache atomically; a cache that cannot be written only costs
    the next run another scan."""
    path = cache_path(directory)
    entries = {key: dataclasses.asdict(info) for key, info in shards.items()}
    text = json.dumps({"version": _CACHE_VERSION, "shards": entries})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text)
        partial.replace(path)
    except OSError as e:
        logging.warning("Could not cache the shard scan in %s (%s).", path, e)
