"""Cell-type sweep (paper Fig. 3C/D): SGB-PPO return as a fraction of vanilla PPO vs cell types.

    python experiments/sweep_cell_types.py --config=configs/sweep_cell_types_ant.py:cpu
    XLA_FLAGS=--xla_force_host_platform_device_count=2 python experiments/sweep_cell_types.py ...

One cell = (hidden cell types, seed), trained by `sgb_jax.rl.ppo.train_and_evaluate`; the vanilla
baseline (Brax's own `ppo.train`, width = `network.hidden_width`) runs once per seed. Resumable:
each finished cell writes `cells/<tag>.json` and is skipped on the next run; an unfinished cell
resumes from its own checkpoints under `runs/<tag>/`. Sharded: cells are split over hosts by
`jax.process_index()` and, inside a host, over `jax.local_devices()` (one worker thread per device,
`jax.default_device`). Writes `results/sweep_cell_types_<env>/`:
  table.csv      cell_types,seed,final_return,fraction_of_vanilla (+ initial_return, env_steps,
                 train_seconds, compression_ratio)
  baseline.csv   seed,final_return of the vanilla baseline
  summary.json   mean ± SEM of the fraction per cell-type count
  fraction_of_vanilla.png
`fraction_of_vanilla` divides by the vanilla return averaged over the seeds (the anchor).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import sys
import threading
import time
from collections.abc import Callable

import jax
import ml_collections
import numpy as np
from absl import app
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgb_jax.rl import config as config_lib  # noqa: E402

TrainFn = Callable[[ml_collections.ConfigDict, str, Callable[[str], None]], dict]


def load_config_file(spec: str) -> ml_collections.ConfigDict:
    """`"configs/x.py:variant"` -> `get_config(variant)` (relative paths from the repo root);
    `""` -> the trainer defaults `sgb_jax.rl.config.default_config()`."""
    if not spec:
        return config_lib.default_config()
    path, _, variant = spec.partition(":")
    if not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), path)
    if not os.path.exists(path):
        raise ValueError(f"config.base_config must name an existing config file, got {spec!r}")
    module_spec = importlib.util.spec_from_file_location("_sweep_base_config", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(variant) if variant else module.get_config()


def merge(base: ml_collections.ConfigDict, overrides: ml_collections.ConfigDict,
          where: str = "config.overrides") -> None:
    """Write the partial tree `overrides` into `base` in place; unknown fields are errors."""
    for key, value in overrides.items():
        if key not in base:
            raise ValueError(f"{where}.{key} is not a field of the base config")
        if isinstance(value, ml_collections.ConfigDict):
            merge(base[key], value, f"{where}.{key}")
        else:
            base[key] = value


def cell_tag(cell_types: int | None, seed: int) -> str:
    return f"brax_seed{seed}" if cell_types is None else f"sgb_k{cell_types:04d}_seed{seed}"


def cell_configs(sweep: ml_collections.ConfigDict
                 ) -> list[tuple[str, int | None, ml_collections.ConfigDict]]:
    """Every cell's full PPO config, validated here, before anything is compiled.

    Returns `(tag, cell_types or None for the baseline, config)`, baselines first.
    """
    if not sweep.seeds or not sweep.cell_types:
        raise ValueError("config.seeds and config.cell_types must be non-empty")
    if len(set(sweep.seeds)) != len(sweep.seeds) or len(set(sweep.cell_types)) != len(
            sweep.cell_types):
        raise ValueError(f"config.seeds {sweep.seeds} and config.cell_types {sweep.cell_types} "
                         f"must not repeat values")
    if not isinstance(sweep.num_timesteps, int) or (sweep.num_timesteps != -1
                                                    and sweep.num_timesteps < 1):
        raise ValueError(f"config.num_timesteps must be -1 or >= 1, got {sweep.num_timesteps}")
    base = load_config_file(sweep.base_config)
    merge(base, sweep.overrides)
    if base.env.name != sweep.env:
        raise ValueError(f"config.env ({sweep.env!r}) differs from the base config's env.name "
                         f"({base.env.name!r})")
    cells = []
    plan = ([(None, s) for s in sweep.seeds] if sweep.baseline else []) + [
        (k, s) for k in sweep.cell_types for s in sweep.seeds]
    for k, seed in plan:
        c = ml_collections.ConfigDict(base.to_dict())
        c.seed = int(seed)
        if sweep.num_timesteps != -1:
            c.ppo.num_timesteps = int(sweep.num_timesteps)
        if k is None:
            c.mode = "brax"  # plain width-`hidden_width` MLPs: the cell-type count is moot
            c.network.hidden_types = c.network.hidden_width
        else:
            c.mode = "sgb"
            c.network.hidden_types = k
        try:
            config_lib.validate(c)
        except config_lib.ConfigError as err:
            what = "baseline" if k is None else f"cell_types={k}"
            raise ValueError(f"config.cell_types: {what}, seed {seed}: {err}") from err
        cells.append((cell_tag(k, seed), k, c))
    return cells


def _default_train_fns() -> tuple[TrainFn, TrainFn]:
    from sgb_jax.rl import baseline, ppo
    return ppo.train_and_evaluate, baseline.train_brax


def run_cells(cells: list, out_dir: str, sgb_fn: TrainFn, brax_fn: TrainFn,
              devices: list | None = None, process_index: int = 0, process_count: int = 1,
              log: Callable[[str], None] = print) -> list[str]:
    """Train every unfinished cell owned by this process; returns the tags trained now."""
    cell_dir = os.path.join(out_dir, "cells")
    os.makedirs(cell_dir, exist_ok=True)
    mine = [c for i, c in enumerate(cells) if i % process_count == process_index]
    todo = [c for c in mine if not os.path.exists(os.path.join(cell_dir, f"{c[0]}.json"))]
    log(f"{len(cells)} cells, {len(mine)} on this host, {len(mine) - len(todo)} already done")
    trained: list[str] = []

    def train_cell(tag: str, k: int | None, cfg: ml_collections.ConfigDict) -> None:
        t0 = time.time()
        fn = brax_fn if k is None else sgb_fn
        summary = fn(cfg, os.path.join(out_dir, "runs", tag), lambda s: log(f"[{tag}] {s}"))
        record = {"tag": tag, "mode": "brax" if k is None else "sgb",
                  "cell_types": k, "seed": int(cfg.seed),
                  "final_return": float(summary["final_return"]),
                  "initial_return": float(summary.get("initial_return", float("nan"))),
                  "env_steps": int(summary.get("env_steps", 0)),
                  "train_seconds": float(summary.get("train_seconds", time.time() - t0)),
                  "compression_ratio": float(summary.get("compression_ratio", 1.0))}
        tmp = os.path.join(cell_dir, f".{tag}.json.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f, indent=2)
        os.replace(tmp, os.path.join(cell_dir, f"{tag}.json"))  # a cell is done only when whole
        trained.append(tag)
        log(f"[{tag}] done: final_return {record['final_return']:.2f} "
            f"({time.time() - t0:.0f} s)")

    # Brax's ppo.train pmaps over all local devices itself: run the baselines one at a time.
    for tag, k, cfg in [c for c in todo if c[1] is None]:
        train_cell(tag, k, cfg)
    sgb = [c for c in todo if c[1] is not None]
    devices = devices or jax.local_devices()
    if len(devices) <= 1:
        for cell in sgb:
            train_cell(*cell)
        return trained
    errors: list[BaseException] = []

    def worker(device, share):
        try:
            with jax.default_device(device):
                for cell in share:
                    train_cell(*cell)
        except BaseException as err:  # surfaced in the main thread below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(d, sgb[i::len(devices)]))
               for i, d in enumerate(devices)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return trained


def aggregate(out_dir: str) -> dict:
    """table.csv, baseline.csv, summary.json from every finished cell file."""
    cell_dir = os.path.join(out_dir, "cells")
    records = []
    for name in sorted(os.listdir(cell_dir)):
        if name.endswith(".json"):
            with open(os.path.join(cell_dir, name)) as f:
                records.append(json.load(f))
    base = [r for r in records if r["mode"] == "brax"]
    sgb = sorted((r for r in records if r["mode"] == "sgb"),
                 key=lambda r: (r["cell_types"], r["seed"]))
    vanilla = float(np.mean([r["final_return"] for r in base])) if base else float("nan")
    with open(os.path.join(out_dir, "baseline.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seed", "final_return", "initial_return", "env_steps", "train_seconds"])
        for r in sorted(base, key=lambda r: r["seed"]):
            w.writerow([r["seed"], f"{r['final_return']:.4f}", f"{r['initial_return']:.4f}",
                        r["env_steps"], f"{r['train_seconds']:.1f}"])
    with open(os.path.join(out_dir, "table.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["cell_types", "seed", "final_return", "fraction_of_vanilla",
                    "initial_return", "env_steps", "train_seconds", "compression_ratio"])
        for r in sgb:
            w.writerow([r["cell_types"], r["seed"], f"{r['final_return']:.4f}",
                        f"{r['final_return'] / vanilla:.4f}", f"{r['initial_return']:.4f}",
                        r["env_steps"], f"{r['train_seconds']:.1f}",
                        f"{r['compression_ratio']:.3f}"])
    per_k = {}
    for k in sorted({r["cell_types"] for r in sgb}):
        frac = np.array([r["final_return"] / vanilla for r in sgb if r["cell_types"] == k])
        ret = np.array([r["final_return"] for r in sgb if r["cell_types"] == k])
        sem = lambda x: float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0
        per_k[str(k)] = {"fraction_mean": float(frac.mean()), "fraction_sem": sem(frac),
                         "return_mean": float(ret.mean()), "return_sem": sem(ret),
                         "num_seeds": int(frac.size)}
    summary = {"vanilla_return": vanilla, "vanilla_seeds": len(base), "cells": len(sgb),
               "per_cell_types": per_k}
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if per_k and base:
        _plot(out_dir, per_k, vanilla)
    return summary


def _plot(out_dir: str, per_k: dict, vanilla: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = np.array([int(k) for k in per_k])
    mean = np.array([v["fraction_mean"] for v in per_k.values()])
    sem = np.array([v["fraction_sem"] for v in per_k.values()])
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.errorbar(ks, mean, yerr=sem, fmt="o-", capsize=4, label="SGB-PPO (mean ± SEM over seeds)")
    ax.axhline(1.0, color="k", ls="--", lw=1, label=f"vanilla PPO ({vanilla:.0f})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("hidden cell types")
    ax.set_ylabel("final return / vanilla return")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "fraction_of_vanilla.png"), dpi=120)
    plt.close(fig)


def run_sweep(sweep: ml_collections.ConfigDict, sgb_fn: TrainFn | None = None,
              brax_fn: TrainFn | None = None, devices: list | None = None,
              log: Callable[[str], None] = print) -> dict:
    """Validate every cell, train the unfinished ones, aggregate; returns the summary."""
    cells = cell_configs(sweep)
    out_dir = sweep.out_dir or os.path.join("results", f"sweep_cell_types_{sweep.env}")
    os.makedirs(out_dir, exist_ok=True)
    if sweep.compilation_cache:
        jax.config.update("jax_compilation_cache_dir", os.path.join(out_dir, "xla_cache"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    if sgb_fn is None or brax_fn is None:
        default_sgb, default_brax = _default_train_fns()
        sgb_fn, brax_fn = sgb_fn or default_sgb, brax_fn or default_brax
    t0 = time.time()
    run_cells(cells, out_dir, sgb_fn, brax_fn, devices, jax.process_index(),
              jax.process_count(), log)
    summary = aggregate(out_dir) if jax.process_index() == 0 else {}
    summary["wall_seconds_this_call"] = time.time() - t0
    summary["out_dir"] = out_dir
    return summary


def main(argv):
    del argv
    sweep = _CONFIG.value
    try:
        cell_configs(sweep)
    except ValueError as err:
        sys.exit(f"invalid config: {err}")
    s = run_sweep(sweep)
    if "per_cell_types" in s:
        print(f"vanilla return {s['vanilla_return']:.2f} (mean of {s['vanilla_seeds']} seeds)")
        for k, v in s["per_cell_types"].items():
            print(f"cell_types {k}: fraction of vanilla {v['fraction_mean']:.3f} ± "
                  f"{v['fraction_sem']:.3f} (return {v['return_mean']:.2f} ± "
                  f"{v['return_sem']:.2f}, {v['num_seeds']} seeds)")
    print(f"wall {s['wall_seconds_this_call']:.0f} s -> {os.path.join(s['out_dir'], 'table.csv')}")


if __name__ == "__main__":
    # Flags are defined here, not at import, so tests can import several launchers.
    _CONFIG = config_flags.DEFINE_config_file("config", "configs/sweep_cell_types_ant.py:cpu",
                                              "Sweep config.")
    app.run(main)
