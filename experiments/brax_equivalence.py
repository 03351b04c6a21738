"""Check that our deterministic trainer runs Brax `ppo.train`'s algorithm on a given config.

    python experiments/brax_equivalence.py --config=configs/ppo_halfcheetah.py:cpu
    python experiments/brax_equivalence.py --config=configs/ppo_ant.py:cpu --iterations=2

Both trainers start from the same parameters, environment reset keys and training key
(`sgb_jax.rl.baseline.brax_start`) and run `--iterations` iterations (one Brax evaluation epoch).
Printed per network: the largest parameter difference between the two, next to how far training
moved the parameters and, as a control, the difference between two runs of *our* trainer whose
initial parameters differ by a relative `--perturbation` (as float32 rounds it). On contact-rich
bodies the rollouts are chaotic: a float-rounding difference in iteration 1 changes the data of
iteration 2, so beyond one iteration the Brax difference is judged against that control, not
against zero.
"""

from __future__ import annotations

import json
import os
import sys
import time

import jax
import jax.numpy as jnp
from absl import app, flags
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgb_jax.rl import baseline, ppo  # noqa: E402
from sgb_jax.rl import config as config_lib  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", "configs/ppo_halfcheetah.py",
                                          "PPO config (its mode is set to deterministic).")
_ITERATIONS = flags.DEFINE_integer("iterations", 1, "Training iterations compared.")
_PERTURBATION = flags.DEFINE_float("perturbation", 1e-7,
                                   "Relative change of the initial parameters for the control.")


def _max_abs(a, b) -> dict[str, float]:
    return {net: max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(
        jax.tree_util.tree_leaves(a[net]), jax.tree_util.tree_leaves(b[net]), strict=True))
        for net in ("policy", "value")}


def main(argv):
    del argv
    from brax.training.agents.ppo import train as brax_ppo

    c = _CONFIG.value
    c.mode = "deterministic"
    if _ITERATIONS.value < 1:
        sys.exit(f"--iterations must be >= 1, got {_ITERATIONS.value}")
    # The control's factor, as float32 rounds it (1 + 1e-7 becomes 1 + 1.19e-7).
    factor = float(jnp.float32(1.0) + jnp.float32(_PERTURBATION.value))
    if factor == 1.0:
        sys.exit(f"--perturbation {_PERTURBATION.value:g} vanishes in float32 (1 + p == 1); "
                 f"use a larger one (float32 eps is "
                 f"{float(jnp.finfo(jnp.float32).eps):.3g})")
    try:
        config_lib.validate(c)
        c.ppo.num_timesteps = _ITERATIONS.value * config_lib.steps_per_iteration(c)
        c.eval.num_evals = 2  # one Brax epoch: its key schedule equals ours only inside an epoch
        setup = ppo.build(c)
    except config_lib.ConfigError as err:
        sys.exit(f"invalid config: {err}")
    params = setup.models.init(jax.random.PRNGKey(c.seed))
    step = jax.jit(lambda s, e: ppo.train_step(setup, s, e))

    start, env_start = baseline.brax_start(setup, params)

    def ours(p):
        state, env_state = start.replace(params=p), env_start
        for _ in range(_ITERATIONS.value):
            state, env_state, _ = step(state, env_state)
        return jax.block_until_ready(state)

    t0 = time.time()
    state = ours(params)
    control = ours(jax.tree_util.tree_map(lambda x: x * factor, params))
    t_ours = time.time() - t0
    t0 = time.time()
    # One device, as brax_start assumes (Brax splits keys and envs over local devices).
    _, (norm, policy, value), _ = brax_ppo.train(
        **baseline.brax_train_kwargs(c, config_lib.make_env(c)), max_devices_per_host=1,
        run_evals=False, restore_params=(start.normalizer_params,
                                         *baseline.to_brax_params(params)))
    t_brax = time.time() - t0
    report = {
        "config": f"{c.env.name}/{c.env.backend}", "iterations": _ITERATIONS.value,
        "env_steps": c.ppo.num_timesteps,
        "max_abs_diff_vs_brax": _max_abs(state.params, baseline.from_brax_params(policy, value)),
        "max_abs_moved_by_training": _max_abs(state.params, params),
        f"max_abs_diff_ours_vs_ours_perturbed_{factor - 1:.3g}": _max_abs(
            state.params, control.params),
        "observation_mean_max_abs_diff_vs_brax": float(jnp.max(jnp.abs(
            state.normalizer_params.mean - norm.mean))),
        "observation_std_max_abs_diff_vs_brax": float(jnp.max(jnp.abs(
            state.normalizer_params.std - norm.std))),
        "seconds_ours_two_runs": round(t_ours, 1), "seconds_brax": round(t_brax, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    app.run(main)
