"""Benchmark: N developed individuals in one vmapped rollout call vs a Python loop over individuals.

    python bench/population_eval.py                      # random genome, Ant (spring), N = 100
    python bench/population_eval.py --policy_workdir=results/ppo_ant_sgb

Both sides use `sgb_jax.rl.evaluate.make_evaluator` (jitted, same episodes, same phenotypes) and are
compiled before timing; the loop calls the single-individual evaluator N times. Prints
`population call/python loop: <r>x` (the loop's time divided by the call's).
"""

from __future__ import annotations

import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from brax.training.acme import running_statistics, specs

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgb_jax import cell_types as ct  # noqa: E402
from sgb_jax import models, population  # noqa: E402
from sgb_jax.rl import envs, evaluate, networks  # noqa: E402

_N = flags.DEFINE_integer("num_individuals", 100, "Population size.")
_ENV = flags.DEFINE_string("env", "ant", "Environment name (sgb_jax.rl.envs.make_env).")
_BACKEND = flags.DEFINE_string("backend", "spring", "Brax backend.")
_EPISODES = flags.DEFINE_integer("num_episodes", 1, "Episodes per individual.")
_LENGTH = flags.DEFINE_integer("episode_length", 200, "Steps per episode.")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Timed repetitions (best is kept).")
_WORKDIR = flags.DEFINE_string("policy_workdir", "", "Trained SGB-PPO workdir; '' = random "
                               "genome of the CPU-scale policy shape (4 x 128, 64 types).")


def _policy(obs_size: int, action_size: int):
    if _WORKDIR.value:
        _, model, genome, normalizer = networks.load_policy(_WORKDIR.value)
        return model, genome, normalizer
    sizes = (obs_size, 128, 128, 128, 128, 2 * action_size)
    types = (ct.CellTypeSpec(obs_size), *[ct.CellTypeSpec(64)] * 4, ct.CellTypeSpec(sizes[-1]))
    model = models.SGBMLP(sizes, types, activation="swish", deterministic_output=True)
    x = jnp.zeros((1, obs_size))
    genome = model.init({"params": jax.random.PRNGKey(0), "noise": jax.random.PRNGKey(1)},
                        x)["params"]
    normalizer = running_statistics.init_state(specs.Array((obs_size,), jnp.dtype("float32")))
    return model, genome, normalizer


def _best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv):
    del argv
    env = envs.make_env(_ENV.value, _BACKEND.value)
    model, genome, normalizer = _policy(env.observation_size, env.action_size)
    n = _N.value
    phenotypes = population.develop_population(model, genome, jax.random.PRNGKey(2), n)
    key = jax.random.PRNGKey(3)
    args = (model.activation, _EPISODES.value, _LENGTH.value)
    batched = evaluate.make_evaluator(env, *args, batched=True)
    single = evaluate.make_evaluator(env, *args, batched=False)
    one = [jax.tree_util.tree_map(lambda x, i=i: x[i], phenotypes) for i in range(n)]

    t0 = time.perf_counter()
    pop_returns = jax.block_until_ready(batched(phenotypes, normalizer, key).returns)
    loop_returns = jax.block_until_ready(single(one[0], normalizer, key).returns)
    print(f"compile + first run of both: {time.perf_counter() - t0:.1f} s")

    t_call = _best_time(lambda: batched(phenotypes, normalizer, key).returns, _REPEATS.value)
    t_loop = _best_time(lambda: [single(p, normalizer, key).returns for p in one],
                        _REPEATS.value)
    loop_returns = np.concatenate([np.asarray(single(p, normalizer, key).returns) for p in one])
    # Same individuals and episodes; batched and single programs round differently and the
    # contact dynamics amplify it, so individual returns drift apart, population statistics agree.
    r = np.corrcoef(np.asarray(pop_returns).ravel(), loop_returns.ravel())[0, 1]
    print(f"mean return: vmapped {float(np.mean(pop_returns)):.2f}, loop "
          f"{float(np.mean(loop_returns)):.2f} (per-individual correlation {r:.2f})")
    steps = n * _EPISODES.value * _LENGTH.value
    print(f"{n} individuals x {_EPISODES.value} episodes x {_LENGTH.value} steps on "
          f"{_ENV.value}/{_BACKEND.value}, {jax.device_count()} {jax.devices()[0].platform} "
          f"device(s)")
    print(f"one vmapped call: {t_call:.3f} s ({steps / t_call:.0f} env steps/s); python loop: "
          f"{t_loop:.3f} s ({steps / t_loop:.0f} env steps/s)")
    print(f"population call/python loop: {t_loop / t_call:.1f}x")


if __name__ == "__main__":
    app.run(main)
