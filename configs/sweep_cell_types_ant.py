"""Cell-type sweep on Ant (paper Fig. 3C): SGB-PPO per hidden type count x seed, vs vanilla PPO.

Variants:
* `cpu` (default): hidden width 32 (depth 2), 4 type counts including 32 (= the width), 2 seeds,
  150k env steps per cell, spring backend, 128 envs (~1 min a cell on 2 CPU cores).
* `cpu_w128`: the paper's width: `configs/ppo_ant.py:cpu` (width 128, depth 4, 491,520 steps),
  types 4, 16, 32, 128, 2 seeds (~3-7 min a cell on 2 CPU cores).
* `paper`: `configs/ppo_ant.py:paper` (width 128, Brax notebook settings), types 4..128, 5 seeds.
* `test`: 2 type counts, 1 seed, a few thousand steps (the tests use it through overrides).

    python experiments/sweep_cell_types.py --config=configs/sweep_cell_types_ant.py:cpu
"""

import ml_collections


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.env = "ant"
    # The PPO config every cell starts from ("path.py:variant", or "" for the trainer defaults of
    # sgb_jax.rl.config.default_config), then `overrides` (a partial config tree) on top; the sweep
    # sets mode, seed and network.hidden_types per cell, mode "brax" for the vanilla baseline.
    c.base_config = ""
    c.overrides = ml_collections.ConfigDict({
        "env": {"name": "ant", "backend": "spring"},
        "network": {"hidden_width": 32, "depth": 2},
        "ppo": {"num_envs": 128, "batch_size": 128, "num_minibatches": 8},
        "eval": {"num_evals": 3, "num_eval_envs": 32},
        "checkpoint": {"every": 5},
    })
    c.cell_types = (2, 4, 8, 32)
    c.seeds = (0, 1)
    c.num_timesteps = 150_000  # -1 -> the base config's ppo.num_timesteps
    c.baseline = True  # also run the vanilla baseline per seed (the fraction's denominator)
    c.out_dir = ""  # "" -> results/sweep_cell_types_<env>
    # Persistent XLA cache: cells that differ only in seed share their compiled programs.
    c.compilation_cache = True
    if variant == "cpu":
        pass
    elif variant == "cpu_w128":
        c.base_config = "configs/ppo_ant.py:cpu"
        c.overrides = ml_collections.ConfigDict()
        c.cell_types = (4, 16, 32, 128)
        c.num_timesteps = -1
    elif variant == "paper":
        c.base_config = "configs/ppo_ant.py:paper"
        c.overrides = ml_collections.ConfigDict()
        c.cell_types = (4, 8, 16, 32, 64, 128)
        c.seeds = (0, 1, 2, 3, 4)
        c.num_timesteps = -1
    elif variant == "test":
        c.cell_types = (2, 8)
        c.seeds = (0,)
        c.num_timesteps = 2_000
    else:
        raise ValueError(f"sweep_cell_types_ant variant must be one of ['cpu', 'cpu_w128', "
                         f"'paper', 'test'], got {variant!r}")
    return c
