"""Backward maps: how a map linear in its weights sends its error down.

The bottom of urfbtf: pure TensorFlow, no layers, no rules. `linear` holds the
`LinearMap` (a forward map and the two halves of its backward pass, Amit 2019
eq. 2) and the backward passes the rules give it (exact backpropagation,
feedback weights R, no error sent down); `untied` holds the untied
(locally connected) convolution as such a map, in its two weight layouts.
"""
