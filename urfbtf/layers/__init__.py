"""Keras layers trained by the rules of `urfbtf.rules`.

Use them in any Keras model, with any optimizer and `model.fit`:

    import keras
    from urfbtf import layers

    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.FeedbackConv2D(32, 5, rule="urfb"),
        layers.SaturatedLinear(0.5),
        keras.layers.Flatten(),
        layers.FeedbackDense(10, rule="urfb"),
    ])
"""

from urfbtf.layers.direct_feedback import DirectFeedback
from urfbtf.layers.dropout import Dropout
from urfbtf.layers.feedback_conv2d import FeedbackConv2D
from urfbtf.layers.feedback_dense import FeedbackDense
from urfbtf.layers.feedback_depthwise_conv2d import FeedbackDepthwiseConv2D
from urfbtf.layers.feedback_layer import BernoulliMask, FeedbackLayer
from urfbtf.layers.inverse import LearnedInverse
from urfbtf.layers.invertible_conv2d import InvertibleConv2D
from urfbtf.layers.invertible_dense import InvertibleDense
from urfbtf.layers.leaky_relu import LeakyReLU, leaky_relu, leaky_relu_inverse
from urfbtf.layers.narrow import Narrow
from urfbtf.layers.saturated_linear import SaturatedLinear, saturated_linear
from urfbtf.layers.tap import Tap
from urfbtf.layers.untied_conv2d import UntiedConv2D

__all__ = [
    "BernoulliMask",
    "DirectFeedback",
    "Dropout",
    "FeedbackConv2D",
    "FeedbackDense",
    "FeedbackDepthwiseConv2D",
    "FeedbackLayer",
    "InvertibleConv2D",
    "InvertibleDense",
    "LearnedInverse",
    "LeakyReLU",
    "Narrow",
    "SaturatedLinear",
    "Tap",
    "UntiedConv2D",
    "leaky_relu",
    "leaky_relu_inverse",
    "saturated_linear",
]
