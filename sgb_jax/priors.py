"""Priors over genome entries and the KL(q || p) estimators of the ELBO (paper eq. 1-2).

* `ScaleMixturePrior`: `pi N(0, s1^2) + (1 - pi) N(0, s2^2)` (paper eq. 2, Blundell et al. 2015).
  Its log-density is computed with logsumexp because `s2` is orders of magnitude below `s1`. KL(q || p)
  has no closed form, so it is estimated by Monte Carlo, `log q(w) - log p(w)` at `w ~ q`.
* `GaussianPrior`: `N(0, s^2)`, with the analytic KL from distrax.

`kl_divergence` takes per-entry weights: 1 for the paper's per-type-pair scope, the block size
(number of synapses sharing the entry) for the per-synapse scope.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

KL_SCOPES = ("type_pair", "synapse")
_LOG_2PI = math.log(2.0 * math.pi)


def softplus_inverse(sigma: float) -> float:
    """The `rho` with `softplus(rho) = sigma` (for initialisation)."""
    return float(sigma + math.log(-math.expm1(-sigma)))


def _normal_log_prob(w: jax.Array, scale: float | jax.Array) -> jax.Array:
    return -0.5 * (w / scale) ** 2 - jnp.log(scale) - 0.5 * _LOG_2PI


@struct.dataclass
class ScaleMixturePrior:
    """Scale-mixture prior of paper eq. 2; `pi` weighs the broad `sigma1` component."""

    pi: float = struct.field(pytree_node=False, default=0.25)
    sigma1: float = struct.field(pytree_node=False, default=1.0)
    sigma2: float = struct.field(pytree_node=False, default=math.exp(-6.0))

    def log_prob(self, w: jax.Array) -> jax.Array:
        a = jnp.log(self.pi) + _normal_log_prob(w, self.sigma1)
        b = jnp.log1p(-self.pi) + _normal_log_prob(w, self.sigma2)
        return jnp.logaddexp(a, b)


@struct.dataclass
class GaussianPrior:
    """Zero-mean Gaussian prior `N(0, sigma^2)`; its KL to a Gaussian posterior is analytic."""

    sigma: float = struct.field(pytree_node=False, default=1.0)

    def log_prob(self, w: jax.Array) -> jax.Array:
        return _normal_log_prob(w, self.sigma)


Prior = ScaleMixturePrior | GaussianPrior


def make_prior(kind: str, pi: float = 0.25, sigma1: float = 1.0,
               sigma2: float = math.exp(-6.0), sigma: float = 1.0) -> Prior:
    """Build a prior from config values, checking them first."""
    if kind == "scale_mixture":
        if not 0.0 < pi < 1.0:
            raise ValueError(f"prior.pi must lie in (0, 1), got {pi}")
        if not (sigma1 > 0 and sigma2 > 0):
            raise ValueError(f"prior.sigma1 and prior.sigma2 must be > 0, got {sigma1}, {sigma2}")
        return ScaleMixturePrior(pi=pi, sigma1=sigma1, sigma2=sigma2)
    if kind == "gaussian":
        if not sigma > 0:
            raise ValueError(f"prior.sigma must be > 0, got {sigma}")
        return GaussianPrior(sigma=sigma)
    raise ValueError(f"prior.kind must be 'scale_mixture' or 'gaussian', got {kind!r}")


def kl_divergence(mu: jax.Array, sigma: jax.Array, prior: Prior, key: jax.Array | None,
                  weights: jax.Array | float = 1.0, num_samples: int = 1) -> jax.Array:
    """Sum over entries of `weights * KL(N(mu, sigma^2) || prior)`.

    Gaussian prior: exact. Scale mixture: unbiased Monte-Carlo estimate with `num_samples` draws per
    entry (reparameterised, so its gradient reaches `mu` and `sigma`).
    """
    if isinstance(prior, GaussianPrior):
        import distrax  # lazily: importing it pulls in TensorFlow Probability (~10 s)

        q = distrax.Normal(mu, sigma)
        kl = q.kl_divergence(distrax.Normal(jnp.zeros_like(mu), prior.sigma))
        return jnp.sum(weights * kl)
    if key is None:
        raise ValueError("a Monte-Carlo KL (scale-mixture prior) needs a PRNG key")
    eps = jax.random.normal(key, (num_samples, *mu.shape), mu.dtype)
    w = mu + sigma * eps
    log_q = _normal_log_prob(eps, 1.0) - jnp.log(sigma)
    return jnp.sum(weights * jnp.mean(log_q - prior.log_prob(w), axis=0))
