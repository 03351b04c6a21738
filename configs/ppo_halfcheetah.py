"""SGB-PPO on Brax HalfCheetah (paper §2.3.1, Fig. 3): width 128, depth 4, 128 hidden cell types.

Variants: `:cpu` (default; 128 envs, spring backend, ~0.6M steps, minutes on 2 CPU cores),
`:paper` (Brax notebook settings, DESIGN.md §4: 50M steps, 2048 envs, batch 512, unroll 20,
32 minibatches, 8 updates per batch, discount 0.95, lr 3e-4, entropy 1e-3, reward scaling 1),
`:test` (seconds). Modes: `--config.mode=sgb|deterministic|brax`.
"""

import ml_collections

from sgb_jax.rl.config import default_config


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    c = default_config()
    c.env.name = "halfcheetah"
    c.env.backend = "spring"
    c.ppo.update(dict(num_timesteps=50_000_000, num_envs=2048, batch_size=512,
                      num_minibatches=32, unroll_length=20, num_updates_per_batch=8,
                      learning_rate=3e-4, entropy_cost=1e-3, discounting=0.95,
                      reward_scaling=1.0))
    # 153 iterations of 327,680 steps, evaluated every 9: an interval that divides the iterations
    # lets Brax's baseline evaluate and stop at the same steps (sgb_jax/rl/baseline.py)
    c.eval.num_evals = 18
    # SGB minibatches in groups of 4 consecutive segments of one env (sgb_jax/rl/individuals.py)
    c.development.segments_per_group = 4
    if variant == "paper":
        c.checkpoint.every = 5
    elif variant == "cpu":
        c.ppo.update(dict(num_timesteps=655_360, num_envs=128, batch_size=128,
                          num_minibatches=32))
        c.eval.num_evals = 5  # 8 iterations, evaluated every 2
        c.checkpoint.every = 4
    elif variant == "test":
        c.development.segments_per_group = 1
        c.env.episode_length = 100
        c.network.hidden_width, c.network.hidden_types, c.network.depth = 32, 8, 2
        c.ppo.update(dict(num_timesteps=2_560, num_envs=16, batch_size=16, num_minibatches=4,
                          unroll_length=5))
        c.eval.num_evals, c.eval.num_eval_envs = 2, 16
        c.checkpoint.every = 1
    else:
        raise ValueError(f"unknown variant {variant!r}; choose cpu, paper or test")
    return c
