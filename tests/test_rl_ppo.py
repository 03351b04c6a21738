"""Tests of the SGB-PPO trainer (sgb_jax.rl): key reproduction, KL gradients, resume, configs, learning.

The learning tests use Brax's `fast` environment with 20-step episodes: the return of always pushing
forward is 0.616 (0.0004 * sum_t t(t+1)/2), a random tanh-Normal policy gets about 0.31.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from brax.envs.base import State  # noqa: E402

from sgb_jax.rl import baseline, individuals, networks, ppo  # noqa: E402
from sgb_jax.rl import config as config_lib  # noqa: E402


def fast_config(mode: str = "sgb", **ppo_overrides):
    c = config_lib.default_config()
    c.mode = mode
    c.env.name, c.env.episode_length = "fast", 20
    c.network.hidden_width, c.network.hidden_types, c.network.depth = 32, 32, 2
    c.ppo.update(dict(num_timesteps=2**15, num_envs=64, batch_size=64, num_minibatches=8,
                      unroll_length=5, num_updates_per_batch=4, learning_rate=1e-3,
                      entropy_cost=1e-2, discounting=0.95, reward_scaling=10.0))
    c.ppo.update(ppo_overrides)
    c.eval.num_evals, c.eval.num_eval_envs = 2, 64
    c.checkpoint.every = 1
    return c


def _quiet(*_):
    pass


# --- config validation --------------------------------------------------------------------------

@pytest.mark.parametrize("field,value,match", [
    ("env.name", "antt", "env.name"),
    ("network.hidden_types", 33, "network.hidden_types"),
    ("network.hidden_types", 0, "network.hidden_types"),
    ("network.input_types", 0, "network.input_types"),
    ("kl.c3", -1.0, "kl.c3"),
    ("ppo.num_envs", 48, "divisible by ppo.num_envs"),
    ("mode", "sbg", "mode"),
    ("env.backend", "physx", "env.backend"),
    ("development.individuals_per_env", 1, "development.individuals_per_env"),
    ("development.segments_per_group", 3, "development.segments_per_group"),
])
def test_bad_config_clear_error(field, value, match):
    c = fast_config()
    section, name = field.split(".") if "." in field else (None, field)
    (c[section] if section else c)[name] = value
    with pytest.raises(config_lib.ConfigError, match=match):
        ppo.build(c)


def test_input_types_above_observation_size_rejected_before_compile():
    c = fast_config()
    c.network.input_types = 3  # the fast env observes 2 numbers
    with pytest.raises(config_lib.ConfigError, match=r"observation size=2"):
        ppo.build(c)


# --- developmental keys -------------------------------------------------------------------------

def small_config(**ppo_overrides):
    """One SGB hidden layer, 16 envs, 7-step episodes: cheap to compile."""
    c = fast_config(num_envs=16, batch_size=16, num_minibatches=4, **ppo_overrides)
    c.env.episode_length = 7
    c.network.depth, c.network.hidden_types = 1, 8
    c.eval.num_eval_envs = 16
    return c


@pytest.mark.parametrize("segments_per_group", [1, 2])
def test_stored_keys_reproduce_acting_connectome_and_loss_adds_kl(segments_per_group):
    # 7-step episodes end inside 5-step segments, so both stored individuals (a, b) act.
    c = small_config()
    c.kl.c3 = 0.5
    c.development.individuals_per_env = 3
    c.development.segments_per_group = segments_per_group
    setup = ppo.build(c)
    state, env_state = ppo.initial_state(setup)

    @jax.jit
    def rollout(state, env_state, key):
        env_state = ppo.new_individuals(env_state, jax.random.fold_in(key, 1), 3)
        bank = setup.noise_bank(state.params, env_state)
        _, data = ppo.collect(setup, state, env_state, key, bank)
        return env_state.info["individual_keys"], bank, data

    keys, bank, data = rollout(state, env_state, jax.random.PRNGKey(3))
    obs = data.observation
    use_b = np.asarray(obs["use_b"])
    assert 0.1 < use_b.mean() < 0.9
    # Within a row (one env's segment) the indices are constant: one individual per row and slot.
    index_a = np.asarray(obs["index_a"])
    np.testing.assert_array_equal(index_a, np.broadcast_to(index_a[:, :1], index_a.shape))
    # The loss path (rows in the trainer's group layout, Brax's time-major batch, development
    # from the bank) gives the acting log-probabilities back before any update.
    rows = jax.tree_util.tree_map(
        lambda x: x.reshape(-1, *x.shape[2:]),
        individuals.group_layout(data, c.ppo.num_envs, segments_per_group))
    tm = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), rows)
    logits = setup.policy_apply(state.normalizer_params, state.params["policy"], tm.observation,
                                bank)
    log_prob = setup.models.action_distribution.log_prob(
        logits, tm.extras["policy_extras"]["raw_action"])
    np.testing.assert_allclose(log_prob, tm.extras["policy_extras"]["log_prob"], atol=1e-4)
    # The stored developmental key of a row's individual, developed the ordinary way
    # (`develop_policy(genome, key)`), is the connectome that acted.
    flat_keys = np.asarray(keys).reshape(-1, 2)
    acted = np.asarray(data.extras["policy_extras"]["distribution_params"])
    for row in (0, 5, 11):
        for t in range(use_b.shape[1]):
            idx = obs["index_b" if use_b[row, t] else "index_a"][row, t]
            phen = setup.models.develop_policy(state.params["policy"], flat_keys[int(idx)])
            out = setup.models.apply_policy(phen, state.normalizer_params,
                                            obs["state"][row, t])
            np.testing.assert_allclose(out, acted[row, t], atol=1e-5)
    # Different individuals really act differently (the connectome is not the mean network).
    mean_logits = setup.models.apply_policy(
        setup.models.develop_policy(state.params["policy"], None), state.normalizer_params,
        tm.observation["state"])
    assert float(jnp.abs(mean_logits - logits).max()) > 1e-3
    # Loss = Brax PPO loss + c3 * (KL(actor) + KL(critic)).
    _, m = jax.jit(setup.loss_fn)(state.params, state.normalizer_params, rows,
                                  jax.random.PRNGKey(1), bank)
    ppo_part = float(m["policy_loss"] + m["v_loss"] + m["entropy_loss"])
    assert float(m["genome_kl"]) > 0
    np.testing.assert_allclose(float(m["total_loss"]) - ppo_part, 0.5 * float(m["genome_kl"]),
                               rtol=1e-4)


def test_individuals_carry_over_iterations_and_overflow_keeps_last():
    """Slot 0 of a new iteration is the individual the env was hosting; with K slots used up the
    env keeps its last individual instead of reading another env's."""
    k = 2
    obs = {"index_a": jnp.array([0, 3]), "index_b": jnp.array([1, 3]),
           "use_b": jnp.array([1.0, 1.0])}
    keys = jax.random.split(jax.random.PRNGKey(0), 4).reshape(2, 2, 2)
    rotated = ppo._rotate(obs, k)
    np.testing.assert_array_equal(rotated["index_a"], [1, 3])
    np.testing.assert_array_equal(rotated["index_b"], [1, 3])  # env 1 has no fresh slot left
    state = State(pipeline_state=None, obs=obs, reward=jnp.zeros(2), done=jnp.zeros(2),
                  info={"individual_keys": keys})
    new = ppo.new_individuals(state, jax.random.PRNGKey(1), k)
    np.testing.assert_array_equal(new.info["individual_keys"][:, 0], keys.reshape(4, 2)[jnp.array([1, 3])])
    np.testing.assert_array_equal(new.obs["index_a"], [0, 2])
    np.testing.assert_array_equal(new.obs["index_b"], [1, 3])
    assert not np.array_equal(new.info["individual_keys"][:, 1], keys[:, 1])


def test_noise_bank_development_equals_develop_from_key():
    c = small_config()
    models = ppo.build(c).models
    params = models.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(7)
    eps = models.noise(params, key)
    for name, from_noise, from_key in (
            ("policy", models.develop_policy_from_noise, models.develop_policy),
            ("value", models.develop_value_from_noise, models.develop_value)):
        a, b = from_noise(params[name], eps[name]), from_key(params[name], key)
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_kl_gradient_reaches_mu_and_rho():
    c = fast_config()
    c.kl.c3 = 1.0
    setup = ppo.build(c)
    params = setup.models.init(jax.random.PRNGKey(0))
    grads = jax.grad(lambda p: setup.models.genome_kl(p, setup.prior, jax.random.PRNGKey(1)))(
        params)
    for net in ("policy", "value"):
        for layer in ("dense_0", "dense_1"):  # SGB layers; dense_2 (the head) is deterministic
            for leaf in ("mu", "rho", "bias_mu", "bias_rho"):
                g = np.asarray(grads[net][layer][leaf])
                assert np.all(np.isfinite(g)) and np.abs(g).max() > 0, (net, layer, leaf)
        assert np.abs(np.asarray(grads[net]["dense_2"]["kernel"])).max() == 0


# --- checkpoints --------------------------------------------------------------------------------

def test_resume_equals_uninterrupted(tmp_path):
    c = small_config()
    per_iter = 16 * 4 * 5
    c.ppo.num_timesteps = 2 * per_iter  # the "killed" run stops after 2 iterations
    ppo.train_and_evaluate(c, str(tmp_path / "a"), log=_quiet)
    c.ppo.num_timesteps = 3 * per_iter
    resumed = ppo.train_and_evaluate(c, str(tmp_path / "a"), log=_quiet)
    straight = ppo.train_and_evaluate(c, str(tmp_path / "b"), log=_quiet)
    other = ml_collections.ConfigDict(c.to_dict())
    other.seed = 1  # another run must not silently continue this one
    with pytest.raises(config_lib.ConfigError, match=r"seed: 0 -> 1"):
        ppo.train_and_evaluate(other, str(tmp_path / "a"), log=_quiet)
    assert resumed["env_steps"] == straight["env_steps"] == 3 * per_iter
    pa = ppo.restore_learner(c, str(tmp_path / "a")).state
    pb = ppo.restore_learner(c, str(tmp_path / "b")).state
    assert int(pa.iteration) == int(pb.iteration) == 3
    for x, y in zip(jax.tree_util.tree_leaves(pa), jax.tree_util.tree_leaves(pb), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # The part-B helpers read the same checkpoint back and act with it.
    config, model, genome, norm = networks.load_policy(str(tmp_path / "a"))
    assert config.mode == "sgb"
    phenotype = model.apply({"params": genome}, jax.random.PRNGKey(0), method="develop")
    action = networks.policy_action(phenotype, norm, jnp.ones((5, 2)))
    assert action.shape == (5, 1) and bool(jnp.all(jnp.abs(action) <= 1))


# --- learning -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_deterministic_iteration_equals_brax():
    """From the same parameters and keys, two iterations of our deterministic trainer give Brax
    `ppo.train`'s parameters and observation statistics (same rollouts, minibatches, updates)."""
    from brax.training.agents.ppo import train as brax_ppo

    c = fast_config("deterministic")
    c.ppo.num_timesteps = 2 * 64 * 8 * 5
    setup = ppo.build(c)
    params = setup.models.init(jax.random.PRNGKey(7))
    state, env_state = baseline.brax_start(setup, params)
    norm0 = state.normalizer_params
    step = jax.jit(lambda s, e: ppo.train_step(setup, s, e))
    for _ in range(2):
        state, env_state, _ = step(state, env_state)
    kwargs = baseline.brax_train_kwargs(c, config_lib.make_env(c))
    assert kwargs["num_evals"] == 2  # one epoch of two iterations
    _, (norm, policy, value), _ = brax_ppo.train(
        **kwargs, max_devices_per_host=1, run_evals=False,
        restore_params=(norm0, *baseline.to_brax_params(params)))
    np.testing.assert_allclose(np.asarray(state.normalizer_params.mean),
                               np.asarray(norm.mean), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(state.normalizer_params.std),
                               np.asarray(norm.std), rtol=1e-5, atol=1e-6)
    theirs = baseline.from_brax_params(policy, value)
    moved = 0.0
    for a, b, a0 in zip(jax.tree_util.tree_leaves(state.params), jax.tree_util.tree_leaves(theirs),
                        jax.tree_util.tree_leaves(params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
        moved = max(moved, float(jnp.max(jnp.abs(a - a0))))
    assert moved > 1e-3  # the comparison is of trained parameters, not of the initial ones


@pytest.mark.parametrize("flag,message", [
    ("--iterations=0", "--iterations must be >= 1"),
    ("--perturbation=1e-9", "vanishes in float32"),
    ("--config.ppo.batch_size=0", "ppo.batch_size must be a positive integer"),
])
def test_brax_equivalence_bad_flags_clear_errors(flag, message):
    proc = subprocess.run(
        [sys.executable, "experiments/brax_equivalence.py",
         "--config=configs/ppo_halfcheetah.py:test", flag], cwd=ROOT, capture_output=True,
        text=True, timeout=300)
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]


def _load_config(spec: str):
    path, variant = spec.split(":")
    module_spec = importlib.util.spec_from_file_location("_cfg", os.path.join(ROOT, "configs", path))
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(variant)


def _brax_epochs(kwargs: dict, steps: int) -> int:
    # Brax's own rule (ppo/train.py): iterations between evaluations.
    return math.ceil(kwargs["num_timesteps"] / ((kwargs["num_evals"] - 1) * steps))


@pytest.mark.parametrize("spec", ["ppo_halfcheetah.py:cpu", "ppo_halfcheetah.py:paper",
                                  "ppo_ant.py:cpu", "ppo_ant.py:paper"])
def test_brax_baseline_evaluates_at_our_iterations(spec):
    """With the baseline's num_evals, Brax's evaluation interval is ours and its epochs end at our
    last iteration, so both report returns at the same env steps."""
    c = _load_config(spec)
    kwargs = baseline.brax_train_kwargs(c, None)
    per_epoch = _brax_epochs(kwargs, config_lib.steps_per_iteration(c))
    assert per_epoch == config_lib.eval_every(c)
    assert per_epoch * (kwargs["num_evals"] - 1) == config_lib.num_iterations(c)
    assert baseline.brax_schedule(c)[1:] == (per_epoch, config_lib.num_iterations(c))


def test_brax_baseline_budget_when_intervals_do_not_divide():
    c = _load_config("ppo_halfcheetah.py:paper")
    c.eval.num_evals = 20  # 153 iterations, ours every 8: 8 does not divide 153
    kwargs = baseline.brax_train_kwargs(c, None)
    n_iter, every = config_lib.num_iterations(c), config_lib.eval_every(c)
    assert n_iter % every
    total = _brax_epochs(kwargs, config_lib.steps_per_iteration(c)) * (kwargs["num_evals"] - 1)
    assert total == baseline.brax_schedule(c)[2]
    assert n_iter <= total < n_iter + every  # rounded up by less than one interval
    assert kwargs["num_evals"] - 1 == math.ceil(n_iter / every)  # as many evaluations as ours


@pytest.mark.slow
def test_deterministic_matches_brax_and_sgb_learns(tmp_path):
    """Same env, budget (2^15 steps), seed and settings for all three; returns in [0, 0.62]."""
    brax_run = baseline.train_brax(fast_config("deterministic"), log=_quiet)
    det = ppo.train_and_evaluate(fast_config("deterministic"), str(tmp_path / "det"),
                                 log=_quiet)
    sgb_config = fast_config("sgb")
    sgb_config.development.segments_per_group = 4  # the grouped loss path (8 segments per env)
    sgb = ppo.train_and_evaluate(sgb_config, str(tmp_path / "sgb"), log=_quiet)
    for name, run in (("brax", brax_run), ("deterministic", det), ("sgb", sgb)):
        print(f"fast {name}: return {run['initial_return']:.3f} -> {run['final_return']:.3f}")
    for run in (brax_run, det, sgb):
        assert run["final_return"] > run["initial_return"] + 0.1, run
    # Same budget exactly: Brax evaluates at our trainer's env-step counts and stops with it.
    assert [s for s, _ in brax_run["returns"]] == [s for s, _ in det["returns"]], (brax_run, det)
    # Stated tolerance: our deterministic mode within 0.1 (16% of the optimum) of Brax ppo.train.
    assert abs(det["final_return"] - brax_run["final_return"]) < 0.1, (det, brax_run)
    assert sgb["final_return"] > 0.45
