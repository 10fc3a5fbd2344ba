"""How closely a rule follows backpropagation, at three levels, on a probe batch.

Frenkel et al. (2021), Figs. 2C-D and 3C-D, and Amit (2019), Figs. 10-11. For
every layer that learns by a rule (`urfbtf.layers.FeedbackLayer`):

* weight level, `wr_angle/<layer>`: the angle between W and the feedback
  weights R, where the rule has them (`urfbtf.alignment`);
* update level, `update_angle/<layer>`: the angle between the rule's weight
  update and backpropagation's, for the same batch and the same weights;
* signal level, `signal_angle/<layer>` and `signal_angle_std/<layer>`: the
  angle, example by example, between the error δ the rule delivers at the
  layer's output (its pre-activation, which the Hebbian update multiplies) and
  backpropagation's δ there; mean and standard deviation over the batch.

Angles are in degrees: 0 is backpropagation itself, 90 an unrelated direction.
A zero update or error (a frozen layer, a saturated unit) is orthogonal to
everything: 90 degrees, never NaN. Backpropagation's reference is computed on
the same layers under `urfbtf.rules.exact_backprop`, in inference mode (no
dropout) so that both passes see the same forward activations.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from urfbtf import alignment, nets, rules
from urfbtf.direct import DirectFeedbackModel
from urfbtf.layers import DirectFeedback


def angle_degrees(a, b) -> float:
    """The angle between two arrays as vectors; 90 when either is zero."""
    return alignment.angle_degrees(a, b, if_zero=90.0)


def example_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The angle between a[i] and b[i] for every example i (90 where zero)."""
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosines = np.divide((a * b).sum(1), norms, out=np.zeros(len(a)), where=norms > 0)
    return np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))


class Prober:
    """Computes the probes of `model` on one fixed batch (x, y).

    Args:
        model: a model built from urfbtf layers and compiled with its loss.
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self.layers = nets.feedback_layers(model)
        taps = [x for x in model.layers if isinstance(x, DirectFeedback)]
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        # One forward pass exposing the output, every layer's field (its
        # pre-activation output) and every direct-feedback tap.
        self._graph = keras.Model(
            inputs,
            [
                model.outputs[0],
                *[x.output for x in self.layers],
                *[t.output for t in taps],
            ],
        )

    def _errors_and_updates(self, x, y, exact: bool):
        """(δ at every layer's output, the weight update of every layer), as
        tensors; zeros where there is none."""
        model = self.model
        kernels = [layer.kernel for layer in self.layers]
        with tf.GradientTape(persistent=True) as tape:
            outputs, *rest = tf.nest.flatten(self._graph(x, training=False))
            fields, hidden = rest[: len(self.layers)], rest[len(self.layers) :]
            if isinstance(model, DirectFeedbackModel) and not exact:
                objective, _ = model.direct_objective(outputs, hidden, y)
            else:
                objective = model.compute_loss(y=y, y_pred=outputs)
        errors = tape.gradient(objective, fields)
        # Frozen (non-trainable) kernels are not watched and get no gradient: a
        # frozen layer does not move, whatever its gradient would be.
        updates = tape.gradient(objective, [k.value for k in kernels])
        del tape
        errors = [
            tf.zeros_like(f) if e is None else e
            for e, f in zip(errors, fields, strict=True)
        ]
        updates = [
            u if u is not None and layer.trainable else tf.zeros(k.shape, k.dtype)
            for u, k, layer in zip(updates, kernels, self.layers, strict=True)
        ]
        return errors, updates

    def _on_one_replica(self, x, y, exact: bool):
        """Runs the probe in a replica context: under tf.distribute the layers'
        variables can only be differentiated there. Every replica sees the whole
        probe batch; the first one's results are kept."""
        strategy = self.model.distribute_strategy
        results = strategy.run(self._errors_and_updates, args=(x, y, exact))
        errors, updates = tf.nest.map_structure(
            lambda v: strategy.experimental_local_results(v)[0], results
        )
        return [e.numpy() for e in errors], [u.numpy() for u in updates]

    def __call__(self, x, y) -> dict[str, float]:
        x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
        errors, updates = self._on_one_replica(x, y, exact=False)
        with rules.exact_backprop():
            bp_errors, bp_updates = self._on_one_replica(x, y, exact=True)
        stats = {}
        for i, layer in enumerate(self.layers):
            stats[f"update_angle/{layer.name}"] = angle_degrees(
                updates[i], bp_updates[i]
            )
            angles = example_angles(errors[i], bp_errors[i])
            stats[f"signal_angle/{layer.name}"] = float(angles.mean())
            stats[f"signal_angle_std/{layer.name}"] = float(angles.std())
        stats.update(
            {
                k: v
                for k, v in alignment.feedback_alignment(self.model).items()
                if k.startswith("wr_angle/")
            }
        )
        return stats
