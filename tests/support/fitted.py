"""A small Keras model, converted by `urfbtf.convert`, trained with one's own
`model.fit`: for the tests of the Alignment callback and of the tool that plots
its probes (urfbtf.plot.alignment)."""

import keras
import numpy as np

import urfbtf


def plain_net():
    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, activation="tanh", name="conv1")(x)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(16, activation="tanh", name="dense1")(h)
    return keras.Model(x, keras.layers.Dense(10, name="output")(h))


def converted(rule):
    model = urfbtf.convert(plain_net(), rule, seed=0)
    model.compile(
        keras.optimizers.SGD(0.1),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def data(n=64):
    rng = np.random.default_rng(0)
    return rng.uniform(size=(n, 8, 8, 3)).astype("float32"), rng.integers(0, 10, n)


def fit(model, callback, epochs=1, **kwargs):
    x, y = data()
    return model.fit(
        x,
        y,
        batch_size=16,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=[callback],
        **kwargs,
    )
