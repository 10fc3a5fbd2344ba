"""The Python API refuses an argument of the wrong type with a `UsageError` that
names the argument, the type it expects and the value it got, in one line.

Issue #30: `urfbtf.convert(model, "urfb", connectivity="0.5")` failed with
"'<' not supported between instances of 'float' and 'str'", which names
neither. The cases cover the public entry points: `urfbtf.convert`,
`urfbtf.nets.build_net`, the layers' `rule`, `connectivity` and `seed`, and the
`Alignment` callback.
"""

import keras
import numpy as np
import pytest

import urfbtf
from urfbtf import layers, nets
from urfbtf.callbacks import Alignment
from urfbtf.errors import UsageError


def _model():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3, name="dense")(inputs))


def _convert(**arguments):
    given = dict(model=_model(), rule="urfb")
    return urfbtf.convert(**{**given, **arguments})


def _build_net(**arguments):
    given = dict(net="fc2_100", input_shape=(8, 8, 1), num_classes=10)
    return nets.build_net(**{**given, **arguments})


def _dense(**arguments):
    return layers.FeedbackDense(3, **arguments)


def _conv(**arguments):
    return layers.FeedbackConv2D(4, 3, **arguments)


def _alignment(**arguments):
    return Alignment(**{"data": (np.zeros((2, 4)), np.zeros(2)), **arguments})


# (make, argument, value, what the message names: the argument with its value
# and the expected type).
CASES = {
    # convert
    "convert connectivity str": (
        _convert,
        "connectivity",
        "0.5",
        ["connectivity='0.5' (str)", "a number in (0, 1]"],
    ),
    "convert connectivity None": (
        _convert,
        "connectivity",
        None,
        ["connectivity=None (NoneType)", "a number"],
    ),
    "convert rule int": (_convert, "rule", 3, ["rule=3 (int)", "a rule name (str)"]),
    "convert rule list": (
        _convert,
        "rule",
        ["urfb"],
        ["rule=['urfb'] (list)", "a rule name (str)", "urfb"],
    ),
    "convert seed str": (_convert, "seed", "1", ["seed='1' (str)", "an integer"]),
    "convert seed float": (_convert, "seed", 1.5, ["seed=1.5 (float)", "an integer"]),
    "convert layers str": (
        _convert,
        "layers",
        "dense",
        ["layers='dense' (str)", "a list of layer names"],
    ),
    "convert layers of ints": (
        _convert,
        "layers",
        [0],
        ["layers=[0] (list)", "a list of layer names"],
    ),
    "convert strict str": (_convert, "strict", "no", ["strict='no'", "True or False"]),
    "convert feedback int": (_convert, "feedback", 1, ["feedback=1 (int)", "'copy'"]),
    "convert rule_settings list": (
        _convert,
        "rule_settings",
        [("feedback_clip", 1.0)],
        ["rule_settings=[('feedback_clip', 1.0)] (list)", "a mapping"],
    ),
    "convert rule_settings value": (
        _convert,
        "rule_settings",
        {"feedback_clip": "1"},
        ["feedback_clip='1' (str)", "a number"],
    ),
    "convert rule_settings inf": (
        _convert,
        "rule_settings",
        {"feedback_clip": float("inf")},
        ["feedback_clip=inf", "a finite number"],
    ),
    "convert rule_settings name": (
        _convert,
        "rule_settings",
        {"feedback_cilp": 1.0},
        ["'feedback_cilp'", "rule 'urfb'", "feedback_clip"],
    ),
    "convert model": (_convert, "model", "model.keras", ["model='model.keras'"]),
    # build_net
    "build_net net int": (_build_net, "net", 5, ["net=5 (int)", "a net's name"]),
    "build_net input_shape str": (
        _build_net,
        "input_shape",
        "8x8",
        ["input_shape='8x8' (str)", "a tuple of positive integers"],
    ),
    "build_net input_shape float side": (
        _build_net,
        "input_shape",
        (8, 8.0, 1),
        ["input_shape=(8, 8.0, 1) (tuple)", "a tuple of positive integers"],
    ),
    "build_net num_classes str": (
        _build_net,
        "num_classes",
        "10",
        ["num_classes='10' (str)", "a positive integer"],
    ),
    "build_net num_classes zero": (
        _build_net,
        "num_classes",
        0,
        ["num_classes=0 (int)", "a positive integer"],
    ),
    "build_net rule float": (_build_net, "rule", 1.0, ["rule=1.0 (float)", "str"]),
    "build_net connectivity str": (
        _build_net,
        "connectivity",
        "0.5",
        ["connectivity='0.5' (str)", "a number"],
    ),
    "build_net rule_settings value": (
        _build_net,
        "rule_settings",
        {"feedback_clip": "x"},
        ["feedback_clip='x' (str)", "a number"],
    ),
    "build_net unknown option": (
        _build_net,
        "conectivity",
        0.5,
        ["conectivity", "connectivity, nonlin_scale"],
    ),
    # the layers
    "dense rule int": (_dense, "rule", 7, ["rule=7 (int)", "a rule name (str)"]),
    "dense connectivity str": (
        _dense,
        "connectivity",
        "0.5",
        ["connectivity='0.5' (str)", "a number"],
    ),
    "dense seed str": (_dense, "seed", "0", ["seed='0' (str)", "an integer or None"]),
    "dense feedback_clip str": (
        _dense,
        "feedback_clip",
        "1",
        ["feedback_clip='1' (str)", "a scale"],
    ),
    "conv seed float": (_conv, "seed", 1.5, ["seed=1.5 (float)", "an integer"]),
    "conv rule list": (_conv, "rule", [], ["rule=[] (list)", "a rule name"]),
    # the Alignment callback
    "alignment data array": (
        _alignment,
        "data",
        np.zeros((300, 4)),
        ["data=<ndarray of shape (300, 4)>", "a pair (x, y)"],
    ),
    "alignment every str": (
        _alignment,
        "every",
        "3",
        ["every='3' (str)", "an integer >= 1"],
    ),
    "alignment every float": (
        _alignment,
        "every",
        2.0,
        ["every=2.0 (float)", "an integer >= 1"],
    ),
    "alignment log_dir int": (
        _alignment,
        "log_dir",
        5,
        ["log_dir=5 (int)", "a directory"],
    ),
}


@pytest.mark.parametrize("make,argument,value,named", CASES.values(), ids=CASES.keys())
def test_a_wrong_argument_is_named_with_its_type(make, argument, value, named):
    with pytest.raises(UsageError) as refused:
        make(**{argument: value})
    message = str(refused.value)
    assert len(message.splitlines()) == 1, message
    for part in named:
        assert part in message, (part, message)


@pytest.mark.parametrize(
    "make,arguments",
    [
        (_convert, dict(connectivity=np.float32(0.5), seed=np.int64(3))),
        (_convert, dict(layers=(name for name in ["dense"]), strict=False)),
        (_build_net, dict(input_shape=np.array([8, 8, 1]), num_classes=np.int64(10))),
        (_dense, dict(rule=urfbtf.rules.get_rule("frfb"), connectivity=1, seed=0)),
        (_alignment, dict(every=np.int32(5), log_dir=None)),
    ],
    ids=["convert numpy", "convert generator", "build_net numpy", "dense", "alignment"],
)
def test_arguments_of_the_right_type_are_accepted(make, arguments):
    """numpy's numbers count as numbers, a generator of names as names."""
    made = make(**arguments)
    if isinstance(made, keras.Model) and "layers" in arguments:
        assert isinstance(made.get_layer("dense"), layers.FeedbackDense)
