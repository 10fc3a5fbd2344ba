"""A run's first line: what it is about to do, before the data loads.

A run may spend minutes downloading or scanning its data and hours training,
so it says first which net, rule and loss it trains, which flagfiles or named
experiment gave its settings, for how many epochs at which batch size, on which
data, where it writes, and, when it picks up a run left in that directory, the
epoch it resumes from.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from urfbtf.data import SAMPLE_DATASET, SYNTHETIC_CLASSIFICATION, SYNTHETIC_REGRESSION
from urfbtf.runner.config import Config


def data_source(config: Config) -> str:
    """Where the run's examples come from, in words."""
    if config.data_dir:
        return f"{config.dataset} from {config.data_dir}"
    if config.dataset == SAMPLE_DATASET:
        return f"{config.dataset} (shipped with urfbtf)"
    if config.dataset in (SYNTHETIC_CLASSIFICATION, SYNTHETIC_REGRESSION):
        return f"{config.dataset} (generated)"
    where = os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    return f"{config.dataset} (tensorflow-datasets, {where})"


def first_line(
    config: Config,
    model_dir: Path,
    resume_epoch: int | None,
    settings_from: Sequence[str] = (),
) -> str:
    """The line a run starts with; `resume_epoch` is the last finished epoch
    of the run found in model_dir (None for a fresh run), `settings_from` the
    flagfiles and named experiment the command line applied, in order."""
    batch = f"batch {config.batch_size}"
    if config.untie_after and config.untied_batch_size:
        batch += f" (untied phase {config.untied_batch_size})"
    applied = ", ".join(settings_from) if settings_from else "no flagfile"
    if resume_epoch and resume_epoch >= config.epochs:
        start = f"all {config.epochs} epochs done, nothing to train"
    elif resume_epoch:
        # The epoch it trains next, as the line of an interrupted run names it.
        start = f"resuming from epoch {resume_epoch + 1} of {config.epochs}"
    else:
        start = f"starting, {config.epochs} epoch{'s' if config.epochs > 1 else ''}"
    return (
        f"urfbtf: {config.net} {config.rule} {config.loss} "
        f"(settings: {applied}): {start}, {batch}, data {data_source(config)}, "
        f"model_dir {model_dir}"
    )
