"""Passing on the first units or channels of a layer, keeping the rest behind.

An invertible layer has as many outputs as its input has values (GAIT-prop:
square weight matrices, C_out = C_in·kh·kw channels for a convolution); a net
that narrows passes on only the first `keep` along the last axis. The others are
the auxiliary units of Ahmad et al. (2020) and the auxiliary channels of the
GAIT-prop ImageNet paper (sec. 2.2.3): not read by the next layer, kept from the
forward pass for the inverse.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="urfbtf")
class Narrow(keras.layers.Layer):
    """x[..., :keep].

    Args:
        keep: how many units (channels) are passed on.
    """

    def __init__(self, keep: int, **kwargs):
        super().__init__(**kwargs)
        if not int(keep) > 0:
            raise ValueError(f"keep={keep!r}: pass on at least one unit.")
        self.keep = int(keep)

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] < self.keep:
            raise ValueError(
                f"Narrow {self.name!r} keeps {self.keep} of {input_shape[-1]} units."
            )

    def call(self, inputs):
        return inputs[..., : self.keep]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.keep)

    def get_config(self):
        return {**super().get_config(), "keep": self.keep}
