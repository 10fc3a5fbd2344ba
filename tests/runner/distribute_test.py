"""Every rule under MirroredStrategy (two logical CPUs) and under XLA gives the
single-device result."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.support.paths import REPO
from tests.support.runs import QUIET
from urfbtf import losses, nets
from urfbtf.metrics import ErrorRate
from urfbtf.records import read_records
from urfbtf.runner import checkpoint, train
from urfbtf.runner.config import Config

# A small conv net with every kind of step but the residual sum, which the
# nets test covers: conv, pool, dropout, dense, output.
SMALL = (
    nets.Conv("conv1", 4, 3),
    nets.Pool("pool1", 3, 2),
    nets.Drop("drop1", 0.5),
    nets.Dense("dense1", 16),
    nets.Output(),
)
NO_DROPOUT = tuple(step for step in SMALL if not isinstance(step, nets.Drop))
PROTOCOLS = [
    ("bp", 1.0),
    ("frfb", 1.0),
    ("urfb", 1.0),
    ("urfb", 0.5),
    ("dfa", 1.0),
    ("sdfa", 1.0),
    ("drtp", 1.0),
    ("shallow", 1.0),
]


def _small_model(strategy, rule, connectivity, jit_compile=False, description=SMALL):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = nets.build_net(
            description,
            input_shape=(16, 16, 3),
            num_classes=10,
            rule=rule,
            connectivity=connectivity,
            dropout_seed=1,
        )
        model.compile(
            keras.optimizers.SGD(0.1),
            losses.get_loss("hinge"),
            metrics=[ErrorRate()],
            jit_compile=jit_compile,
        )
    return model


def _fit_one_epoch(strategy, model):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 10, 64)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16, drop_remainder=True)
    with strategy.scope():
        return model.fit(dataset, epochs=1, shuffle=False, verbose=0).history


def _replica_values(variable):
    """The value on every replica (a Keras variable wraps a tf.Variable, which
    under MirroredStrategy holds one component per replica)."""
    values = getattr(variable.value, "values", None)
    return [v.numpy() for v in values] if values else [variable.numpy()]


@pytest.mark.parametrize("rule,connectivity", PROTOCOLS)
def test_mirrored_epoch_equals_single_device_epoch(mirrored, rule, connectivity):
    single = _small_model(tf.distribute.get_strategy(), rule, connectivity)
    single_history = _fit_one_epoch(tf.distribute.get_strategy(), single)
    replicated = _small_model(mirrored, rule, connectivity)
    replicated_history = _fit_one_epoch(mirrored, replicated)
    np.testing.assert_allclose(
        replicated_history["loss"], single_history["loss"], rtol=1e-6
    )
    names = set()
    for ours, reference in zip(replicated.variables, single.variables, strict=True):
        replicas = _replica_values(ours)
        assert len(replicas) == 2
        for other in replicas[1:]:  # Identical on both replicas, to the bit.
            np.testing.assert_array_equal(other, replicas[0], err_msg=ours.path)
        np.testing.assert_allclose(
            replicas[0], reference.numpy(), rtol=1e-5, atol=1e-6, err_msg=ours.path
        )
        names.add(ours.path.split("/")[-1])
    if rule in ("frfb", "urfb"):
        assert "feedback" in names
    if rule in ("dfa", "sdfa", "drtp"):
        assert "projection" in names
    if connectivity < 1:
        assert {"kernel_mask", "feedback_mask"} <= names


_XLA_CHECK = """
import json, sys
import keras, numpy as np, tensorflow as tf
sys.path.insert(0, {repo!r})
import tests.runner.distribute_test as t
results = {{}}
for rule, connectivity in t.PROTOCOLS:
    strategy = tf.distribute.get_strategy()
    graph = t._small_model(strategy, rule, connectivity, description=t.NO_DROPOUT)
    compiled = t._small_model(strategy, rule, connectivity, jit_compile=True,
                              description=t.NO_DROPOUT)
    t._fit_one_epoch(strategy, graph)
    t._fit_one_epoch(strategy, compiled)
    results[f"{{rule}}-{{connectivity}}"] = dict(
        jit=compiled.jit_compile,
        diff=max(float(np.abs(a.numpy().astype(float) - b.numpy().astype(float)).max())
                 for a, b in zip(compiled.variables, graph.variables)))
print(json.dumps(results))
"""


def test_xla_compiled_training_equals_graph_training():
    """Every rule's whole training step (forward, rule gradients, SGD, pooling)
    compiles with XLA and trains like the uncompiled step.

    Without dropout: XLA's stateless random numbers differ from the CPU kernel's
    for the same seed (even with alg="philox"), so compiled dropout masks differ.

    In a fresh process: TensorFlow refuses to compile max-pool gradients under op
    determinism (which conftest enables here), and Keras turns XLA off then.
    """
    result = subprocess.run(
        [sys.executable, "-c", _XLA_CHECK.format(repo=str(REPO))],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(results) == {f"{r}-{c}" for r, c in PROTOCOLS}
    for name, outcome in results.items():
        assert outcome["jit"] is True, name  # Keras really compiled the step.
        assert outcome["diff"] < 2e-6, name


QUICK = dict(dataset="cifar10_sample", batch_size=20, lr=0.1, eval_batch_size=100)


@pytest.mark.slow
def test_mirrored_runs_resume_exactly_and_follow_the_single_device_run(
    mirrored, tmp_path
):
    config = Config(
        epochs=2, connectivity=0.5, strategy="mirrored", probe_every=20, **QUICK
    )
    train.run(config, tmp_path / "whole", strategy=mirrored, **QUIET)
    first = Config(**{**config.to_dict(), "epochs": 1})
    train.run(first, tmp_path / "parts", strategy=mirrored, **QUIET)
    train.run(config, tmp_path / "parts", strategy=mirrored, **QUIET)
    single = Config(**{**config.to_dict(), "strategy": "default"})
    train.run(single, tmp_path / "single", **QUIET)
    whole, parts, single_state = (
        checkpoint.variables_at(tmp_path / name, 2)
        for name in ("whole", "parts", "single")
    )
    assert list(whole) == list(parts) == list(single_state)
    for path, value in whole.items():
        np.testing.assert_array_equal(value, parts[path], err_msg=path)
        np.testing.assert_allclose(value, single_state[path], atol=1e-5, err_msg=path)
    records = read_records(tmp_path / "whole")
    singles = read_records(tmp_path / "single")
    for record, reference in zip(records, singles, strict=True):
        # The probes run under the strategy too and see the same weights.
        for key in (
            "train_loss",
            "val_error",
            "test_error",
            "test_loss",
            "update_angle/dense1",
            "signal_angle/dense1",
        ):
            assert record[key] == pytest.approx(reference[key], abs=1e-5)


def test_global_batch_must_split_over_replicas(mirrored, tmp_path):
    from urfbtf.errors import UsageError

    with pytest.raises(UsageError, match=r"batch_size=21 .* 2 replicas"):
        train.run(
            Config(epochs=1, **{**QUICK, "batch_size": 21}),
            tmp_path,
            strategy=mirrored,
            verbose=0,
        )


def test_checkpoint_written_under_mirrored_restores_in_a_single_device_model(
    mirrored, tmp_path
):
    model = _small_model(mirrored, "urfb", 0.5)
    _fit_one_epoch(mirrored, model)
    checkpoint.save(model, tmp_path, 1)
    restored = _small_model(tf.distribute.get_strategy(), "urfb", 0.5)
    assert checkpoint.restore_latest(restored, tmp_path) == 1
    for ours, reference in zip(restored.variables, model.variables, strict=True):
        np.testing.assert_array_equal(ours.numpy(), _replica_values(reference)[0])
