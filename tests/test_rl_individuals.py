"""Grouped, switch-sparse application of per-environment individuals (sgb_jax.rl.individuals) equals
developing every sample's own individual: outputs and genome gradients, both capacity branches."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from sgb_jax.rl import config as config_lib  # noqa: E402
from sgb_jax.rl import individuals, ppo  # noqa: E402


def test_sparse_rows_compact_and_full_branches_agree():
    x = jax.random.normal(jax.random.PRNGKey(0), (10, 3))
    w = jnp.arange(3.0)

    def value(w, need, cap):
        out = individuals.sparse_rows(need, cap, lambda idx: x[idx] * w)
        return jnp.sum(jnp.where(need[:, None], out, 0.0) ** 2)

    for need in (jnp.zeros(10, bool), jnp.arange(10) % 4 == 1, jnp.arange(10) < 7):
        want_v, want_g = jax.value_and_grad(value)(w, need, 10)  # cap >= n: plain computation
        for cap in (1, 3):  # 3 covers the compact branch for the first two masks, full for the last
            v, g = jax.jit(jax.value_and_grad(value), static_argnums=2)(w, need, cap)
            np.testing.assert_allclose(v, want_v, rtol=1e-6)
            np.testing.assert_allclose(g, want_g, rtol=1e-6)


def _config(group_rows: int):
    """`fast` env, 11-step episodes, K = 3 slots. Offset 1 is needed by 8 of 32 single rows and 8 of
    16 two-segment groups (capacity 0.5: the compacted pass; 0.125: the fall-back to all), by every
    4- and 8-segment group; offset 2 only inside 8-segment groups."""
    c = config_lib.default_config()
    c.env.name, c.env.episode_length = "fast", 11
    c.network.hidden_width, c.network.hidden_types, c.network.depth = 8, 4, 1
    c.ppo.update(dict(num_envs=4, batch_size=8, num_minibatches=4, unroll_length=3))
    c.development.individuals_per_env, c.development.segments_per_group = 3, group_rows
    return c


@pytest.fixture(scope="module")
def rollout():
    """One SGB iteration's rows (8 segments x 4 envs x 3 steps), its bank and genome."""
    setup = ppo.build(_config(1))
    state, env_state = ppo.initial_state(setup)

    @jax.jit
    def run(state, env_state, key):
        env_state = ppo.new_individuals(env_state, jax.random.fold_in(key, 1), 3)
        bank = setup.noise_bank(state.params, env_state)
        return bank, ppo.collect(setup, state, env_state, key, bank)[1]

    bank, data = run(state, env_state, jax.random.PRNGKey(2))
    return setup, state, bank, data


def _reference(setup, genome, bank, norm, obs):
    """Every sample develops its own individual (the definition)."""
    m = setup.models
    x, s = obs["state"], individuals.slots(obs)
    eps = individuals.take(bank["policy"], s.reshape(-1))
    out = jax.vmap(lambda e, xi: m.apply_policy(m.develop_policy_from_noise(genome, e), norm, xi))(
        eps, x.reshape(-1, x.shape[-1]))
    return out.reshape(*s.shape, -1)


@pytest.mark.parametrize("group_rows,switch_capacity", [(1, 0.125), (1, 0.5), (2, 0.5), (4, 0.5), (4, 1.0),
                                                        (8, 0.01)])
def test_grouped_apply_equals_per_sample_development(rollout, monkeypatch, group_rows,
                                                     switch_capacity):
    monkeypatch.setattr(individuals, "SWITCH_CAPACITY", switch_capacity)
    setup, state, bank, data = rollout
    m = setup.models
    groups = individuals.group_layout(data, 4, group_rows)  # [groups, G, T, ...]
    rows = jax.tree_util.tree_map(lambda x: x.reshape(-1, *x.shape[2:]), groups)
    obs = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), rows.observation)  # [T, B]
    s = np.asarray(individuals.slots(obs))
    # The rollout switches individuals inside rows, and uses offsets 1 and 2 of K = 3.
    assert 0 < np.mean(np.asarray(obs["use_b"])) < 0.5
    assert len(np.unique(s)) > 4 * 2
    norm = state.normalizer_params

    def apply(genome):
        return individuals.individuals_apply(m.develop_policy_from_noise, m.apply_policy, genome,
                                             bank["policy"], norm, obs, 3, group_rows)

    def reference(genome):
        return _reference(setup, genome, bank, norm, obs)

    genome = state.params["policy"]
    out, want = jax.jit(apply)(genome), jax.jit(reference)(genome)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    w = jax.random.normal(jax.random.PRNGKey(5), want.shape)
    g = jax.jit(jax.grad(lambda p: jnp.sum(w * apply(p))))(genome)
    g_ref = jax.jit(jax.grad(lambda p: jnp.sum(w * reference(p))))(genome)
    for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(g_ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # The 2-D form (bootstrap observations) is the same function of one time step.
    last = jax.tree_util.tree_map(lambda x: x[-1], obs)
    out2 = individuals.individuals_apply(m.develop_policy_from_noise, m.apply_policy, genome,
                                         bank["policy"], norm, last, 3, group_rows)
    np.testing.assert_allclose(out2, want[-1], rtol=1e-5, atol=1e-6)


def test_group_layout_keeps_one_environment_per_group(rollout):
    _, _, _, data = rollout
    # Rows are segment-major (row = segment * E + env): tag each with (segment, env).
    rows = jnp.stack(jnp.meshgrid(jnp.arange(8), jnp.arange(4), indexing="ij"), -1).reshape(-1, 2)
    groups = np.asarray(individuals.group_layout(rows, 4, 4))
    assert groups.shape == (8, 4, 2)
    for grp in groups:
        assert len(set(grp[:, 1])) == 1  # one env
        np.testing.assert_array_equal(np.diff(grp[:, 0]), 1)  # consecutive segments


def test_ungrouped_rows_with_groups_give_nan_not_wrong_numbers(rollout):
    setup, state, bank, data = rollout
    m = setup.models
    obs = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), data.observation)
    # Segment-major rows: 4 consecutive rows are 4 different envs, not one env's segments.
    out = individuals.individuals_apply(m.develop_policy_from_noise, m.apply_policy,
                                        state.params["policy"], bank["policy"],
                                        state.normalizer_params, obs, 3, 4)
    assert bool(jnp.all(jnp.isnan(out)))


def test_segments_per_group_must_divide_segments_and_rows():
    c = _config(3)
    with pytest.raises(config_lib.ConfigError, match="development.segments_per_group"):
        ppo.build(c)
    c = _config(0)
    with pytest.raises(config_lib.ConfigError, match="development.segments_per_group"):
        ppo.build(c)
