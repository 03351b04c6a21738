"""Zero-shot transfer of a developed population to longer legs (paper Fig. 4E), over leg scales.

    python experiments/long_legged_ant.py --config.policy_workdir=results/ppo_ant_sgb

The genome is trained on the normal Ant. The same `num_individuals` developed individuals (and the
mean network) are evaluated on the normal body and on each long-legged body (`leg_scales`), on the
same episode keys. Per scale: Pearson r of the individuals' returns (normal vs long), population mean
± SEM, mean network. Writes `results/long_legged_ant/summary.json`, `returns.csv`,
`fig4e_legs_x<scale>.png` (one dot per individual, error bars = SEM over episodes) and
`transfer_vs_leg_scale.png`.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time

import ml_collections
import numpy as np
from absl import app
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments import mean_vs_population as mvp  # noqa: E402
from sgb_jax import stats  # noqa: E402
from sgb_jax.rl import envs as env_lib  # noqa: E402
from sgb_jax.rl import evaluate  # noqa: E402


def default_config() -> ml_collections.ConfigDict:
    c = mvp.default_config()
    c.leg_scales = (1.25, 1.5, 2.0)
    del c["leg_scale"], c["threshold"], c["survival_sizes"], c["num_bootstrap"], c["confidence"]
    return c


def _body(scale: float) -> str:
    return f"legs_x{scale:g}"


def validate(c: ml_collections.ConfigDict) -> None:
    if not c.leg_scales or min(c.leg_scales) <= 0:
        raise ValueError(f"config.leg_scales must be non-empty and > 0, got {c.leg_scales}")
    check = ml_collections.ConfigDict(c.to_dict())
    del check["leg_scales"]
    check.leg_scale, check.threshold = float(c.leg_scales[0]), None
    check.survival_sizes, check.num_bootstrap, check.confidence = (1,), 1, 0.99
    mvp.validate(check)


def run(c: ml_collections.ConfigDict) -> dict:
    validate(c)
    t0 = time.time()
    check = ml_collections.ConfigDict(c.to_dict())
    check.leg_scale = float(c.leg_scales[0])
    trained, policy_model, genome, normalizer_params, bodies, episode_length = mvp.load(check)
    if trained.env.name != "ant":
        raise ValueError(f"config.policy_workdir was trained on {trained.env.name!r}; long legs "
                         f"need an 'ant' agent")
    backend = c.backend or trained.env.backend
    bodies = {mvp.TRAINING_BODY: bodies[mvp.TRAINING_BODY]}
    for s in c.leg_scales:
        bodies[_body(s)] = env_lib.make_env(env_lib.LONG_LEGGED_ANT, backend, leg_scale=s)
    rollouts = evaluate.evaluate_bodies(bodies, policy_model, genome, normalizer_params, c.seed,
                                        c.num_individuals, c.num_episodes, episode_length,
                                        trained.env.action_repeat)
    table = mvp._individual_table(rollouts)  # noqa: SLF001 - shared by the two launchers
    out_dir = c.out_dir or os.path.join("results", "long_legged_ant")
    os.makedirs(out_dir, exist_ok=True)
    normal = table[mvp.TRAINING_BODY]
    sem = lambda x: float(x.std(ddof=1) / np.sqrt(x.size))
    summary = {"num_individuals": c.num_individuals, "num_episodes": c.num_episodes,
               "episode_length": episode_length, "backend": backend,
               "cell_types": int(trained.network.hidden_types),
               "policy_workdir": c.policy_workdir, "seed": c.seed,
               "normal": {"population_mean_return": float(normal["mean"].mean()),
                          "population_sem": sem(normal["mean"]),
                          "mean_network_return": float(normal["mean_network"].mean())},
               "leg_scales": {}}
    for s in c.leg_scales:
        long = table[_body(s)]
        r, p = stats.pearson(normal["mean"], long["mean"])
        summary["leg_scales"][f"{s:g}"] = {
            "pearson_r": r, "pearson_p": p,
            "population_mean_return": float(long["mean"].mean()),
            "population_sem": sem(long["mean"]),
            "mean_network_return": float(long["mean_network"].mean()),
            "fraction_individuals_above_mean_network": float(
                np.mean(long["mean"] > long["mean_network"].mean()))}
        mvp.scatter_normal_vs_long(os.path.join(out_dir, f"fig4e_legs_x{s:g}.png"), normal, long,
                                   r, p, s)
    summary["wall_seconds"] = time.time() - t0
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(out_dir, "returns.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["individual"] + [f"{b}_{k}" for b in table for k in ("mean", "sem")])
        for i in range(c.num_individuals):
            w.writerow([i] + [f"{table[b][k][i]:.4f}" for b in table for k in ("mean", "sem")])
    _plot(out_dir, summary)
    summary["out_dir"] = out_dir
    return summary


def _plot(out_dir: str, summary: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = [1.0] + [float(s) for s in summary["leg_scales"]]
    rows = [summary["normal"]] + list(summary["leg_scales"].values())
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.errorbar(scales, [r["population_mean_return"] for r in rows],
                yerr=[r["population_sem"] for r in rows], fmt="o-", capsize=4,
                label="developed individuals (mean ± SEM)")
    ax.plot(scales, [r["mean_network_return"] for r in rows], "s--", color="C3",
            label="mean network")
    ax.set_xlabel("leg scale (1 = training body)")
    ax.set_ylabel("zero-shot return")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "transfer_vs_leg_scale.png"), dpi=120)
    plt.close(fig)


def main(argv):
    del argv
    c = _CONFIG.value
    try:
        validate(c)
    except ValueError as err:
        sys.exit(f"invalid config: {err}")
    s = run(c)
    n = s["normal"]
    print(f"normal legs: population {n['population_mean_return']:.2f} ± {n['population_sem']:.2f}"
          f" (SEM, N={s['num_individuals']}), mean network {n['mean_network_return']:.2f}")
    for scale, v in s["leg_scales"].items():
        print(f"legs x{scale}: population {v['population_mean_return']:.2f} ± "
              f"{v['population_sem']:.2f}, mean network {v['mean_network_return']:.2f}, "
              f"Pearson r (normal vs long) = {v['pearson_r']:.3f}, p = {v['pearson_p']:.3g}")
    print(f"wall {s['wall_seconds']:.0f} s -> {os.path.join(s['out_dir'], 'summary.json')}")


if __name__ == "__main__":
    # Defined here, not at import, so tests can import several launchers.
    _CONFIG = config_flags.DEFINE_config_dict("config", default_config(), "Study settings.")
    app.run(main)
