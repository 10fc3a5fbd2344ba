"""Target propagation: TP, DTP, SDTP and AO-SDTP (Bartunov et al. 2018, sec. 2.1.2).

Every block l > 1 has a learned inverse g_l back to its input
(`urfbtf.layers.LearnedInverse`). A training step (`model.TargetModel`) records
the activities h_l, builds targets ĥ_l from the top down and trains each block on
‖f_l(h_{l-1}) − ĥ_l‖² with its input fixed, the output layer on the task loss;
the inverses learn on a reconstruction loss with their own Adam optimizer.

=======  ======================================  =================================
rule     penultimate target ĥ_{L-1}             lower targets ĥ_{l-1}
=======  ======================================  =================================
tp       g_L(ô), ô the one-hot label             g_l(ĥ_l)
         ("vanilla" TP, sec. 2.1.2)
dtp      h_{L-1} − α ∂ℓ/∂h_{L-1} (Lee et al.     h_{l-1} − g_l(h_l) + g_l(ĥ_l)
         2015, "Algorithm Box 1"; eq. 2)         (eq. 2)
sdtp     h_{L-1} − g_L(o) + g_L(ô), ô the        as dtp
         one-hot label (Algorithm 1)
aosdtp   h_{L-1} − g_L(o, z) + g_L(ô, z), z      as dtp
         random features of h_{L-1} (eq. 3)
=======  ======================================  =================================

ℓ is the task loss averaged over the (global) batch, as the cost of Lee et
al.'s `conti_dtp.py` (`H7_ = H7 - lr0*T.grad(cost, H7)`, cost the batch-mean
NLL), so α acts on each example's gradient divided by the batch size; the
gradient is taken through the output layer alone, the one place where dtp
transports weights. o = softmax(h_L) is the predicted class distribution; tp,
sdtp and aosdtp differentiate nothing below the output's own loss. tp's targets
depend on the label alone: with exact inverses every example of a class gets
the same targets, "the same 1-hot vector in the output will always map back to
precisely the same hidden unit activities" (sec. 2.1.2).

Each layer's squared distances, local and inverse, are summed over its units
or averaged over them (`--tp_layer_loss`; sum by default, the paper's ‖·‖²₂
and Lee et al.'s `mse`), and averaged over the batch.

The inverse of block l learns on corrupted inputs h̃ = h_{l-1} + ε, ε ~ N(0, σ²)
(`--tp_noise`): dtp and tp with Lee et al.'s noise-preserving loss
‖h̃ − g_l(f_l(h̃))‖², sdtp and aosdtp with the denoising loss of Algorithm 1,
‖h_{l-1} − g_l(f_l(h̃))‖². The first block has no inverse (its target would be
the input); dtp trains no inverse of the output layer (its penultimate target
needs none).
"""

from __future__ import annotations

import tensorflow as tf

from urfbtf.errors import UsageError
from urfbtf.precision import to_float32
from urfbtf.rules.target.model import Targets
from urfbtf.rules.target.ops import example_error, global_batch_noise, per_example_sq
from urfbtf.rules.target.rule import TargetRule
from urfbtf.rules.target.settings import (
    AUX_OUTPUTS,
    INVERSE_LOSS,
    INVERSE_SETTINGS,
    TP_ALPHA,
    TP_ALTERNATING_EPOCH,
    TP_LAYER_LOSS,
    TP_NOISE,
    TP_SCHEDULE,
)


class TargetPropagation(TargetRule):
    """TP, DTP, SDTP and AO-SDTP; see the module docstring.

    Args:
        name, summary: see `Rule`.
        difference: the difference correction h_{l-1} − g_l(h_l) (eq. 2).
        top: "gradient" (the penultimate target is a gradient step, dtp) or
            "label" (the one-hot label, propagated through the last inverse:
            tp, sdtp and aosdtp).
        auxiliary: the last inverse also reads random features of h_{L-1}
            (aosdtp).
        denoising: the inverses reconstruct the clean input (sdtp, aosdtp)
            instead of the corrupted one (Lee's noise-preserving loss).
    """

    def __init__(
        self,
        name: str,
        summary: str,
        *,
        difference: bool,
        top: str,
        auxiliary: bool = False,
        denoising: bool = False,
    ):
        super().__init__(name, summary)
        if top not in ("gradient", "label"):
            raise ValueError(f"top={top!r}; valid: gradient, label")
        self.difference = difference
        self.top = top
        self.auxiliary = auxiliary
        self.denoising = denoising
        self.settings = (
            TP_SCHEDULE,
            TP_ALTERNATING_EPOCH,
            TP_LAYER_LOSS,
            *((TP_ALPHA,) if top == "gradient" else ()),
            *((INVERSE_LOSS,) if difference and top == "gradient" else ()),
            TP_NOISE,
            *INVERSE_SETTINGS,
            *((AUX_OUTPUTS,) if auxiliary else ()),
        )

    def attach_output(self, block, num_classes, settings):
        del num_classes
        if self.top == "gradient":
            return block.output  # The penultimate target needs no inverse.
        aux = settings["aux_outputs"] if self.auxiliary else 0
        tap = self.inverse_tap(block, aux_units=aux)
        return block.output if tap is None else tap(block.output)

    def check(self, config, net):
        super().check(config, net)
        if self.top == "label" and (
            config.loss != "softmax" or config.output_activation != "linear"
        ):
            raise UsageError(
                f"rule={self.name!r} with loss={config.loss!r} and "
                f"output_activation={config.output_activation!r}: its output target "
                "is the one-hot label of the predicted distribution softmax(h_L), "
                "so it needs --loss=softmax and a linear output layer."
            )
        if self.top == "label" and net.square_output:
            # Its output target has one unit per class, and the square output
            # layer's inverse reads all of its units (a traceback before).
            raise UsageError(
                f"rule={self.name!r} with net={config.net!r}: its output target "
                "is the one-hot label over the classes, and this net's output "
                "layer is square, wider than its classes (an invertible net's). "
                "Use a net with an output unit per class (a bartunov_* net), or "
                "rule dtp on this net."
            )

    # The targets ---------------------------------------------------------------

    @staticmethod
    def _settings(model) -> dict:
        return model.rule_settings

    def _output_activity(self, model, activities, y=None):
        """(o, ô): the predicted distribution and the one-hot label (with the
        auxiliary features appended to both, for aosdtp)."""
        logits = model.net_output(activities)
        o = tf.nn.softmax(logits)
        label = tf.one_hot(tf.reshape(tf.cast(y, tf.int32), [-1]), tf.shape(o)[-1])
        return o, tf.cast(label, o.dtype)

    def _invert(self, stage, h, below):
        """g(h) for `stage`, in the shape of its input `below`; for the output
        stage of aosdtp, with the auxiliary features of `below`."""
        tap = stage.inverse
        # In float32 under every policy (`urfbtf.precision`): ĥ − h is a small
        # difference of two inverses' outputs, which bfloat16 would round away
        # (measured: 4% on the first layer's step against float32's).
        h, below = to_float32(h), to_float32(below)
        aux = tap.auxiliary(below) if tap.aux_units else None
        return to_float32(tf.reshape(tap.invert(h, aux), tf.shape(below)))

    def _gradient_step(self, model, activities, y):
        """h_{L-1} − α ∂ℓ/∂h_{L-1}, ℓ the task loss averaged over the global
        batch (Lee et al.'s `conti_dtp.py`), its gradient through the output
        layer alone (its W: Lee et al.'s DTP)."""
        logits, below = activities[-1], activities[-2]
        error = example_error(model, y, logits)
        layer = model.stages()[-1].block.layer
        inputs = tf.reshape(below, [tf.shape(below)[0], *layer.input.shape[1:]])
        error = tf.cast(error, layer.compute_dtype)  # Sent down in its precision.
        gradient = tf.reshape(layer.error_below(error, inputs), tf.shape(below))
        gradient = to_float32(gradient)
        # Each example's gradient of the batch mean is its own over the global
        # batch size (the batch across every replica).
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        batch = tf.cast(tf.shape(below)[0] * replicas, gradient.dtype)
        return below - self._settings(model)["tp_alpha"] * gradient / batch

    def targets(self, model, activities, y):
        activities = [to_float32(a) for a in activities]
        stages = model.stages()
        count = len(stages)
        hidden = [None] * (count - 1)  # Targets of h_1 .. h_{L-1}.
        reconstructions = {}
        if self.top == "gradient":
            hidden[-1] = self._gradient_step(model, activities, y)
        else:
            o, label = self._output_activity(model, activities, y)
            last = stages[-1]
            below = activities[-2]
            rebuilt = self._invert(last, o, below)
            reconstructions[count - 1] = rebuilt
            hidden[-1] = self._invert(last, label, below)
            if self.difference:
                hidden[-1] += below - rebuilt
        # Down from the penultimate block: stage k maps h_k to h_{k+1}, and its
        # inverse h_{k+1} back to h_k.
        for k in range(count - 2, 0, -1):
            stage, h, above = stages[k], activities[k], hidden[k]
            target_above = self._invert(stage, above, h)
            if self.difference:
                rebuilt = self._invert(stage, activities[k + 1], h)
                reconstructions[k] = rebuilt
                hidden[k - 1] = h - rebuilt + target_above
            else:
                reconstructions[k] = self._invert(stage, activities[k + 1], h)
                hidden[k - 1] = target_above
        hidden = [None if t is None else tf.stop_gradient(t) for t in hidden]
        reconstructions = {k: tf.stop_gradient(r) for k, r in reconstructions.items()}
        return Targets(hidden, reconstructions)

    # The inverses --------------------------------------------------------------

    def inverse_loss(self, model, activities):
        """The inverses' loss for one batch, summed over every inverse the rule
        trains, by `--inverse_loss` (`lee` for every rule but dtp):

        * lee: Σ_l ‖r_l − g_l(f_l(h̃_{l-1}))‖² averaged over the batch, with
          h̃ = h + σε and r_l = h̃_{l-1} (noise-preserving, Lee et al. 2015) or
          h_{l-1} (denoising: sdtp, aosdtp, Bartunov et al.'s Algorithm 1);
        * drl and ldrl: `_difference_reconstruction`, `_local_difference`.
        """
        activities = [to_float32(a) for a in activities]  # As the targets'.
        settings = self._settings(model)
        kind = settings.get("inverse_loss", "lee")
        reduction = settings.get("tp_layer_loss", "sum")
        sigma = settings["tp_noise"]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        stages = model.stages()
        total = 0.0
        for k, stage in enumerate(stages):
            if stage.inverse is None:
                continue
            clean = tf.stop_gradient(activities[k])
            noise = global_batch_noise(clean, sigma, stage.inverse.seed_generator)
            if kind == "drl":
                total += self._difference_reconstruction(model, activities, k, noise)
            elif kind == "ldrl":
                total += self._local_difference(model, activities, k, noise, reduction)
            else:
                noisy = clean + noise
                out = stage(noisy, training=False)
                if k == len(stages) - 1:
                    out = tf.nn.softmax(out)  # The output's activity o.
                rebuilt = self._invert(stage, tf.stop_gradient(out), noisy)
                aim = clean if self.denoising else noisy
                total += per_example_sq(aim - rebuilt, reduction=reduction)
        return total / replicas

    def _difference_reconstruction(self, model, activities, k, noise):
        """Meulemans et al. (2020)'s difference reconstruction loss for the
        inverse of stage k (h_k → h_{k-1}):

            (1/σ²) ⟨(h̃ − g^diff(f_{k..top}(h̃)))²⟩,  h̃ = h_{k-1} + σε,

        where the noisy activity is carried forward to the block whose target
        the gradient step sets (the penultimate, as Lee et al.'s DTP that this
        dtp follows; Meulemans et al. start at the output) and back down to
        h_{k-1} by the difference-corrected inverses, t ← h_{j-1} − g_j(h_j) +
        g_j(t) (their code, lib/networks.py `DTPDRLNetwork`, as read in
        meulemansalex/theoretical_framework_for_target_propagation). The mean
        is over units and batch; only this inverse learns from it (the others
        are held: each inverse's gradient comes from its own term).
        """
        stages = model.stages()
        top = len(stages) - 1  # activities[top] is the penultimate block's output.
        sigma = self._settings(model)["tp_noise"]
        clean = [tf.stop_gradient(h) for h in activities]
        noisy = clean[k] + noise
        t = noisy
        for j in range(k, top):
            t = stages[j](t, training=False)
        for j in range(top - 1, k - 1, -1):
            own = j == k
            lower, upper = clean[j], clean[j + 1]
            step = self._invert(stages[j], t, lower) - self._invert(
                stages[j], upper, lower
            )
            t = lower + (step if own else tf.stop_gradient(step))
        return tf.reduce_mean(tf.square(noisy - t)) / max(sigma**2, 1e-12)

    def _local_difference(self, model, activities, k, noise, reduction="sum"):
        """Ernoult et al. (2022)'s local difference reconstruction loss for the
        inverse of stage k, with x = h_{k-1}, y = f_k(x), r = g_k(y):

            −2 ⟨ε_x, g_k(f_k(x + ε_x)) − r⟩ + ‖g_k(y + ε_y) − r‖²,

        summed over units (averaged, with reduction "mean") and averaged over
        the batch, ε_x and ε_y independent
        N(0, σ²) draws (their code, target_prop/feedback_loss.py
        `get_feedback_loss`, as read in ernoult/scalingDTP). Its minimum at
        small σ is g_k's Jacobian equal to f_k's transpose: the inverses learn
        to send backpropagation's targets. One step per batch (theirs takes
        several per layer).
        """
        stage = model.stages()[k]
        x = tf.stop_gradient(activities[k])
        y = tf.stop_gradient(activities[k + 1])
        sigma = self._settings(model)["tp_noise"]
        out_noise = global_batch_noise(y, sigma, stage.inverse.seed_generator)
        r = self._invert(stage, y, x)
        moved = self._invert(stage, tf.stop_gradient(stage(x + noise)), x) - r
        spread = self._invert(stage, y + out_noise, x) - r
        flat = lambda t: tf.reshape(t, [tf.shape(t)[0], -1])  # noqa: E731
        each = -2.0 * tf.reduce_sum(flat(noise) * flat(moved), axis=1) + tf.reduce_sum(
            tf.square(flat(spread)), axis=1
        )
        if reduction == "mean":
            each = each / tf.cast(tf.shape(flat(x))[1], each.dtype)
        return tf.reduce_mean(each)


TP = TargetPropagation(
    "tp",
    "vanilla target propagation: the one-hot label through learned inverses",
    difference=False,
    top="label",
)
DTP = TargetPropagation(
    "dtp",
    "difference target propagation (Lee et al. 2015)",
    difference=True,
    top="gradient",
)
SDTP = TargetPropagation(
    "sdtp",
    "simplified DTP: the label through the last inverse, no gradient (Bartunov 2018)",
    difference=True,
    top="label",
    denoising=True,
)
AOSDTP = TargetPropagation(
    "aosdtp",
    "SDTP with random auxiliary outputs conditioning the last inverse",
    difference=True,
    top="label",
    auxiliary=True,
    denoising=True,
)

__all__ = ["AOSDTP", "DTP", "SDTP", "TP", "TargetPropagation", "TargetRule"]
