"""Running an experiment: data, model, `fit`, and what the run leaves behind.

`run(config, model_dir)` is the whole experiment of `python -m urfbtf.main`, callable
from Python. In `model_dir` it leaves `config.json` (the settings and library
versions), `metrics.jsonl` (one line per finished epoch), TensorBoard logs,
per-epoch checkpoints and the final model `model.keras`. Started again on the
same directory it resumes from the last finished epoch and ends with the weights
an uninterrupted run would have: every source of randomness (initial weights,
masks, dropout, the order of examples) is either seeded or restored.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from absl import logging

import urfbtf
from urfbtf import (
    checkpoint,
    data,
    distribute,
    losses,
    nets,
    own_loop,
    probes,
    protocol,
    recorder,
    rules,
)
from urfbtf.config import Config
from urfbtf.errors import UsageError
from urfbtf.evaluation import Evaluator
from urfbtf.metrics import ErrorRate

# Examples in the fixed batch of the alignment probes.
PROBE_EXAMPLES = 256


def default_model_dir(config: Config) -> Path:
    """runs/<net>-<rule>-<loss>-c<connectivity>-s<seed>, relative to the CWD."""
    return Path("runs") / config.run_name()


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
            "urfbtf.train.make_deterministic() before any TensorFlow op for "
            "bitwise reproducible runs."
        )


def make_optimizer(config: Config, lr: float | None = None):
    """The run's optimizer (`config.optimizer`) at `config.lr`, or at `lr`."""
    lr = config.lr if lr is None else lr
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr)
    if config.optimizer == "momentum":
        return keras.optimizers.SGD(lr, momentum=0.9)
    return keras.optimizers.Adam(lr)


def build_model(
    config: Config, image_shape, num_classes: int, phase: protocol.Phase | None = None
) -> keras.Model:
    """The model of `config` in protocol phase `phase` (default: the first),
    built and compiled by its rule; call it inside the strategy's scope."""
    phase = phase or protocol.schedule(config)[0]
    rule = rules.get_rule(config.rule)
    settings = config.rule_settings()
    model = nets.build_net(
        config.net,
        input_shape=tuple(image_shape),
        num_classes=num_classes,
        rule=rule,
        rule_settings=settings,
        connectivity=config.connectivity,
        nonlin_scale=config.nonlin_scale,
        leaky_slope=config.leaky_slope,
        dropout_seed=config.seed,
        untie=phase.untie,
        untied_impl=config.untied_impl,
        activation=config.activation,
        output_activation=config.output_activation,
        dropout=config.dropout,
        kernel_initializer=_kernel_initializer(config, rule),
        freeze_conv=config.freeze_conv,
    )
    for name in phase.freeze:
        model.get_layer(name).trainable = False
    rule.compile(
        model,
        make_optimizer=lambda lr=None: make_optimizer(config, lr),
        settings=settings,
        loss=losses.get_loss(config.loss, config.off_class_fac),
        metrics=[] if config.loss in losses.REGRESSION_LOSSES else [ErrorRate()],
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    return model


def run(config: Config, model_dir=None, *, strategy=None, verbose="auto", log=print):
    """Trains `config` in `model_dir`, resuming if a checkpoint is there.

    Args:
        config: the run's settings.
        model_dir: output directory; default `default_model_dir(config)`.
        strategy: a `tf.distribute.Strategy`; default the one `config.strategy`
            names (a test passes its own, e.g. mirrored over logical CPUs).
        verbose: Keras' verbosity; "auto" shows a progress bar on a terminal and
            one line per epoch otherwise.
        log: where the closing summary line goes.

    Returns:
        The last epoch's metrics record (a dict), with "model_dir" added; on the
        workers of a cluster other than the chief, only "model_dir".
    """
    config.validate()
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir(config)
    _check_same_run(config, model_dir)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        make_deterministic()
    strategy = strategy or distribute.make_strategy(config.strategy, tpu=config.tpu)
    _check_batch_sizes(config, strategy)
    splits = data.load_splits(
        config.dataset,
        config.data_dir,
        val_examples=config.val_examples,
        train_examples=config.train_examples,
    )
    saved = checkpoint.latest(model_dir / "checkpoints")
    chief = distribute.is_chief(strategy)
    if chief:
        _write_config(config, model_dir)
        recorder.truncate_metrics(model_dir, saved.epoch if saved else 0)

    model = None
    phases = protocol.schedule(config)
    for phase in phases[saved.phase if saved else 0 :]:
        # Seeded per phase, so that a redrawn layer gets the same weights whether
        # the run crossed the boundary in one go or resumed at it.
        keras.utils.set_random_seed(config.seed + phase.index)
        with strategy.scope():
            new = build_model(config, splits.image_shape, splits.num_classes, phase)
            _check_compilable(new, config, strategy)
            if saved is not None and saved.phase == phase.index:
                start = checkpoint.restore(
                    new, saved, rules.get_rule(config.rule).optimizers(new)
                )
            else:
                start = phase.first_epoch
                if model is not None:
                    protocol.transfer(model, new, phase.redraw)
        model = new
        if start < phase.end_epoch:
            _fit(
                model, config, phase, splits, model_dir, start, strategy, verbose, chief
            )
    if chief:
        _save_model(model, model_dir / "model.keras")

    if not chief:
        return {"model_dir": str(model_dir)}  # The chief reports for the cluster.
    records = recorder.read_metrics(model_dir)
    summary = dict(records[-1]) if records else {}
    summary["model_dir"] = str(model_dir)
    score = _score_key(summary)
    log(
        f"urfbtf: {config.net} {config.rule} {config.loss} c={config.connectivity:g} "
        f"seed={config.seed}: epoch {summary.get('epoch', 0)}/{config.epochs}, "
        f"{score} {summary.get(score) or float('nan'):.4f}, "
        f"model_dir {model_dir}"
    )
    return summary


def _fit(
    model, config, phase, splits, model_dir, start_epoch, strategy, verbose, chief
):
    steps = data.steps_per_epoch(len(splits.train_labels), phase.batch_size)
    train = data.train_dataset(
        splits.train_images,
        splits.train_labels,
        batch_size=phase.batch_size,
        seed=config.seed,
        first_epoch=start_epoch,
        epochs=phase.end_epoch,
    )
    val = None
    if len(splits.val_labels):
        val = data.eval_dataset(
            splits.val_images, splits.val_labels, batch_size=config.eval_batch_size
        )
    test = data.eval_dataset(
        splits.test_images, splits.test_labels, batch_size=config.eval_batch_size
    )
    evaluate = Evaluator(model, model.loss, strategy, config.jit_compile)
    probe = None
    if config.probe_every:
        images, labels = (
            (splits.val_images, splits.val_labels)
            if len(splits.val_labels)
            else (splits.train_images, splits.train_labels)
        )
        # A fixed probe batch: the first examples of the validation set.
        x, y = data.scaled(images[:PROBE_EXAMPLES]), labels[:PROBE_EXAMPLES]
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
    )
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    if not chief:
        verbose = 0  # One progress report per cluster.
    schedule = dict(
        epochs=phase.end_epoch, initial_epoch=start_epoch, steps_per_epoch=steps
    )
    with strategy.scope():
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            own_loop.fit(
                model,
                train,
                strategy=strategy,
                callbacks=[record],
                steps_per_execution=config.steps_per_execution,
                verbose=verbose,
                **schedule,
            )
        else:
            # The stream is already shuffled, per epoch, by (seed, epoch).
            model.fit(
                train, shuffle=False, callbacks=[record], verbose=verbose, **schedule
            )


def _kernel_initializer(config: Config, rule: rules.Rule) -> str:
    """Forward weights start at 0 under --zero_init for the rules that can leave
    it (Frenkel et al. zero-initialise their feedback-alignment family); the
    others keep `kernel_init`."""
    if config.zero_init and rule.learns_from_zero:
        return "zeros"
    return config.kernel_init


# Epochs at the end of a run whose test errors are averaged in a trial's score,
# as Frenkel et al. (2021) report their tables.
LAST_EPOCHS = 10


def run_trials(config: Config, trials: int, model_dir=None, **run_args) -> dict:
    """Runs `trials` seeds (seed, seed+1, ...) and summarises their test errors.

    Each trial is an ordinary run in model_dir/trial-K (resumable on its own);
    its score is its test error averaged over its last `LAST_EPOCHS` epochs.
    The summary (scores, mean, standard deviation) is also written to
    model_dir/trials.json.
    """
    base = Path(model_dir) if model_dir is not None else default_model_dir(config)
    log = run_args.pop("log", print)
    scores = []
    for k in range(trials):
        trial = config.replace(seed=config.seed + k)
        run(trial, base / f"trial-{k}", log=log, **run_args)
        records = recorder.read_metrics(base / f"trial-{k}")[-LAST_EPOCHS:]
        key = _score_key(records[-1])
        scores.append(float(np.mean([r[key] for r in records])))
    summary = {
        "trials": trials,
        "last_epochs": LAST_EPOCHS,
        "test_errors": scores,
        "mean_test_error": float(np.mean(scores)),
        "std_test_error": float(np.std(scores)),
    }
    base.mkdir(parents=True, exist_ok=True)
    (base / "trials.json").write_text(json.dumps(summary, indent=2))
    log(
        f"urfbtf: {trials} trials of {config.net} {config.rule}: test error over the "
        f"last {LAST_EPOCHS} epochs {summary['mean_test_error']:.4f} ± "
        f"{summary['std_test_error']:.4f}, model_dir {base}"
    )
    return summary


def _score_key(record: dict) -> str:
    """The record's key that scores a run: the test error, or for regression,
    which has no error rate, the test loss."""
    return "test_error" if record.get("test_error") is not None else "test_loss"


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


def _check_compilable(model, config: Config, strategy) -> None:
    """Stops before training when XLA is asked of layers it cannot compile."""
    if not (config.jit_compile or isinstance(strategy, tf.distribute.TPUStrategy)):
        return
    blocked = [layer.name for layer in model.layers if not layer.supports_jit]
    if blocked:
        reason = "--jit_compile" if config.jit_compile else "a TPU (always compiled)"
        raise UsageError(
            f"Layers {', '.join(blocked)} cannot be compiled by XLA (tf.sparse ops "
            f"have no XLA kernel), which {reason} needs. Use their XLA form instead: "
            "implementation='dense' (--untied_impl=dense), or run without "
            "--jit_compile on a CPU or GPU."
        )


def _versions() -> dict:
    return {
        "urfbtf": urfbtf.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }


def _check_same_run(config: Config, model_dir: Path) -> None:
    """Refuses a model_dir whose checkpoints belong to a run with other settings."""
    path = model_dir / "config.json"
    if not path.exists() or not checkpoint.checkpoints(model_dir / "checkpoints"):
        return
    previous = json.loads(path.read_text())
    changed = config.changes_from(previous)
    if changed:
        raise UsageError(
            f"{model_dir} holds a run with other settings ({'; '.join(changed)}), "
            "so it cannot be resumed with these. Pass another --model_dir, or "
            "delete that directory to start over."
        )


def _write_config(config: Config, model_dir: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / "config.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(
        json.dumps({**config.to_dict(), "versions": _versions()}, indent=2)
    )
    os.replace(temporary, path)


def _save_model(model, path: Path) -> None:
    temporary = path.with_name(".tmp-" + path.name)
    model.save(temporary)
    os.replace(temporary, path)
