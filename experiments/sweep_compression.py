"""Innate accuracy vs compression for SGB, DGB and the plain network (paper Fig. 2B / 2D).

Usage:
  python experiments/sweep_compression.py --config=configs/sweep_mnist.py:cpu
  python experiments/sweep_compression.py --config=configs/sweep_cifar10.py:cpu --workdir=/tmp/s
Re-running resumes: finished cells (`<workdir>/cells/*.json`) are skipped. Writes
`<workdir>/table.csv`, `table.json` and `figure.png`; `--table_only` just rebuilds them.
"""

from __future__ import annotations

import time

from absl import app, flags, logging
from ml_collections import config_flags

from sgb_jax import data, sweep

_CONFIG = config_flags.DEFINE_config_file("config", "configs/sweep_mnist.py:cpu", "Sweep config.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default: config.workdir).")
_TABLE_ONLY = flags.DEFINE_bool("table_only", False, "Only rebuild table and figure.")


def main(argv: list[str]) -> None:
    del argv
    logging.set_verbosity(logging.WARNING)
    config = _CONFIG.value
    workdir = _WORKDIR.value or config.workdir
    try:
        sweep.validate(config)
    except sweep.SweepConfigError as err:
        raise SystemExit(f"invalid config: {err}") from None
    t0 = time.time()
    try:
        rows = (sweep.collect(config, workdir) if _TABLE_ONLY.value
                else sweep.run_sweep(config, workdir))
    except data.DataError as err:
        raise SystemExit(f"data unavailable: {err}") from None
    out = sweep.write_table(rows, workdir, data.dataset_label(config.dataset, config.raw_dir))
    for r in out["summary"]:
        print(f"{r['method']:5s} level {r['level']:>8s} {r['compression_ratio']:9.1f}x  innate "
              f"{r['innate_accuracy_mean']:.4f} +- {r['innate_accuracy_sem']:.4f} "
              f"({r['num_seeds']} seeds)")
    print(f"wrote {workdir}/table.csv, table.json, figure.png ({len(rows)} cells, "
          f"{time.time() - t0:.0f}s)")


if __name__ == "__main__":
    app.run(main)
