"""SGB layers: developed weights follow the genome; factorised and exact paths agree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgb_jax import SGBMLP, CellTypeSpec, SGBConv, SGBDense, population


def _dense(n_in=12, n_out=8, k_in=3, k_out=2, **kw):
    layer = SGBDense(n_in, n_out, CellTypeSpec(k_in), CellTypeSpec(k_out), **kw)
    params = layer.init({"params": jax.random.key(0), "noise": jax.random.key(1)},
                        jnp.ones((1, n_in)))["params"]
    # give every type pair its own distinct, sizeable sigma and bias
    params = dict(params)
    params["rho"] = jax.random.normal(jax.random.key(2), params["rho"].shape) * 0.5 - 0.5
    params["mu"] = jax.random.normal(jax.random.key(3), params["mu"].shape)
    params["bias_mu"] = jnp.linspace(-1, 1, k_out)
    params["bias_rho"] = jnp.full((k_out,), -1.0)
    return layer, params


def _develop_many(layer, params, n, key=4):
    keys = jax.random.split(jax.random.key(key), n)
    return jax.vmap(lambda k: layer.apply({"params": params}, k, method="develop"))(keys)


def test_developed_weights_match_block_mu_and_sigma():
    layer, p = _dense()
    w = np.asarray(_develop_many(layer, p, 4000)["kernel"])  # (N, 12, 8)
    t_in, t_out = np.arange(12) * 3 // 12, np.arange(8) * 2 // 8
    sigma = np.asarray(jax.nn.softplus(p["rho"]))
    for i in range(3):
        for j in range(2):
            block = w[:, t_in == i][:, :, t_out == j].reshape(-1)
            se = sigma[i, j] / np.sqrt(block.size)
            assert abs(block.mean() - float(p["mu"][i, j])) < 5 * se
            assert abs(block.std() / sigma[i, j] - 1) < 0.03
    # synapses of one block are independent draws, not one shared draw
    one = w[0, t_in == 0][:, t_out == 0]
    assert one.std() > 0.5 * sigma[0, 0]


def test_mean_network_is_expanded_mu():
    layer, p = _dense()
    ph = layer.apply({"params": p}, None, method="develop")
    t_in, t_out = np.arange(12) * 3 // 12, np.arange(8) * 2 // 8
    np.testing.assert_allclose(ph["kernel"], np.asarray(p["mu"])[t_in][:, t_out])
    np.testing.assert_allclose(ph["bias"], np.asarray(p["bias_mu"])[t_out])


def test_factorised_and_exact_paths_agree_in_mean_and_variance():
    layer, p = _dense()
    x = jax.random.uniform(jax.random.key(5), (3, 12))
    n = 20000
    phen = _develop_many(layer, p, n)
    exact = jnp.einsum("bi,nio->nbo", x, phen["kernel"]) + phen["bias"][:, None]
    keys = jax.random.split(jax.random.key(6), n)
    fact = jax.vmap(lambda k: layer.apply({"params": p}, x, rngs={"noise": k}))(keys)
    m_e, m_f = exact.mean(0), fact.mean(0)
    v_e, v_f = exact.var(0), fact.var(0)
    se = np.sqrt(v_e / n)
    assert np.all(np.abs(m_e - m_f) < 5 * np.sqrt(2) * se)
    np.testing.assert_allclose(v_f, v_e, rtol=0.06)
    # and the mean network is the factorised forward without noise
    det = layer.apply({"params": p}, x, True)
    mean_ph = layer.apply({"params": p}, None, method="develop")
    np.testing.assert_allclose(det, x @ mean_ph["kernel"] + mean_ph["bias"], rtol=1e-5, atol=1e-6)


def test_k_equal_n_is_a_full_bayesian_layer_and_k_one_shares_everything():
    full, p_full = _dense(6, 4, 6, 4)
    assert p_full["mu"].shape == (6, 4)
    np.testing.assert_allclose(full.apply({"params": p_full}, None, method="develop")["kernel"],
                               p_full["mu"])
    shared, p_one = _dense(6, 4, 1, 1)
    assert p_one["mu"].shape == (1, 1) and p_one["rho"].shape == (1, 1)
    w = np.asarray(_develop_many(shared, p_one, 2000)["kernel"])
    sigma = float(jax.nn.softplus(p_one["rho"][0, 0]))
    assert abs(w.mean() - float(p_one["mu"][0, 0])) < 5 * sigma / np.sqrt(w.size)
    assert abs(w.std() / sigma - 1) < 0.03


def test_conv_genome_has_one_type_axis_per_kernel_dimension():
    types = (CellTypeSpec(1), CellTypeSpec(3), CellTypeSpec(2), CellTypeSpec(4))
    conv = SGBConv(4, 8, (3, 3), types)
    x = jnp.ones((2, 5, 5, 4))
    p = conv.init({"params": jax.random.key(0), "noise": jax.random.key(1)}, x)["params"]
    assert p["mu"].shape == (1, 3, 2, 4) and p["bias_mu"].shape == (4,)
    mean = conv.apply({"params": p}, None, method="develop")["kernel"]
    assert mean.shape == (3, 3, 4, 8)
    # kernel rows share one type; columns 0,1,2 are three types
    np.testing.assert_allclose(mean[0], mean[2])
    assert not np.allclose(mean[:, 0], mean[:, 1])
    keys = jax.random.split(jax.random.key(2), 3000)
    ks = jax.vmap(lambda k: conv.apply({"params": p}, k, method="develop")["kernel"])(keys)
    sigma = np.asarray(jax.nn.softplus(p["rho"]))[0, 0, 0, 0]
    block = np.asarray(ks[:, :, 0, :2, :2]).reshape(-1)
    assert abs(block.std() / sigma - 1) < 0.05
    y = conv.apply({"params": p}, x, True)
    assert y.shape == (2, 5, 5, 8)


def test_population_of_mlp_phenotypes_is_applied_by_plain_mlp():
    model = SGBMLP((16, 10, 3), (CellTypeSpec(4, "tiles", (4, 4)), CellTypeSpec(5),
                                 CellTypeSpec(3)))
    g = model.init({"params": jax.random.key(0), "noise": jax.random.key(1)},
                   jnp.ones((1, 16)))["params"]
    pop = population.develop_population(model, g, jax.random.key(2), 7)
    assert pop["dense_0"]["kernel"].shape == (7, 16, 10)
    x = jax.random.normal(jax.random.key(3), (5, 16))
    out = population.evaluate(lambda ph: model.plain().apply({"params": ph}, x), pop)
    assert out.shape == (7, 5, 3)
    assert float(jnp.std(out, axis=0).mean()) > 0  # individuals differ
    mean_ph = population.mean_network(model, g)
    np.testing.assert_allclose(model.plain().apply({"params": mean_ph}, x),
                               model.apply({"params": g}, x, True), rtol=1e-5, atol=1e-5)


def test_mlp_rejects_mismatched_cell_types():
    model = SGBMLP((16, 10, 3), (CellTypeSpec(4), CellTypeSpec(5)))
    with pytest.raises(ValueError, match="cell_types"):
        model.init({"params": jax.random.key(0), "noise": jax.random.key(1)}, jnp.ones((1, 16)))
