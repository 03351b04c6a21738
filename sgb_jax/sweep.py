"""Resumable compression sweeps: method x compression level x seed, one result file per cell.

A cell is one training run (`sgb`: hidden cell types; `dgb`: g-net hidden sizes; `plain`: the
uncompressed p-net, the reference line). Each finished cell writes `<workdir>/cells/<id>.json`
atomically, so a re-run skips it and a killed sweep loses at most the cells in flight. Cells are
dealt round-robin to `jax.devices()`, one worker thread per device running its cells under
`jax.default_device`; a cell's result depends only on its own config and seed, so the table does
not depend on the number of devices. `write_table` gathers the cells into `table.csv`,
`table.json` and `figure.png` (innate accuracy vs compression, mean +- SEM over seeds).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

METHODS = ("sgb", "dgb", "plain")
COLUMNS = ("method", "level", "compression_ratio", "seed", "innate_accuracy",
           "innate_accuracy_sem", "mean_network_accuracy", "network_compression_ratio",
           "train_seconds")


class SweepConfigError(ValueError):
    """A sweep config that cannot run; the message names the field."""


@dataclasses.dataclass(frozen=True)
class Cell:
    method: str
    level: tuple[int, ...]  # sgb: (hidden types,); dgb: g-net hidden sizes; plain: ()
    seed: int

    @property
    def id(self) -> str:
        lv = "-".join(str(v) for v in self.level) or "full"
        return f"{self.method}_{lv}_seed{self.seed}"


def cells(config: ml_collections.ConfigDict) -> list[Cell]:
    """The grid, in a fixed order."""
    levels = {"sgb": [(int(k),) for k in config.sgb_levels],
              "dgb": [tuple(int(h) for h in lv) for lv in config.dgb_levels], "plain": [()]}
    # Seed-major: an interrupted sweep has whole seeds of every method and level first.
    return [Cell(m, lv, int(s)) for s in config.seeds for m in config.methods for lv in levels[m]]


def sgb_config(config: ml_collections.ConfigDict, cell: Cell) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict(config.sgb.to_dict())
    c.dataset, c.seed = config.dataset, cell.seed
    c.raw_dir, c.data_dir = config.raw_dir, config.data_dir
    c.model.hidden_types = cell.level[0]
    return c


def dgb_config(config: ml_collections.ConfigDict, cell: Cell) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict(config.dgb.to_dict())
    c.dataset, c.seed = config.dataset, cell.seed
    c.raw_dir, c.data_dir = config.raw_dir, config.data_dir
    if cell.method == "dgb":
        c.dgb.hidden = cell.level
    return c


def validate(config: ml_collections.ConfigDict) -> None:
    """Check the whole grid before anything compiles (every cell config, every level)."""
    from sgb_jax.dgb import train as dgb_train

    bad = [m for m in config.methods if m not in METHODS]
    if bad or not config.methods:
        raise SweepConfigError(f"methods must be a non-empty subset of {METHODS}, got "
                               f"{tuple(config.methods)!r}")
    if not config.seeds:
        raise SweepConfigError("seeds must list at least one seed")
    if config.dataset not in dgb_train.DATASET_SHAPES:
        raise SweepConfigError(f"dataset must be one of {sorted(dgb_train.DATASET_SHAPES)}, got "
                               f"{config.dataset!r}")
    for cell in cells(config):
        if cell.method == "sgb":
            from sgb_jax.supervised import config as sgb_config_lib

            hidden = min(int(h) for h in config.sgb.model.hidden_sizes)
            if not 1 <= cell.level[0] <= hidden:
                raise SweepConfigError(
                    f"sgb_levels: {cell.level[0]} hidden cell types cannot be realised with "
                    f"{hidden} hidden neurons; allowed 1..{hidden}")
            sgb_config_lib.validate(sgb_config(config, cell))
        else:
            c = dgb_config(config, cell)
            try:
                dgb_train.validate(c)
                if cell.method == "dgb":
                    dgb_train.check_compressible(c)
            except dgb_train.ConfigError as e:
                field = "dgb_levels" if "dgb.hidden" in str(e) else "dgb"
                raise SweepConfigError(f"{field} (cell {cell.id}): {e}") from e


def load_datasets(config: ml_collections.ConfigDict):
    """Train and test arrays, loaded once for every cell; a missing data set names the field."""
    from sgb_jax import data

    try:
        return tuple(data.load(config.dataset, split, data_dir=config.data_dir,
                               raw_dir=config.raw_dir) for split in ("train", "test"))
    except data.DataError as e:
        raise SweepConfigError(f"dataset {config.dataset!r} is not available (set raw_dir / "
                               f"data_dir or env {data.RAW_ENV}): {e}") from e


def _subsample(datasets, limit: int | None, test_limit: int | None = None):
    (x, y), (xt, yt) = datasets
    if limit:
        x, y = x[:limit], y[:limit]
    if test_limit:
        xt, yt = xt[:test_limit], yt[:test_limit]
    return (x, y), (xt, yt)


def run_cell(config: ml_collections.ConfigDict, cell: Cell, workdir: str, datasets) -> dict:
    """Train one cell and return its table row (no file written here)."""
    if cell.method == "sgb":
        from sgb_jax.supervised import train as sgb_train

        c = sgb_config(config, cell)
        s = sgb_train.train_and_evaluate(
            c, workdir, datasets=_subsample(datasets, c.train.get("max_train_examples"),
                                             config.get("max_test_examples")))
        return {"innate_accuracy": s["innate_accuracy_mean"],
                "innate_accuracy_sem": s["innate_accuracy_sem"],
                "mean_network_accuracy": s["mean_network_accuracy"],
                "compression_ratio": _ratio(config, c, s), "network_compression_ratio":
                s["compression_ratio"], "train_seconds": s["train_seconds"]}
    from sgb_jax.dgb import train as dgb_train

    c = dgb_config(config, cell)
    ds = _subsample(datasets, c.max_train_examples, config.get("max_test_examples"))
    s = dgb_train.train_and_evaluate(c, workdir, datasets=ds, method=cell.method)
    return {"innate_accuracy": s["innate_accuracy"], "innate_accuracy_sem": None,
            "mean_network_accuracy": None, "compression_ratio": _ratio(config, c, s),
            "network_compression_ratio": s["compression_ratio"],
            "train_seconds": s["train_seconds"], "pnet_accuracy": s["pnet_accuracy"]}


def _ratio(config: ml_collections.ConfigDict, cell_config: ml_collections.ConfigDict,
           summary: dict) -> float:
    """Compression ratio on `config.compression_scope`: the whole network, or the FC layers only
    (paper Fig. 2D compresses only the FC layers; plain conv layers count the same on both sides
    and would cap the whole-network ratio)."""
    if config.get("compression_scope", "network") == "network" or \
            cell_config.model.kind != "convnet" or cell_config.model.get("conv_types"):
        return summary["compression_ratio"]
    from sgb_jax import convnet
    from sgb_jax.dgb.train import DATASET_SHAPES

    conv = convnet.conv_param_count(DATASET_SHAPES[config.dataset][2],
                                    cell_config.model.conv_features,
                                    int(cell_config.model.get("kernel_size", 5)))
    return (summary["plain_params"] - conv) / (summary["genome_params"] - conv)


def _write_json_atomic(path: str, obj: Any) -> None:
    tmp = f"{path}.tmp{os.getpid()}_{threading.get_ident()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=str)
    os.replace(tmp, path)


def cell_path(workdir: str, cell: Cell) -> str:
    return os.path.join(workdir, "cells", f"{cell.id}.json")


def run_sweep(config: ml_collections.ConfigDict, workdir: str, datasets=None,
              devices: Sequence[jax.Device] | None = None,
              cell_fn: Callable[..., dict] = run_cell) -> list[dict]:
    """Run every unfinished cell, sharded over `devices` (default `jax.devices()`); return rows."""
    validate(config)
    os.makedirs(os.path.join(workdir, "cells"), exist_ok=True)
    todo = [c for c in cells(config) if not os.path.exists(cell_path(workdir, c))]
    logging.info("sweep %s: %d cells, %d to run", config.dataset, len(cells(config)), len(todo))
    if todo and datasets is None:
        datasets = load_datasets(config)
    devices = list(devices if devices is not None else jax.devices())
    shards = [todo[i::len(devices)] for i in range(len(devices))]

    failures: list[tuple[Cell, BaseException]] = []

    def work(device, shard):
        for cell in shard:
            t0 = time.time()
            try:
                with jax.default_device(device):
                    row = cell_fn(config, cell, os.path.join(workdir, "runs", cell.id), datasets)
            except Exception as e:  # noqa: BLE001 - one bad cell must not stop the others
                logging.error("cell %s failed: %r", cell.id, e)
                failures.append((cell, e))
                continue
            row = {"method": cell.method, "level": "-".join(map(str, cell.level)),
                   "seed": cell.seed, **row, "wall_seconds": time.time() - t0,
                   "device": str(device)}
            _write_json_atomic(cell_path(workdir, cell), row)
            print(f"[sweep {config.dataset}] {cell.id}: innate accuracy "
                  f"{row['innate_accuracy']:.4f} at {row['compression_ratio']:.1f}x "
                  f"({row['wall_seconds']:.0f}s on {device})", flush=True)

    with ThreadPoolExecutor(max_workers=len(devices)) as pool:
        for f in [pool.submit(work, d, s) for d, s in zip(devices, shards, strict=True) if s]:
            f.result()
    if failures:
        msg = "; ".join(f"{cell.id}: {e!r}" for cell, e in failures)
        raise RuntimeError(f"{len(failures)} sweep cell(s) failed (finished cells are kept; "
                           f"re-run to retry): {msg}") from failures[0][1]
    return collect(config, workdir)


def collect(config: ml_collections.ConfigDict, workdir: str) -> list[dict]:
    rows = []
    for cell in cells(config):
        path = cell_path(workdir, cell)
        if os.path.exists(path):
            with open(path) as f:
                rows.append(json.load(f))
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Mean +- SEM over seeds of each (method, level)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["level"]), []).append(r)
    out = []
    for (method, level), rs in groups.items():
        acc = np.array([r["innate_accuracy"] for r in rs], float)
        sem = float(acc.std(ddof=1) / math.sqrt(len(acc))) if len(acc) > 1 else 0.0
        out.append({"method": method, "level": level, "num_seeds": len(rs),
                    "compression_ratio": float(np.mean([r["compression_ratio"] for r in rs])),
                    "innate_accuracy_mean": float(acc.mean()), "innate_accuracy_sem": sem})
    return sorted(out, key=lambda r: (r["method"], r["compression_ratio"]))


def write_table(rows: list[dict], workdir: str, title: str) -> dict:
    """`table.csv` (one row per cell), `table.json` (cells + summary) and `figure.png`."""
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "table.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS})
    summary = summarize(rows)
    _write_json_atomic(os.path.join(workdir, "table.json"), {"cells": rows, "summary": summary})
    plot(summary, os.path.join(workdir, "figure.png"), title)
    return {"cells": rows, "summary": summary}


def plot(summary: list[dict], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for method, color in (("sgb", "tab:blue"), ("dgb", "tab:orange")):
        s = [r for r in summary if r["method"] == method]
        if not s:
            continue
        x = np.array([r["compression_ratio"] for r in s])
        m = np.array([r["innate_accuracy_mean"] for r in s])
        e = np.array([r["innate_accuracy_sem"] for r in s])
        ax.plot(x, m, "o-", color=color, label=method.upper())
        ax.fill_between(x, m - e, m + e, color=color, alpha=0.25)
    plain = [r for r in summary if r["method"] == "plain"]
    if plain:
        ax.axhline(plain[0]["innate_accuracy_mean"], color="k", ls="--", lw=1,
                   label="plain network")
    ax.set_xscale("log")
    ax.set_xlabel("compression ratio (plain params / genome params)")
    ax.set_ylabel("innate test accuracy")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
