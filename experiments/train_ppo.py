"""Train an SGB-PPO agent (or its deterministic / vanilla-Brax baselines) on a Brax environment.

    python experiments/train_ppo.py --config=configs/ppo_ant.py:cpu
    python experiments/train_ppo.py --config=configs/ppo_ant.py:cpu --config.mode=deterministic
    python experiments/train_ppo.py --config=configs/ppo_ant.py:cpu --config.mode=brax
    python experiments/train_ppo.py --config=configs/ppo_halfcheetah.py:paper \
        --config.network.hidden_types=16

Writes `results/ppo_<env>_<mode>/summary.json` (or `--workdir`) with `initial_return`,
`final_return`, `env_steps`, `train_seconds`, `cell_types`; modes sgb/deterministic also write
`progress.jsonl` and orbax checkpoints: re-running with the same workdir resumes.
"""

import json
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgb_jax.rl import baseline, ppo  # noqa: E402
from sgb_jax.rl import config as config_lib  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", "configs/ppo_ant.py", "Training config.")
_WORKDIR = flags.DEFINE_string("workdir", None,
                               "Output folder; default results/ppo_<env>_<mode>.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    config = _CONFIG.value
    try:
        config_lib.validate(config)
    except config_lib.ConfigError as err:
        sys.exit(f"invalid config: {err}")
    workdir = _WORKDIR.value or os.path.join("results", f"ppo_{config.env.name}_{config.mode}")
    try:
        if config.mode == "brax":
            summary = baseline.train_brax(config, workdir)
        else:
            summary = ppo.train_and_evaluate(config, workdir)
    except config_lib.ConfigError as err:
        sys.exit(f"invalid config: {err}")
    keys = ("env", "mode", "cell_types", "initial_return", "final_return", "env_steps",
            "train_seconds", "compression_ratio")
    print(json.dumps({k: summary[k] for k in keys}, indent=2))
    print(f"{config.env.name} {config.mode}: return {summary['initial_return']:.1f} -> "
          f"{summary['final_return']:.1f} after {summary['env_steps']} env steps in "
          f"{summary['train_seconds']:.0f}s -> {os.path.join(workdir, 'summary.json')}")


if __name__ == "__main__":
    app.run(main)
