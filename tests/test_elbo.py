"""The ELBO loss: gradients match finite differences; the KL term reaches mu and rho."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from sgb_jax import SGBMLP, CellTypeSpec, priors
from sgb_jax.supervised.train import make_loss_fn


@pytest.mark.parametrize("prior,scope", [(priors.GaussianPrior(0.5), "type_pair"),
                                         (priors.ScaleMixturePrior(0.25, 1.0, 0.05), "synapse")])
def test_elbo_gradient_matches_finite_differences(prior, scope):
    with jax.enable_x64(True):
        model = SGBMLP((4, 6, 3), (CellTypeSpec(2), CellTypeSpec(3), CellTypeSpec(3)),
                       activation="tanh")
        x = jax.random.normal(jax.random.key(0), (5, 4), jnp.float64)
        y = jnp.array([0, 1, 2, 1, 0])
        genome = model.init({"params": jax.random.key(1), "noise": jax.random.key(2)}, x)["params"]
        genome = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), genome)
        loss_fn = make_loss_fn(model, prior, kl_weight=0.1, kl_scope=scope, num_samples=3,
                               kl_samples=2)
        key = jax.random.key(3)  # fixed noise: the reparameterised loss is a smooth function

        @jax.jit
        def f(g):
            return loss_fn(g, x, y, key)[0]

        grad = jax.grad(f)(genome)
        flat, unravel = jax.flatten_util.ravel_pytree(genome)
        g_flat = jax.flatten_util.ravel_pytree(grad)[0]
        h = 1e-6
        idx = np.random.default_rng(0).choice(flat.size, 12, replace=False)
        eye = jnp.eye(flat.size, dtype=flat.dtype)[idx] * h
        f_flat = jax.jit(jax.vmap(lambda v: f(unravel(v))))
        fd = (f_flat(flat + eye) - f_flat(flat - eye)) / (2 * h)
        np.testing.assert_allclose(np.asarray(g_flat[idx]), np.asarray(fd), rtol=1e-5, atol=1e-8)


def test_kl_gradient_reaches_mu_and_rho():
    model = SGBMLP((4, 6, 3), (CellTypeSpec(2), CellTypeSpec(3), CellTypeSpec(3)))
    genome = model.init({"params": jax.random.key(1), "noise": jax.random.key(2)},
                        jnp.ones((1, 4)))["params"]
    grad = jax.grad(lambda g: model.apply({"params": g}, priors.ScaleMixturePrior(),
                                          jax.random.key(0), method="kl"))(genome)
    for layer in ("dense_0", "dense_1"):
        for name in ("mu", "rho", "bias_rho"):
            assert float(jnp.abs(grad[layer][name]).sum()) > 0, (layer, name)
