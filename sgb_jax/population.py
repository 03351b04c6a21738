"""Populations: develop N individuals from one genome and evaluate them together.

`develop_population` is `jax.vmap(develop, in_axes=(None, 0))` over developmental keys; phenotypes
come back stacked along a leading population axis, so any per-individual evaluation is one more
`vmap` over that axis (evosax pattern). Shared by the supervised and RL code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

Phenotype = Any


def develop(model: nn.Module, genome: Any, key: jax.Array | None) -> Phenotype:
    """One individual (`key=None`: the mean network) of a genome model with a `develop` method."""
    return model.apply({"params": genome}, key, method="develop")


def mean_network(model: nn.Module, genome: Any) -> Phenotype:
    """The phenotype with every synapse at its type pair's mean (sigma forced to 0)."""
    return develop(model, genome, None)


def develop_population(model: nn.Module, genome: Any, key: jax.Array, num: int) -> Phenotype:
    """`num` independent individuals, stacked on a leading axis."""
    keys = jax.random.split(key, num)
    return jax.vmap(lambda k: develop(model, genome, k))(keys)


def stack(phenotypes: list[Phenotype]) -> Phenotype:
    """Stack individuals (e.g. copies of the mean network) into a population pytree."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *phenotypes)


def evaluate(fn: Callable[[Phenotype], jax.Array], population: Phenotype) -> jax.Array:
    """`fn` applied to every individual in one vmapped call."""
    return jax.vmap(fn)(population)


@struct.dataclass
class PopulationStats:
    """Mean and standard error of the mean of a per-individual score."""

    mean: float
    sem: float
    std: float
    num: int


def summarize(scores: np.ndarray | jax.Array) -> PopulationStats:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = scores.size
    std = float(scores.std(ddof=1)) if n > 1 else 0.0
    return PopulationStats(mean=float(scores.mean()), sem=std / np.sqrt(n) if n > 1 else 0.0,
                           std=std, num=n)
