"""Command line: `python -m urfbtf.main --net=deepernet --rule=urfb [FLAGS]`.

The paper's settings for the chosen net are read first from `flags/<net>.cfg`
(in the repository checkout); every flag given on the command line, including
`--flagfile=...`, overrides them. This is the only module that reads flags: it
turns them into a `urfbtf.config.Config` and calls `urfbtf.train.run`.

Bad input ends with a one-paragraph message on stderr and exit status 2 (1 for
data that cannot be read or downloaded), never with a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags, logging

from urfbtf import config as config_lib
from urfbtf import losses, nets, rules, train
from urfbtf.errors import UrfbtfError, UsageError

_NET = flags.DEFINE_string("net", "simpnet", f"Network: {', '.join(nets.NETS)}.")
_NET_SETTINGS = flags.DEFINE_boolean(
    "net_settings",
    True,
    "Read the paper's settings for --net from flags/<net>.cfg before the other flags.",
)
_RULE = flags.DEFINE_string("rule", "urfb", f"Learning rule: {', '.join(rules.RULES)}.")
_LOSS = flags.DEFINE_string("loss", "hinge", f"Loss: {', '.join(losses.LOSSES)}.")
_OFF_CLASS_FAC = flags.DEFINE_float(
    "off_class_fac", 1.0, "Hinge loss: μ = off_class_fac/(C-1) (eq. 4)."
)
_CONNECTIVITY = flags.DEFINE_float(
    "connectivity", 1.0, "Fraction of forward and feedback connections kept (0, 1]."
)
_NONLIN_SCALE = flags.DEFINE_float(
    "nonlin_scale", 0.5, "Slope s of the saturated linearity clip(s*h, -1, 1)."
)
_DATASET = flags.DEFINE_string(
    "dataset",
    "cifar10",
    "tensorflow-datasets name (cifar10, cifar100, mnist, ...), cifar10_sample (ships "
    "with urfbtf), or the file prefix of the TFRecords in --data_dir.",
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir",
    None,
    "Read <dataset>-{train,test}.tfrecord-* from here instead of tfds.",
)
_TRAIN_EXAMPLES = flags.DEFINE_integer(
    "train_examples", None, "Use only this many training examples."
)
_VAL_EXAMPLES = flags.DEFINE_integer(
    "val_examples",
    None,
    "Validation examples held out of the training set "
    "(default 5000; 200 for cifar10_sample).",
)
_EPOCHS = flags.DEFINE_integer("epochs", 1000, "Total training epochs.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 500, "Global minibatch size.")
_EVAL_BATCH_SIZE = flags.DEFINE_integer(
    "eval_batch_size", 1000, "Batch size of validation and test passes."
)
_OPTIMIZER = flags.DEFINE_string(
    "optimizer", "sgd", f"Optimizer: {', '.join(config_lib.OPTIMIZERS)}."
)
_LR = flags.DEFINE_float("lr", 0.1, "Learning rate (the paper's time step).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of weights, masks, dropout, data order.")
_DETERMINISTIC = flags.DEFINE_boolean(
    "deterministic",
    True,
    "Deterministic TensorFlow ops: bitwise reproducible runs and resumes.",
)
_STRATEGY = flags.DEFINE_string(
    "strategy",
    "default",
    "Where to run: default (one device), mirrored (the GPUs of this machine), "
    "multi_worker (several machines, described by TF_CONFIG), tpu.",
)
_TPU = flags.DEFINE_string(
    "tpu",
    "",
    "For --strategy=tpu: TPU name or grpc:// address ('' finds the local "
    "or Colab TPU).",
)
_JIT_COMPILE = flags.DEFINE_boolean(
    "jit_compile", False, "Compile the training and evaluation steps with XLA."
)
_STEPS_PER_EXECUTION = flags.DEFINE_integer(
    "steps_per_execution", 1, "Training steps per call into the compiled step."
)
_UNTIE = flags.DEFINE_string(
    "untie",
    "",
    "Conv layers to build untied (locally connected), comma separated, or 'all'.",
)
_UNTIED_IMPL = flags.DEFINE_string(
    "untied_impl",
    "dense",
    "Untied layers: dense (per-location kernels, compiles with XLA) or sparse "
    "(tf.sparse, as the original code).",
)
_UNTIE_AFTER = flags.DEFINE_integer(
    "untie_after",
    0,
    "Train the tied net for this many epochs, then untie (0: untied from the start).",
)
_FREEZE = flags.DEFINE_string(
    "freeze", "", "Layers that stop learning when the net is untied (--untie_after)."
)
_REDRAW = flags.DEFINE_string(
    "redraw",
    "",
    "Layers redrawn at random when the net is untied (--untie_after); "
    "untied layers not listed start from their trained kernel.",
)
_UNTIED_BATCH_SIZE = flags.DEFINE_integer(
    "untied_batch_size", None, "Batch size after --untie_after (default --batch_size)."
)
_ACTIVATION = flags.DEFINE_string(
    "activation", "saturated", "Hidden nonlinearity: saturated (Amit 2019) or tanh."
)
_OUTPUT_ACTIVATION = flags.DEFINE_string(
    "output_activation", "linear", "Output units: linear, or tanh (for regression)."
)
_DROPOUT = flags.DEFINE_float(
    "dropout", 0.0, "Dropout rate of nets that leave it open (Frenkel et al.'s)."
)
_KERNEL_INIT = flags.DEFINE_string(
    "kernel_init", "glorot_uniform", "Forward weights: glorot_uniform or he_uniform."
)
_ZERO_INIT = flags.DEFINE_boolean(
    "zero_init", False, "Start the forward weights at 0 (feedback stays random)."
)
_FREEZE_CONV = flags.DEFINE_boolean(
    "freeze_conv", False, "Keep the convolutions at their initial values."
)
_DIRECT_OUTPUT = flags.DEFINE_string(
    "direct_output",
    "error",
    "dfa/sdfa/drtp: the output layer learns from its true "
    "error (error) or from the projected signal (direct).",
)
_PROBE_EVERY = flags.DEFINE_integer(
    "probe_every", 0, "Alignment probes against backprop every N steps (0: off)."
)
_TRIALS = flags.DEFINE_integer(
    "trials",
    1,
    "Run this many seeds (seed, seed+1, ...) and report the mean and "
    "standard deviation of the test error averaged over the last 10 epochs.",
)
_MODEL_DIR = flags.DEFINE_string(
    "model_dir",
    None,
    "Output directory; default runs/<net>-<rule>-<loss>-c<connectivity>-s<seed>. "
    "Re-running with the same directory resumes.",
)

FLAGS = flags.FLAGS
_REPO_FLAGS_DIR = Path(__file__).resolve().parent.parent / "flags"


def _fail(error: Exception) -> None:
    print(f"urfbtf: error: {error}", file=sys.stderr)
    sys.exit(getattr(error, "exit_code", 2))


def net_flagfile(net: str) -> Path:
    """flags/<net>.cfg of the checkout (or of the current directory)."""
    for directory in (_REPO_FLAGS_DIR, Path.cwd() / "flags"):
        if (directory / f"{net}.cfg").is_file():
            return directory / f"{net}.cfg"
    raise UsageError(
        f"The paper's settings for --net={net} (flags/{net}.cfg) were not found in "
        f"{_REPO_FLAGS_DIR} or ./flags. Run from a checkout of urfbtf (./run.sh), or "
        "pass --nonet_settings to use only the flags you give."
    )


def _last_value(args: list[str], name: str, default):
    """The last value of --name=VALUE (or --name / --noname for booleans)."""
    value = default
    for arg in args:
        if arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
        elif arg == f"--{name}":
            value = True
        elif arg == f"--no{name}":
            value = False
    return value


def parse_flags(argv: list[str]) -> list[str]:
    """Parses argv with the net's flagfile first; usage errors exit with status 2."""
    try:
        expanded = FLAGS.read_flags_from_files(argv[1:], force_gnu=False)
        net = _last_value(expanded, "net", _NET.default)
        if _last_value(expanded, "net_settings", True) and net in nets.NETS:
            argv = [argv[0], f"--flagfile={net_flagfile(net)}", *argv[1:]]
        return FLAGS(argv)
    except flags.Error as error:
        _fail(UsageError(f"{error}. See --helpfull for every flag and its values."))
    except UsageError as error:
        _fail(error)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        _fail(
            UsageError(f"Unexpected arguments {argv[1:]}: every setting is a --flag.")
        )
    if not FLAGS["verbosity"].present:
        # tensorflow-datasets logs its lookups at INFO; keep the output to what
        # the run itself says.
        logging.set_verbosity(logging.WARNING)
    config = config_lib.Config(
        net=_NET.value,
        rule=_RULE.value,
        loss=_LOSS.value,
        off_class_fac=_OFF_CLASS_FAC.value,
        connectivity=_CONNECTIVITY.value,
        nonlin_scale=_NONLIN_SCALE.value,
        dataset=_DATASET.value,
        data_dir=_DATA_DIR.value,
        train_examples=_TRAIN_EXAMPLES.value,
        val_examples=_VAL_EXAMPLES.value,
        epochs=_EPOCHS.value,
        batch_size=_BATCH_SIZE.value,
        eval_batch_size=_EVAL_BATCH_SIZE.value,
        optimizer=_OPTIMIZER.value,
        lr=_LR.value,
        seed=_SEED.value,
        deterministic=_DETERMINISTIC.value,
        strategy=_STRATEGY.value,
        tpu=_TPU.value,
        jit_compile=_JIT_COMPILE.value,
        steps_per_execution=_STEPS_PER_EXECUTION.value,
        untie=_UNTIE.value,
        untied_impl=_UNTIED_IMPL.value,
        untie_after=_UNTIE_AFTER.value,
        freeze=_FREEZE.value,
        redraw=_REDRAW.value,
        untied_batch_size=_UNTIED_BATCH_SIZE.value,
        activation=_ACTIVATION.value,
        output_activation=_OUTPUT_ACTIVATION.value,
        dropout=_DROPOUT.value,
        kernel_init=_KERNEL_INIT.value,
        zero_init=_ZERO_INIT.value,
        freeze_conv=_FREEZE_CONV.value,
        direct_output=_DIRECT_OUTPUT.value,
        probe_every=_PROBE_EVERY.value,
    )
    try:
        if _TRIALS.value < 1:
            raise UsageError(f"trials={_TRIALS.value} must be 1 or more.")
        if _TRIALS.value > 1:
            train.run_trials(config, _TRIALS.value, _MODEL_DIR.value)
        else:
            train.run(config, _MODEL_DIR.value)
    except UrfbtfError as error:
        _fail(error)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
