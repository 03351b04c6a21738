"""Applying each environment's own developed individual to a batch, at the cost of few developments.

Every training environment hosts one individual (DESIGN.md §3); its phenotype is
`W = mu + sigma * eps` with `eps` read from this iteration's noise bank (`sgb_jax.rl.ppo`). An
observation carries `index_a`, `index_b` (bank rows) and `use_b` (the episode ended inside this
unroll segment, so a new individual plays on). Two facts make this cheap without changing any
number:

* **Groups.** Rows of Brax's loss batch `[T, B]` can be laid out so that `group_rows` consecutive
  rows are consecutive segments of one environment (`group_layout`). Within one iteration an
  environment only ever uses its own `K` bank slots, in increasing order, so every sample of a
  group uses slot `first + j` for a small offset `j`: the group develops one phenotype per offset it
  needs and applies it to all its `group_rows * T` samples as one matrix product, instead of
  developing two phenotypes per row.
* **Rare switches.** Offset 0 is needed by every group; offsets >= 1 only by groups in which an
  episode ended (with Brax Ant's 1000-step episodes, a few percent). Those passes run on a
  compacted subset of at most `capacity` groups (`sparse_rows`), with an exact fall-back to all
  groups when more need it, so the result never depends on the capacity, only the speed does.

Both paths give the same outputs and gradients as developing every row's two individuals
(tested in tests/test_rl_individuals.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

# Share of groups (or environments when acting) whose extra offsets are computed in compacted
# form before falling back to all of them. Affects speed only.
SWITCH_CAPACITY = 0.125


def take(bank: Any, index: jax.Array) -> Any:
    """Rows `index` of every leaf of a noise bank."""
    return jax.tree_util.tree_map(lambda b: jnp.take(b, index, axis=0, mode="clip"), bank)


def capacity(n: int) -> int:
    return max(1, math.ceil(n * SWITCH_CAPACITY))


def sparse_rows(need: jax.Array, cap: int, compute: Callable[[jax.Array], Any]) -> Any:
    """`compute(idx)` evaluated for the rows `need` marks, returned for all `len(need)` rows.

    `compute` maps an index vector to outputs with that leading length. If at most `cap` rows are
    needed they are gathered and computed alone; otherwise all rows are. Rows not needed hold
    arbitrary values (callers mask them out); gradients reach each needed row exactly once.
    """
    n = need.shape[0]
    if cap >= n:
        return compute(jnp.arange(n))

    def compact(_):
        (idx,) = jnp.nonzero(need, size=cap, fill_value=n - 1)
        out = compute(idx)
        pos = jnp.where(need, jnp.cumsum(need) - 1, cap)  # row -> its compacted slot (or padding)
        return jax.tree_util.tree_map(
            lambda o: jnp.concatenate([o, jnp.zeros_like(o[:1])])[pos], out)

    return jax.lax.cond(jnp.sum(need) <= cap, compact, lambda _: compute(jnp.arange(n)), None)


def slots(obs: dict) -> jax.Array:
    """Bank row of the individual acting at each sample."""
    return jnp.where(obs["use_b"] > 0, obs["index_b"], obs["index_a"])


def individuals_apply(develop_from_noise: Callable, apply: Callable, genome: Any, bank: Any,
                      normalizer_params: Any, obs: dict, k: int, group_rows: int = 1) -> jax.Array:
    """Outputs of every sample's own individual, `apply(develop_from_noise(genome, eps), ...)`.

    `obs['state']` is time-major `[T, B, d]` (a loss batch) or `[B, d]`. With `group_rows = G > 1`
    the `B` rows must come in blocks of `G` consecutive segments of one environment
    (`group_layout`); otherwise (or `B % G != 0`) every row is its own group. `k` = individuals per
    environment (bank slots). A batch that breaks the layout (a group spanning more than `k`
    slots) yields NaN outputs rather than silently wrong ones.
    """
    x = obs["state"]
    s = slots(obs)
    if x.ndim == 2:
        x, s = x[None], s[None]
    t, b = s.shape
    g = group_rows if b % group_rows == 0 else 1
    n = b // g

    def to_groups(a):  # [T, B, ...] -> [n, G * T, ...]; sample order (row, time)
        a = a.reshape(t, n, g, *a.shape[2:])
        return jnp.moveaxis(a, 0, 2).reshape(n, g * t, *a.shape[3:])

    xs, sg = to_groups(x), to_groups(s)
    first = sg.min(axis=1)
    offset = sg - first[:, None]

    def run(idx, j):
        eps = take(bank, first[idx] + j)
        return jax.vmap(lambda e, xg: apply(develop_from_noise(genome, e), normalizer_params,
                                            xg))(eps, xs[idx])

    out = run(jnp.arange(n), 0)
    mask = lambda m: m.reshape(m.shape + (1,) * (out.ndim - m.ndim))
    cap = capacity(n)
    for j in range(1, min(k, g + 1)):  # a row switches at most once, so offsets <= G
        out_j = sparse_rows(jnp.any(offset == j, axis=1), cap, lambda idx, j=j: run(idx, j))
        out = jnp.where(mask(offset == j), out_j, out)
    out = jnp.where(jnp.all(offset < k), out, jnp.nan)
    rest = out.shape[2:]
    out = jnp.moveaxis(out.reshape(n, g, t, *rest), 2, 0).reshape(t, b, *rest)
    return out if obs["state"].ndim == 3 else out[0]


def group_layout(rows: Any, num_envs: int, group_rows: int) -> Any:
    """Collected rows `[S * E, ...]` (segment-major) -> `[S / G * E, G, ...]` groups of `G`
    consecutive segments of one environment (`G` must divide `S`)."""

    def one(x):
        s = x.shape[0] // num_envs
        x = x.reshape(s // group_rows, group_rows, num_envs, *x.shape[1:])
        return jnp.swapaxes(x, 1, 2).reshape(-1, group_rows, *x.shape[3:])

    return jax.tree_util.tree_map(one, rows)
