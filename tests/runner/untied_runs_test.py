"""Untied layers in runs: the two-phase untying schedule, its resumption, sparse
against dense end to end, the similarity metric, the filter figure, and XLA
refusals."""

from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from tests.support.runs import QUIET, SAMPLE
from urfbtf.backward import untied
from urfbtf.errors import UsageError
from urfbtf.records import read_records
from urfbtf.runner import checkpoint, train
from urfbtf.runner.config import Config

# deepnet_s's untying schedule in miniature: 2 tied epochs, then conv0 frozen,
# the other convs untied and redrawn with the dense layers, at another batch size.
UNTYING = dict(
    net="deepnet_s",
    untie_after=2,
    untie="conv0a,conv2,conv2a,conv3,conv3a",
    freeze="conv0",
    redraw="conv0a,conv2,conv2a,conv3,conv3a,dense1,output",
    batch_size=100,
    untied_batch_size=50,
    epochs=4,
    **SAMPLE,
)


@pytest.fixture(scope="module")
def untying_run(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("untying") / "whole"
    train.run(Config(**UNTYING), model_dir, **QUIET)
    return model_dir


@pytest.mark.slow
def test_untying_trains_tied_then_untied_with_both_phases_in_metrics(untying_run):
    records = read_records(untying_run)
    assert [(r["epoch"], r["phase"]) for r in records] == [
        (1, 1),
        (2, 1),
        (3, 2),
        (4, 2),
    ]
    assert not any(key.startswith("untied_similarity/") for key in records[1])
    untied_keys = {k for k in records[2] if k.startswith("untied_similarity/")}
    assert untied_keys == {
        f"untied_similarity/{n}" for n in UNTYING["untie"].split(",")
    }
    # Untied layers start as one kernel copied everywhere (similarity 1) and learn
    # location by location, so their filters drift apart.
    assert all(0.0 < records[3][k] < 1.0 for k in untied_keys)
    tied = checkpoint.variables_at(untying_run, 2)
    untied_state = checkpoint.variables_at(untying_run, 4)
    # conv0 is frozen: its weights are those it had at the end of phase 1.
    np.testing.assert_array_equal(untied_state["conv0/kernel"], tied["conv0/kernel"])
    assert untied_state["conv2/kernel"].ndim == 6  # Per-location kernels.
    # Redrawn, not carried over: the dense layer moved away from its phase-1 value.
    assert not np.allclose(untied_state["dense1/kernel"], tied["dense1/kernel"])


@pytest.mark.slow
@pytest.mark.parametrize("stop_at", [1, 2, 3])
def test_untying_resumes_in_either_phase_and_at_the_boundary(
    untying_run, stop_at, tmp_path
):
    """Stopped after epoch 1 (phase 1), 2 (the boundary) or 3 (phase 2)."""
    train.run(Config(**{**UNTYING, "epochs": stop_at}), tmp_path, **QUIET)
    train.run(Config(**UNTYING), tmp_path, **QUIET)
    whole = checkpoint.variables_at(untying_run, 4)
    resumed = checkpoint.variables_at(tmp_path, 4)
    assert list(whole) == list(resumed)
    for path, value in whole.items():
        np.testing.assert_array_equal(value, resumed[path], err_msg=path)
    assert [r["phase"] for r in read_records(tmp_path)] == [1, 1, 2, 2]


def test_sparse_and_dense_untied_runs_train_alike(tmp_path):
    common = dict(net="simpnet_s", untie="conv1", batch_size=50, epochs=1, **SAMPLE)
    runs = {}
    for impl in ("dense", "sparse"):
        train.run(Config(untied_impl=impl, **common), tmp_path / impl, **QUIET)
        runs[impl] = checkpoint.variables_at(tmp_path / impl, 1)
    from urfbtf import nets

    model = nets.build_net(
        "simpnet_s", input_shape=(32, 32, 3), num_classes=10, untie="conv1"
    )
    connections = model.get_layer("conv1").connections
    # Four steps of float round-off, amplified where a unit sits at the edge of
    # the saturated linearity: equal to 1e-4 where training moved weights by ~1e-2.
    for name in ("conv1/kernel", "conv1/feedback"):
        as_dense = untied.to_dense(runs["sparse"][name], connections).numpy()
        np.testing.assert_allclose(runs["dense"][name], as_dense, atol=1e-4)
    np.testing.assert_allclose(
        runs["dense"]["dense1/kernel"], runs["sparse"]["dense1/kernel"], atol=1e-4
    )
    errors = {impl: read_records(tmp_path / impl)[0]["test_error"] for impl in runs}
    assert errors["dense"] == pytest.approx(errors["sparse"], abs=0.004)


def test_sparse_untied_layers_with_xla_stop_before_training_naming_dense(tmp_path):
    config = Config(
        net="simpnet_s",
        untie="conv1",
        untied_impl="sparse",
        epochs=1,
        jit_compile=True,
        deterministic=False,
        **SAMPLE,
    )
    with pytest.raises(UsageError, match=r"conv1 cannot be compiled.*'dense'"):
        train.run(config, tmp_path, **QUIET)
    assert not (tmp_path / "checkpoints").exists()


def test_sparse_untied_layers_on_a_tpu_stop_before_training_naming_dense(tmp_path):
    config = Config(
        net="simpnet_s", untie="conv1", untied_impl="sparse", epochs=1, **SAMPLE
    )
    tpu = mock.Mock(spec=tf.distribute.TPUStrategy)
    tpu.num_replicas_in_sync = 1
    tpu.scope.return_value = tf.distribute.get_strategy().scope()
    with pytest.raises(UsageError, match=r"a TPU.*implementation='dense'"):
        train.run(config, tmp_path, strategy=tpu, **QUIET)


def test_direct_rules_train_untied_layers(tmp_path):
    config = Config(
        net="simpnet_s", untie="conv1", rule="drtp", batch_size=50, epochs=1, **SAMPLE
    )
    train.run(config, tmp_path, **QUIET)
    state = checkpoint.variables_at(tmp_path, 1)
    assert state["conv1_feedback/projection"].shape == (10, 32 * 32 * 32)
    # The untied layer learned from its own projected signal: two interior
    # locations, which started with one copied kernel, now hold different filters.
    kernel = state["conv1/kernel"]
    assert kernel.shape == (32, 32, 5, 5, 3, 32)
    assert np.abs(kernel[10, 10] - kernel[20, 20]).max() > 1e-6
