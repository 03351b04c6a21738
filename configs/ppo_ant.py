"""SGB-PPO on Brax Ant (paper §2.3.1, Fig. 3): width 128, depth 4, 128 hidden cell types by default.

Variants: `:cpu` (default; 128 envs, spring backend, ~0.5M steps, minutes on 2 CPU cores),
`:paper` (Brax notebook settings, DESIGN.md §4: 50M steps, 4096 envs, batch 2048, unroll 5,
32 minibatches, 4 updates per batch, discount 0.97, lr 3e-4, entropy 1e-2, reward scaling 10),
`:test` (seconds). Modes: `--config.mode=sgb|deterministic|brax`.
"""

import ml_collections

from sgb_jax.rl.config import default_config


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    c = default_config()
    c.env.name = "ant"
    c.env.backend = "spring"
    c.ppo.update(dict(num_timesteps=50_000_000, num_envs=4096, batch_size=2048,
                      num_minibatches=32, unroll_length=5, num_updates_per_batch=4,
                      learning_rate=3e-4, entropy_cost=1e-2, discounting=0.97,
                      reward_scaling=10.0))
    c.eval.num_evals = 10
    # SGB minibatches in groups of 8 consecutive segments of one env (sgb_jax/rl/individuals.py)
    c.development.segments_per_group = 8
    if variant == "paper":
        c.checkpoint.every = 5
    elif variant == "cpu":
        c.ppo.update(dict(num_timesteps=491_520, num_envs=128, batch_size=256,
                          num_minibatches=32))
        c.eval.num_evals = 4
        c.checkpoint.every = 4
    elif variant == "test":
        c.development.segments_per_group = 1
        c.env.episode_length = 100
        c.network.hidden_width, c.network.hidden_types, c.network.depth = 32, 8, 2
        c.ppo.update(dict(num_timesteps=2_560, num_envs=16, batch_size=16, num_minibatches=4))
        c.eval.num_evals, c.eval.num_eval_envs = 2, 16
        c.checkpoint.every = 1
    else:
        raise ValueError(f"unknown variant {variant!r}; choose cpu, paper or test")
    return c
