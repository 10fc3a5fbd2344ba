"""Untied (locally connected) convolutions as `urfbtf.backward.linear.LinearMap`s.

Amit (2019), section 4.1. A convolution is the product h = W x (eq. 1) with a
sparse matrix W whose rows repeat one kernel at displaced positions, and its
weight gradient sums the Hebbian products δ_{l,i} x_{l-1,i+k} over every location
i. An *untied* layer keeps the convolution's sparsity pattern but gives every
connection its own weight, updated by its own product δ_{l,i} x_{l-1,i+k} summed
over the batch only. Under rule bp the error sent down is Wᵀδ (eq. 2); under
frfb and urfb it is Rᵀδ with R an untied matrix on the same support.

==================  ===========================================================
module              holds
==================  ===========================================================
untied_connections  which input unit each weight joins to which output unit
                    (`connections`), and the conversions between the layouts
untied_sparse       the map on a value vector [nnz], with `tf.SparseTensor`s
                    (the original code's layout; no XLA kernel)
untied_dense        the map on per-location kernels [H_out, W_out, kh, kw,
                    C_in, C_out], with patches and batched products (compiles)
==================  ===========================================================

Both maps carry their own gradients (`linear.explicit_gradient`), so rule bp uses
the same memory-bounded backward pass as the feedback rules. This module names
them together, and picks one by layout name (`linear_map`).
"""

from __future__ import annotations

from urfbtf.backward.linear import LinearMap
from urfbtf.backward.untied_connections import (
    LAYOUTS,
    Connections,
    check_layout,
    connections,
    output_size,
    tile_kernel,
    to_dense,
    to_sparse,
)
from urfbtf.backward.untied_dense import dense_map
from urfbtf.backward.untied_sparse import SPARSE_GRAD_CHUNK, sparse_map


def linear_map(conns: Connections, layout: str) -> LinearMap:
    """The `dense_map` or `sparse_map` of `conns`, by layout name."""
    if check_layout(layout) == "sparse":
        return sparse_map(conns)
    return dense_map(conns)


__all__ = [
    "LAYOUTS",
    "SPARSE_GRAD_CHUNK",
    "Connections",
    "check_layout",
    "connections",
    "dense_map",
    "linear_map",
    "output_size",
    "sparse_map",
    "tile_kernel",
    "to_dense",
    "to_sparse",
]
