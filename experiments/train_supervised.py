"""Train an SGB genome on a supervised data set and report its innate accuracy.

    python experiments/train_supervised.py --config=configs/mnist_sgb.py --workdir=results/mnist_sgb
    python experiments/train_supervised.py --config=configs/mnist_sgb.py:paper \
        --config.model.hidden_types=10 --workdir=results/mnist_sgb_k10

Offline data: set SGB_RAW_DATA (or --config.raw_dir) to a folder with the original archives.
Re-running with the same workdir resumes from its last checkpoint.
"""

import json
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgb_jax.data import DataError  # noqa: E402
from sgb_jax.supervised import config as config_lib  # noqa: E402
from sgb_jax.supervised import train  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", "configs/mnist_sgb.py", "Training config.")
_WORKDIR = flags.DEFINE_string("workdir", "results/mnist_sgb", "Output and checkpoint folder.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    config = _CONFIG.value
    try:
        config_lib.validate(config)
    except config_lib.ConfigError as err:
        sys.exit(f"invalid config: {err}")
    try:
        summary = train.train_and_evaluate(config, _WORKDIR.value)
    except DataError as err:
        sys.exit(f"data unavailable: {err}")
    except config_lib.ConfigError as err:
        sys.exit(f"invalid config: {err}")
    keys = ("compression_ratio", "innate_accuracy_mean", "innate_accuracy_sem",
            "num_individuals", "mean_network_accuracy", "train_seconds")
    print(json.dumps({k: summary[k] for k in keys}, indent=2))
    print(f"innate accuracy {summary['innate_accuracy_mean']:.4f} ± "
          f"{summary['innate_accuracy_sem']:.4f} (SEM over {summary['num_individuals']} "
          f"individuals), mean network {summary['mean_network_accuracy']:.4f}, compression "
          f"{summary['compression_ratio']:.1f}x -> {os.path.join(_WORKDIR.value, 'summary.json')}")


if __name__ == "__main__":
    app.run(main)
