"""The base of the layers a learning rule places on a block's output.

A rule that needs state of its own at every learning block (the fixed random
projection B_l of the direct rules, a learned inverse of target propagation, a
local readout) keeps it in a `Tap`: an identity layer on the block's output, so
that the forward pass is unchanged and the state is an ordinary part of the
model (built with it, checkpointed, mirrored, saved in `.keras` files). The
rule's `attach` (`urfbtf.rules.Rule`) places it; `urfbtf.graph` finds it.
"""

from __future__ import annotations

import keras


class Tap(keras.layers.Layer):
    """Identity on its input; subclasses hold a rule's state for one block."""

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape
