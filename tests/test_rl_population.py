"""Population rollouts, long-legged Ant, population statistics and the cell-type sweep launcher."""

import json
import os
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from brax.training.acme import running_statistics, specs

from sgb_jax import cell_types as ct
from sgb_jax import models, population, stats
from sgb_jax.rl import envs, evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from experiments import mean_vs_population, sweep_cell_types  # noqa: E402


# ----------------------------------------------------------------------------- environments
def test_make_env_rejects_bad_names_and_options():
    with pytest.raises(ValueError, match="env name must be one of .*'ant'.*'ant_long_legs'"):
        envs.make_env("antt")
    with pytest.raises(ValueError, match="env backend must be one of"):
        envs.make_env("ant", backend="physx")
    with pytest.raises(ValueError, match="leg_scale only applies"):
        envs.make_env("halfcheetah", leg_scale=2.0)
    with pytest.raises(ValueError, match="leg_scale must be > 0"):
        envs.make_env(envs.LONG_LEGGED_ANT, leg_scale=0.0)


def test_leg_scale_changes_the_body_and_nothing_else():
    normal = envs.make_env("ant", "spring")
    same = envs.make_env(envs.LONG_LEGGED_ANT, "spring", leg_scale=1.0)
    long = envs.make_env(envs.LONG_LEGGED_ANT, "spring", leg_scale=1.5)
    np.testing.assert_allclose(same.sys.geom_size, normal.sys.geom_size, rtol=1e-5)
    np.testing.assert_allclose(same.sys.init_q, normal.sys.init_q, atol=1e-6)
    size_n, size_l = np.asarray(normal.sys.geom_size), np.asarray(long.sys.geom_size)
    # Capsule half-lengths of thighs (0.2 sqrt2 / 2) and ankles (0.4 sqrt2 / 2) grow 1.5x.
    legs = np.isclose(size_n[:, 1], 0.1414, atol=1e-3) | np.isclose(size_n[:, 1], 0.2828,
                                                                      atol=1e-3)
    hips = np.arange(len(size_n)) < 6  # floor, torso and the four hip segments come first
    legs &= ~hips
    assert legs.sum() == 8
    np.testing.assert_allclose(size_l[legs, 1], 1.5 * size_n[legs, 1], rtol=1e-4)
    np.testing.assert_allclose(size_l[:, 0], size_n[:, 0])  # radii unchanged
    np.testing.assert_allclose(size_l[hips], size_n[hips])
    assert float(long.sys.init_q[2]) == pytest.approx(envs.long_legged_ant_height(1.5), abs=1e-5)
    assert float(long.sys.init_q[2]) > float(normal.sys.init_q[2]) + 0.2
    # Backend settings of the standard body are kept (spring: 0.005 s timestep, gear 150).
    assert float(long.sys.opt.timestep) == float(normal.sys.opt.timestep)
    np.testing.assert_allclose(long.sys.actuator.gear, normal.sys.actuator.gear)
    assert long.observation_size == normal.observation_size
    assert long.action_size == normal.action_size


# ----------------------------------------------------------------------------- rollouts
def _policy(obs_size, action_size, sigma_init=0.5):
    m = models.SGBMLP((obs_size, 16, 2 * action_size),
                      (ct.CellTypeSpec(obs_size), ct.CellTypeSpec(4),
                       ct.CellTypeSpec(2 * action_size)),
                      activation="swish", deterministic_output=True, sigma_init=sigma_init)
    x = jnp.zeros((1, obs_size))
    genome = m.init({"params": jax.random.PRNGKey(0), "noise": jax.random.PRNGKey(1)}, x)
    normalizer = running_statistics.init_state(specs.Array((obs_size,), jnp.dtype("float32")))
    return m, genome["params"], normalizer


def test_population_rollout_copies_of_mean_network_identical_on_long_legs():
    env = envs.make_env(envs.LONG_LEGGED_ANT, "spring", leg_scale=1.5)
    m, genome, normalizer = _policy(env.observation_size, env.action_size)
    mean = population.mean_network(m, genome)
    developed = population.develop_population(m, genome, jax.random.PRNGKey(5), 2)
    everyone = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([jnp.stack([a] * 3), b]),
                                      mean, developed)
    returns = np.asarray(evaluate.evaluate_population(
        env, m, normalizer, everyone, jax.random.PRNGKey(7), num_episodes=2,
        episode_length=40))
    assert returns.shape == (5, 2)
    assert np.all(np.isfinite(returns))
    # Same episodes, same phenotype -> bit-identical returns.
    np.testing.assert_array_equal(returns[1], returns[0])
    np.testing.assert_array_equal(returns[2], returns[0])
    # Developed individuals differ from the mean network and from each other.
    assert not np.allclose(returns[3], returns[0])
    assert not np.allclose(returns[3], returns[4])
    # Two episodes use different reset keys.
    assert returns[0, 0] != returns[0, 1]


# ----------------------------------------------------------------------------- statistics
def test_survival_curve_matches_closed_form():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=200)
    thr = 1.0
    q = np.mean(scores > thr)
    sizes = [1, 2, 5, 10, 30]
    curve = stats.survival_curve(scores, thr, sizes, num_bootstrap=20000, seed=1)
    expected = 1 - (1 - q) ** np.array(sizes)
    np.testing.assert_allclose(curve.probability, expected, atol=0.015)
    assert np.all(np.diff(curve.probability) >= 0)
    assert np.all(curve.ci_low <= expected + 1e-9) and np.all(expected <= curve.ci_high + 1e-9)
    assert curve.ci_high[0] - curve.ci_low[0] > 0.02  # finite population -> a real interval
    none = stats.survival_curve(scores, scores.max() + 1, sizes, num_bootstrap=100)
    np.testing.assert_array_equal(none.probability, 0.0)
    with pytest.raises(ValueError, match="sizes must be integers >= 1"):
        stats.survival_curve(scores, thr, [0, 2])


def test_paired_t_test_sign_and_value_and_pearson():
    rng = np.random.default_rng(1)
    b = rng.normal(size=50)
    a = b + 0.5 + 0.1 * rng.normal(size=50)
    t = stats.paired_t_test(a, b)
    d = a - b
    assert t.t_statistic == pytest.approx(d.mean() / (d.std(ddof=1) / np.sqrt(d.size)))
    assert t.t_statistic > 0 and t.p_value < 1e-10 and t.dof == 49
    assert stats.paired_t_test(b, a).t_statistic == pytest.approx(-t.t_statistic)
    x = rng.normal(size=400)
    y = 0.6 * x + 0.8 * rng.normal(size=400)  # population correlation 0.6
    r, p = stats.pearson(x, y)
    assert r == pytest.approx(0.6, abs=0.07) and p < 1e-10
    with pytest.raises(ValueError, match="equal sizes"):
        stats.paired_t_test(a, b[:10])
    with pytest.raises(ValueError, match="non-finite"):
        stats.pearson(np.array([1.0, np.nan, 2.0]), np.array([1.0, 2.0, 3.0]))


def _fake_rollouts(pop_returns, mean_returns):
    r = lambda x: evaluate.Rollouts(returns=np.asarray(x), curves=np.cumsum(
        np.ones((np.shape(x)[0], 5)), 1))
    return evaluate.GenomeRollouts(population=r(pop_returns), mean_network=r([mean_returns]))


def test_analyse_reports_population_vs_mean_network_and_long_legs(tmp_path):
    rng = np.random.default_rng(2)
    n, e = 40, 3
    skill = rng.normal(10.0, 2.0, size=(n, 1))
    normal = skill + rng.normal(0, 0.5, size=(n, e))
    long = 0.5 * skill + rng.normal(0, 0.5, size=(n, e))
    c = mean_vs_population.default_config()
    c.num_individuals, c.num_bootstrap, c.survival_sizes = n, 500, (1, 5, 40)
    rollouts = {mean_vs_population.TRAINING_BODY: _fake_rollouts(normal, [8.0, 8.5, 7.5]),
                mean_vs_population.LONG_LEGS: _fake_rollouts(long, [3.0, 3.0, 3.0])}
    s, table = mean_vs_population.analyse(c, rollouts)
    assert s["num_individuals"] == n and s["mean_network_return"] == pytest.approx(8.0)
    assert s["population_mean_return"] == pytest.approx(normal.mean())
    assert s["t_statistic"] > 0 and s["population_better"] and s["t_dof"] == n - 1
    assert s["episode_t_dof"] == e - 1
    assert s["survival"]["training_body"]["threshold"] == pytest.approx(8.0)
    assert s["survival"]["long_legs"]["threshold"] == pytest.approx(3.0)
    assert set(s["survival"]) == {"training_body", "long_legs"}
    assert s["survival"]["training_body"]["probability"][-1] > 0.99
    assert s["long_legs"]["pearson_r"] > 0.8
    c.threshold_fraction = 0.5
    half, _ = mean_vs_population.analyse(c, rollouts)
    assert half["survival"]["long_legs"]["threshold"] == pytest.approx(4.0)
    assert half["survival"]["training_body"]["threshold"] == pytest.approx(4.0)
    c.threshold_fraction = None
    # Saved rollouts re-analyse to the same numbers.
    mean_vs_population.save_rollouts(str(tmp_path / "r.npz"), rollouts)
    again, _ = mean_vs_population.analyse(
        c, mean_vs_population.load_rollouts(str(tmp_path / "r.npz")))
    assert again["t_statistic"] == s["t_statistic"]
    assert again["long_legs"] == s["long_legs"]
    # Worse population -> negative t reported as such.
    rollouts[mean_vs_population.TRAINING_BODY] = _fake_rollouts(normal, [14.0, 14.0, 14.0])
    s, _ = mean_vs_population.analyse(c, rollouts)
    assert s["t_statistic"] < 0 and not s["population_better"]


def test_mean_vs_population_config_errors(tmp_path):
    c = mean_vs_population.default_config()
    with pytest.raises(ValueError, match="config.policy_workdir"):
        mean_vs_population.validate(c)
    (tmp_path / "config.json").write_text("{}")
    c.policy_workdir = str(tmp_path)
    c.num_individuals = 2
    with pytest.raises(ValueError, match="config.num_individuals must be >= 3"):
        mean_vs_population.validate(c)
    c.num_individuals, c.backend = 10, "bullet"
    with pytest.raises(ValueError, match="config.backend must be"):
        mean_vs_population.validate(c)


# ----------------------------------------------------------------------------- sweep launcher
def _sweep_config(tmp_path, cell_types=(2, 8), seeds=(0, 1)):
    base = tmp_path / "base.py"
    base.write_text("from sgb_jax.rl import config\n\n\ndef get_config(variant='x'):\n"
                    "    c = config.default_config()\n    c.network.hidden_width = 8\n"
                    "    return c\n")
    c = sweep_cell_types.load_config_file(os.path.join(ROOT, "configs/sweep_cell_types_ant.py"))
    c.base_config = f"{base}:x"
    c.overrides = ml_collections.ConfigDict({"ppo": {"num_envs": 16}})
    c.cell_types, c.seeds = cell_types, seeds
    c.out_dir = str(tmp_path / "sweep")
    c.compilation_cache = False
    return c


class _FakeTrainer:
    """Stands in for the PPO trainers: return = 100 (vanilla) or 10 * cell types + seed."""

    def __init__(self):
        self.calls = []

    def __call__(self, config: ml_collections.ConfigDict, workdir: str, log) -> dict:
        self.calls.append((config.mode, config.network.hidden_types, config.seed, workdir))
        ret = 100.0 + config.seed if config.mode == "brax" else (
            10.0 * config.network.hidden_types + config.seed)
        return {"final_return": ret, "initial_return": 0.0, "env_steps": 10,
                "train_seconds": 0.1}


def test_sweep_is_resumable_sharded_and_tabulates_fraction_of_vanilla(tmp_path):
    c = _sweep_config(tmp_path)
    fake = _FakeTrainer()
    cpu = jax.devices("cpu")[0]
    s = sweep_cell_types.run_sweep(c, fake, fake, devices=[cpu, cpu], log=lambda _: None)
    assert len(fake.calls) == 2 + 4  # 2 baselines + 2 cell types x 2 seeds
    assert [m for m, *_ in fake.calls[:2]] == ["brax", "brax"]  # baselines first
    vanilla = 100.5
    assert s["vanilla_return"] == pytest.approx(vanilla)
    assert s["per_cell_types"]["8"]["fraction_mean"] == pytest.approx(80.5 / vanilla)
    assert s["per_cell_types"]["8"]["fraction_sem"] == pytest.approx(0.5 / vanilla)
    rows = (tmp_path / "sweep" / "table.csv").read_text().splitlines()
    assert rows[0].startswith("cell_types,seed,final_return,fraction_of_vanilla")
    assert rows[1].split(",")[:4] == ["2", "0", "20.0000", f"{20 / vanilla:.4f}"]
    assert len(rows) == 5
    assert (tmp_path / "sweep" / "fraction_of_vanilla.png").exists()
    # Resume: nothing left to train; a lost cell is retrained alone.
    sweep_cell_types.run_sweep(c, fake, fake, devices=[cpu], log=lambda _: None)
    assert len(fake.calls) == 6
    os.remove(tmp_path / "sweep" / "cells" / "sgb_k0008_seed1.json")
    sweep_cell_types.run_sweep(c, fake, fake, devices=[cpu], log=lambda _: None)
    assert fake.calls[-1][:3] == ("sgb", 8, 1) and len(fake.calls) == 7
    assert json.loads((tmp_path / "sweep" / "cells" / "sgb_k0008_seed1.json").read_text())[
        "final_return"] == 81.0
    # Hosts split the cells between them.
    other = _FakeTrainer()
    cells = sweep_cell_types.cell_configs(c)
    assert all(cfg.ppo.num_envs == 16 and cfg.network.hidden_width == 8 for *_, cfg in cells)
    sweep_cell_types.run_cells(cells, str(tmp_path / "host"), other, other, [cpu], 1, 2,
                               log=lambda _: None)
    assert len(other.calls) == 3


def test_sweep_rejects_bad_cell_types_before_training(tmp_path):
    c = _sweep_config(tmp_path, cell_types=(2, 16))  # width is 8
    with pytest.raises(ValueError, match=r"config.cell_types: cell_types=16.*hidden_types"):
        sweep_cell_types.cell_configs(c)
    c = _sweep_config(tmp_path, cell_types=(0,))
    with pytest.raises(ValueError, match="hidden_types must lie in"):
        sweep_cell_types.cell_configs(c)
    c = _sweep_config(tmp_path)
    c.overrides = ml_collections.ConfigDict({"ppo": {"num_env": 16}})
    with pytest.raises(ValueError, match="config.overrides.ppo.num_env is not a field"):
        sweep_cell_types.cell_configs(c)
