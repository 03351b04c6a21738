"""Train the DGB baseline (or the plain p-net) once and write `<workdir>/summary.json`.

Usage:
  python experiments/train_dgb.py --config=configs/dgb_mnist.py:paper,gn20 \
      --workdir=results/dgb_mnist/gn20_seed0 [--config.seed=1] [--method=plain]
"""

from __future__ import annotations

import json

from absl import app, flags, logging
from ml_collections import config_flags

from sgb_jax.dgb import train

_CONFIG = config_flags.DEFINE_config_file("config", "configs/dgb_mnist.py:cpu", "DGB config.")
_WORKDIR = flags.DEFINE_string("workdir", "results/dgb_mnist/run", "Output directory.")
_METHOD = flags.DEFINE_enum("method", "dgb", ["dgb", "plain"], "DGB or the plain p-net alone.")


def main(argv: list[str]) -> None:
    del argv
    logging.set_verbosity(logging.INFO)
    config = _CONFIG.value
    try:
        train.validate(config)
    except ValueError as err:  # config errors name the field
        raise SystemExit(f"invalid config: {err}") from None
    train.check_compressible(config)
    summary = train.train_and_evaluate(config, _WORKDIR.value, method=_METHOD.value)
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))


if __name__ == "__main__":
    app.run(main)
