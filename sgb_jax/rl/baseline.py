"""The vanilla baseline: Brax's own `ppo.train` with plain MLPs of the configured width and depth.

DESIGN.md §3: the anchor every SGB return is divided by. Policy and value are Brax's MLPs with
`network.depth` hidden layers of `network.hidden_width` (128 in the paper) and the same activation,
PPO settings, environment and seed as our trainer. brax 0.14.2's `ppo.train` needs jax < 0.10
(`jax.device_put_replicated`); the project pins jax 0.9.2 for it.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time

import jax
import ml_collections
from brax.training.agents.ppo import networks as ppo_networks
from brax.training.agents.ppo import train as brax_ppo

from sgb_jax import compression
from sgb_jax.models import ACTIVATIONS
from sgb_jax.rl import config as config_lib
from sgb_jax.rl import networks


def brax_schedule(config: ml_collections.ConfigDict) -> tuple[int, int, int]:
    """`(num_evals, iterations per evaluation, total iterations)` of Brax `ppo.train` for `config`.

    Brax trains `ceil(num_timesteps / ((num_evals - 1) * steps_per_iteration))` iterations between
    evaluations. We pick its `num_evals` so that this is our trainer's interval
    `config_lib.eval_every(config)` when that interval divides our iterations: then both report
    returns at the same env steps and stop at the same budget. Otherwise Brax evaluates as often as
    we do and rounds its budget up to whole epochs (by less than one interval).
    """
    n_iter, every = config_lib.num_iterations(config), config_lib.eval_every(config)
    epochs = math.ceil(n_iter / every)
    per_epoch = math.ceil(config.ppo.num_timesteps
                          / (epochs * config_lib.steps_per_iteration(config)))
    return epochs + 1, per_epoch, per_epoch * epochs


def brax_train_kwargs(config: ml_collections.ConfigDict, env) -> dict:
    """Keyword arguments of Brax `ppo.train` matching `config` (network, PPO and eval settings).

    One place for the mapping, so the baseline and the throughput bench run the same algorithm.
    """
    p, e = config.ppo, config.env
    hidden = networks.hidden_sizes(config.network)
    factory = functools.partial(
        ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=hidden,
        value_hidden_layer_sizes=hidden, activation=ACTIVATIONS[config.network.activation])
    return dict(
        environment=env, num_timesteps=p.num_timesteps, num_envs=p.num_envs,
        episode_length=e.episode_length, action_repeat=e.action_repeat,
        learning_rate=p.learning_rate, entropy_cost=p.entropy_cost, discounting=p.discounting,
        unroll_length=p.unroll_length, batch_size=p.batch_size,
        num_minibatches=p.num_minibatches, num_updates_per_batch=p.num_updates_per_batch,
        normalize_observations=p.normalize_observations, reward_scaling=p.reward_scaling,
        clipping_epsilon=p.clipping_epsilon, gae_lambda=p.gae_lambda,
        max_grad_norm=p.max_grad_norm, normalize_advantage=p.normalize_advantage,
        vf_loss_coefficient=p.vf_coefficient, network_factory=factory, seed=config.seed,
        num_evals=brax_schedule(config)[0], num_eval_envs=config.eval.num_eval_envs,
        deterministic_eval=config.eval.deterministic)


def to_brax_params(params: dict) -> tuple[dict, dict]:
    """Our plain-MLP `{'policy', 'value'}` parameters as Brax's `(policy, value)` network params."""
    def one(p):
        return {"params": {k.replace("dense_", "hidden_"): v for k, v in p.items()}}
    return one(params["policy"]), one(params["value"])


def from_brax_params(policy: dict, value: dict) -> dict:
    """Inverse of `to_brax_params`."""
    def one(p):
        return {k.replace("hidden_", "dense_"): v for k, v in p["params"].items()}
    return {"policy": one(policy), "value": one(value)}


def brax_start(setup, params: dict) -> tuple:
    """`(TrainState, env_state)` of our trainer as Brax `ppo.train(seed=config.seed)` starts
    (single device): its environment reset keys and the key of its first training step.

    With `restore_params=(normalizer, *to_brax_params(params))` and `max_devices_per_host=1`
    Brax then runs, iteration for iteration, what our deterministic trainer runs from this state
    (same key schedule; within its first evaluation epoch only, as Brax draws a fresh key per
    epoch; equal up to float rounding, which chaotic bodies amplify over iterations).
    """
    from sgb_jax.rl import ppo  # late import: ppo does not depend on the baseline

    global_key, local_key = jax.random.split(jax.random.PRNGKey(setup.config.seed))
    del global_key  # Brax's init keys: `params` replaces its initialisation
    local_key = jax.random.fold_in(local_key, 0)  # process index
    local_key, key_env, _ = jax.random.split(local_key, 3)
    epoch_key, _ = jax.random.split(local_key)
    state = ppo.init_state(setup, jax.random.PRNGKey(0)).replace(
        params=params, opt_state=setup.optimizer.init(params),
        key=jax.random.split(epoch_key, 1)[0])
    env_state = jax.jit(setup.env.reset)(jax.random.split(key_env, setup.config.ppo.num_envs))
    return state, env_state


def train_brax(config: ml_collections.ConfigDict, workdir: str | None = None,
               log=print) -> dict:
    """Run Brax `ppo.train` for `config` (any mode field is ignored); returns the summary dict."""
    config_lib.validate(config)
    env = config_lib.make_env(config)
    hidden = networks.hidden_sizes(config.network)
    p, e = config.ppo, config.env
    history: list[list[float]] = []
    t_start = time.time()

    def progress(step: int, metrics: dict) -> None:
        ret = float(metrics["eval/episode_reward"])
        history.append([int(step), ret])
        log(f"[brax {e.name}] env_steps {step} eval_return {ret:.2f} "
            f"elapsed {time.time() - t_start:.0f}s")

    total = brax_schedule(config)[2]
    if total != config_lib.num_iterations(config):
        log(f"[brax {e.name}] note: Brax rounds the budget up to {total} iterations "
            f"({total * config_lib.steps_per_iteration(config)} env steps; ours: "
            f"{config_lib.num_iterations(config)}): our evaluation interval of "
            f"{config_lib.eval_every(config)} iterations does not divide ours")
    brax_ppo.train(**brax_train_kwargs(config, env), progress_fn=progress)
    obs_size = int(env.observation_size)
    plain = sum(compression.plain_mlp_param_count((obs_size, *hidden, n))
                for n in (2 * env.action_size, 1))
    summary = {
        "env": e.name, "backend": e.backend, "mode": "brax", "seed": config.seed,
        "initial_return": history[0][1], "final_return": history[-1][1],
        "env_steps": history[-1][0], "train_seconds": time.time() - t_start,
        "cell_types": int(config.network.hidden_width), "input_types": None,
        "hidden_width": int(config.network.hidden_width), "depth": int(config.network.depth),
        "num_envs": int(p.num_envs), "returns": history, "plain_params": int(plain),
        "genome_params": int(plain), "compression_ratio": 1.0,
    }
    if workdir is not None:
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return summary
