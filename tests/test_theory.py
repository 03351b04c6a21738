"""Tests of sgb_jax.theory: Jensen gap vs prediction, Hutchinson, Lanczos, Theorem A.2."""

import os
import sys
import types

import flax.linen as nn
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from sgb_jax import theory

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs import theory as theory_config  # noqa: E402
from experiments import hessian_real, jensen_toys  # noqa: E402


def _quadratic(dim: int = 6, seed: int = 0):
    """Indefinite non-diagonal quadratic `1/2 (w - c)^T A (w - c) + b^T w`: eq. 5 is exact here."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(dim, dim))
    a = jnp.asarray((m + m.T) / 2, jnp.float32)
    b = jnp.asarray(rng.normal(size=dim), jnp.float32)
    c = jnp.asarray(rng.normal(size=dim), jnp.float32)
    loss = lambda w: 0.5 * (w - c) @ a @ (w - c) + b @ w
    return loss, a


def _small_net():
    """A 3-4-2 tanh MLP regressing a noisy teacher: squared error as a function of 26 weights.

    Away from the teacher the residual term makes the Hessian indefinite (about 35% of its
    |eigenvalue| mass is negative), while its trace stays well above the Hutchinson noise.
    """
    net = nn.Sequential([nn.Dense(4), jnp.tanh, nn.Dense(2)])
    x = jax.random.normal(jax.random.key(1), (16, 3))
    params = net.init(jax.random.key(0), x)["params"]
    teacher = net.init(jax.random.key(3), x)["params"]
    y = net.apply({"params": teacher}, x) + 0.3 * jax.random.normal(jax.random.key(2), (16, 2))

    def loss(p):
        return 0.5 * jnp.mean(jnp.sum((net.apply({"params": p}, x) - y) ** 2, -1))

    return loss, params


def test_quadratic_prediction_equals_monte_carlo_gap():
    loss, a = _quadratic()
    mu = jnp.linspace(-1.0, 1.0, 6)
    sigma = jnp.linspace(0.1, 0.6, 6)
    exact = 0.5 * float(jnp.sum(jnp.diag(a) * sigma**2))
    assert theory.predicted_gap_exact(loss, mu, sigma) == pytest.approx(exact, rel=1e-5)
    for antithetic in (False, True):
        mc = theory.jensen_gap(loss, mu, sigma, jax.random.key(3), 4000, antithetic=antithetic,
                               batch_size=500)
        assert mc.sem > 0
        assert abs(mc.mean - exact) < 4 * mc.sem, (antithetic, mc, exact)
    # Paired draws: the quadratic model is the measured gap draw by draw (remainder is 0).
    paired = theory.paired_gap(loss, mu, sigma, jax.random.key(4), 32)
    assert abs(paired["remainder"].mean) < 1e-4
    assert paired["measured"].mean == pytest.approx(paired["predicted"].mean, abs=1e-4)


def test_jensen_gap_sign_convex_and_concave_toys():
    mu, sigma = jnp.float32(0.3), jnp.float32(0.4)
    convex = lambda w: jnp.cosh(w) + w**2
    concave = lambda w: -jnp.cosh(w) - 0.5 * w**2
    for fn, sign in ((convex, 1.0), (concave, -1.0)):
        gap = theory.jensen_gap(fn, mu, sigma, jax.random.key(0), 2000, batch_size=500)
        assert sign * gap.mean > 5 * gap.sem, (gap, sign)
        pred = theory.predicted_gap_exact(fn, mu, sigma)
        assert sign * pred > 0
        # sigma = 0.4 is not small: the prediction has the right size, not the exact value.
        assert gap.mean == pytest.approx(pred, rel=0.1)


def test_theorem_a2_first_order_on_1d_toy():
    """One gradient step on sigma: -eta L''(mu) sigma, with error O(sigma^2) relative."""
    fn = lambda w: jnp.sin(2.0 * w) + 0.3 * w**2
    mu, eta = jnp.float32(0.4), 0.01
    curvature = float(jax.grad(jax.grad(fn))(mu))
    errors = []
    for s in (0.2, 0.05):
        chk = theory.sigma_step_check(fn, mu, jnp.float32(s), jax.random.key(0), eta, 4000,
                                      batch_size=500)
        predicted = -eta * curvature * s
        assert float(chk.paper_rule) == pytest.approx(predicted, rel=1e-4)  # 1-D: H sigma = diag
        errors.append(abs(float(chk.measured) - predicted) / abs(predicted))
        # The linearised step on the same draws differs from the measured one only at O(sigma^3).
        assert float(chk.first_order) == pytest.approx(predicted, rel=0.1)
    assert errors[1] < 0.03
    assert errors[1] < errors[0]


def test_theorem_a2_sigma_step_is_diag_h_not_h_sigma():
    """Non-diagonal quadratic: the step is -eta diag(H) sigma; the printed -eta H sigma is not."""
    loss, a = _quadratic(dim=5, seed=1)
    mu, sigma, eta = jnp.zeros(5), jnp.linspace(0.2, 1.0, 5), 0.01
    chk = theory.sigma_step_check(loss, mu, sigma, jax.random.key(5), eta, 4000, batch_size=500)
    np.testing.assert_allclose(chk.measured, chk.first_order, rtol=1e-4, atol=1e-7)
    diag_rule = -eta * jnp.diag(a) * sigma
    np.testing.assert_allclose(chk.paper_rule, -eta * a @ sigma, rtol=1e-5, atol=1e-7)
    assert theory.relative_error(chk.measured, diag_rule) < 0.1
    assert theory.relative_error(chk.measured, chk.paper_rule) > 0.5


def test_sigma_step_with_shared_sigma_sums_the_block_gradient():
    """Genome sigma shared by 2 weights each (expand = repeat): step = -eta sum_block H_ii s."""
    loss, a = _quadratic(dim=4, seed=2)
    expand = lambda s: jnp.repeat(s, 2)
    sigma, eta = jnp.array([0.3, 0.5]), 0.01
    chk = theory.sigma_step_check(loss, jnp.zeros(4), sigma, jax.random.key(6), eta, 4000,
                                  expand=expand, batch_size=500)
    diag_rule = -eta * jnp.diag(a).reshape(2, 2).sum(1) * sigma
    assert theory.relative_error(chk.measured, diag_rule) < 0.1
    paper_rule = -eta * (a @ expand(sigma)).reshape(2, 2).sum(1)
    np.testing.assert_allclose(chk.paper_rule, paper_rule, rtol=1e-5)


def test_hutchinson_trace_matches_exact_hessian_on_small_net():
    loss, params = _small_net()
    h = theory.hessian_matrix(loss, params)
    exact = float(jnp.trace(h))
    est = theory.hutchinson_trace(loss, params, jax.random.key(7), 400)
    assert est.sem < 0.15 * abs(exact)  # the check below has teeth
    assert abs(est.mean - exact) < 4 * est.sem, (est, exact)
    sigma = jax.tree_util.tree_map(lambda p: 0.1 + 0.05 * jnp.abs(p), params)
    pred = theory.predicted_gap(loss, params, sigma, jax.random.key(8), 400)
    flat_sigma = jax.flatten_util.ravel_pytree(sigma)[0]
    exact_pred = 0.5 * float(jnp.sum(jnp.diag(h) * flat_sigma**2))  # eq. 5 with the exact H
    assert pred.sem < 0.15 * abs(exact_pred)
    assert abs(pred.mean - exact_pred) < 4 * pred.sem, (pred, exact_pred)


def test_lanczos_extreme_eigenvalues_match_eigh():
    rng = np.random.default_rng(0)
    n = 300
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = np.concatenate([[-8.0, -5.0], rng.uniform(-1.0, 2.0, n - 4), [6.0, 9.0]])
    mat = jnp.asarray((q * lam) @ q.T, jnp.float32)
    expected = np.linalg.eigh(np.asarray(mat, np.float64))[0]
    v0 = jax.random.normal(jax.random.key(0), (n,))
    alphas, betas, basis = theory.lanczos(lambda v: mat @ v, v0, 40)
    values, weights = theory.ritz(alphas, betas)
    np.testing.assert_allclose(np.asarray(values)[[0, 1, -2, -1]], expected[[0, 1, -2, -1]],
                               rtol=1e-3)
    np.testing.assert_allclose(basis @ basis.T, np.eye(40), atol=1e-4)  # full reorthogonalisation
    assert float(weights.sum()) == pytest.approx(1.0, abs=1e-5)


def test_lanczos_full_run_recovers_the_whole_spectrum_and_breakdown():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(30, 30))
    mat = jnp.asarray((m + m.T) / 2, jnp.float32)
    values, _ = theory.ritz(*theory.lanczos(lambda v: mat @ v, jnp.ones(30), 30)[:2])
    np.testing.assert_allclose(values, np.linalg.eigh(np.asarray(mat))[0], atol=1e-3)
    # Rank-2 operator: the Krylov space is exhausted after 3 steps; the restart keeps T exact.
    low = jnp.asarray(np.diag([3.0, -2.0] + [0.0] * 8), jnp.float32)
    vals, _ = theory.ritz(*theory.lanczos(lambda v: low @ v, jnp.ones(10), 10)[:2])
    np.testing.assert_allclose(np.sort(vals), np.sort(np.diag(low)), atol=1e-4)
    with pytest.raises(ValueError, match="num_steps"):
        theory.lanczos(lambda v: v, jnp.ones(5), 6)


def test_hessian_spectrum_and_negative_fraction_on_small_net():
    loss, params = _small_net()
    eig = np.linalg.eigvalsh(np.asarray(theory.hessian_matrix(loss, params), np.float64))
    dim = eig.size
    spec = theory.hessian_spectrum(loss, params, jax.random.key(0), num_steps=dim, num_probes=64)
    assert spec.dim == dim and spec.values.shape == (64, dim)
    # A full run (m = dim) recovers every eigenvalue of the exact Hessian.
    np.testing.assert_allclose(np.sort(np.asarray(spec.values[0])), eig, atol=1e-4)
    exact_fraction = np.abs(eig[eig < 0]).sum() / np.abs(eig).sum()
    assert 0.2 < exact_fraction < 0.5  # away from the teacher some curvature is negative
    exact = theory.Spectrum(values=jnp.asarray(eig)[None], weights=jnp.full((1, dim), 1.0 / dim),
                            dim=dim)
    assert theory.negative_eigen_fraction(exact) == pytest.approx(exact_fraction, rel=1e-5)
    # SLQ weights are random (squared projections of each probe): 64 probes estimate the fraction.
    assert theory.negative_eigen_fraction(spec) == pytest.approx(exact_fraction, abs=0.06)
    slq_trace = dim * float(jnp.mean(jnp.sum(spec.weights * spec.values, axis=1)))
    assert slq_trace == pytest.approx(eig.sum(), abs=0.25 * np.abs(eig).sum())


def test_reparam_descent_shrinks_sigma_on_convex_and_grows_it_on_concave():
    convex = lambda w: w**2
    concave = lambda w: -jnp.log(jnp.cosh(w))
    for fn, grows in ((convex, False), (concave, True)):
        tr = theory.reparam_descent(fn, jnp.float32(0.5), jnp.float32(0.3), jax.random.key(0),
                                    eta=0.1, num_steps=100)
        assert tr.mu.shape == (101,) and tr.sigma.shape == (101,)
        assert (float(tr.sigma[-1]) > 0.3) == grows
    # Convex quadratic: the antithetic mu-gradient is exact, so mu_t = (1 - 2 eta)^t mu_0.
    np.testing.assert_allclose(tr.mu if not grows else 0.5 * 0.8 ** np.arange(101),
                               0.5 * 0.8 ** np.arange(101), rtol=1e-4, atol=1e-8)


def test_toy_launcher_gap_signs_and_config_errors():
    config = theory_config.get_config("test")
    jensen_toys.validate(config)
    res = jensen_toys.run_toys(config)
    assert res["convex"]["gap_sign_per_step"]["negative"] == 0
    assert res["concave"]["gap_sign_per_step"]["positive"] == 0
    assert res["nonconvex"]["gap_initial"] < 0  # starts on the concave hump of the double well
    # Quadrature gap of the quadratic toy is sigma^2 exactly.
    np.testing.assert_allclose(res["convex"]["gap"], np.square(res["convex"]["sigma"]), rtol=1e-4,
                               atol=1e-9)
    bad = theory_config.get_config("test")
    bad.toys.losses = ("convex", "wavy", "concave")
    with pytest.raises(ValueError, match="toys.losses"):
        jensen_toys.validate(bad)
    bad = theory_config.get_config("test")
    bad.toys.sigma0 = (0.5, 0.5)
    with pytest.raises(ValueError, match="toys.sigma0"):
        jensen_toys.validate(bad)


def test_real_launcher_config_errors(tmp_path):
    config = theory_config.get_config("test")
    hessian_real.validate(config)
    deterministic = tmp_path / "ppo_det"
    deterministic.mkdir()
    (deterministic / "summary.json").write_text("{}")
    (deterministic / "config.json").write_text('{"mode": "deterministic"}')
    for section, field, value, match in (
            ("real", "lanczos_steps", 0, "real.lanczos_steps"),
            ("real", "activations", ("relu", "sine"), "real.activations"),
            ("real", "sigma_step_scales", (1.0, -0.5), "real.sigma_step_scales"),
            ("real", "genome_workdir", "/nonexistent", "real.genome_workdir"),
            ("rl", "segments_per_env", 0, "rl.segments_per_env"),
            ("rl", "warmup_steps", -1, "rl.warmup_steps"),
            ("rl", "train_variant", "huge", "rl.train_variant"),
            ("rl", "hidden_types", 9, r"rl: .*network.hidden_types"),
            ("rl", "genome_workdir", "/nonexistent", "rl.genome_workdir"),
            ("rl", "genome_workdir", str(deterministic), "mode 'sgb'")):
        bad = theory_config.get_config("test")
        setattr(bad[section], field, value)
        with pytest.raises(ValueError, match=match):
            hessian_real.validate(bad)


# --- RL genome: L = PPO loss of one phenotype pair on a fixed batch ------------------------------


@pytest.fixture(scope="module")
def tiny_rl():
    """An SGB-PPO genome on Brax's `fast` env (2-8-2 actor, 2-8-1 critic, 4 hidden types) whose
    sigma differs per type pair (0.05..0.4), so a wrong expansion over the types shows; its
    mean-network batch (8 envs x 2 rows of 5 steps) and `L`."""
    from sgb_jax.rl import config as rl_config
    from sgb_jax.rl import phenotype_loss, ppo

    c = rl_config.default_config()
    c.env.name, c.env.episode_length = "fast", 20
    c.network.hidden_width, c.network.depth, c.network.hidden_types = 8, 1, 4
    c.ppo.update(dict(num_envs=8, batch_size=8, num_minibatches=2, unroll_length=5))
    setup = ppo.build(c)
    state = ppo.init_state(setup, jax.random.PRNGKey(0))
    flat = traverse_util.flatten_dict(state.params)
    keys = iter(jax.random.split(jax.random.key(1), len(flat)))
    for path, v in flat.items():
        if path[-1] in ("rho", "bias_rho"):
            sigma = jax.random.uniform(next(keys), v.shape, minval=0.05, maxval=0.4)
            flat[path] = jnp.log(jnp.expm1(sigma))  # softplus^-1
    genome, norm = traverse_util.unflatten_dict(flat), state.normalizer_params
    data = phenotype_loss.collect_batch(setup, genome, norm, jax.random.key(2), num_envs=8,
                                        warmup_steps=5, segments_per_env=2)
    mean = phenotype_loss.develop(setup.models, genome, None)
    loss_fn = phenotype_loss.frozen_ppo_loss(setup, norm, data, mean, jax.random.PRNGKey(3))
    develop = lambda g, k: phenotype_loss.develop(setup.models, g, k)
    return types.SimpleNamespace(setup=setup, genome=genome, norm=norm, data=data, mean=mean,
                                 loss_fn=loss_fn, develop=develop)


def test_rl_phenotype_loss_is_brax_ppo_loss_and_sigma_is_what_develop_samples(tiny_rl):
    from brax.training import networks as brax_networks
    from brax.training.agents.ppo import losses as ppo_losses
    from brax.training.agents.ppo import networks as ppo_networks

    t = tiny_rl
    models, p = t.setup.models, t.setup.config.ppo
    assert t.data.reward.shape == (16, 5)
    # At the mean network L is Brax's compute_ppo_loss (same batch, same entropy key): value and
    # gradient; away from it only the frozen targets differ.
    net = ppo_networks.PPONetworks(
        policy_network=brax_networks.FeedForwardNetwork(
            init=None, apply=lambda n, w, o: models.apply_policy(w, n, o)),
        value_network=brax_networks.FeedForwardNetwork(
            init=None, apply=lambda n, w, o: models.apply_value(w, n, o)),
        parametric_action_distribution=models.action_distribution)

    def brax_loss(w):
        return ppo_losses.compute_ppo_loss(
            ppo_losses.PPONetworkParams(policy=w["policy"], value=w["value"]), t.norm, t.data,
            jax.random.PRNGKey(3), net, entropy_cost=p.entropy_cost, discounting=p.discounting,
            reward_scaling=p.reward_scaling, gae_lambda=p.gae_lambda,
            clipping_epsilon=p.clipping_epsilon, normalize_advantage=p.normalize_advantage,
            vf_coefficient=p.vf_coefficient)[0]

    assert float(t.loss_fn(t.mean)) == pytest.approx(float(brax_loss(t.mean)), rel=1e-5)
    g_ours, g_brax = (jax.flatten_util.ravel_pytree(jax.grad(f)(t.mean))[0]
                      for f in (t.loss_fn, brax_loss))
    assert float(jnp.abs(g_brax).max()) > 1e-3
    np.testing.assert_allclose(g_ours, g_brax, rtol=1e-4, atol=1e-6)

    # The synapse-space sigma is what develop samples: per-synapse std over 400 individuals
    # matches sigma; the deterministic heads never move and carry sigma 0.
    expand, head = hessian_real.make_expand(t.develop, t.genome)
    sigma = expand(hessian_real.sigma_tables(t.genome))
    pop = jax.vmap(lambda k: t.develop(t.genome, k))(jax.random.split(jax.random.key(4), 400))
    stat = lambda fn: np.asarray(jax.flatten_util.ravel_pytree(
        jax.tree_util.tree_map(fn, pop))[0])
    std, spread = stat(lambda x: x.std(0)), stat(lambda x: x.max(0) - x.min(0))
    s_flat = np.asarray(jax.flatten_util.ravel_pytree(sigma)[0])
    noisy = s_flat > 0
    assert 0 < noisy.sum() < noisy.size
    np.testing.assert_array_equal(spread[~noisy], 0.0)
    np.testing.assert_allclose(std[noisy] / s_flat[noisy], 1.0, atol=0.2)
    np.testing.assert_array_equal(np.asarray(jax.flatten_util.ravel_pytree(head)[0])[noisy], 0.0)
    # And the mean network is head + expand(mu tables): expand is the whole developed part.
    mean_again = jax.tree_util.tree_map(jnp.add, head, expand(_mu_tables(t.genome)))
    np.testing.assert_allclose(jax.flatten_util.ravel_pytree(mean_again)[0],
                               jax.flatten_util.ravel_pytree(t.mean)[0], rtol=1e-6)


def _mu_tables(genome):
    flat = traverse_util.flatten_dict(genome)
    return traverse_util.unflatten_dict({k: v for k, v in flat.items()
                                         if k[-1] in ("mu", "bias_mu")})


def test_rl_genome_analysis_gap_via_develop_and_exact_prediction(tiny_rl):
    t = tiny_rl
    # Unbatched lax.map (batch_size None) and one sigma scale: a third of the compile time.
    r = types.SimpleNamespace(**{**theory_config.get_config("test").real.to_dict(),
                                 "gap_samples": 64, "hutchinson_probes": 64, "batch_size": None,
                                 "sigma_step_scales": (1.0,)})
    res, spectra = hessian_real.analyse(t.develop, t.genome, t.loss_fn, r, jax.random.key(5))
    # Gap through mu + sigma * eps (antithetic) == gap through develop, within MC error.
    assert res["measured_gap"] > 3 * res["measured_gap_sem"]
    diff = res["measured_gap"] - res["measured_gap_develop"]
    assert abs(diff) < 4 * np.hypot(res["measured_gap_sem"], res["measured_gap_develop_sem"])
    # Hutchinson prediction == 1/2 tr(H diag sigma^2) with the exact Hessian.
    expand, _ = hessian_real.make_expand(t.develop, t.genome)
    sigma = expand(hessian_real.sigma_tables(t.genome))
    exact = theory.predicted_gap_exact(t.loss_fn, t.mean, sigma)
    assert res["predicted_gap_sem"] < 0.2 * abs(exact)
    assert abs(res["predicted_gap"] - exact) < 4 * res["predicted_gap_sem"]
    # The synapse spectrum covers the noisy synapses only (heads masked out).
    assert res["spectrum_synapse"]["dim"] == res["noisy_synapses"] < res["synapse_params"]
    assert set(spectra) == {"synapse", "noise_weighted", "genome"}
