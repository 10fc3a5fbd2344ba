"""urfbtf.callbacks.Alignment: the runner's probes, for one's own model.fit."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.support import fitted
from urfbtf import probes, rules
from urfbtf.callbacks import Alignment
from urfbtf.errors import UsageError
from urfbtf.records import PROBES_FILE, read_records

LAYERS = ("conv1", "dense1", "output")


def _tensorboard_tags(log_dir):
    tags = set()
    for path in log_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags |= {value.tag for value in event.summary.value}
    return tags


def test_the_callbacks_numbers_are_the_runners_probes(tmp_path):
    model = fitted.converted("frfb")
    x, y = fitted.data(16)
    callback = Alignment((x, y), every=2, log_dir=tmp_path)
    history = fitted.fit(model, callback)
    # Four steps: before the first, after the second and after the fourth.
    assert [r["step"] for r in callback.records] == [0, 2, 4]
    assert [r["epoch"] for r in callback.records] == [0, 1, 1]
    # What the runner computes on the same model and batch: its probes, and
    # the rule's per-epoch W-R metrics (`RunRecorder`, metrics.jsonl).
    expected = {
        **rules.get_rule("frfb").epoch_metrics(model),
        **probes.Prober(model)(x, y),
    }
    kinds = ("update_angle", "signal_angle", "signal_angle_std", "wr_corr", "wr_angle")
    assert set(expected) == {f"{k}/{layer}" for k in kinds for layer in LAYERS}
    last = callback.records[-1]
    assert set(last) == {"step", "epoch", *expected}
    for key, value in expected.items():
        assert last[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
        assert history.history[key] == [pytest.approx(value, rel=1e-6, abs=1e-9)]
    # Not backpropagation, not unrelated: feedback alignment at its start.
    assert 1 < last["update_angle/dense1"] < 179
    assert last["update_angle/output"] < 1e-2  # Its own true error.
    # probes.jsonl in the runner's format, and TensorBoard scalars.
    lines = read_records(tmp_path, PROBES_FILE)
    assert [line["step"] for line in lines] == [0, 2, 4]
    assert lines[-1] == pytest.approx(last, rel=1e-6)
    tags = _tensorboard_tags(tmp_path)
    assert {f"probe/{key}" for key in expected} <= tags
    assert {f"epoch/{key}" for key in expected} <= tags


@pytest.mark.parametrize("in_logs", [False, True])
def test_the_numbers_stay_out_of_the_progress_bar_unless_asked(capsys, in_logs):
    model = fitted.converted("frfb")
    callback = Alignment(fitted.data(16), every=2, in_logs=in_logs)
    seen = {}

    class Spy(keras.callbacks.Callback):
        """A callback after Alignment: what the epoch's logs hold for it."""

        def on_epoch_end(self, epoch, logs=None):
            seen.update(logs)

    x, y = fitted.data()
    history = model.fit(
        x, y, batch_size=16, epochs=2, verbose=2, callbacks=[callback, Spy()]
    )
    printed = capsys.readouterr().out
    # Keras' per-epoch line is printed either way, with the loss.
    assert printed.count("loss:") == 2
    assert ("wr_corr/dense1" in printed) == in_logs
    assert ("update_angle/output" in seen) == in_logs
    # The History keeps them, one value an epoch, either way.
    for key in ("wr_corr/dense1", "update_angle/output", "signal_angle/conv1"):
        assert len(history.history[key]) == 2, key
    assert len(history.history["loss"]) == 2


def test_probes_follow_the_runners_schedule_across_epochs_and_executions():
    callback = Alignment(fitted.data(16), every=3)
    history = fitted.fit(fitted.converted("urfb"), callback, epochs=2)
    assert [r["step"] for r in callback.records] == [0, 3, 6]
    assert len(history.history["wr_corr/dense1"]) == 2
    # Two steps per call into the compiled step: 3 is passed at step 4.
    callback = Alignment(fitted.data(16), every=3)
    model = fitted.converted("urfb")
    model.compile(model.optimizer, model.loss, steps_per_execution=2)
    fitted.fit(model, callback, epochs=2)
    assert [r["step"] for r in callback.records] == [0, 4, 6]
    # A second fit continues the steps (no second probe at its start).
    fitted.fit(model, callback)
    assert [r["step"] for r in callback.records] == [0, 4, 6, 10, 12]


def test_direct_rules_have_no_feedback_weights_to_compare():
    callback = Alignment(fitted.data(16), every=2)
    fitted.fit(fitted.converted("dfa"), callback)
    last = callback.records[-1]
    assert not any(key.startswith("wr_") for key in last)
    assert 1 < last["update_angle/dense1"] < 179
    assert last["update_angle/output"] < 1e-2


def test_a_model_without_urfbtf_layers_and_bad_arguments_are_refused():
    model = fitted.plain_net()
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(UsageError, match=r"Alignment needs a model.*urfbtf.convert"):
        fitted.fit(model, Alignment(fitted.data(16)))
    with pytest.raises(UsageError, match="every=0"):
        Alignment(fitted.data(16), every=0)
    with pytest.raises(UsageError, match=r"pair \(x, y\)"):
        Alignment(np.zeros((4, 3)))
    with pytest.raises(UsageError, match="in_logs='no'"):
        Alignment(fitted.data(16), in_logs="no")
