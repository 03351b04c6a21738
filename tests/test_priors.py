"""Priors: scale-mixture density vs scipy, Monte-Carlo KL vs analytic KL."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from sgb_jax import priors


def test_scale_mixture_log_prob_matches_scipy():
    p = priors.ScaleMixturePrior(pi=0.25, sigma1=1.0, sigma2=np.exp(-6))
    w = np.linspace(-3, 3, 101)
    ref = np.log(0.25 * stats.norm.pdf(w, 0, 1.0) + 0.75 * stats.norm.pdf(w, 0, np.exp(-6)))
    np.testing.assert_allclose(np.asarray(p.log_prob(jnp.asarray(w))), ref, rtol=1e-5, atol=1e-5)
    # far in the tail the narrow component underflows in a naive sum; logsumexp keeps it finite
    assert np.isfinite(float(p.log_prob(jnp.float32(30.0))))


def test_monte_carlo_kl_matches_analytic_gaussian_kl():
    mu = jnp.array([0.3, -1.0, 0.0, 2.0])
    sigma = jnp.array([0.5, 0.1, 1.0, 0.3])
    exact = priors.kl_divergence(mu, sigma, priors.GaussianPrior(0.7), None)
    # a mixture of two equal Gaussians is that Gaussian, so its MC KL must agree
    mix = priors.ScaleMixturePrior(pi=0.5, sigma1=0.7, sigma2=0.7)
    mc = priors.kl_divergence(mu, sigma, mix, jax.random.key(0), num_samples=200_000)
    np.testing.assert_allclose(float(mc), float(exact), rtol=1e-2)
    ref = np.sum(np.log(0.7 / sigma) + (sigma**2 + mu**2) / (2 * 0.7**2) - 0.5)
    np.testing.assert_allclose(float(exact), ref, rtol=1e-5)


def test_kl_weights_scale_each_entry():
    mu, sigma = jnp.array([0.3, -1.0]), jnp.array([0.5, 0.1])
    prior = priors.GaussianPrior(1.0)
    per = [float(priors.kl_divergence(mu[i:i + 1], sigma[i:i + 1], prior, None)) for i in range(2)]
    w = jnp.array([3.0, 5.0])
    np.testing.assert_allclose(float(priors.kl_divergence(mu, sigma, prior, None, w)),
                               3 * per[0] + 5 * per[1], rtol=1e-6)


def test_bad_prior_configs_raise():
    with pytest.raises(ValueError, match="pi"):
        priors.make_prior("scale_mixture", pi=1.5)
    with pytest.raises(ValueError, match="kind"):
        priors.make_prior("laplace")
    with pytest.raises(ValueError, match="PRNG key"):
        priors.kl_divergence(jnp.zeros(2), jnp.ones(2), priors.ScaleMixturePrior(), None)


def test_softplus_inverse_round_trips():
    for s in (1e-4, 0.05, 1.0, 5.0):
        assert abs(float(jax.nn.softplus(priors.softplus_inverse(s))) - s) < 1e-6 * max(1, s)
