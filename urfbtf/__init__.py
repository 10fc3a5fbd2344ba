"""urfbtf: learning rules that avoid weight transport, as Keras 3 layers.

Amit (2019), "Deep learning with asymmetric connections and Hebbian updates",
Front. Comput. Neurosci. 13:18. The layers live in `urfbtf.layers`, the rules in
`urfbtf.rules`, the paper's networks in `urfbtf.nets`, and the experiment runner
in `urfbtf.runner` (with `python -m urfbtf` as its command line).
`urfbtf.convert(model, rule)` turns a Keras model of one's own into one that
learns by a rule, and `urfbtf.callbacks.Alignment` records how closely it
follows backpropagation during `fit`.
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"


def _started_as_command() -> bool:
    """Whether this process is urfbtf's command: the `urfbtf` script, or
    `python -m urfbtf...` (`python -m urfbtf.plot` too)."""
    argv = getattr(_sys, "orig_argv", _sys.argv)
    if "-m" in argv[:-1]:
        return argv[argv.index("-m") + 1].split(".")[0] == "urfbtf"
    return any(_os.path.basename(a) in ("urfbtf", "urfbtf.exe") for a in argv[:2])


# The command is as quiet at start as `./run.sh`: TensorFlow reads this when it is
# imported (below), and its INFO and WARNING start-up lines (CUDA probing on a
# CPU machine) say nothing about the run; `urfbtf.startup` applies the level to
# the lines TensorFlow writes before it reads it. A value the user set is kept,
# and a program that imports urfbtf as a library keeps TensorFlow's own default.
if _started_as_command():
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from urfbtf import startup

    with startup.filtered():
        import tensorflow

        # The devices are probed once, here (the CUDA probe's lines), which
        # leaves TensorFlow's runtime settings open (`make_deterministic`).
        tensorflow.config.list_physical_devices()

# Importing these registers urfbtf's rules (in `urfbtf.registry`, where the
# layers look them up), and its layers, models, loss and metric with Keras, so
# that `keras.models.load_model` can read the models urfbtf saves.
from urfbtf import callbacks, layers, losses, metrics, rules  # noqa: E402, F401

# The function takes its module's name: `urfbtf.convert(model, rule)`.
from urfbtf.convert import convert  # noqa: E402, F401
