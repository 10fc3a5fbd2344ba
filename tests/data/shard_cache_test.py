"""The shard-scan cache (`urfbtf.data.shards`): a cache of the wrong structure,
valid JSON though it is, costs only a rescan, and the rescan rewrites it valid.

Issue #30: `{"version": 1, "shards": [...]}` crashed a run with
`AttributeError: 'list' object has no attribute 'update'`, where unparsable JSON
was already ignored."""

import json

import pytest

from urfbtf import data
from urfbtf.data import shards

SAMPLE = str(data.SAMPLE_DIR)
TRAIN_SHARD = f"{SAMPLE}/cifar10_sample-train.tfrecord-00000-of-00001"
TEST_SHARD = f"{SAMPLE}/cifar10_sample-test.tfrecord-00000-of-00001"
PATHS = [TRAIN_SHARD, TEST_SHARD]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Every test scans into a cache of its own."""
    monkeypatch.setenv("URFBTF_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def fresh_scan(tmp_path_factory):
    """What a scan without any cache finds."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("URFBTF_CACHE_DIR", str(tmp_path_factory.mktemp("fresh")))
        return shards.scan(PATHS, SAMPLE)


def _keys():
    return [shards._file_key(path) for path in PATHS]


def _good_entry():
    return {"count": 100, "min_label": 0, "max_label": 9, "first_shape": [32, 32, 3]}


def _entries(entry):
    return {"version": shards._CACHE_VERSION, "shards": {k: entry for k in _keys()}}


# Each is valid JSON that a cache file must not hold.
WRONG_CACHES = {
    "a list": lambda: [1, 2, 3],
    "a number": lambda: 7,
    "null": lambda: None,
    "shards as a list": lambda: {"version": shards._CACHE_VERSION, "shards": [1]},
    "shards as a string": lambda: {"version": shards._CACHE_VERSION, "shards": "x"},
    "entries as strings": lambda: _entries("100 records"),
    "entries as lists": lambda: _entries([100, 0, 9, [32, 32, 3]]),
    "a count as a string": lambda: _entries({**_good_entry(), "count": "100"}),
    "a count as a bool": lambda: _entries({**_good_entry(), "count": True}),
    "a count of zero": lambda: _entries({**_good_entry(), "count": 0}),
    "a label as a float": lambda: _entries({**_good_entry(), "max_label": 9.5}),
    "labels reversed": lambda: _entries({**_good_entry(), "min_label": 10}),
    "a shape as a number": lambda: _entries({**_good_entry(), "first_shape": 32}),
    "a shape of two sides": lambda: _entries({**_good_entry(), "first_shape": [32, 3]}),
    "a field missing": lambda: _entries({"count": 100, "min_label": 0}),
    "a field too many": lambda: _entries({**_good_entry(), "extra": 1}),
}


@pytest.mark.parametrize("cache", WRONG_CACHES.values(), ids=WRONG_CACHES.keys())
def test_a_cache_of_the_wrong_structure_is_rescanned_and_rewritten(
    cache, fresh_scan, monkeypatch
):
    path = shards.cache_path(SAMPLE)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(cache()))

    assert shards.scan(PATHS, SAMPLE) == fresh_scan

    written = json.loads(path.read_text())
    assert written["version"] == shards._CACHE_VERSION
    assert sorted(written["shards"]) == sorted(_keys())

    # Rewritten valid: the next scan reads it, and no shard.
    def unread(shard):
        raise AssertionError(f"read {shard} again")

    monkeypatch.setattr(shards, "_scan_one", unread)
    assert shards.scan(PATHS, SAMPLE) == fresh_scan


def test_a_cached_scan_equals_a_fresh_one(fresh_scan, monkeypatch):
    """The cache gives back what the scan found, the image's shape a tuple as
    the scan's (JSON stores it as a list)."""
    shards.scan(PATHS, SAMPLE)
    monkeypatch.setattr(shards, "_scan_one", lambda shard: pytest.fail(shard))
    cached = shards.scan(PATHS, SAMPLE)
    assert cached == fresh_scan
    assert all(isinstance(info.first_shape, tuple) for info in cached)


def test_only_the_wrong_entries_are_rescanned(fresh_scan, monkeypatch):
    """One bad entry costs the scan of its own shard, not of the others."""
    shards.scan(PATHS, SAMPLE)
    path = shards.cache_path(SAMPLE)
    cache = json.loads(path.read_text())
    cache["shards"][shards._file_key(TEST_SHARD)]["count"] = "many"
    path.write_text(json.dumps(cache))

    scanned = []
    scan_one = shards._scan_one
    monkeypatch.setattr(
        shards, "_scan_one", lambda shard: scanned.append(shard) or scan_one(shard)
    )
    assert shards.scan(PATHS, SAMPLE) == fresh_scan
    assert scanned == [TEST_SHARD]
