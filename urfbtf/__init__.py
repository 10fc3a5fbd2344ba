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

# Importing these registers urfbtf's layers, loss and metric with Keras, so that
# `keras.models.load_model` can read the models urfbtf saves. The rules come
# first: their registry must exist before the layers (which look rules up) and
# the rule families (which build on the layers) finish importing.
from urfbtf import rules  # noqa: E402, F401, I001
from urfbtf import layers, losses, metrics  # noqa: E402, F401
from urfbtf import callbacks  # noqa: E402, F401

# The function takes its module's name: `urfbtf.convert(model, rule)`.
from urfbtf.convert import convert  # noqa: E402, F401
