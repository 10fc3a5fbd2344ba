"""An installed urfbtf runs without the checkout: the `urfbtf` command, `python -m
urfbtf`, and the flagfiles as package data of the wheel, which carries the
license and requires compatible ranges (constraints.txt holds the exact
versions)."""

import os
import re
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


def _flagfiles(directory: Path) -> set:
    return {str(p.relative_to(directory)) for p in directory.rglob("*.cfg")}


@pytest.mark.slow
def test_the_wheel_ships_every_flagfile_the_command_and_the_license(installed):
    shipped = _flagfiles(installed / "urfbtf" / "flags")
    assert shipped == _flagfiles(REPO / "flags")
    # The papers' cells, one directory down, too.
    assert {"bartunov", "gait"} <= {Path(p).parts[0] for p in shipped if "/" in p}
    [entry_points] = installed.glob("urfbtf-*.dist-info/entry_points.txt")
    assert "urfbtf = urfbtf.runner.main:cli" in entry_points.read_text()
    [license_file] = installed.glob("urfbtf-*.dist-info/**/LICENSE")
    assert license_file.read_text() == (REPO / "LICENSE").read_text()
    assert "Apache License" in license_file.read_text()
    [metadata] = installed.glob("urfbtf-*.dist-info/METADATA")
    requires = [
        line.split(":", 1)[1].strip()
        for line in metadata.read_text().splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert any(r.startswith("tensorflow") for r in requires)
    # Ranges, not pins: the exact versions are constraints.txt's.
    assert not [r for r in requires if "==" in r], requires


def test_the_constraints_pin_every_requirement_within_its_range():
    """constraints.txt (what run.sh and CI install) gives each requirement of
    setup.cfg, extras included, one exact version inside its range."""
    import configparser

    from packaging.requirements import Requirement

    pinned = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pinned[name.lower().replace("_", "-")] = version
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    lines = config["options"]["install_requires"].splitlines()
    for extra in config["options.extras_require"].values():
        lines += extra.splitlines()
    requirements = [
        Requirement(line.strip()) for line in lines if line.strip() and "#" not in line
    ]
    assert len(requirements) >= 10
    for requirement in requirements:
        name = requirement.name.lower().replace("_", "-")
        assert name in pinned, requirement
        assert requirement.specifier.contains(pinned[name]), (requirement, pinned[name])


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


def test_the_citation_file_cites_the_library_at_its_version_and_the_papers():
    text = (REPO / "CITATION.cff").read_text()
    version = re.search(
        r'__version__ = "(.+)"', (REPO / "urfbtf/__init__.py").read_text()
    )
    assert text.startswith("cff-version: 1.2.0\n")
    assert f"\nversion: {version.group(1)}\n" in text
    assert "\nlicense: Apache-2.0\n" in text
    for paper in (
        "Deep Learning With Asymmetric Connections and Hebbian Updates",
        "Learning Without Feedback",
        "Assessing the Scalability of Biologically-Motivated Deep Learning",
        "Biologically Plausible Learning using GAIT-prop Scales to ImageNet",
    ):
        assert paper in text, paper


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
