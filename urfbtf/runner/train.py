"""Running an experiment: data, model, `fit`, and what the run leaves behind.

`run(config, model_dir)` is the whole experiment of `python -m urfbtf`, callable
from Python. In `model_dir` it leaves `config.json` (the settings and library
versions), `metrics.jsonl` (one line per finished epoch), TensorBoard logs,
per-epoch checkpoints and the final model `model.keras`. Started again on the
same directory it resumes from the last finished epoch and ends with the weights
an uninterrupted run would have: every source of randomness (initial weights,
masks, dropout, the order of examples) is either seeded or restored.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import tensorflow as tf
from absl import logging

from urfbtf import data, losses, probes, rules
from urfbtf.errors import UsageError
from urfbtf.records import read_records
from urfbtf.runner import (
    announce,
    checkpoint,
    distribute,
    divergence,
    interrupt,
    own_loop,
    recorder,
    run_dir,
    untying,
)
from urfbtf.runner.build import (
    build_model,
    check_compilable,
    loss_ceiling,
    make_optimizer,
)
from urfbtf.runner.config import Config
from urfbtf.runner.evaluation import Evaluator
from urfbtf.runner.validation import check_data

__all__ = ["build_model", "make_deterministic", "make_optimizer", "run", "score_of"]

# Examples in the fixed batch of the alignment probes.
PROBE_EXAMPLES = 256


def default_model_dir(config: Config) -> Path:
    """runs/<net>-<rule>-<loss>-c<connectivity>-s<seed>, relative to the CWD."""
    return run_dir.default(config)


def make_deterministic() -> None:
    """Makes TensorFlow compute the same bits on every run of the same program.

    Deterministic kernels alone are not enough on CPUs: with several ops in
    flight, oneDNN kernels split their work by the threads free at that moment,
    which changes the order of float sums (here about one run in five ended with
    different weights). Running one op at a time costs nothing measurable on
    these nets, whose ops each use every core. TensorFlow accepts that setting
    only before its first op, so call this early.
    """
    tf.config.experimental.enable_op_determinism()
    if tf.config.threading.get_inter_op_parallelism_threads() == 1:
        return
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        logging.warning(
            "TensorFlow was already running, so ops may still run concurrently "
            "and runs may differ in their last bits; call "
            "urfbtf.runner.train.make_deterministic() before any TensorFlow op for "
            "bitwise reproducible runs."
        )


def run(
    config: Config,
    model_dir=None,
    *,
    strategy=None,
    verbose="auto",
    log=print,
    settings_from=(),
):
    """Trains `config` in `model_dir`, resuming if a checkpoint is there.

    Args:
        config: the run's settings.
        model_dir: output directory; default `default_model_dir(config)`.
        strategy: a `tf.distribute.Strategy`; default the one `config.strategy`
            names (a test passes its own, e.g. mirrored over logical CPUs).
        verbose: Keras' verbosity; "auto" shows a progress bar on a terminal and
            one line per epoch otherwise.
        log: where the run's first line (`urfbtf.runner.announce`) and its
            closing summary line go.
        settings_from: the flagfiles and named experiment that gave the
            settings, for the first line (the command line passes them).

    Returns:
        The last epoch's metrics record (a dict), with "model_dir" added, and
        "diverged_at" ({"epoch", "step"}) if the run diverged and trained on
        (on_divergence="continue"); on the workers of a cluster other than the
        chief, only "model_dir".

    Raises:
        urfbtf.errors.DivergenceError: the run diverged, under
            on_divergence="stop" (`urfbtf.runner.divergence`).
        urfbtf.errors.RunFilesError: model_dir cannot be created or written, or
            holds files that are not a run's.
        urfbtf.runner.lock.RunInUseError: another live run holds model_dir
            (`urfbtf.runner.lock`); nothing there was changed.
        urfbtf.runner.interrupt.RunInterrupted: Ctrl-C; the same call resumes.
    """
    config.validate()
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir(config)
    with interrupt.reported(model_dir, config.epochs):
        keras.utils.set_random_seed(config.seed)
        if config.deterministic:
            make_deterministic()
        strategy = strategy or distribute.make_strategy(config.strategy, tpu=config.tpu)
        _check_batch_sizes(config, strategy)
        chief = distribute.is_chief(strategy)
        # Only the chief of a cluster writes, and so locks model_dir; it is
        # created before the data, which may take long to download.
        with run_dir.claimed(config, model_dir, write=chief) as (previous, diverged):
            if chief:
                resume = checkpoint.newest_epoch(model_dir / "checkpoints")
                log(announce.first_line(config, model_dir, resume, settings_from))
            return _run_in(
                config, model_dir, strategy, chief, previous, diverged, verbose, log
            )


def _run_in(config, model_dir, strategy, chief, previous, diverged, verbose, log):
    """The run in `model_dir`, checked (and for the chief, locked) by `run`."""
    config = _as_started(config, previous)
    rule = rules.get_rule(config.rule)
    inputs = data.load_inputs(
        config.dataset,
        config.data_dir,
        input_path=config.input,
        val_examples=config.val_examples,
        train_examples=config.train_examples,
        image_size=config.image_size,
        augment=config.augment,
        normalize=config.normalize,
        label_offset=config.label_offset,
    )
    check_data(config, inputs.splits, inputs.image_shape)
    saved = checkpoint.latest(model_dir / "checkpoints")
    if chief:
        history = divergence.lr_history(
            previous if saved else None,
            config.lr,
            saved.epoch if saved else 0,
            diverged,
        )
        run_dir.write_config(config, model_dir, history)
        recorder.truncate_metrics(model_dir, saved.epoch if saved else 0)

    model = None
    phases = untying.schedule(config)
    for phase in phases[saved.phase if saved else 0 :]:
        # Seeded per phase, so that a redrawn layer gets the same weights whether
        # the run crossed the boundary in one go or resumed at it.
        keras.utils.set_random_seed(config.seed + phase.index)
        with strategy.scope():
            new = build_model(config, inputs.image_shape, inputs.num_classes, phase)
            check_compilable(new, config, strategy)
            optimizers = rule.optimizers(new)
            # Fresh or resumed, each optimizer's slots are made here on the
            # variables the rule names, so every checkpoint holds the same ones.
            checkpoint.build_optimizers(optimizers)
            if saved is not None and saved.phase == phase.index:
                # The optimizers keep config.lr, which is the checkpoint's unless
                # a diverged run resumes at a lower one.
                start = checkpoint.restore(
                    new, saved, optimizers, keep_learning_rates=True
                )
            else:
                start = phase.first_epoch
                if model is not None:
                    untying.transfer(model, new, phase.redraw)
        model = new
        if start < phase.end_epoch:
            _fit(
                model, config, phase, inputs, model_dir, start, strategy, verbose, chief
            )
    saved_model = False
    if chief:
        # A run that diverged and trained on may end non-finite; its checkpoints
        # stop at the last finite state, and so does model.keras.
        if not checkpoint.non_finite_state(model, rule.optimizers(model)):
            run_dir.save_model(model, model_dir / "model.keras")
            saved_model = True

    if not chief:
        return {"model_dir": str(model_dir)}  # The chief reports for the cluster.
    records = read_records(model_dir)
    summary = dict(records[-1]) if records else {}
    summary["model_dir"] = str(model_dir)
    first = divergence.first(records)
    if first is not None:
        summary["diverged_at"] = {
            "epoch": first["epoch"],
            "step": first.get("diverged_step"),
        }
    log(_summary_line(config, summary, model_dir, first, saved_model))
    return summary


def _as_started(config: Config, previous: dict | None) -> Config:
    """`config`, for a resumed run recorded before `--tp_alternating_epoch`
    existed, with the meaning of an epoch it started with: each pass of the
    alternating schedule an epoch (its checkpoints count passes)."""
    name = "tp_alternating_epoch"
    declared = {s.name for s in config.settings()}
    if previous is None or name not in declared or name in previous:
        return config
    if previous.get("tp_schedule") != "alternating":
        return config
    logging.info("Resuming a run whose alternating epochs are single passes.")
    return config.replace(**{name: "one_pass"})


def score_of(config: Config) -> str:
    """The metric that scores a run of `config`: the test error, or for
    regression, which has no error rate, the test loss. Decided by the task,
    not by a record, since a diverged epoch's record may lack either."""
    return "test_loss" if config.loss in losses.REGRESSION_LOSSES else "test_error"


def _summary_line(config, summary, model_dir, diverged=None, saved_model=True) -> str:
    """The closing line of a run: its last epoch and score, and where it
    diverged if it trained on after that."""
    score = score_of(config)
    value = summary.get(score)
    # A perfect 0.0 is a score like any other; only a missing one is n/a.
    shown = "n/a" if value is None else f"{value:.4f}"
    line = (
        f"urfbtf: {config.net} {config.rule} {config.loss} c={config.connectivity:g} "
        f"seed={config.seed}: epoch {summary.get('epoch', 0)}/{config.epochs}, "
        f"{score} {shown}, "
    )
    if diverged is not None:
        last = checkpoint.newest_epoch(Path(model_dir) / "checkpoints")
        line += (
            f"{divergence.summary(diverged)} and trained on (--on_divergence="
            f"{config.on_divergence}), last finite checkpoint: epoch {last or 'none'}"
            f"{'' if saved_model else ', model.keras not written (non-finite)'}, "
        )
    return line + f"model_dir {model_dir}"


def _fit(
    model, config, phase, inputs, model_dir, start_epoch, strategy, verbose, chief
):
    steps = data.steps_per_epoch(inputs.count("train"), phase.batch_size)
    # An epoch of the alternating target schedule is two passes over the data,
    # an inverse one and a forward one (`urfbtf.rules.target.model`); each pass
    # reads the data epoch of its own index, as when each pass was an epoch.
    passes = getattr(model, "passes_per_epoch", 1)
    if passes > 1 and steps % config.steps_per_execution:
        raise UsageError(
            f"steps_per_execution={config.steps_per_execution} does not divide the "
            f"{steps} steps of a pass over the training set, and an epoch of "
            f"rule {config.rule!r}'s alternating schedule switches from its inverse "
            "pass to its forward pass between two steps. Use a divisor of "
            f"{steps}, e.g. --steps_per_execution=1."
        )
    train = inputs.train(
        strategy,
        batch_size=phase.batch_size,
        seed=config.seed,
        first_epoch=start_epoch * passes,
        epochs=phase.end_epoch * passes,
    )
    steps *= passes
    val = None
    if inputs.count("val"):
        val = inputs.evaluation("val", strategy, batch_size=config.eval_batch_size)
    test = inputs.evaluation("test", strategy, batch_size=config.eval_batch_size)
    evaluate = Evaluator(model, model.loss, strategy, config.jit_compile)
    probe = None
    if config.probe_every:
        # A fixed probe batch: the first examples of the validation set.
        x, y = inputs.probe_batch(PROBE_EXAMPLES)
        prober = probes.Prober(model)
        probe = lambda: prober(x, y)  # noqa: E731
    record = recorder.RunRecorder(
        model_dir,
        evaluate,
        val,
        test,
        steps * phase.batch_size,
        write=chief,
        phase=phase.index,
        probe=probe,
        probe_every=config.probe_every,
        rule=rules.get_rule(config.rule),
        on_divergence=config.on_divergence,
        lr=config.lr,
        loss_ceiling=loss_ceiling(config, model, inputs.num_classes),
    )
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    if not chief:
        verbose = 0  # One progress report per cluster.
    schedule = dict(
        epochs=phase.end_epoch, initial_epoch=start_epoch, steps_per_epoch=steps
    )
    try:
        with strategy.scope():
            _train(model, train, strategy, config, record, verbose, schedule)
    except tf.errors.OpError as error:
        # A shard that went bad after the scan: one paragraph, not a traceback.
        found = inputs.read_error(error)
        if found is None:
            raise
        raise found from None


def _train(model, train, strategy, config, record, verbose, schedule) -> None:
    """`fit`, or the own loop under MultiWorkerMirroredStrategy; a Ctrl-C ends
    either between two steps (`urfbtf.runner.interrupt.deferred`)."""
    callbacks = [record, interrupt.RaisedBetweenSteps()]
    with interrupt.deferred():
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            own_loop.fit(
                model,
                train,
                strategy=strategy,
                callbacks=callbacks,
                steps_per_execution=config.steps_per_execution,
                verbose=verbose,
                **schedule,
            )
        else:
            # The stream is already shuffled, per epoch, by (seed, epoch).
            model.fit(
                train, shuffle=False, callbacks=callbacks, verbose=verbose, **schedule
            )


def _check_batch_sizes(config: Config, strategy) -> None:
    replicas = strategy.num_replicas_in_sync
    for name in ("batch_size", "eval_batch_size", "untied_batch_size"):
        value = getattr(config, name)
        if value is not None and value % replicas:
            raise UsageError(
                f"{name}={value} does not split evenly over the {replicas} replicas "
                f"of strategy {config.strategy!r}; use a multiple of {replicas} (it "
                f"is the global batch, e.g. {value - value % replicas or replicas})."
            )
