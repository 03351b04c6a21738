"""Developed population vs mean network (paper Fig. 5), survival curves, Fig. 4E: trained agent.

    python experiments/train_ppo.py --config=configs/ppo_ant.py:cpu --workdir=results/ppo_ant_sgb
    python experiments/mean_vs_population.py --config.policy_workdir=results/ppo_ant_sgb

Develops `num_individuals` agents from the trained genome and evaluates them zero-shot, with the
mean network, on the same episodes in one jitted call per body (the training body, and for the
Ant the long-legged body). Writes `results/mean_vs_population_<env>/`:
  summary.json   population_mean_return, mean_network_return, num_individuals, t_statistic, p_value
                 (paired t-test, individual vs mean network on shared episodes; positive t = the
                 population is better), survival curves, Pearson r normal vs long legs
  returns.csv    per-individual mean and SEM of the return on each body
  fig5_mean_vs_population.png, survival.png, fig4e_normal_vs_long_legs.png
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
from ml_collections import config_dict, config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgb_jax import stats  # noqa: E402
from sgb_jax.models import SGBMLP  # noqa: E402
from sgb_jax.rl import envs as env_lib  # noqa: E402
from sgb_jax.rl import evaluate, networks  # noqa: E402

TRAINING_BODY, LONG_LEGS = "training_body", "long_legs"


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.policy_workdir = ""  # a trained SGB-PPO workdir (experiments/train_ppo.py --workdir)
    c.out_dir = ""  # "" -> results/mean_vs_population_<env>
    c.num_individuals = 100  # paper Fig. 5 / Fig. 4E
    c.num_episodes = 4
    c.episode_length = -1  # -1 -> the trained config's episode length
    c.backend = ""  # "" -> the trained config's backend
    c.leg_scale = 1.5  # long-legged Ant body (Ant only)
    # Survival threshold: `threshold` (absolute, all bodies), else `threshold_fraction` x the mean
    # network's training-body return (all bodies), else per body the mean network's return on
    # that body ("P(the best of N individuals beats the mean network)").
    c.threshold = config_dict.placeholder(float)
    c.threshold_fraction = config_dict.placeholder(float)
    c.survival_sizes = (1, 2, 3, 5, 10, 20, 50, 100)
    c.num_bootstrap = 2000
    c.confidence = 0.99  # Fig. 5's shaded 99% CI
    c.seed = 0
    # Re-analyse the rollouts.npz of an earlier run in out_dir instead of evaluating again.
    c.reuse_rollouts = False
    return c


def validate(c: ml_collections.ConfigDict) -> None:
    """All checks in one place, before anything is compiled."""
    if not c.policy_workdir or not os.path.exists(os.path.join(c.policy_workdir, "config.json")):
        raise ValueError(f"config.policy_workdir must be a trained SGB-PPO workdir holding "
                         f"config.json and checkpoints/, got {c.policy_workdir!r}")
    for field in ("num_individuals", "num_episodes", "num_bootstrap"):
        if not isinstance(c[field], int) or c[field] < 1:
            raise ValueError(f"config.{field} must be an integer >= 1, got {c[field]!r}")
    if c.num_individuals < 3:
        raise ValueError(f"config.num_individuals must be >= 3 (t-test, Pearson r), got "
                         f"{c.num_individuals}")
    if c.episode_length != -1 and c.episode_length < 1:
        raise ValueError(f"config.episode_length must be -1 or >= 1, got {c.episode_length}")
    if c.backend and c.backend not in env_lib.BACKENDS:
        raise ValueError(f"config.backend must be '' or one of {list(env_lib.BACKENDS)}, got "
                         f"{c.backend!r}")
    if not c.leg_scale > 0:
        raise ValueError(f"config.leg_scale must be > 0, got {c.leg_scale}")
    if c.threshold is not None and c.threshold_fraction is not None:
        raise ValueError("set at most one of config.threshold and config.threshold_fraction")
    if not 0 < c.confidence < 1:
        raise ValueError(f"config.confidence must lie in (0, 1), got {c.confidence}")
    if not c.survival_sizes or min(c.survival_sizes) < 1:
        raise ValueError(f"config.survival_sizes must be integers >= 1, got {c.survival_sizes}")


def _individual_table(rollouts: dict[str, evaluate.GenomeRollouts]) -> dict[str, dict]:
    out = {}
    for body, r in rollouts.items():
        ret = np.asarray(r.population.returns, np.float64)
        e = ret.shape[1]
        out[body] = {"mean": ret.mean(1),
                     "sem": ret.std(1, ddof=1) / np.sqrt(e) if e > 1 else np.zeros(len(ret)),
                     "mean_network": np.asarray(r.mean_network.returns, np.float64)[0]}
    return out


def analyse(c: ml_collections.ConfigDict, rollouts: dict[str, evaluate.GenomeRollouts]
            ) -> tuple[dict, dict]:
    """Fig. 5 t-tests, survival curves per body, Fig. 4E Pearson r (when a long-leg body exists)."""
    table = _individual_table(rollouts)
    train = table[TRAINING_BODY]
    pop, mean_net_eps = train["mean"], train["mean_network"]
    mean_net = float(mean_net_eps.mean())
    # Each individual vs the mean network on the same episodes (df = N - 1, as the paper's t(99)).
    ind = stats.paired_t_test(pop, np.full_like(pop, mean_net))
    pop_eps = np.asarray(rollouts[TRAINING_BODY].population.returns, np.float64).mean(0)
    summary = {
        "population_mean_return": float(pop.mean()),
        "population_sem": float(pop.std(ddof=1) / np.sqrt(pop.size)),
        "mean_network_return": mean_net,
        "mean_network_sem_over_episodes": float(mean_net_eps.std(ddof=1)
                                                / np.sqrt(mean_net_eps.size))
        if mean_net_eps.size > 1 else 0.0,
        "num_individuals": int(pop.size), "num_episodes": int(mean_net_eps.size),
        "t_statistic": ind.t_statistic, "p_value": ind.p_value, "t_dof": ind.dof,
        "population_better": bool(ind.mean_difference > 0),
        "fraction_individuals_above_mean_network": float(np.mean(pop > mean_net)),
    }
    if mean_net_eps.size > 1:
        # Pairs = episodes (population average vs mean network on one reset key): also counts the
        # episode-to-episode noise of the mean network's own score.
        ep = stats.paired_t_test(pop_eps, mean_net_eps)
        summary.update(episode_t_statistic=ep.t_statistic, episode_p_value=ep.p_value,
                       episode_t_dof=ep.dof)
    def threshold(t: dict) -> float:
        if c.threshold is not None:
            return float(c.threshold)
        if c.threshold_fraction is not None:
            return float(c.threshold_fraction) * mean_net
        return float(t["mean_network"].mean())

    summary["survival"] = {
        body: stats.survival_curve(t["mean"], threshold(t), list(c.survival_sizes),
                                   c.num_bootstrap, confidence=0.95, seed=c.seed).as_dict()
        for body, t in table.items()}
    summary["survival_threshold_source"] = (
        "config.threshold" if c.threshold is not None else
        f"{c.threshold_fraction:g} x mean network on the training body"
        if c.threshold_fraction is not None else "mean network on the same body")
    if LONG_LEGS in table:
        r, p = stats.pearson(train["mean"], table[LONG_LEGS]["mean"])
        long = table[LONG_LEGS]
        summary["long_legs"] = {
            "leg_scale": float(c.leg_scale), "pearson_r": r, "pearson_p": p,
            "population_mean_return": float(long["mean"].mean()),
            "population_sem": float(long["mean"].std(ddof=1) / np.sqrt(long["mean"].size)),
            "mean_network_return": float(long["mean_network"].mean())}
    return summary, table


def plot(out_dir: str, c: ml_collections.ConfigDict, env_name: str,
         rollouts: dict[str, evaluate.GenomeRollouts], summary: dict, table: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Fig. 5: cumulative return over the episode, population mean with its 99% CI, mean network.
    r = rollouts[TRAINING_BODY]
    curves = np.asarray(r.population.curves, np.float64)
    mean, half = stats.mean_ci(curves, c.confidence)
    steps = np.arange(1, curves.shape[1] + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 1]})
    ax1.plot(steps, mean, color="C0", label=f"population mean (N={curves.shape[0]})")
    ax1.fill_between(steps, mean - half, mean + half, color="C0", alpha=0.3,
                     label=f"{int(c.confidence * 100)}% CI")
    ax1.plot(steps, np.asarray(r.mean_network.curves)[0], color="C3", label="mean network")
    ax1.set_xlabel("environment step")
    ax1.set_ylabel("cumulative return (mean over episodes)")
    ax1.legend()
    pop = table[TRAINING_BODY]["mean"]
    rng = np.random.default_rng(0)
    ax2.scatter(rng.uniform(-0.15, 0.15, pop.size), pop, s=8, color="C0", alpha=0.5)
    m, h = stats.mean_ci(pop, c.confidence)
    ax2.errorbar([0], [m], yerr=[h], fmt="o", color="k", capsize=6, label="population mean")
    mn = table[TRAINING_BODY]["mean_network"]
    mm, mh = stats.mean_ci(mn, c.confidence)
    ax2.errorbar([1], [mm], yerr=[mh], fmt="s", color="C3", capsize=6, label="mean network")
    ax2.set_xticks([0, 1], ["sampled", "mean net"])
    ax2.set_ylabel("episode return")
    ax2.set_title(f"t({summary['t_dof']}) = {summary['t_statistic']:.2f}, "
                  f"p = {summary['p_value']:.2g}", fontsize=9)
    fig.suptitle(f"{env_name}: developed individuals vs mean network ({int(c.confidence*100)}% CI)")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "fig5_mean_vs_population.png"), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    for i, (body, s) in enumerate(summary["survival"].items()):
        name = f"legs x{c.leg_scale:g}" if body == LONG_LEGS else body.replace("_", " ")
        ax.plot(s["sizes"], s["probability"], "o-", color=f"C{i}",
                label=f"{name} (threshold {s['threshold']:.1f})")
        ax.fill_between(s["sizes"], s["ci_low"], s["ci_high"], color=f"C{i}", alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("population size N")
    ax.set_ylabel("P(best of N clears threshold)")
    ax.set_title(f"threshold: {summary['survival_threshold_source']}", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "survival.png"), dpi=120)
    plt.close(fig)

    if LONG_LEGS in table:
        scatter_normal_vs_long(os.path.join(out_dir, "fig4e_normal_vs_long_legs.png"),
                               table[TRAINING_BODY], table[LONG_LEGS],
                               summary["long_legs"]["pearson_r"], summary["long_legs"]["pearson_p"],
                               c.leg_scale)


def scatter_normal_vs_long(path: str, normal: dict, long: dict, r: float, p: float,
                           leg_scale: float) -> None:
    """Fig. 4E: each dot one individual, error bars = SEM over episodes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.errorbar(normal["mean"], long["mean"], xerr=normal["sem"], yerr=long["sem"], fmt="o",
                ms=3, alpha=0.6, elinewidth=0.5, label="developed individuals")
    ax.plot([normal["mean_network"].mean()], [long["mean_network"].mean()], "r*", ms=14,
            label="mean network")
    ax.set_xlabel("return, normal legs")
    ax.set_ylabel(f"return, legs x{leg_scale:g}")
    ax.set_title(f"Pearson r = {r:.2f}, p = {p:.2g}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def load(c: ml_collections.ConfigDict):
    """Trained policy, bodies to evaluate and the episode settings."""
    trained, policy_model, genome, normalizer_params = networks.load_policy(c.policy_workdir)
    if not isinstance(policy_model, SGBMLP):
        raise ValueError(f"config.policy_workdir holds a '{trained.mode}' run; a population needs "
                         f"an 'sgb' genome")
    backend = c.backend or trained.env.backend
    bodies = {TRAINING_BODY: env_lib.make_env(trained.env.name, backend)}
    if trained.env.name == "ant":
        bodies[LONG_LEGS] = env_lib.make_env(env_lib.LONG_LEGGED_ANT, backend,
                                             leg_scale=c.leg_scale)
    episode_length = trained.env.episode_length if c.episode_length == -1 else c.episode_length
    return trained, policy_model, genome, normalizer_params, bodies, episode_length


def save_rollouts(path: str, rollouts: dict[str, evaluate.GenomeRollouts]) -> None:
    arrays = {f"{body}/{who}/{what}": np.asarray(getattr(getattr(r, who), what))
              for body, r in rollouts.items() for who in ("population", "mean_network")
              for what in ("returns", "curves")}
    np.savez_compressed(path, **arrays)


def load_rollouts(path: str) -> dict[str, evaluate.GenomeRollouts]:
    with np.load(path) as f:
        bodies = sorted({k.split("/")[0] for k in f.files}, key=lambda b: b != TRAINING_BODY)
        part = lambda b, who: evaluate.Rollouts(returns=f[f"{b}/{who}/returns"],
                                                curves=f[f"{b}/{who}/curves"])
        return {b: evaluate.GenomeRollouts(population=part(b, "population"),
                                           mean_network=part(b, "mean_network"))
                for b in bodies}


def run(c: ml_collections.ConfigDict) -> dict:
    """Evaluate, analyse, write summary/CSV/figures; returns the summary."""
    validate(c)
    t0 = time.time()
    trained, policy_model, genome, normalizer_params, bodies, episode_length = load(c)
    env_name = trained.env.name
    out_dir = c.out_dir or os.path.join("results", f"mean_vs_population_{env_name}")
    os.makedirs(out_dir, exist_ok=True)
    cache = os.path.join(out_dir, "rollouts.npz")
    reused = bool(c.reuse_rollouts and os.path.exists(cache))
    if reused:
        rollouts = load_rollouts(cache)
        print(f"re-analysing {cache}")
    else:
        rollouts = evaluate.evaluate_bodies(
            bodies, policy_model, genome, normalizer_params, c.seed, c.num_individuals,
            c.num_episodes, episode_length, trained.env.action_repeat)
        save_rollouts(cache, rollouts)
    if rollouts[TRAINING_BODY].population.returns.shape != (c.num_individuals, c.num_episodes):
        raise ValueError(f"{cache} holds another population size or episode count; rerun with "
                         f"config.reuse_rollouts=False")
    summary, table = analyse(c, rollouts)
    summary.update(env=env_name, backend=c.backend or trained.env.backend,
                   episode_length=episode_length, policy_workdir=c.policy_workdir,
                   cell_types=int(trained.network.hidden_types), seed=c.seed,
                   reused_rollouts=reused, wall_seconds=time.time() - t0)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(out_dir, "returns.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["individual"] + [f"{b}_{s}" for b in table for s in ("mean", "sem")])
        for i in range(c.num_individuals):
            w.writerow([i] + [f"{table[b][s][i]:.4f}" for b in table for s in ("mean", "sem")])
        w.writerow(["mean_network"] + [v for b in table for v in (
            f"{table[b]['mean_network'].mean():.4f}", "")])
    plot(out_dir, c, env_name, rollouts, summary, table)
    summary["out_dir"] = out_dir
    return summary


def main(argv):
    del argv
    c = _CONFIG.value
    try:
        validate(c)
    except ValueError as err:
        sys.exit(f"invalid config: {err}")
    s = run(c)
    sign = "higher" if s["population_better"] else "lower"
    print(f"population mean return {s['population_mean_return']:.2f} ± {s['population_sem']:.2f} "
          f"(SEM, N={s['num_individuals']}) vs mean network {s['mean_network_return']:.2f}: "
          f"population {sign}, t({s['t_dof']}) = {s['t_statistic']:.2f}, p = {s['p_value']:.3g}")
    if "episode_t_statistic" in s:
        print(f"episode-paired t({s['episode_t_dof']}) = {s['episode_t_statistic']:.2f}, "
              f"p = {s['episode_p_value']:.3g}")
    for body, sv in s["survival"].items():
        print(f"survival [{body}] threshold {sv['threshold']:.1f}: " + ", ".join(
            f"N={n}: {p:.2f}" for n, p in zip(sv["sizes"], sv["probability"], strict=True)))
    if "long_legs" in s:
        ll = s["long_legs"]
        print(f"long legs x{ll['leg_scale']:g}: population {ll['population_mean_return']:.2f} ± "
              f"{ll['population_sem']:.2f}, mean network {ll['mean_network_return']:.2f}; "
              f"Pearson r (normal vs long) = {ll['pearson_r']:.3f}, p = {ll['pearson_p']:.3g}")
    print(f"wall {s['wall_seconds']:.0f} s -> {os.path.join(s['out_dir'], 'summary.json')}")


if __name__ == "__main__":
    # Flags are defined here, not at import, so tests can import several launchers.
    _CONFIG = config_flags.DEFINE_config_dict("config", default_config(), "Study settings.")
    app.run(main)
