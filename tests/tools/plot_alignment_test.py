"""tools/plot_alignment.py on the probes the Alignment callback writes for one's
own `model.fit`: it draws them, and checks its labels and axis."""

import pytest

from tests.support import fitted
from tests.support.tool_loader import load_tool
from urfbtf.callbacks import Alignment

plot_alignment = load_tool("plot_alignment.py")


def test_the_runners_alignment_plot_draws_the_callbacks_directory(tmp_path):
    callback = Alignment(fitted.data(16), every=1, log_dir=tmp_path / "frfb")
    fitted.fit(fitted.converted("frfb"), callback)
    label, records = plot_alignment.read_probes(tmp_path / "frfb")
    assert label == "frfb" and len(records) == 5
    plot_alignment.plot_alignment([(label, records)], tmp_path / "alignment.png")
    assert (tmp_path / "alignment.png").stat().st_size > 0


def test_the_alignment_plots_labels_and_axis_are_checked(tmp_path, capsys):
    """--labels names the runs (one per run, or exit status 2 naming the
    counts); --ymax must be positive."""
    callback = Alignment(fitted.data(16), every=1, log_dir=tmp_path / "frfb")
    fitted.fit(fitted.converted("frfb"), callback)
    run, out = str(tmp_path / "frfb"), tmp_path / "alignment.png"
    for bad in (["--labels", "a", "b"], ["--ymax", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            plot_alignment.main([run, "--out", str(out), *bad])
        assert exit_info.value.code == 2
    assert "2 labels for 1 runs" in capsys.readouterr().err
    assert not out.exists()
    assert plot_alignment.main([run, "--out", str(out), "--labels", "λ = 3"]) == 0
    assert "1 runs" in capsys.readouterr().out and out.stat().st_size > 0
