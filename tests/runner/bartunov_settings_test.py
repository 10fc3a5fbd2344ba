"""Bartunov et al. (2018) in the runner: the Adam settings (β1, β2, ε) and the
flagfiles of the Table 5 cells (flags/bartunov/)."""

import glob
import json
import math
import re
from configparser import ConfigParser
from pathlib import Path

import keras
import pytest
import tensorflow_datasets as tfds
from absl import flags

from tests.support.paths import REPO
from tests.support.runs import parsed_settings
from urfbtf.errors import UsageError
from urfbtf.records import read_records
from urfbtf.runner import main, train
from urfbtf.runner.config import Config, declared_settings

CELLS_DIR = REPO / "flags" / "bartunov"
FLAGS = flags.FLAGS


# --- Adam settings -------------------------------------------------------------------


def test_adam_settings_reach_the_optimizer():
    config = Config(
        optimizer="adam", lr=3e-4, adam_beta1=0.99, adam_beta2=0.95, adam_epsilon=1e-3
    ).validate()
    optimizer = train.make_optimizer(config)
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (
        0.99,
        0.95,
        1e-3,
    )
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(3e-4)
    model = train.build_model(
        config.replace(net="bartunov_mnist_fc", loss="softmax"), (28, 28, 1), 10
    )
    assert (model.optimizer.beta_1, model.optimizer.epsilon) == (0.99, 1e-3)


def test_adam_defaults_are_keras_own():
    """Runs that set none of the Adam settings keep the optimizer they had."""
    ours = train.make_optimizer(Config(optimizer="adam"))
    keras_default = keras.optimizers.Adam()
    for name in ("beta_1", "beta_2", "epsilon"):
        assert getattr(ours, name) == getattr(keras_default, name)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
@pytest.mark.parametrize(
    "setting,value",
    [("adam_beta1", 0.99), ("adam_beta2", 0.95), ("adam_epsilon", 1e-8)],
)
def test_adam_settings_are_refused_without_adam_unless_at_default(
    optimizer, setting, value
):
    with pytest.raises(UsageError, match=rf"{setting}=.* does not apply.*Adam"):
        Config(optimizer=optimizer, **{setting: value}).validate()
    default = declared_settings()[setting].default
    Config(optimizer=optimizer, **{setting: default}).validate()


@pytest.mark.parametrize(
    "setting,value", [("adam_beta1", 1.0), ("adam_beta2", -0.1), ("adam_epsilon", 0.0)]
)
def test_adam_settings_out_of_range_are_refused(setting, value):
    with pytest.raises(UsageError, match=rf"{setting}=.* is invalid"):
        Config(optimizer="adam", **{setting: value}).validate()


# --- the flagfiles of Table 5 ---------------------------------------------------------

DATASETS = {"mnist": "mnist", "cifar": "cifar10", "imagenet": "imagenet2012"}
METHODS = (
    "dtp_parallel",
    "dtp_alternating",
    "sdtp_parallel",
    "sdtp_alternating",
    "aosdtp_parallel",
    "aosdtp_alternating",
    "bp",
    "bp_convnet",
    "fa",
    "dfa",
)
NON_TP_RULES = {"bp": "bp", "bp_convnet": "bp", "fa": "frfb", "dfa": "dfa"}
# The target-propagation rules' own flags, defined with the rules themselves.
TP_FLAGS = {
    "tp_schedule": str,
    "tp_alpha": float,
    "tp_noise": float,
    "inverse_lr": float,
    "inverse_beta1": float,
    "inverse_beta2": float,
    "inverse_epsilon": float,
    "aux_outputs": int,
}
# Table 4, the search space: lr, β1, β2, ε of both optimizers, α, σ.
TABLE4 = {
    "lr": lambda v: 1e-5 <= v <= 3e-4,
    "beta1": lambda v: v == 0.9,
    "beta2": lambda v: v in (0.99, 0.999),
    "epsilon": lambda v: v in (1e-4, 1e-6, 1e-8),
    "tp_alpha": lambda v: 0.01 <= v <= 0.2,
    "tp_noise": lambda v: 0.01 <= v <= 0.3,
}


def _expected_cells() -> set[str]:
    cells = set()
    for dataset in ("mnist", "cifar"):
        for arch in ("fc", "lc"):
            for method in METHODS:
                if method != "bp_convnet" or arch == "lc":
                    cells.add(f"{dataset}_{arch}_{method}.cfg")
    imagenet = ("dtp_parallel", "dtp_alternating", "sdtp_parallel")
    for method in (*imagenet, "bp", "bp_convnet", "fa"):
        cells.add(f"imagenet_lc_{method}.cfg")
    return cells


CELLS = sorted(CELLS_DIR.glob("*.cfg"))


def _read(path: Path) -> tuple[list[str], dict[str, str]]:
    """(header comment lines, {flag: value}) of a flagfile, parsed by hand."""
    header, values = [], {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            header.append(line)
            continue
        match = re.fullmatch(r"--(\w+)=(.*)", line)
        assert match, f"{path.name}: {line!r} is not --flag=value"
        assert match[1] not in values, f"{path.name}: --{match[1]} twice"
        values[match[1]] = match[2]
    return header, values


def _method(path: Path) -> tuple[str, str, str]:
    dataset, arch, method = path.stem.split("_", 2)
    return dataset, arch, method


def test_every_table_5_cell_has_its_flagfile():
    assert {p.name for p in CELLS} == _expected_cells()


@pytest.mark.parametrize("path", CELLS, ids=lambda p: p.name)
def test_flagfile_names_known_flags_and_its_cell(path):
    header, values = _read(path)
    dataset, arch, method = _method(path)
    declared = declared_settings()
    unknown = set(values) - set(declared) - set(TP_FLAGS)
    assert not unknown, unknown
    for name, raw in values.items():
        if name in TP_FLAGS:
            TP_FLAGS[name](raw)  # Parses as its type.
        elif name != "rule":
            setting = declared[name]
            setting.validate(setting.type(raw) if setting.type is not str else raw)
    assert values["net"] == f"bartunov_{dataset}_{arch}"
    assert values["dataset"] == DATASETS[dataset]
    assert values["activation"] == "tanh" and values["loss"] == "softmax"
    assert values["optimizer"] == "adam" and values["batch_size"] == "100"
    assert {"lr", "adam_beta1", "adam_beta2", "adam_epsilon", "epochs"} <= set(values)
    if arch == "lc":
        assert values["untie"] == ("" if method == "bp_convnet" else "all")
    else:
        assert "untie" not in values
    family, _, schedule = method.partition("_")
    if method in NON_TP_RULES:
        assert values["rule"] == NON_TP_RULES[method]
        assert not set(values) & set(TP_FLAGS)
    else:
        assert values["rule"] == family and values["tp_schedule"] == schedule
        tp = set(TP_FLAGS) - {"tp_alpha", "aux_outputs"}
        assert tp <= set(values)
        assert ("tp_alpha" in values) == (family == "dtp")
        assert values.get("aux_outputs") == ("512" if family == "aosdtp" else None)
    # The header cites the paper, says how to run the file and what is doubtful.
    text = " ".join(line.lstrip("# ") for line in header)
    assert header[0].startswith(f"# {path.stem}: ")
    assert f"./run.sh --flagfile=flags/bartunov/{path.name}" in text
    assert "Bartunov et al. (2018" in text and "Table 3" in text and "Table 5" in text
    assert "batch size" in text.lower() and "500" in text
    if family == "aosdtp":
        assert "SDTP's values" in text
    for name, raw in values.items():
        key = name.replace("inverse_", "").replace("adam_", "")
        if key in TABLE4 and not TABLE4[key](float(raw)):
            doubts = text.split("Doubtful", 1)[-1]
            assert re.search(rf"{re.escape(raw)} \(Table 4", doubts), name


def test_aosdtp_takes_sdtps_values():
    for path in CELLS_DIR.glob("*_aosdtp_*.cfg"):
        _, values = _read(path)
        _, sdtp = _read(path.with_name(path.name.replace("aosdtp", "sdtp")))
        same = {k: v for k, v in values.items() if k not in ("rule", "aux_outputs")}
        assert same == {k: v for k, v in sdtp.items() if k != "rule"}


def test_the_package_data_ships_every_flagfile():
    """setup.cfg's globs (relative to urfbtf/, as setuptools reads them) match
    every flagfile, those of flags/bartunov/ included."""
    parser = ConfigParser()
    parser.read(REPO / "setup.cfg")
    globs = [g.strip() for g in parser["options.package_data"]["urfbtf"].split(",")]
    root = REPO / "urfbtf"
    shipped = {f for g in globs for f in glob.glob(g, root_dir=root)}
    flagfiles = {str(p.relative_to(root)) for p in (root / "flags").rglob("*.cfg")}
    assert flagfiles <= shipped and len(flagfiles) > len(CELLS)


NON_TP_CELLS = [p for p in CELLS if _method(p)[2] in NON_TP_RULES]


def _config() -> Config:
    return Config(**parsed_settings())


@pytest.mark.parametrize("path", NON_TP_CELLS, ids=lambda p: p.name)
def test_non_tp_flagfile_loads_through_the_runner(parse, path):
    _, values = _read(path)
    parse(f"--flagfile={path}")
    config = _config().validate()
    for name, raw in values.items():
        setting = declared_settings()[name]
        expected = setting.type(raw) if setting.type is not str else raw
        assert getattr(config, name) == expected, name
    assert config.kernel_init == "glorot_uniform"  # From flags/<net>.cfg.


TRAINED = [p for p in NON_TP_CELLS if p.name.startswith(("mnist_fc_", "mnist_lc_"))]


@pytest.mark.parametrize("path", TRAINED, ids=lambda p: p.name)
def test_non_tp_flagfile_trains_an_epoch_on_mock_mnist(path, tmp_path, capsys):
    model_dir = tmp_path / "run"
    argv = [
        "urfbtf",
        f"--flagfile={path}",
        "--epochs=1",
        "--train_examples=20",
        "--val_examples=10",
        "--batch_size=10",
        "--eval_batch_size=30",
        f"--model_dir={model_dir}",
    ]
    with tfds.testing.mock_data(
        num_examples=30, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        try:
            main.parse_flags(argv)
            main.main(["urfbtf"])
        finally:
            FLAGS.unparse_flags()
    assert "urfbtf: error" not in capsys.readouterr().err
    [record] = read_records(model_dir)
    assert record["epoch"] == 1 and math.isfinite(record["train_loss"])
    _, values = _read(path)
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["adam_beta2"] == float(values["adam_beta2"])
    assert saved["adam_epsilon"] == float(values["adam_epsilon"])
    assert saved["untie"] == values.get("untie", "")
