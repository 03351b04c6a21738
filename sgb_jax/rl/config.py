"""Validation of SGB-PPO configs: one place, before any compile, errors naming field and allowed values.

`validate(config)` checks the fields that need no environment; `validate_for_env(config, obs_size)`
checks the cell-type counts against the observation size once the environment is built (building a
Brax environment parses its model but compiles nothing).
"""

from __future__ import annotations

import math

import ml_collections
from brax import envs

from sgb_jax import priors

MODES = ("sgb", "deterministic", "brax")
BACKENDS = ("spring", "positional", "generalized", "mjx")
ACTIVATIONS = ("relu", "tanh", "swish", "elu")
MU_INITS = ("normal", "zeros")


class ConfigError(ValueError):
    """A config field holds a value the trainer cannot use."""


def _positive_int(value, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{field} must be a positive integer, got {value!r}")


def _in(value, allowed, field: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{field} must be one of {list(allowed)}, got {value!r}")


def make_env(config: ml_collections.ConfigDict) -> envs.Env:
    """The (unwrapped) Brax environment named by `config.env`; clear error for unknown names."""
    try:
        return envs.get_environment(config.env.name, backend=config.env.backend)
    except KeyError as err:
        raise ConfigError(f"env.name must be a registered Brax environment, one of "
                          f"{sorted(envs._envs)}; got {config.env.name!r}") from err


def validate(config: ml_collections.ConfigDict) -> None:
    """Check every field that does not need the environment; raises `ConfigError`."""
    _in(config.mode, MODES, "mode")
    _in(config.env.name, sorted(envs._envs), "env.name")
    _in(config.env.backend, BACKENDS, "env.backend")
    _positive_int(config.env.episode_length, "env.episode_length")
    _positive_int(config.env.action_repeat, "env.action_repeat")

    net = config.network
    _positive_int(net.hidden_width, "network.hidden_width")
    _positive_int(net.depth, "network.depth")
    _in(net.activation, ACTIVATIONS, "network.activation")
    _in(net.mu_init, MU_INITS, "network.mu_init")
    if isinstance(net.hidden_types, bool) or not isinstance(net.hidden_types, int):
        raise ConfigError(f"network.hidden_types must be an integer, got {net.hidden_types!r}")
    if not 1 <= net.hidden_types <= net.hidden_width:
        raise ConfigError(f"network.hidden_types must lie in [1, network.hidden_width="
                          f"{net.hidden_width}] (every type owns >= 1 neuron), got "
                          f"{net.hidden_types}")
    if isinstance(net.input_types, bool) or not isinstance(net.input_types, int) or (
            net.input_types != -1 and net.input_types < 1):
        raise ConfigError(f"network.input_types must be -1 (one type per observation entry) or "
                          f">= 1, got {net.input_types!r}")
    if not net.sigma_init > 0:
        raise ConfigError(f"network.sigma_init must be > 0, got {net.sigma_init}")

    if not config.kl.c3 >= 0:
        raise ConfigError(f"kl.c3 must be >= 0 (weight of the genome KL), got {config.kl.c3}")
    _in(config.kl.scope, priors.KL_SCOPES, "kl.scope")
    _positive_int(config.kl.num_samples, "kl.num_samples")
    try:
        priors.make_prior(config.prior.kind, config.prior.pi, config.prior.sigma1,
                          config.prior.sigma2, config.prior.sigma)
    except ValueError as err:
        raise ConfigError(str(err)) from err

    p = config.ppo
    for field in ("num_timesteps", "num_envs", "batch_size", "num_minibatches",
                  "unroll_length", "num_updates_per_batch"):
        _positive_int(p[field], f"ppo.{field}")
    _positive_int(config.development.individuals_per_env, "development.individuals_per_env")
    if config.development.individuals_per_env < 2:
        raise ConfigError("development.individuals_per_env must be >= 2 (the individual acting at "
                          "the start of an iteration plus at least one for the next episode), "
                          f"got {config.development.individuals_per_env}")
    if (p.batch_size * p.num_minibatches) % p.num_envs:
        raise ConfigError(f"ppo.batch_size * ppo.num_minibatches ({p.batch_size} * "
                          f"{p.num_minibatches}) must be divisible by ppo.num_envs "
                          f"({p.num_envs}): each env contributes whole unroll rows")
    g = config.development.segments_per_group
    _positive_int(g, "development.segments_per_group")
    segments = p.batch_size * p.num_minibatches // p.num_envs
    if segments % g or p.batch_size % g:
        raise ConfigError(f"development.segments_per_group ({g}) must divide both the segments "
                          f"each env collects per iteration (ppo.batch_size * "
                          f"ppo.num_minibatches / ppo.num_envs = {segments}) and the rows per "
                          f"minibatch (ppo.batch_size = {p.batch_size})")
    for field in ("learning_rate", "discounting"):
        if not p[field] > 0:
            raise ConfigError(f"ppo.{field} must be > 0, got {p[field]}")
    if not 0 < p.discounting <= 1:
        raise ConfigError(f"ppo.discounting must lie in (0, 1], got {p.discounting}")
    if not p.entropy_cost >= 0:
        raise ConfigError(f"ppo.entropy_cost must be >= 0, got {p.entropy_cost}")
    if p.max_grad_norm is not None and not p.max_grad_norm > 0:
        raise ConfigError(f"ppo.max_grad_norm must be None or > 0, got {p.max_grad_norm}")
    _positive_int(config.eval.num_evals, "eval.num_evals")
    _positive_int(config.eval.num_eval_envs, "eval.num_eval_envs")
    _positive_int(config.checkpoint.every, "checkpoint.every")
    _positive_int(config.checkpoint.keep, "checkpoint.keep")


def validate_for_env(config: ml_collections.ConfigDict, obs_size: int) -> None:
    """Cell-type counts against the observation size (after `validate`)."""
    k = config.network.input_types
    if k != -1 and k > obs_size:
        raise ConfigError(f"network.input_types must lie in [1, observation size={obs_size}] "
                          f"(or -1 for one type per entry), got {k}")


def steps_per_iteration(config: ml_collections.ConfigDict) -> int:
    """Env steps one training iteration collects (Brax's `env_step_per_training_step`)."""
    p = config.ppo
    return p.batch_size * p.num_minibatches * p.unroll_length * config.env.action_repeat


def num_iterations(config: ml_collections.ConfigDict) -> int:
    """Training iterations for `ppo.num_timesteps` (rounded up to whole iterations)."""
    return max(1, math.ceil(config.ppo.num_timesteps / steps_per_iteration(config)))


def eval_every(config: ml_collections.ConfigDict) -> int:
    """Iterations between evaluations: `eval.num_evals` evaluations including the initial one."""
    return max(1, num_iterations(config) // max(config.eval.num_evals - 1, 1))


def default_config() -> ml_collections.ConfigDict:
    """Defaults shared by `configs/ppo_*.py` (Brax's PPO defaults where they exist)."""
    c = ml_collections.ConfigDict()
    c.mode = "sgb"  # sgb | deterministic | brax (Brax's own ppo.train, the vanilla baseline)
    c.seed = 0
    c.env = ml_collections.ConfigDict(dict(name="ant", backend="spring", episode_length=1000,
                                           action_repeat=1))
    # Policy and value: `depth` hidden layers of `hidden_width` (width 128 as the paper's vanilla
    # agent; depth 4 = Brax's default policy depth, used for both networks).
    c.network = ml_collections.ConfigDict(dict(
        hidden_width=128, depth=4, activation="swish", input_types=-1, hidden_types=128,
        mu_init="normal", mu_init_scale=1.0, sigma_init=0.1))
    c.prior = ml_collections.ConfigDict(dict(kind="scale_mixture", pi=0.25, sigma1=1.0,
                                             sigma2=0.0025, sigma=1.0))
    c.kl = ml_collections.ConfigDict(dict(c3=1e-6, scope="type_pair", num_samples=1))
    c.ppo = ml_collections.ConfigDict(dict(
        num_timesteps=50_000_000, num_envs=4096, batch_size=2048, num_minibatches=32,
        unroll_length=5, num_updates_per_batch=4, learning_rate=3e-4, entropy_cost=1e-2,
        discounting=0.97, reward_scaling=10.0, gae_lambda=0.95, clipping_epsilon=0.3,
        normalize_observations=True, normalize_advantage=True, vf_coefficient=0.5))
    c.ppo.max_grad_norm = ml_collections.config_dict.placeholder(float)
    # Individuals each environment can host within one training iteration (their draws are made
    # once per iteration): the one acting at its start plus one per later episode. An environment
    # that ends more episodes than that in one iteration keeps its last individual (counted as
    # `individual_overflow` in the metrics).
    # `segments_per_group`: SGB-mode minibatches are shuffled in groups of this many consecutive
    # unroll segments of one environment (1 = single rows, as Brax shuffles), and the loss develops
    # each group's individuals once for all its steps (sgb_jax/rl/individuals.py): larger groups
    # are cheaper, with fewer distinct individuals per minibatch.
    c.development = ml_collections.ConfigDict(dict(individuals_per_env=2, segments_per_group=1))
    c.eval = ml_collections.ConfigDict(dict(num_evals=10, num_eval_envs=128,
                                            deterministic=False))
    c.checkpoint = ml_collections.ConfigDict(dict(every=10, keep=2))
    return c
