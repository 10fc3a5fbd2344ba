"""urfbtf.plot on run directories written here (synthetic records), on the
probes the Alignment callback writes, and on a small untied run."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support import fitted
from tests.support.runs import QUIET, SAMPLE
from urfbtf import plot
from urfbtf.callbacks import Alignment
from urfbtf.errors import RunFilesError, UsageError
from urfbtf.plot.__main__ import main
from urfbtf.plot.alignment import smoothed
from urfbtf.plot.curves import read
from urfbtf.plot.figure import run_label, unique_labels
from urfbtf.records import read_records
from urfbtf.runner import train
from urfbtf.runner.config import Config

PNG = b"\x89PNG\r\n\x1a\n"
EPOCHS = 5


def _record(epoch: int, rule: str, with_val: bool) -> dict:
    """One epoch's line; its values differ by epoch and by layer."""
    record = {
        "epoch": epoch,
        "train_loss": 2.0 / epoch,
        "train_error": 0.9 / epoch,
        "val_error": 0.95 / epoch + 0.02 if with_val else None,
        "test_error": 0.97 / epoch + 0.03,
        "epoch_seconds": 1.5,
        "lr": 0.1,  # A key the plots do not draw.
    }
    if rule != "bp":
        # conv1 aligns faster than dense1, and starts negative (the axis' floor).
        record["wr_corr/conv1"] = -0.3 + 0.2 * epoch
        record["wr_corr/dense1"] = 0.1 * epoch
    return record


def write_run(root: Path, name: str, rule="urfb", connectivity=0.5, **kwargs) -> Path:
    """A run directory of EPOCHS epochs; `garbled_tail` adds a line cut short."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    config = {"net": "simpnet", "rule": rule, "loss": "hinge"}
    config["connectivity"] = connectivity
    (run_dir / "config.json").write_text(json.dumps(config))
    with_val = kwargs.get("with_val", True)
    lines = [json.dumps(_record(e, rule, with_val)) for e in range(1, EPOCHS + 1)]
    text = "\n".join(lines) + "\n"
    if kwargs.get("garbled_tail"):
        text += '{"epoch": 6, "train_loss": 0.3, "train_err'  # Killed mid-write.
    (run_dir / "metrics.jsonl").write_text(text)
    return run_dir


def test_curves_draw_each_runs_records(tmp_path):
    urfb = write_run(tmp_path, "urfb", garbled_tail=True)
    bp = write_run(tmp_path, "bp", rule="bp", connectivity=1, with_val=False)
    figure = plot.curves([urfb, bp], wr=True, max_error=0.5)
    errors, correlations = figure.axes
    assert errors.get_ylim() == (0.0, 0.5)
    lines = errors.get_lines()
    assert len(lines) == 4  # Train and validation per run.
    for run_dir, (train_line, val_line) in zip(
        [urfb, bp], [lines[0:2], lines[2:4]], strict=True
    ):
        records = read_records(run_dir)
        assert train_line.get_linestyle() == "-" and val_line.get_linestyle() == ":"
        assert train_line.get_color() == val_line.get_color()
        np.testing.assert_allclose(train_line.get_xdata(), range(1, EPOCHS + 1))
        np.testing.assert_allclose(
            train_line.get_ydata(), [r["train_error"] for r in records]
        )
        expected = [
            math.nan if r["val_error"] is None else r["val_error"] for r in records
        ]
        np.testing.assert_allclose(val_line.get_ydata(), expected)
    final = read_records(urfb)[-1]["test_error"]
    assert [t.get_text() for t in errors.get_legend().get_texts()] == [
        f"simpnet urfb hinge c=0.5 (test {final:.3f})",
        f"simpnet bp hinge (test {final:.3f})",
    ]
    # Only the urfb run has feedback weights: one line per layer, in order.
    wr_lines = correlations.get_lines()
    assert [line.get_label() for line in wr_lines] == [
        "simpnet urfb hinge c=0.5: conv1",
        "simpnet urfb hinge c=0.5: dense1",
    ]
    for line, layer in zip(wr_lines, ["conv1", "dense1"], strict=True):
        np.testing.assert_allclose(
            line.get_ydata(), [r[f"wr_corr/{layer}"] for r in read_records(urfb)]
        )
    assert correlations.get_ylim() == pytest.approx((-0.2, 1.0))
    assert len(plot.curves(urfb).axes) == 1  # The errors alone.


def test_the_wr_axis_reaches_below_the_lowest_correlation(tmp_path):
    run_dir = write_run(tmp_path, "negative")
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["wr_corr/conv1"] = -0.6
    (run_dir / "metrics.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]))
    assert plot.wr(run_dir).axes[0].get_ylim() == pytest.approx((-0.6, 1.0))


def test_wr_of_runs_without_feedback_weights_is_refused(tmp_path):
    run_dir = write_run(tmp_path, "bp", rule="bp", connectivity=1)
    with pytest.raises(UsageError, match=r"rules bp\).*frfb and urfb"):
        plot.wr(run_dir)


def test_labels_name_the_run_and_its_directory_where_they_clash(tmp_path):
    assert run_label({"net": "simpnet", "rule": "bp", "loss": "softmax"}) == (
        "simpnet bp softmax"
    )
    runs = read([write_run(tmp_path, "seed0"), write_run(tmp_path, "seed1")])
    assert unique_labels([r.dir for r in runs], [r.config for r in runs]) == [
        "simpnet urfb hinge c=0.5 [seed0]",
        "simpnet urfb hinge c=0.5 [seed1]",
    ]
    orphan = write_run(tmp_path, "orphan")
    (orphan / "config.json").unlink()
    (run,) = read([orphan])
    assert run.config == {} and len(run.records) == EPOCHS
    assert unique_labels([orphan], [run.config]) == ["[orphan]"]


@pytest.mark.parametrize(
    "setup,expected",
    [
        (lambda d: None, "is not a directory"),
        (lambda d: d.mkdir(), "has no metrics.jsonl"),
        (
            lambda d: (d.mkdir(), (d / "metrics.jsonl").write_text('{"epoch": 1, "tr')),
            "holds no complete record",
        ),
    ],
)
def test_a_run_that_cannot_be_drawn_ends_with_one_line_and_status_1(
    tmp_path, capsys, setup, expected
):
    run_dir = tmp_path / "run"
    setup(run_dir)
    assert main(["curves", str(run_dir), "--out", str(tmp_path / "x.png")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("urfbtf.plot: error: ") and expected in error
    assert len(error.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_the_command_writes_a_png_into_the_run_by_default(tmp_path, capsys):
    run_dir = write_run(tmp_path, "urfb")
    assert main(["wr", str(run_dir)]) == 0
    assert capsys.readouterr().out == f"wrote {run_dir / 'wr.png'}\n"
    assert (run_dir / "wr.png").read_bytes().startswith(PNG)
    with pytest.raises(SystemExit) as exit_info:
        main(["histogram", str(run_dir)])
    assert exit_info.value.code == 2


def test_without_matplotlib_the_plots_say_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(plot.PlotDependencyError, match=r'pip install "urfbtf\[plot\]"'):
        plot.curves(write_run(tmp_path, "urfb"))


def test_alignment_draws_the_probes_of_the_callback(tmp_path, capsys):
    callback = Alignment(fitted.data(16), every=1, log_dir=tmp_path / "frfb")
    fitted.fit(fitted.converted("frfb"), callback)
    figure = plot.alignment(tmp_path / "frfb")
    records = read_records(tmp_path / "frfb", "probes.jsonl")
    update = figure.axes[0].get_lines()[0]
    assert update.get_label() == "frfb" and len(records) == 5
    np.testing.assert_allclose(
        update.get_ydata(), [r["update_angle/conv1"] for r in records]
    )
    with pytest.raises(UsageError, match="2 labels for 1 runs"):
        plot.alignment(tmp_path / "frfb", labels=["a", "b"])
    with pytest.raises(UsageError, match="ymax=0"):
        plot.alignment(tmp_path / "frfb", ymax=0)
    out = tmp_path / "alignment.png"
    argv = ["alignment", str(tmp_path / "frfb"), "--out", str(out), "--smooth", "0.5"]
    assert main([*argv, "--labels", "λ = 3"]) == 0
    assert out.read_bytes().startswith(PNG)


def test_smoothing_is_the_papers_moving_average():
    values = np.array([0.0, 10.0, 10.0])
    np.testing.assert_allclose(smoothed(values, 0.5), [0.0, 5.0, 7.5])
    np.testing.assert_array_equal(smoothed(values, 0), values)


def test_filters_draws_an_untied_layer_with_its_similarity(tmp_path, capsys):
    config = Config(net="simpnet_s", untie="conv1", batch_size=50, epochs=1, **SAMPLE)
    train.run(config, tmp_path, **QUIET)
    figure = plot.filters(tmp_path)
    assert figure.untied_similarity == pytest.approx(
        read_records(tmp_path)[0]["untied_similarity/conv1"], abs=1e-3
    )
    assert len(figure.axes) == 2 * 4  # Two filters at four locations.
    assert main(["filters", str(tmp_path), "--layer", "conv9"]) == 2
    assert "its untied layers: conv1" in capsys.readouterr().err
    (tmp_path / "model.keras").unlink()
    with pytest.raises(RunFilesError, match="a run writes it when it ends"):
        plot.filters(tmp_path)
