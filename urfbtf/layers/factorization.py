"""Factorizing a weight matrix that may have stopped being invertible.

TensorFlow's LU factorization and inverse (`tf.linalg.lu`, `tf.linalg.inv`)
raise `InvalidArgumentError: Input is not invertible` on a zero pivot, which a
matrix of NaNs also gives. In an exact-inverse rule (GAIT-prop) the weights a
diverging step made non-finite are factorized by the next step, before the
runner's divergence watch sees its loss: the run would end there with a
traceback. A graph cannot catch an op's error, and catching it around `fit`
ends the epoch, so `--on_divergence=continue` could not train on. So a matrix
is checked before it is factorized, and one the op would refuse is replaced by
the identity and its factors (or inverse) by NaN: the step's targets are NaN,
the target model reports a NaN loss (`urfbtf.rules.target.model`), and the
run diverges as it does under every other rule. An invertible matrix reaches
the op itself, and its result comes back unchanged, bit for bit.

Factorizations and solves run in float32 under every precision policy (the
layers read their kernels so; `urfbtf.precision`), since TensorFlow has no
bfloat16 kernel for them and an inverse in 8 bits of mantissa would be no
inverse.

What is checked, at a cost of order n² against the factorization's n³: every
entry finite, and every row and column holding an entry of normal size (a zero
row or column, a dead unit, is how a weight matrix becomes singular; and the
factorization flushes subnormal numbers to zero). A finite matrix singular in
another way (two equal rows) only a factorization finds, which would double
the step's dominant cost: it still raises.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

# TensorFlow's own test of whether ops being traced go to XLA (a function with
# jit_compile=True, a TPU replica); there is no public one.
from tensorflow.python.ops import control_flow_util


def compiled_by_xla() -> bool:
    """Whether the ops traced now are compiled by XLA, which has no kernel for
    an LU factorization (`tf.linalg.lu`) but has one for an inverse."""
    graph = tf.compat.v1.get_default_graph()
    return bool(control_flow_util.GraphOrParentsInXlaContext(graph))


def factorizable(matrices: tf.Tensor) -> tf.Tensor:
    """Whether each square matrix of `matrices` [..., n, n] passes the checks
    of the module docstring, shape [...]."""
    finite = tf.reduce_all(tf.math.is_finite(matrices), axis=[-2, -1])
    size = tf.abs(matrices)
    normal = np.finfo(matrices.dtype.as_numpy_dtype).tiny
    rows = tf.reduce_all(tf.reduce_max(size, axis=-1) >= normal, axis=-1)
    columns = tf.reduce_all(tf.reduce_max(size, axis=-2) >= normal, axis=-1)
    return finite & rows & columns


def guarded(factorize: Callable, matrices: tf.Tensor):
    """`factorize(matrices)` (`tf.linalg.lu` or `tf.linalg.inv`) that never
    raises on a matrix that fails `factorizable`: such a matrix's result is NaN
    (its LU factors; the permutation stays a valid one)."""
    matrices = tf.convert_to_tensor(matrices)
    usable = factorizable(matrices)[..., None, None]
    identity = tf.eye(matrices.shape[-1], dtype=matrices.dtype)
    found = factorize(tf.where(usable, matrices, identity))
    nan = tf.constant(np.nan, matrices.dtype)
    if isinstance(found, tf.Tensor):
        return tf.where(usable, found, nan)
    lu, permutation = found
    return tf.where(usable, lu, nan), permutation
