"""The untying schedule: a run in two phases, tied and then untied.

Amit (2019) section 4.1 trains deepnet_s "for 100 epochs with the regular
convolutional layers, then we froze the first layer and retrained the remaining
layers from scratch using the untied architecture" (Fig. 9), at batch 50. With
`untie_after` = N > 0 a run does exactly that in one command: phase 1 trains the
tied net for N epochs; then the layers in `untie` become untied layers, those in
`freeze` stop learning, those in `redraw` start again from a random draw (an
untied layer not redrawn starts from its trained kernel, copied to every
location), and phase 2 trains to `epochs` at `untied_batch_size`. Epochs are
numbered through both phases; every checkpoint records its phase, so a run killed
in either phase, or between them, resumes where it was. With `untie_after` = 0 the
untied layers are untied from the start (one phase).
"""

from __future__ import annotations

import dataclasses

import keras

from urfbtf.layers import UntiedConv2D


@dataclasses.dataclass(frozen=True)
class Phase:
    """Epochs [first_epoch, end_epoch) of a run, trained with one architecture."""

    index: int
    first_epoch: int
    end_epoch: int
    untie: str
    freeze: frozenset
    redraw: frozenset
    batch_size: int


def _names(text: str) -> frozenset:
    return frozenset(name for name in text.split(",") if name)


def schedule(config) -> list[Phase]:
    """The phases of a run (`config` is an `urfbtf.runner.config.Config`)."""
    if config.untie_after == 0:
        return [
            Phase(
                0,
                0,
                config.epochs,
                config.untie,
                frozenset(),
                frozenset(),
                config.batch_size,
            )
        ]
    tied_end = min(config.untie_after, config.epochs)
    phases = [Phase(0, 0, tied_end, "", frozenset(), frozenset(), config.batch_size)]
    if config.epochs > config.untie_after:
        phases.append(
            Phase(
                1,
                config.untie_after,
                config.epochs,
                config.untie,
                _names(config.freeze),
                _names(config.redraw),
                config.untied_batch_size or config.batch_size,
            )
        )
    return phases


def transfer(tied: keras.Model, untied: keras.Model, redraw: frozenset) -> None:
    """Carries the trained weights of phase 1 into the phase-2 model.

    Layers in `redraw` keep their fresh random draw. A layer untied at this
    boundary gets its trained conv kernel (and feedback kernel) at every location;
    every other layer, dropout generators included, continues with its weights.
    """
    for layer in untied.layers:
        if not layer.weights or layer.name in redraw:
            continue
        trained = tied.get_layer(layer.name)
        if isinstance(layer, UntiedConv2D) and not isinstance(trained, UntiedConv2D):
            layer.set_from_conv(
                trained.effective_kernel(), trained.effective_feedback()
            )
        else:
            layer.set_weights(trained.get_weights())
