"""Zero-shot population rollouts: all developed individuals on the same episodes, one jitted call.

DESIGN.md §1 (innate performance) and paper §2.3.2 / §2.4 (Fig. 4E, Fig. 5): N phenotypes developed
from one genome are evaluated with `jax.vmap` over individuals and over episodes and `lax.scan` over
time. Every individual sees the same environment reset keys, so differences between individuals are
differences of connectome, not of luck (evosax/gymnax pattern: population axis over params, shared
env keys). Actions are deterministic (`networks.policy_action`: tanh of the policy's loc half).

Episodes use Brax's `EpisodeWrapper` (truncation at `episode_length`) and `AutoResetWrapper` (a
terminated body is replaced by its first state instead of being stepped on, which produced NaN);
rewards after an episode's first `done` are masked out, so a return is exactly one episode's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
from brax import envs
from brax.envs.wrappers.training import AutoResetWrapper, EpisodeWrapper
from flax import struct

from sgb_jax import population
from sgb_jax.rl.networks import policy_action

Phenotype = Any


@struct.dataclass
class Rollouts:
    """Returns `(N, num_episodes)`; cumulative-return curves `(N, num_steps)`, episode-averaged."""

    returns: jax.Array
    curves: jax.Array


@struct.dataclass
class GenomeRollouts:
    """A developed population and the mean network, evaluated on the same episodes."""

    population: Rollouts
    mean_network: Rollouts  # leading axis of size 1


def _raw_key(key: jax.Array) -> jax.Array:
    # Brax's wrappers size their counters from `rng.shape[:-1]`: they need raw uint32 keys.
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key


def episode_rollout(env: envs.Env, activation: str, num_steps: int, phenotype: Phenotype,
                    normalizer_params: Any, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One episode of one individual: `(return, cumulative return after each step)`.

    `env` must be wrapped with `EpisodeWrapper` and `AutoResetWrapper` (see `wrap_for_eval`).
    """
    state = env.reset(key)

    def step(carry, _):
        state, total, alive = carry
        action = policy_action(phenotype, normalizer_params, state.obs, activation)
        state = env.step(state, action)
        # `where`, not a product: a masked-out reward must not leak a NaN into the sum.
        total = total + jnp.where(alive, state.reward, 0.0)
        alive = alive & (state.done == 0)
        return (state, total, alive), total

    init = (state, jnp.zeros(()), jnp.ones((), bool))
    (_, total, _), curve = jax.lax.scan(step, init, None, length=num_steps)
    return total, curve


def wrap_for_eval(env: envs.Env, episode_length: int, action_repeat: int = 1) -> envs.Env:
    """Unbatched episode + auto-reset wrappers (the vmaps live in the evaluator)."""
    return AutoResetWrapper(EpisodeWrapper(env, episode_length, action_repeat))


def make_evaluator(env: envs.Env, activation: str, num_episodes: int, episode_length: int,
                   action_repeat: int = 1, batched: bool = True
                   ) -> Callable[[Phenotype, Any, jax.Array], Rollouts]:
    """A jitted `(phenotypes, normalizer_params, key) -> Rollouts`.

    `batched=True`: phenotypes are stacked on a leading population axis (all in one call);
    `batched=False`: one phenotype, returns with a leading axis of size 1 (for the Python-loop
    baseline of the benchmark). `num_episodes` episode keys are split from `key` and shared by every
    individual.
    """
    if num_episodes < 1 or episode_length < 1 or action_repeat < 1:
        raise ValueError(f"num_episodes, episode_length and action_repeat must be >= 1, got "
                         f"{num_episodes}, {episode_length}, {action_repeat}")
    wrapped = wrap_for_eval(env, episode_length, action_repeat)
    num_steps = -(-episode_length // action_repeat)

    def one_individual(phenotype, normalizer_params, keys):
        run = jax.vmap(lambda k: episode_rollout(wrapped, activation, num_steps, phenotype,
                                                 normalizer_params, k))
        returns, curves = run(keys)
        return returns, curves.mean(axis=0)

    def evaluate(phenotypes, normalizer_params, key):
        keys = jax.random.split(_raw_key(key), num_episodes)
        if batched:
            returns, curves = jax.vmap(one_individual, in_axes=(0, None, None))(
                phenotypes, normalizer_params, keys)
        else:
            returns, curves = one_individual(phenotypes, normalizer_params, keys)
            returns, curves = returns[None], curves[None]
        return Rollouts(returns=returns, curves=curves)

    return jax.jit(evaluate)


def evaluate_population(env: envs.Env, policy_model: nn.Module, normalizer_params: Any,
                        phenotypes: Phenotype, key: jax.Array, num_episodes: int,
                        episode_length: int, action_repeat: int = 1) -> jax.Array:
    """Returns `(N, num_episodes)` of N stacked phenotypes on shared episode keys, one jitted call.

    `policy_model` is the policy `SGBMLP` (or `PlainMLP`); only its activation is read, the layer
    sizes come from the phenotypes.
    """
    evaluator = make_evaluator(env, policy_model.activation, num_episodes, episode_length,
                               action_repeat)
    returns = evaluator(phenotypes, normalizer_params, key).returns
    n = jax.tree_util.tree_leaves(phenotypes)[0].shape[0]
    chex.assert_shape(returns, (n, num_episodes))
    return returns


def evaluate_genome(env: envs.Env, policy_model: nn.Module, genome: Any, normalizer_params: Any,
                    develop_key: jax.Array, env_key: jax.Array, num_individuals: int,
                    num_episodes: int, episode_length: int, action_repeat: int = 1,
                    evaluator: Callable | None = None) -> GenomeRollouts:
    """Develop `num_individuals` and evaluate them and the mean network in one call, same episodes.

    The mean network (sigma forced to 0) is appended as one more individual, so it runs in the
    same jitted call on the same environment keys. Pass `evaluator` (from `make_evaluator`) to reuse
    one compiled evaluator across bodies/calls.
    """
    phenotypes = population.develop_population(policy_model, genome, develop_key, num_individuals)
    everyone = jax.tree_util.tree_map(lambda p, m: jnp.concatenate([p, m[None]]), phenotypes,
                                      population.mean_network(policy_model, genome))
    if evaluator is None:
        evaluator = make_evaluator(env, policy_model.activation, num_episodes, episode_length,
                                   action_repeat)
    out = evaluator(everyone, normalizer_params, env_key)
    chex.assert_shape(out.returns, (num_individuals + 1, num_episodes))
    split = lambda x: (x[:num_individuals], x[num_individuals:])
    (pr, mr), (pc, mc) = split(out.returns), split(out.curves)
    return GenomeRollouts(population=Rollouts(pr, pc), mean_network=Rollouts(mr, mc))


def evaluate_bodies(bodies: dict[str, envs.Env], policy_model: nn.Module, genome: Any,
                    normalizer_params: Any, seed: int, num_individuals: int, num_episodes: int,
                    episode_length: int, action_repeat: int = 1,
                    log: Callable[[str], None] = print) -> dict[str, GenomeRollouts]:
    """The same individuals and the same episode keys on each body (Fig. 4E: normal vs long legs).

    The developmental key and the environment key derive from `seed` alone, so individual i is
    the same connectome on every body and every body sees the same reset noise.
    """
    develop_key, env_key = jax.random.split(jax.random.PRNGKey(seed))
    out = {}
    for name, env in bodies.items():
        log(f"evaluating {num_individuals} individuals + mean network on '{name}' "
            f"({num_episodes} episodes of {episode_length} steps each)")
        out[name] = jax.device_get(evaluate_genome(
            env, policy_model, genome, normalizer_params, develop_key, env_key, num_individuals,
            num_episodes, episode_length, action_repeat))
    return out
