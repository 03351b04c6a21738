"""Paper appendix A made executable: Jensen gap, its prediction, Hessian spectra, sigma dynamics.

Notation of paper §A.1-A.4: a sampled network has weights `w = mu + sigma * eps`, `eps ~ N(0, I)`.

* Jensen gap (Theorem A.1 / A.3, eq. 5/8): `Delta L(mu, sigma) = E[L(mu + sigma eps)] - L(mu)`,
  estimated by Monte Carlo (`jensen_gap`), predicted to second order by
  `1/2 sum_i lambda_i E[rho_i^2] = 1/2 tr(H diag(sigma^2))` with `H = hess L(mu)`
  (`predicted_gap_exact` builds H; `predicted_gap` uses Hutchinson probes and Hessian-vector
  products, `hvp` = forward-over-reverse `jvp(grad L)`).
* Spectrum of H by Lanczos with full reorthogonalisation (`lanczos`, `hessian_spectrum`): Ritz
  values and stochastic-Lanczos-quadrature weights; `negative_eigen_fraction` is the share of
  `|lambda|` mass on negative eigenvalues.
* Theorem A.2 / A.4 (eq. 7/16/22): one gradient step on sigma of the reparameterised objective
  `L_hat(mu, sigma) = E[L(mu + sigma eps)]` (`sigma_step_check`). Its first-order content is
  `Delta sigma = -eta E[(H (sigma eps)) eps] = -eta diag(H) sigma`: the paper's step from eq. 21 to
  `-eta H sigma` treats `E[(H (sigma eps)) eps]` as `H (sigma E[eps eps])`, which only holds for a
  diagonal H (every 1-D toy). The check reports both rules against the measured step.

Which space. Every function takes a loss over a parameter pytree and a `sigma` pytree of the same
structure. For an SGB genome the noise is drawn per synapse (DESIGN.md §3), so the natural space is
the developed (synapse) space: `L` is the loss of the phenotype, `mu` the mean network and `sigma`
the per-synapse sigma `softplus(rho)[t(a), t(b)]`; the prediction needs `diag` of the synapse-space
Hessian, which the genome-space Hessian `E^T H E` (E = type expansion) does not contain. Shared
sigma (a genome-space sigma) enters `sigma_step_check` through a linear `expand` map.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.flatten_util import ravel_pytree

Params = Any
LossFn = Callable[[Params], jax.Array]


@struct.dataclass
class Estimate:
    """A Monte-Carlo estimate: mean, standard error of the mean, number of samples."""

    mean: float
    sem: float
    num: int


def _estimate(samples: jax.Array) -> Estimate:
    s = np.asarray(samples, dtype=np.float64).reshape(-1)
    sem = float(s.std(ddof=1) / np.sqrt(s.size)) if s.size > 1 else 0.0
    return Estimate(mean=float(s.mean()), sem=sem, num=int(s.size))


def _tree_dot(a: Params, b: Params) -> jax.Array:
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree_util.tree_leaves(a),
                                              jax.tree_util.tree_leaves(b), strict=True))


def _mul(a: Params, b: Params) -> Params:
    return jax.tree_util.tree_map(jnp.multiply, a, b)


def _random_like(key: jax.Array, tree: Params, kind: str) -> Params:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    keys = jax.random.split(key, len(leaves))
    if kind == "normal":
        out = [jax.random.normal(k, jnp.shape(x), jnp.result_type(x))
               for k, x in zip(keys, leaves, strict=True)]
    else:  # Rademacher: the minimum-variance Hutchinson probe
        out = [jax.random.rademacher(k, jnp.shape(x), jnp.result_type(x))
               for k, x in zip(keys, leaves, strict=True)]
    return jax.tree_util.tree_unflatten(treedef, out)


def perturb(mu: Params, sigma: Params, eps: Params) -> Params:
    """`mu + sigma * eps`, leaf by leaf (the reparameterisation, paper §A.1)."""
    return jax.tree_util.tree_map(lambda m, s, e: m + s * e, mu, sigma, eps)


def _map(fn: Callable, keys: jax.Array, batch_size: int | None) -> Any:
    return jax.lax.map(fn, keys, batch_size=batch_size)


# --- Theorem A.1: the Jensen gap and its second-order prediction --------------------------------


def jensen_gap_samples(loss_fn: LossFn, mu: Params, sigma: Params, key: jax.Array,
                       num_samples: int, antithetic: bool = True,
                       batch_size: int | None = None) -> jax.Array:
    """Per-sample values whose mean is `Delta L = E[L(mu + sigma eps)] - L(mu)` (eq. 5).

    `antithetic=True` pairs `eps` with `-eps`: `(L(mu + d) + L(mu - d)) / 2 - L(mu)` has the same
    mean and cancels the first-order term `grad L . d`, the dominant noise when `grad L(mu) != 0`.
    """

    @jax.jit
    def run(mu, sigma, key):
        base = loss_fn(mu)

        def one(k):
            eps = _random_like(k, mu, "normal")
            up = loss_fn(perturb(mu, sigma, eps))
            if not antithetic:
                return up - base
            down = loss_fn(perturb(mu, sigma, jax.tree_util.tree_map(jnp.negative, eps)))
            return 0.5 * (up + down) - base

        return _map(one, jax.random.split(key, num_samples), batch_size)

    return run(mu, sigma, key)


def jensen_gap(loss_fn: LossFn, mu: Params, sigma: Params, key: jax.Array, num_samples: int = 256,
               antithetic: bool = True, batch_size: int | None = None) -> Estimate:
    """Monte-Carlo Jensen gap `Delta L(mu, sigma)` of Theorem A.1 with its standard error."""
    return _estimate(jensen_gap_samples(loss_fn, mu, sigma, key, num_samples, antithetic,
                                        batch_size))


def hvp(loss_fn: LossFn, params: Params, v: Params) -> Params:
    """Hessian-vector product `H v` at `params`, forward-over-reverse (`jvp` of `grad`)."""
    return jax.jvp(jax.grad(loss_fn), (params,), (v,))[1]


def hessian_matrix(loss_fn: LossFn, params: Params) -> jax.Array:
    """The exact `(P, P)` Hessian over the flattened params (small models only)."""
    flat, unravel = ravel_pytree(params)
    return jax.jit(jax.hessian(lambda f: loss_fn(unravel(f))))(flat)


def predicted_gap_exact(loss_fn: LossFn, mu: Params, sigma: Params) -> float:
    """`1/2 tr(H diag(sigma^2))` with the exact Hessian at `mu` (eq. 5, small models)."""
    h = hessian_matrix(loss_fn, mu)
    s = ravel_pytree(sigma)[0]
    return float(0.5 * jnp.sum(jnp.diag(h) * s**2))


def hutchinson_trace(loss_fn: LossFn, params: Params, key: jax.Array, num_probes: int = 64,
                     scale: Params | None = None, batch_size: int | None = None) -> Estimate:
    """Hutchinson estimate of `tr(S H S)`, `S = diag(scale)` (`scale=None`: `tr(H)`).

    With Rademacher `z`, `E[(S z)^T H (S z)] = tr(S H S) = sum_i H_ii scale_i^2`; each probe costs
    one Hessian-vector product.
    """

    @jax.jit
    def run(params, scale, key):
        def one(k):
            z = _random_like(k, params, "rademacher")
            v = z if scale is None else _mul(scale, z)
            return _tree_dot(v, hvp(loss_fn, params, v))

        return _map(one, jax.random.split(key, num_probes), batch_size)

    return _estimate(run(params, scale, key))


def predicted_gap(loss_fn: LossFn, mu: Params, sigma: Params, key: jax.Array,
                  num_probes: int = 64, batch_size: int | None = None) -> Estimate:
    """Second-order prediction `1/2 tr(H diag(sigma^2))` of eq. 5 by Hutchinson probes."""
    t = hutchinson_trace(loss_fn, mu, key, num_probes, scale=sigma, batch_size=batch_size)
    return Estimate(mean=0.5 * t.mean, sem=0.5 * t.sem, num=t.num)


def paired_gap(loss_fn: LossFn, mu: Params, sigma: Params, key: jax.Array, num_samples: int = 64,
               batch_size: int | None = None) -> dict[str, Estimate]:
    """Measured gap and its quadratic model on the *same* antithetic draws.

    With `d = sigma * eps`: measured `(L(mu + d) + L(mu - d)) / 2 - L(mu)`, predicted
    `1/2 d^T H d`. Their per-draw difference is the Taylor remainder of order >= 4 alone, so the
    check of eq. 5 is not blurred by the Monte-Carlo noise both share.
    """

    @jax.jit
    def run(mu, sigma, key):
        base = loss_fn(mu)

        def one(k):
            eps = _random_like(k, mu, "normal")
            d = _mul(sigma, eps)
            up = loss_fn(jax.tree_util.tree_map(jnp.add, mu, d))
            down = loss_fn(jax.tree_util.tree_map(jnp.subtract, mu, d))
            measured = 0.5 * (up + down) - base
            predicted = 0.5 * _tree_dot(d, hvp(loss_fn, mu, d))
            return measured, predicted

        return _map(one, jax.random.split(key, num_samples), batch_size)

    m, p = run(mu, sigma, key)
    return {"measured": _estimate(m), "predicted": _estimate(p), "remainder": _estimate(m - p)}


# --- Lanczos spectrum of the Hessian -------------------------------------------------------------


@struct.dataclass
class Spectrum:
    """Ritz values `(probes, m)` and their quadrature weights (each probe's weights sum to 1).

    `sum_j weights[p, j] * f(values[p, j])` estimates `tr(f(H)) / dim` (stochastic Lanczos
    quadrature); the extreme Ritz values converge to the extreme eigenvalues first.
    """

    values: jax.Array
    weights: jax.Array
    dim: int = struct.field(pytree_node=False)


def lanczos(matvec: Callable[[jax.Array], jax.Array], v0: jax.Array, num_steps: int,
            key: jax.Array | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`num_steps` Lanczos steps on a symmetric operator, with full reorthogonalisation.

    Returns `(alphas (m,), betas (m-1,), basis (m, dim))` of the tridiagonal `T = Q A Q^T`. Every
    new vector is orthogonalised twice against the whole basis ("twice is enough"), which keeps Q
    orthonormal in float32 and avoids ghost copies of converged Ritz values. On breakdown (an
    invariant subspace found) the recursion restarts from a random vector orthogonal to Q and the
    coupling `beta` is 0, so T stays exact.
    """
    dim = v0.shape[0]
    if not 1 <= num_steps <= dim:
        raise ValueError(f"lanczos num_steps must lie in [1, {dim}] (the dimension), got "
                         f"{num_steps}")
    key = jax.random.key(0) if key is None else key
    dtype = v0.dtype
    basis = jnp.zeros((num_steps, dim), dtype).at[0].set(v0 / jnp.linalg.norm(v0))

    def orthogonalise(w, basis):
        w = w - basis.T @ (basis @ w)
        return w - basis.T @ (basis @ w)

    def step(j, carry):
        basis, alphas, betas = carry
        q = basis[j]
        aq = matvec(q)
        alpha = jnp.vdot(q, aq)
        w = orthogonalise(aq, basis)  # rows > j are still zero, so this is the Lanczos residual
        beta = jnp.linalg.norm(w)
        broke = beta <= 1e-6 * (jnp.linalg.norm(aq) + jnp.finfo(dtype).tiny)
        fresh = orthogonalise(jax.random.normal(jax.random.fold_in(key, j), (dim,), dtype), basis)
        nxt = jnp.where(broke, fresh / jnp.linalg.norm(fresh), w / jnp.where(broke, 1.0, beta))
        basis = jnp.where(j + 1 < num_steps, basis.at[jnp.minimum(j + 1, num_steps - 1)].set(nxt),
                          basis)
        return basis, alphas.at[j].set(alpha), betas.at[j].set(jnp.where(broke, 0.0, beta))

    basis, alphas, betas = jax.lax.fori_loop(
        0, num_steps, step, (basis, jnp.zeros(num_steps, dtype), jnp.zeros(num_steps, dtype)))
    return alphas, betas[:-1], basis


def ritz(alphas: jax.Array, betas: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Eigenvalues of the Lanczos tridiagonal, weighted by their first eigenvector entry squared."""
    t = jnp.diag(alphas) + jnp.diag(betas, 1) + jnp.diag(betas, -1)
    values, vectors = jnp.linalg.eigh(t)
    return values, vectors[0] ** 2


def hessian_spectrum(loss_fn: LossFn, params: Params, key: jax.Array, num_steps: int = 64,
                     num_probes: int = 1, scale: Params | None = None) -> Spectrum:
    """Lanczos / SLQ spectrum of `S H S` at `params` (`S = diag(scale)`, `scale=None`: H itself).

    `scale` = a 0/1 mask restricts H to the noisy coordinates (e.g. SGB synapses, not the
    deterministic RL heads); `scale` = sigma gives the noise-weighted Hessian whose trace is twice
    the predicted Jensen gap. Each probe starts from its own Rademacher vector, zeroed where
    `scale` is 0, so with a mask the SLQ measure (and `dim`) is that of the masked block alone.
    """
    flat, unravel = ravel_pytree(params)
    s = None if scale is None else ravel_pytree(scale)[0]

    def matvec(v):
        v = v if s is None else s * v
        hv = ravel_pytree(hvp(loss_fn, params, unravel(v)))[0]
        return hv if s is None else s * hv

    matvec = jax.jit(matvec)
    run = jax.jit(lambda v0, k: lanczos(matvec, v0, num_steps, k)[:2])
    values, weights = [], []
    for k in jax.random.split(key, num_probes):
        k0, k1 = jax.random.split(k)
        v0 = jax.random.rademacher(k0, flat.shape, flat.dtype)
        v0 = v0 if s is None else v0 * (s != 0)
        vals, w = ritz(*run(v0, k1))
        values.append(vals)
        weights.append(w)
    dim = int(flat.size) if s is None else int(jnp.sum(s != 0))
    return Spectrum(values=jnp.stack(values), weights=jnp.stack(weights), dim=dim)


def negative_eigen_fraction(spectrum: Spectrum) -> float:
    """Share of spectral `|lambda|` mass on negative eigenvalues, `sum_{l<0} |l| / sum |l|`."""
    mass = spectrum.weights * jnp.abs(spectrum.values)
    total = float(jnp.sum(mass))
    return float(jnp.sum(jnp.where(spectrum.values < 0, mass, 0.0)) / total) if total > 0 else 0.0


# --- Theorem A.2: sigma dynamics under gradient descent on the reparameterised objective ----------


def _identity(tree: Params) -> Params:
    return tree


@struct.dataclass
class SigmaStepCheck:
    """One gradient step on sigma (eq. 7/16) vs its first-order rules, all in sigma's space.

    measured: `-eta grad_sigma L_hat` by antithetic Monte Carlo.
    first_order: `-eta E^T E[(H (E sigma * eps)) * eps]` on the same draws, i.e. the linearised step
      (its expectation is `-eta E^T (diag(H) * E sigma)`).
    paper_rule: `-eta E^T H E sigma` (eq. 22 as printed).
    """

    measured: Params
    first_order: Params
    paper_rule: Params


def sigma_step_check(loss_fn: LossFn, mu: Params, sigma: Params, key: jax.Array, eta: float,
                     num_samples: int = 64, expand: Callable[[Params], Params] = _identity,
                     batch_size: int | None = None) -> SigmaStepCheck:
    """Theorem A.2 check: one gradient step on sigma vs `-eta diag(H) sigma` and `-eta H sigma`.

    `loss_fn` acts on the developed weights `w = mu + expand(sigma) * eps` (`mu` already developed);
    `expand` is the linear map from sigma's space to the weights' (identity when every weight has
    its own sigma; the cell-type expansion for an SGB genome, so shared sigma gets the summed
    gradient). The measured step uses pairs `eps, -eps`: `grad L(mu + d) - grad L(mu - d)` cancels
    `grad L(mu)`, the zero-mean but dominant noise of `grad L * eps`.
    """

    @jax.jit
    def run(mu, sigma, key):
        s_dev = expand(sigma)
        transpose = jax.linear_transpose(expand, sigma)

        def one(k):
            eps = _random_like(k, mu, "normal")

            def objective(sig):
                d = _mul(expand(sig), eps)
                return 0.5 * (loss_fn(jax.tree_util.tree_map(jnp.add, mu, d))
                              + loss_fn(jax.tree_util.tree_map(jnp.subtract, mu, d)))

            measured = jax.grad(objective)(sigma)
            linear = transpose(_mul(hvp(loss_fn, mu, _mul(s_dev, eps)), eps))[0]
            return measured, linear

        measured, linear = _map(one, jax.random.split(key, num_samples), batch_size)
        mean = lambda t: jax.tree_util.tree_map(lambda x: -eta * jnp.mean(x, axis=0), t)
        paper = transpose(hvp(loss_fn, mu, s_dev))[0]
        return SigmaStepCheck(measured=mean(measured), first_order=mean(linear),
                              paper_rule=jax.tree_util.tree_map(lambda x: -eta * x, paper))

    return run(mu, sigma, key)


def relative_error(a: Params, b: Params) -> float:
    """`||a - b|| / ||b||` over whole pytrees."""
    fa, fb = ravel_pytree(a)[0], ravel_pytree(b)[0]
    return float(jnp.linalg.norm(fa - fb) / jnp.maximum(jnp.linalg.norm(fb), 1e-30))


def cosine(a: Params, b: Params) -> float:
    """Cosine similarity of two pytrees (flattened)."""
    fa, fb = ravel_pytree(a)[0], ravel_pytree(b)[0]
    return float(jnp.vdot(fa, fb) / jnp.maximum(jnp.linalg.norm(fa) * jnp.linalg.norm(fb), 1e-30))


# --- Gradient descent on the reparameterised objective (paper Fig. 6) ---------------------------


@struct.dataclass
class DescentTrace:
    """Trajectory of `(mu, sigma)` under gradient descent on `L_hat`; arrays `(steps + 1, ...)`."""

    mu: Params
    sigma: Params


def reparam_descent(loss_fn: LossFn, mu0: Params, sigma0: Params, key: jax.Array, eta: float,
                    num_steps: int = 100, num_samples: int = 32) -> DescentTrace:
    """Plain gradient descent on `L_hat(mu, sigma) = E[L(mu + sigma eps)]` (Theorem A.2's setting).

    sigma is the parameter itself (not softplus(rho)) so each step is exactly eq. 6-7's update; each
    step draws `num_samples` antithetic pairs of fresh `eps`.
    """

    def objective(params, k):
        mu, sigma = params

        def one(kk):
            eps = _random_like(kk, mu, "normal")
            neg = jax.tree_util.tree_map(jnp.negative, eps)
            return 0.5 * (loss_fn(perturb(mu, sigma, eps)) + loss_fn(perturb(mu, sigma, neg)))

        return jnp.mean(jax.vmap(one)(jax.random.split(k, num_samples)))

    def step(params, k):
        grads = jax.grad(objective)(params, k)
        new = jax.tree_util.tree_map(lambda p, g: p - eta * g, params, grads)
        return new, new

    _, path = jax.jit(lambda p, ks: jax.lax.scan(step, p, ks))((mu0, sigma0),
                                                               jax.random.split(key, num_steps))
    prepend = lambda x0, xs: jnp.concatenate([jnp.asarray(x0)[None], xs])
    mu = jax.tree_util.tree_map(prepend, mu0, path[0])
    sigma = jax.tree_util.tree_map(prepend, sigma0, path[1])
    return DescentTrace(mu=mu, sigma=sigma)
