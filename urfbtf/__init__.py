"""urfbtf: learning rules that avoid weight transport, as Keras 3 layers.

Amit (2019), "Deep learning with asymmetric connections and Hebbian updates",
Front. Comput. Neurosci. 13:18. The layers live in `urfbtf.layers`, the rules in
`urfbtf.rules`, the paper's networks in `urfbtf.nets`, and the experiment runner
in `urfbtf.runner` (with `python -m urfbtf` as its command line).
`urfbtf.convert(model, rule)` turns a Keras model of one's own into one that
learns by a rule, and `urfbtf.callbacks.Alignment` records how closely it
follows backpropagation during `fit`.
"""

__version__ = "0.1.0"

# Importing these registers urfbtf's rules (in `urfbtf.registry`, where the
# layers look them up), and its layers, models, loss and metric with Keras, so
# that `keras.models.load_model` can read the models urfbtf saves.
from urfbtf import callbacks, layers, losses, metrics, rules  # noqa: F401

# The function takes its module's name: `urfbtf.convert(model, rule)`.
from urfbtf.convert import convert  # noqa: F401
