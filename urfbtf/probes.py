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

from urfbtf import alignment, graph, rules


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


def due(previous_step: int, step: int, every: int) -> bool:
    """Whether a probe falls due as training moves from `previous_step` to
    `step`: a multiple of `every` lies in (previous_step, step]. A call into
    the compiled step may run several steps (`steps_per_execution`) and jump
    past a multiple; the probe is still taken, once. `every` 0 never probes.

    The runner's records (`urfbtf.runner.recorder.RunRecorder`) and the Keras callback
    `urfbtf.callbacks.Alignment` both probe on this schedule.
    """
    return every > 0 and step // every > previous_step // every


# Backpropagation's reference: the loss's own gradient, every layer under
# `urfbtf.rules.exact_backprop`.
_BACKPROP = rules.Rule("backprop reference", "the gradient of the loss")


class Prober:
    """Computes the probes of `model` on one fixed batch (x, y).

    Args:
        model: a model built from urfbtf layers and compiled with its loss.
        rule: the `urfbtf.rules.Rule` it trains by (default: its layers'); its
            `layer_gradients` give the update and error of every layer.
    """

    def __init__(self, model: keras.Model, rule: rules.Rule | None = None):
        self.model = model
        self.rule = rule or rules.rule_of(model)
        self.layers = graph.learning_layers(model)

    def _on_one_replica(self, x, y, rule: rules.Rule):
        """Runs the probe in a replica context: under tf.distribute the layers'
        variables can only be differentiated there. Every replica sees the whole
        probe batch; the first one's results are kept."""
        strategy = self.model.distribute_strategy
        results = strategy.run(
            lambda x, y: rule.layer_gradients(self.model, x, y), args=(x, y)
        )
        errors, updates = tf.nest.map_structure(
            lambda v: strategy.experimental_local_results(v)[0], results
        )
        return [e.numpy() for e in errors], [u.numpy() for u in updates]

    def __call__(self, x, y) -> dict[str, float]:
        x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
        errors, updates = self._on_one_replica(x, y, self.rule)
        with rules.exact_backprop():
            bp_errors, bp_updates = self._on_one_replica(x, y, _BACKPROP)
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
