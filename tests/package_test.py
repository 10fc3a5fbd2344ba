"""An installed urfbtf runs without the checkout: the `urfbtf` command, `python -m
urfbtf`, and the nets' flagfiles as package data of the wheel."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel pip builds from the checkout, unpacked as an installation."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    [wheel] = out.glob("urfbtf-*.whl")
    site = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


@pytest.mark.slow
def test_the_wheel_ships_every_flagfile_and_the_command(installed):
    shipped = {p.name for p in (installed / "urfbtf" / "flags").glob("*.cfg")}
    assert shipped == {p.name for p in (REPO / "flags").glob("*.cfg")}
    [entry_points] = installed.glob("urfbtf-*.dist-info/entry_points.txt")
    assert "urfbtf = urfbtf.runner.main:cli" in entry_points.read_text()


@pytest.mark.slow
def test_python_m_urfbtf_reads_the_nets_flagfile_outside_the_checkout(
    installed, tmp_path
):
    env = {**os.environ, "PYTHONPATH": str(installed), "TF_CPP_MIN_LOG_LEVEL": "3"}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from urfbtf.runner import main; print(main.net_flagfile('deepernet'))",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(probe.stdout.strip()).is_relative_to(installed)
    run = subprocess.run(
        [sys.executable, "-m", "urfbtf", "--net=deepernet", "--batch_size=0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    # The flagfile was found (else its own error), then the bad flag refused.
    assert run.returncode == 2, run.stderr
    assert "urfbtf: error: batch_size=0 is invalid" in run.stderr


@pytest.mark.slow
def test_the_installed_command_runs_a_named_experiment_and_plots_it(
    installed, tmp_path
):
    """Outside the checkout: --helpshort lists the run's flags, a paper's
    experiment runs by name, and the plot command draws the run."""
    env = {**os.environ, "PYTHONPATH": str(installed)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # The command's own default applies.

    def command(*args):
        return subprocess.run(
            [sys.executable, "-m", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    helped = command("urfbtf", "--helpshort")
    assert helped.returncode == 0, helped.stderr
    for flag in ("--rule", "--net", "--epochs", "--data_dir", "--experiment"):
        assert f"\n  {flag} (default: " in helped.stdout, flag
    small = ["--epochs=1", "--batch_size=50", "--train_examples=100"]
    small += ["--val_examples=50", "--dataset=cifar10_sample", "--model_dir=run"]
    ran = command("urfbtf", "--experiment=bartunov/mnist_fc_bp", *small)
    assert ran.returncode == 0, ran.stderr
    first = ran.stdout.splitlines()[0]
    assert first.startswith("urfbtf: bartunov_mnist_fc bp softmax (settings: ")
    assert "experiment bartunov/mnist_fc_bp" in first
    assert ran.stderr == ""  # TensorFlow's start-up lines held back.
    drawn = command("urfbtf.plot", "curves", "run")
    assert drawn.returncode == 0, drawn.stderr
    assert (tmp_path / "run" / "curves.png").read_bytes().startswith(b"\x89PNG")
