"""Several seeds of one experiment, scored as Frenkel et al. (2021)'s tables.

`run_trials(config, trials)` runs seeds seed, seed+1, ... of `config`, each an
ordinary resumable run in model_dir/trial-K, and summarises their scores (the
test error averaged over each trial's last epochs) in model_dir/trials.json.
It holds the lock of model_dir (`urfbtf.runner.lock`) throughout, so that a
second command on the same directory is refused before it touches any trial.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from urfbtf.records import read_records
from urfbtf.runner import checkpoint, run_dir, train
from urfbtf.runner.config import Config
from urfbtf.runner.train import score_of

# Epochs at the end of a run whose test errors are averaged in a trial's score,
# as Frenkel et al. (2021) report their tables.
LAST_EPOCHS = 10


def run_trials(config: Config, trials: int, model_dir=None, **run_args) -> dict:
    """Runs `trials` seeds (seed, seed+1, ...) and summarises their scores.

    Each trial is an ordinary run in model_dir/trial-K (resumable on its own);
    its score is its test error averaged over its last `LAST_EPOCHS` epochs, or
    for regression, which has no error rate, its test loss
    (`urfbtf.runner.train.score_of`). The
    summary is also written to model_dir/trials.json: "score" (test_error or
    test_loss), the scores ("test_errors" or "test_losses"), their mean and
    standard deviation ("mean_test_error", "std_test_error", or the same of
    test_loss). A trial with an epoch that has no score (null: a run that
    diverged and trained on) has a null score, and then so have the mean and
    the standard deviation.
    """
    config.validate()  # Bad settings are refused before base is made.
    base = Path(model_dir) if model_dir is not None else run_dir.default(config)
    if config.strategy == "multi_worker":
        # The workers of a cluster share base; each trial's chief locks its own
        # directory (`urfbtf.runner.train.run`).
        return _run_trials(config, trials, base, **run_args)
    # A trial that fails before its first epoch removes its own directory;
    # with none left, base goes too.
    with run_dir.made_and_locked(base, lambda b: any(b.glob("trial-*"))):
        return _run_trials(config, trials, base, **run_args)


def _run_trials(config: Config, trials: int, base: Path, **run_args) -> dict:
    log = run_args.pop("log", print)
    key = score_of(config)
    scores = []
    for k in range(trials):
        trial = config.replace(seed=config.seed + k)
        train.run(trial, base / f"trial-{k}", log=log, **run_args)
        records = read_records(base / f"trial-{k}")[-LAST_EPOCHS:]
        values = [r.get(key) for r in records]
        scored = values and None not in values
        scores.append(float(np.mean(values)) if scored else None)
    complete = None not in scores
    summary = {
        "trials": trials,
        "last_epochs": LAST_EPOCHS,
        "score": key,
        {"test_error": "test_errors", "test_loss": "test_losses"}[key]: scores,
        f"mean_{key}": float(np.mean(scores)) if complete else None,
        f"std_{key}": float(np.std(scores)) if complete else None,
    }
    run_dir.make(base)
    checkpoint.write_text_atomically(
        base / "trials.json", json.dumps(summary, indent=2), "the trials' summary"
    )
    if complete:
        result = f"{summary[f'mean_{key}']:.4f} ± {summary[f'std_{key}']:.4f}"
    else:
        missing = [str(k) for k, score in enumerate(scores) if score is None]
        result = f"n/a (trial {', '.join(missing)} has epochs without a {key})"
    log(
        f"urfbtf: {trials} trials of {config.net} {config.rule}: "
        f"{key.replace('_', ' ')} over the last {LAST_EPOCHS} epochs {result}, "
        f"model_dir {base}"
    )
    return summary
