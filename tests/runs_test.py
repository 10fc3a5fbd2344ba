"""urfbtf.runs: the Markdown table of runs, from their config.json and
metrics.jsonl."""

import json

from urfbtf import runs


def _run(root, name, config, records):
    run_dir = root / name
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(config))
    text = "".join(json.dumps(record) + "\n" for record in records)
    (run_dir / "metrics.jsonl").write_text(text)
    return run_dir


def _epoch(epoch, seconds, **more):
    return dict(
        epoch=epoch,
        train_error=0.5 / epoch,
        val_error=None,
        test_error=0.6 / epoch,
        epoch_seconds=seconds,
        peak_rss_mb=1024 * epoch,
        **more,
    )


def test_the_table_has_a_row_per_run_from_its_last_epoch(tmp_path, capsys):
    urfb = _run(
        tmp_path,
        "urfb",
        {"net": "simpnet", "rule": "urfb", "loss": "hinge", "connectivity": 0.5},
        [
            _epoch(1, 10, **{"wr_corr/conv1": 0.1}),
            _epoch(2, 30, **{"wr_corr/conv1": 0.5}),
        ],
    )
    bp = _run(
        tmp_path,
        "bp",
        {
            "net": "deepnet",
            "rule": "bp",
            "loss": "softmax",
            "connectivity": 1,
            "untie": "conv1,conv2",
            "untie_after": 3,
        },
        [_epoch(1, 20), _epoch(2, 20), _epoch(3, 50)],
    )
    assert runs.main([str(urfb), str(bp)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "| net | protocol | untied | epochs | train err % | val err % | test err % "
        "| W-R corr conv1 | s/epoch | peak GB |",
        "|---|---|---|---|---|---|---|---|---|---|",
        "| simpnet | URFB 50% | – | 2 | 25.0 | – | 30.0 | 0.50 | 20 | 2.0 |",
        "| deepnet | BP (softmax) | conv1 conv2 after epoch 3 | 3 | 16.7 | – | 20.0 "
        "| – | 20 | 3.0 |",
    ]


def test_the_protocol_names_the_rule_and_a_loss_other_than_the_hinge():
    assert runs.protocol({"rule": "bp", "loss": "hinge", "connectivity": 1}) == "BP"
    assert runs.protocol({"rule": "frfb", "loss": "softmax", "connectivity": 1}) == (
        "FRFB (softmax)"
    )


def test_the_angle_table_gives_each_layers_last_update_angle(tmp_path, capsys):
    run_dir = _run(
        tmp_path,
        "dfa",
        {"net": "fc2_500", "rule": "dfa", "loss": "softmax"},
        [_epoch(1, 4, **{"update_angle/dense1": 80.4, "update_angle/dense2": 61.6})],
    )
    assert runs.main([str(run_dir), "--angles"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "| fc2_500 | dfa | 1 | 50.0 | 60.0 | 80 | 62 | 4 |"
    )


def test_a_directory_that_is_no_run_ends_with_one_line_and_status_1(tmp_path, capsys):
    assert runs.main([str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert f"{tmp_path} has no config.json" in error
    assert len(error.strip().splitlines()) == 1
