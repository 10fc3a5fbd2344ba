"""Tests for tools/plot_run.py on synthetic run directories."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from tests.support.paths import REPO
from tests.support.tool_loader import load_tool, tool_path

TOOL = tool_path("plot_run.py")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EPOCHS = 5


plot_run = load_tool("plot_run.py")


def _record(epoch: int, rule: str, with_val: bool) -> dict:
    """One synthetic epoch line; values differ per epoch and per layer."""
    record = {
        "epoch": epoch,
        "train_loss": 2.0 / epoch,
        "train_error": 0.9 / epoch,
        "val_error": 0.95 / epoch + 0.02 if with_val else None,
        "test_error": 0.97 / epoch + 0.03,
        "epoch_seconds": 1.5,
        "examples_per_second": 1000.0,
        "lr": 0.1,  # an extra key the tool must ignore
    }
    if rule != "bp":
        # conv1 aligns faster than dense1; conv1 starts negative to test the y range.
        record["wr_corr/conv1"] = -0.3 + 0.2 * epoch
        record["wr_angle/conv1"] = 100.0 - 10 * epoch
        record["wr_corr/dense1"] = 0.1 * epoch
        record["wr_angle/dense1"] = 90.0 - 5 * epoch
    return record


def write_run(
    root: Path,
    name: str,
    rule: str = "urfb",
    connectivity: float = 0.5,
    garbled_tail: bool = False,
    with_val: bool = True,
) -> Path:
    """Writes a run directory with EPOCHS epochs and returns its path."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    config = {
        "net": "simpnet",
        "rule": rule,
        "loss": "hinge",
        "connectivity": connectivity,
        "seed": 0,
        "dataset": "mnist",
        "versions": {"python": "3.11"},
    }
    (run_dir / "config.json").write_text(json.dumps(config))
    lines = [json.dumps(_record(e, rule, with_val)) for e in range(1, EPOCHS + 1)]
    text = "\n".join(lines) + "\n"
    if garbled_tail:
        text += '{"epoch": 6, "train_loss": 0.3, "train_err'  # killed mid-write
    (run_dir / "metrics.jsonl").write_text(text)
    return run_dir


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_png(tmp_path: Path) -> None:
    urfb = write_run(tmp_path, "urfb_run", garbled_tail=True)
    bp = write_run(tmp_path, "bp_run", rule="bp", connectivity=1, with_val=False)
    out = tmp_path / "plots" / "sub" / "runs.png"

    result = run_tool(str(urfb), str(bp), "--out", str(out), "--title", "demo")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {out} (2 runs)"
    assert "skipping unparseable line" in result.stderr
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    image = matplotlib.image.imread(out)
    assert image.shape[0] > 100 and image.shape[1] > 100


def test_read_run_skips_garbled_line(tmp_path: Path, capsys) -> None:
    run = plot_run.read_run(write_run(tmp_path, "r", garbled_tail=True))

    assert [r["epoch"] for r in run["records"]] == list(range(1, EPOCHS + 1))
    assert run["config"]["rule"] == "urfb"
    assert plot_run.corr_layers(run) == ["conv1", "dense1"]
    assert "metrics.jsonl:6" in capsys.readouterr().err


def test_labels() -> None:
    assert (
        plot_run.run_label(
            {"net": "simpnet", "rule": "urfb", "loss": "hinge", "connectivity": 0.5}
        )
        == "simpnet urfb hinge c=0.5"
    )
    assert (
        plot_run.run_label(
            {"net": "simpnet", "rule": "bp", "loss": "ce", "connectivity": 1}
        )
        == "simpnet bp ce"
    )


def test_duplicate_labels_get_dir_name(tmp_path: Path) -> None:
    runs = [plot_run.read_run(write_run(tmp_path, n)) for n in ("seed0", "seed1")]
    assert plot_run.unique_labels(runs) == [
        "simpnet urfb hinge c=0.5 [seed0]",
        "simpnet urfb hinge c=0.5 [seed1]",
    ]


def test_missing_config_labels_by_dir_name(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "orphan")
    (run_dir / "config.json").unlink()
    run = plot_run.read_run(run_dir)
    assert run["config"] == {} and len(run["records"]) == EPOCHS
    assert plot_run.unique_labels([run]) == ["[orphan]"]


def test_plotted_data_matches_records(tmp_path: Path) -> None:
    urfb = plot_run.read_run(write_run(tmp_path, "urfb_run", garbled_tail=True))
    bp = plot_run.read_run(
        write_run(tmp_path, "bp_run", rule="bp", connectivity=1, with_val=False)
    )
    fig = plot_run.plot_runs([urfb, bp], tmp_path / "f.png", max_error=0.5)
    assert len(fig.axes) == 2
    errors_ax, corr_ax = fig.axes

    assert errors_ax.get_ylim() == (0.0, 0.5)
    lines = errors_ax.get_lines()
    assert len(lines) == 4  # train + val per run
    for run, (train, val) in zip([urfb, bp], [lines[0:2], lines[2:4]], strict=True):
        records = run["records"]
        assert train.get_linestyle() == "-" and val.get_linestyle() == ":"
        assert train.get_color() == val.get_color()
        np.testing.assert_allclose(train.get_xdata(), [r["epoch"] for r in records])
        np.testing.assert_allclose(
            train.get_ydata(), [r["train_error"] for r in records]
        )
        expected_val = [
            math.nan if r["val_error"] is None else r["val_error"] for r in records
        ]
        np.testing.assert_allclose(val.get_ydata(), expected_val)
    legend = [t.get_text() for t in errors_ax.get_legend().get_texts()]
    final_test = urfb["records"][-1]["test_error"]
    assert legend == [
        f"simpnet urfb hinge c=0.5 (test {final_test:.3f})",
        f"simpnet bp hinge (test {final_test:.3f})",
    ]

    # Only the urfb run has feedback weights: one line per layer, in network order.
    corr_lines = corr_ax.get_lines()
    assert [line.get_label() for line in corr_lines] == [
        "simpnet urfb hinge c=0.5: conv1",
        "simpnet urfb hinge c=0.5: dense1",
    ]
    for line, layer in zip(corr_lines, ["conv1", "dense1"], strict=True):
        np.testing.assert_allclose(
            line.get_ydata(), [r[f"wr_corr/{layer}"] for r in urfb["records"]]
        )
    assert corr_lines[0].get_linestyle() != corr_lines[1].get_linestyle()
    # The data minimum (conv1 at epoch 1) is -0.1 > -0.2, so the floor stays at -0.2.
    assert corr_ax.get_ylim() == pytest.approx((-0.2, 1.0))


def test_corr_axis_extends_below_data_min(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "neg")
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["wr_corr/conv1"] = -0.6
    lines[0] = json.dumps(first)
    (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n")

    fig = plot_run.plot_runs([plot_run.read_run(run_dir)])
    assert fig.axes[1].get_ylim() == pytest.approx((-0.6, 1.0))


def test_bp_only_gives_single_panel(tmp_path: Path, capsys) -> None:
    run = plot_run.read_run(write_run(tmp_path, "bp", rule="bp", connectivity=1))
    fig = plot_run.plot_runs([run])
    assert len(fig.axes) == 1
    assert "W-R panel omitted" in capsys.readouterr().err


def test_missing_dir_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_run"
    result = run_tool(str(missing), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert str(missing) in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_missing_metrics_exits_2(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "r")
    (run_dir / "metrics.jsonl").unlink()
    result = run_tool(str(run_dir), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert str(run_dir) in result.stderr and "metrics.jsonl" in result.stderr
    assert "Traceback" not in result.stderr


def test_only_garbled_metrics_exits_2(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "r")
    (run_dir / "metrics.jsonl").write_text('{"epoch": 1, "train_')
    result = run_tool(str(run_dir), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert "no parseable line" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_out_is_usage_error(tmp_path: Path) -> None:
    result = run_tool(str(write_run(tmp_path, "r")))
    assert result.returncode == 2
    assert "--out" in result.stderr
