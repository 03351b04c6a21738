"""Compression accounting: parameters of the plain network / parameters of the genome.

Every trainable number counts on both sides, biases included: a plain dense layer `n_in -> n_out`
has `n_in * n_out + n_out`; an SGB layer has `mu`, `rho` (`2 k_in k_out`) plus `bias_mu`, `bias_rho`
(`2 k_out`). Deterministic layers count the same on both sides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax


def param_count(tree) -> int:
    """Number of scalars in a pytree of arrays (or of shape-dtype structs)."""
    return int(sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))


def plain_mlp_param_count(layer_sizes: Sequence[int]) -> int:
    return int(sum(a * b + b for a, b in zip(layer_sizes[:-1], layer_sizes[1:], strict=True)))


def compression_ratio(plain_params: int, genome_params: int) -> float:
    if genome_params <= 0:
        raise ValueError(f"genome has {genome_params} parameters")
    return plain_params / genome_params
