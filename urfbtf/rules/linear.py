"""Learning rules as custom gradients of maps that are linear in their weights.

Amit (2019), section 3.1. Every trainable map of a network is linear in its
weights, h = x ⊛ W (a dense product, a convolution, ...). Its backward pass has two
halves (eq. 2):

* the weight gradient δ ⊗ x, a product of the activity of the two units that each
  weight connects (Hebbian), and
* the error sent to the layer below, Wᵀδ.

The rules differ only in the second half:

======  ============================  =========================================
rule    error sent down               feedback weights R
======  ============================  =========================================
bp      Wᵀδ (exact backpropagation)   none
frfb    Rᵀδ                           fixed at their random initial values
                                      (Lillicrap et al. 2016)
urfb    Rᵀδ                           receive exactly W's increment, ΔR = ΔW
                                      (Zipser & Rumelhart 1990; Amit 2019)
dfa     none: each hidden layer       none: a fixed random matrix B_l projects
sdfa    receives its signal straight  the output error e (dfa), its sign (sdfa)
drtp    from the output               or the target (drtp) to layer l
shallow none                          none: hidden layers are frozen
======  ============================  =========================================

The last four (Frenkel et al. 2021) need the output error or the target at
every hidden layer, so besides their layer-level part here (a layer sends no
error down, which is what frees it from update locking) they train with their
own training step, `urfbtf.direct.DirectFeedbackModel`.

R is stored with W's shape and orientation, so R = W makes frfb and urfb exact
backpropagation. Under urfb, R's gradient *is* W's gradient, so any optimizer that
is a function of the gradient history (SGD, momentum, Adam, ...) gives R exactly
W's increment and R - W never changes (the paper's remark after eq. 2).

The rule functions take tensors positionally and capture everything else by
closure: `tf.custom_gradient` silently drops the custom gradient for keyword
arguments in eager mode, and rejects Keras variables, so layers read their
weights into tensors before calling them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

import tensorflow as tf

from urfbtf.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Rule:
    """A learning rule that acts only through the gradients of linear maps.

    Attributes:
        name: the rule's name, as given to `--rule` and to the layers.
        has_feedback: the error is sent down through separate feedback weights R.
        feedback_learns: R receives W's increment (is trainable, with W's gradient).
        summary: one line for help texts.
        direct: for the direct feedback rules, the signal projected to the hidden
            layers: "error" (dfa), "sign" (sdfa), "target" (drtp), "none"
            (shallow: hidden layers do not learn); None for the other rules.
        model_class: None for rules that act only through gradients, which train
            with Keras' own `train_step` (and so with `model.fit`, any optimizer
            and any `tf.distribute` strategy). A rule that trains layer-local
            losses instead (target propagation, GAIT-prop) names a `keras.Model`
            subclass overriding `train_step`; the runner builds the net as that
            class and still trains it with `fit`.
    """

    name: str
    has_feedback: bool
    feedback_learns: bool
    summary: str
    model_class: type | None = None
    direct: str | None = None

    @property
    def sends_error(self) -> bool:
        """Whether a layer passes an error to the layer below (not for direct rules)."""
        return self.direct is None


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("bp", False, False, "backpropagation: the error goes down through Wᵀ"),
        Rule("frfb", True, False, "fixed random feedback R (feedback alignment)"),
        Rule("urfb", True, True, "updated random feedback: R gets W's increment"),
        Rule(
            "dfa",
            False,
            False,
            "direct feedback alignment: B_l e to each layer",
            direct="error",
        ),
        Rule(
            "sdfa", False, False, "sign-DFA: B_l sign(e) to each layer", direct="sign"
        ),
        Rule(
            "drtp",
            False,
            False,
            "direct random target projection: B_l y*",
            direct="target",
        ),
        Rule("shallow", False, False, "only the output layer learns", direct="none"),
    )
}


def register(rule: Rule) -> Rule:
    """Adds `rule` to `RULES` (so that `--rule` and the layers accept its name)."""
    RULES[rule.name] = rule
    return rule


# A process-wide switch, not a thread-local one: tf.distribute runs replicas in
# threads of their own.
_FORCED = {"active": False}


@contextlib.contextmanager
def exact_backprop():
    """Within this context every urfbtf layer computes exact backpropagation,
    whatever its rule: the reference the alignment probes compare rules with.

    It acts when a layer is called (eagerly) or traced, not inside functions
    traced before.
    """
    previous = _FORCED["active"]
    _FORCED["active"] = True
    try:
        yield
    finally:
        _FORCED["active"] = previous


def backprop_forced() -> bool:
    """Whether `exact_backprop` is active."""
    return _FORCED["active"]


def get_rule(name: str | Rule) -> Rule:
    """Returns the rule called `name`; raises `UsageError` for unknown names."""
    if isinstance(name, Rule):
        return name
    if name not in RULES:
        raise UsageError(
            f"Unknown learning rule {name!r}. Valid rules: "
            + "; ".join(f"{r.name} ({r.summary})" for r in RULES.values())
            + "."
        )
    return RULES[name]


@dataclasses.dataclass(frozen=True)
class LinearMap:
    """A map h = forward(x, w), linear in w, with the two halves of its backward pass.

    Attributes:
        forward: (x, w) -> h.
        input_grad: (dh, w, x) -> dx, the adjoint of `forward` in x applied with
            the weights w (W for backpropagation, R for random feedback); x only
            supplies its shape.
        weight_grad: (x, dh, w) -> dw, the Hebbian product of the input x and the
            error dh, summed over the batch (and over space for a convolution); w
            only supplies its shape.
    """

    forward: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    input_grad: Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]
    weight_grad: Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]


def _dense_forward(x, w):
    return tf.matmul(x, w)


def _dense_input_grad(dh, w, x):
    del x  # Same shape as dh @ wᵀ.
    return tf.matmul(dh, w, transpose_b=True)


def _dense_weight_grad(x, dh, w):
    del w
    return tf.matmul(x, dh, transpose_a=True)


# x: [batch, n_in], w: [n_in, n_out].
DENSE = LinearMap(_dense_forward, _dense_input_grad, _dense_weight_grad)


def conv2d_map(strides: int = 1, padding: str = "SAME") -> LinearMap:
    """The 2-D convolution (NHWC, no dilation) as a `LinearMap`.

    The backward halves are the two ops TensorFlow's own convolution gradient
    uses, so in backpropagation mode the result is bitwise that of autodiff; with
    R in place of W, `input_grad` is the transposed convolution with R.
    """
    stride_list = [1, strides, strides, 1]

    def forward(x, w):
        return tf.nn.conv2d(x, w, strides=stride_list, padding=padding)

    def input_grad(dh, w, x):
        return tf.raw_ops.Conv2DBackpropInput(
            input_sizes=tf.shape(x),
            filter=w,
            out_backprop=dh,
            strides=stride_list,
            padding=padding,
        )

    def weight_grad(x, dh, w):
        return tf.raw_ops.Conv2DBackpropFilter(
            input=x,
            filter_sizes=tf.shape(w),
            out_backprop=dh,
            strides=stride_list,
            padding=padding,
        )

    return LinearMap(forward, input_grad, weight_grad)


def with_feedback(
    linear_map: LinearMap, feedback_learns: bool
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    """Returns f(x, kernel, feedback) = linear_map.forward(x, kernel) with the
    error sent down through `feedback` (Amit 2019, eq. 2 with R in place of Wᵀ).

    Gradients: x gets the adjoint applied with `feedback`; kernel gets the Hebbian
    product; feedback gets the same product if `feedback_learns` (urfb), and no
    gradient otherwise (frfb).
    """

    @tf.custom_gradient
    def apply(x, kernel, feedback):
        def grad(dh):
            dw = linear_map.weight_grad(x, dh, kernel)
            dx = linear_map.input_grad(dh, feedback, x)
            return dx, dw, (dw if feedback_learns else None)

        return linear_map.forward(x, kernel), grad

    return apply


def local_only(
    linear_map: LinearMap,
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor | None], tf.Tensor]:
    """Returns f(x, kernel, feedback=None) whose backward pass gives the kernel
    its Hebbian gradient and sends nothing to the layer below.

    Frenkel et al. (2021): with direct feedback each layer's update needs only
    its input, its output and the projected signal, not the layers above.
    """

    @tf.custom_gradient
    def apply(x, kernel):
        def grad(dh):
            return None, linear_map.weight_grad(x, dh, kernel)

        return linear_map.forward(x, kernel), grad

    def local(x, kernel, feedback=None):
        del feedback
        return apply(x, kernel)

    return local


def linear_rule(
    rule: Rule, linear_map: LinearMap
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor | None], tf.Tensor]:
    """Returns f(x, kernel, feedback) applying `linear_map` under `rule`.

    Backpropagation uses plain autodiff (feedback must be None); the random
    feedback rules use `with_feedback`; the direct rules keep only the weight
    gradient (`local_only`).
    """
    if not rule.sends_error:
        return local_only(linear_map)
    if not rule.has_feedback:

        def backprop(x, kernel, feedback=None):
            del feedback
            return linear_map.forward(x, kernel)

        return backprop
    return with_feedback(linear_map, rule.feedback_learns)
