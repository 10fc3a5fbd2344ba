"""The command explains itself: --help lists the run's flags by group, named
experiments resolve from any directory, a run's first line says what it does,
and a failed start leaves no run directory behind."""

import os
import re
import subprocess
import sys

import pytest
from absl import flags

from tests.support.paths import REPO
from tests.support.runs import SAMPLE
from urfbtf.errors import DataError
from urfbtf.runner import experiments, main, train, trials
from urfbtf.runner import help as help_page
from urfbtf.runner.config import Config, declared_settings

FLAGS = flags.FLAGS


@pytest.mark.parametrize("argument", ["--help", "--helpshort", "-h"])
def test_help_lists_every_run_flag_by_group_with_its_default(argument, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main.parse_flags(["urfbtf", argument])
    assert exit_info.value.code == 0
    page = capsys.readouterr().out
    titles = [title for title, _ in help_page.groups()]
    assert [t.split(":")[0] for t in titles] == [
        "run",
        "net",
        "rule",
        "data",
        "distribution",
        "records",
    ]
    positions = [page.index(f"\n{title}\n") for title in titles]
    assert positions == sorted(positions)
    # Every flag of a setting (a rule a test registers later has none).
    run_flags = [name for name in declared_settings() if name in FLAGS]
    for name in [*run_flags, "experiment", "trials", "model_dir"]:
        shown = re.findall(rf"^  --(?:\[no\])?{name} \(default: ([^)]*)\)$", page, re.M)
        assert len(shown) == 1, name  # Listed once, with its default.
    assert "--rule (default: urfb)" in page and "--epochs (default: 1000)" in page
    # absl's and TensorFlow's own flags stay in --helpfull.
    assert "--verbosity" not in page and "--only_check_args" not in page


def test_an_experiment_resolves_from_another_directory_and_later_flags_win(
    parse, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    flags_ = parse("--experiment=bartunov/mnist_fc_sdtp_parallel", "--epochs=2")
    assert flags_.net == "bartunov_mnist_fc" and flags_.rule == "sdtp"
    assert flags_.tp_schedule == "parallel" and flags_.epochs == 2
    assert main._settings_from == [
        "flags/bartunov_mnist_fc.cfg",
        "experiment bartunov/mnist_fc_sdtp_parallel",
    ]
    FLAGS.unparse_flags()
    assert parse("--experiment=amit/deepernet").net == "deepernet"
    FLAGS.unparse_flags()
    assert parse("--experiment", "gait/cifar_fc3_gait_norm").gait_norm > 0


@pytest.mark.parametrize("name", sorted(experiments.experiments()))
def test_every_experiment_parses_and_has_a_description(parse, name):
    assert parse(f"--experiment={name}").epochs > 0
    path = experiments.flagfile(name)
    text = experiments.description(path)
    # One line of the listing: a sentence, not a cut-off header line.
    assert text and len(text) <= 114, text
    assert text.count("(") == text.count(")") or text.endswith("..."), text
    assert not text.startswith(path.stem) and not text.endswith((":", ",")), text


def test_a_description_is_the_opening_comments_first_sentence(tmp_path):
    path = tmp_path / "cell.cfg"
    path.write_text(
        "# cell: BP, Smith et al. (2018, arXiv:1), on MNIST with\n"
        "# the net LC (5x5, 64) -> softmax. Epochs: 50.\n"
        "#   ./run.sh --flagfile=cell.cfg\n--epochs=50\n"
    )
    assert experiments.description(path) == (
        "BP, Smith et al., on MNIST with the net LC (5x5, 64) -> softmax"
    )


def test_a_bad_experiment_exits_2_naming_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main.parse_flags(["urfbtf", "--experiment=bartunov/mnist_fc_sdtpp"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "'bartunov/mnist_fc_sdtpp' is not a named experiment" in error
    assert "bartunov/mnist_fc_sdtp_parallel" in error and "amit/" not in error
    with pytest.raises(SystemExit):
        main.parse_flags(["urfbtf", "--experiment=nobody/x"])
    error = capsys.readouterr().err
    assert "amit/deepernet" in error and "gait/cifar_fc3_gait_norm" in error


def test_list_experiments_prints_each_name_with_its_description(parse, capsys):
    parse("--list_experiments")
    main.main(["urfbtf"])
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == len(experiments.experiments())
    deepernet = next(line for line in listed if line.startswith("amit/deepernet "))
    # flags/deepernet.cfg opens "# deepernet, Amit (2019) section 4 and Figs. 6
    # (right), 7:" and lists the layers below.
    assert deepernet.split(None, 1)[1] == "Amit section 4 and Figs. 6, 7"


def test_the_first_line_says_what_the_run_does_fresh_and_resumed(tmp_path):
    lines = []
    config = Config(net="fc2_100", epochs=1, batch_size=50, **SAMPLE)
    train.run(config, tmp_path, verbose=0, log=lines.append, settings_from=["a.cfg"])
    assert lines[0] == (
        "urfbtf: fc2_100 urfb hinge (settings: a.cfg): starting, 1 epoch, batch 50, "
        f"data cifar10_sample (shipped with urfbtf), model_dir {tmp_path}"
    )
    lines.clear()
    train.run(config.replace(epochs=3), tmp_path, verbose=0, log=lines.append)
    assert lines[0].startswith("urfbtf: fc2_100 urfb hinge (settings: no flagfile)")
    assert ": resuming from epoch 2 of 3, batch 50," in lines[0]


def test_a_failed_start_leaves_no_run_directory(tmp_path):
    config = Config(dataset="cifar10", data_dir=str(tmp_path / "missing"), epochs=1)
    with pytest.raises(DataError):
        train.run(config, tmp_path / "runs" / "new", verbose=0, log=lambda _: None)
    assert os.listdir(tmp_path) == []
    # A directory that was there before stays, with nothing of the run in it.
    (tmp_path / "mine").mkdir()
    with pytest.raises(DataError):
        train.run(config, tmp_path / "mine", verbose=0, log=lambda _: None)
    assert (tmp_path / "mine").is_dir()
    assert not (tmp_path / "mine" / "config.json").exists()


def test_the_installed_command_starts_quietly_and_helps_from_anywhere(tmp_path):
    """The one subprocess: TensorFlow's start-up lines are held back as
    TF_CPP_MIN_LOG_LEVEL=2 (the command's default) asks."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "urfbtf", "--helpshort"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "\nrule: the learning rule" in result.stdout
    assert "--experiment (default: none)" in result.stdout
    assert result.stderr == ""


EXPERIMENT_FLAG = r"--experiment=([a-z0-9_]+/[a-z0-9_]+)"


def test_every_experiment_the_pages_name_resolves():
    pages = [REPO / "README.md", *(REPO / "docs").glob("*.md")]
    pages += (REPO / "tools").glob("*/README.md")
    named = {
        name for page in pages for name in re.findall(EXPERIMENT_FLAG, page.read_text())
    }
    assert "bartunov/mnist_fc_bp" in named and "amit/deepnet_s_untied" in named
    assert sorted(named - set(experiments.experiments())) == []


def test_failed_trials_leave_no_directory(tmp_path):
    config = Config(dataset="cifar10", data_dir=str(tmp_path / "missing"), epochs=1)
    with pytest.raises(DataError):
        trials.run_trials(config, 2, tmp_path / "runs" / "t", verbose=0, log=print)
    assert os.listdir(tmp_path) == []
