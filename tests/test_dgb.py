"""Tests of the DGB baseline: neuron codes, exact PNAS parameter counts, g-net fitting, training."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import dgb_mnist
from sgb_jax.dgb import codes, gnet, train


def test_gray_code_neighbours_differ_in_one_bit():
    g = codes.gray(np.arange(32), 5)
    assert g.shape == (32, 5)
    assert len({tuple(r) for r in g}) == 32  # a bijection on 5 bits
    np.testing.assert_array_equal(np.abs(np.diff(g, axis=0)).sum(1), np.ones(31))
    np.testing.assert_array_equal(g[:4], [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 1],
                                          [0, 0, 0, 1, 0]])
    with pytest.raises(ValueError, match="does not fit"):
        codes.gray(np.array([32]), 5)


def test_code_bit_widths_match_pnas_layout():
    pix = codes.pixel_code(28, 28)
    assert pix.shape == (784, 10)  # 5-bit Gray column ++ 5-bit Gray row
    assert len({tuple(r) for r in pix}) == 784
    # Pixel (row 0, col 1) differs from (0, 0) in one column bit; (1, 0) in one row bit.
    assert np.sum(pix[0] != pix[1]) == 1 and np.sum(pix[0] != pix[28]) == 1
    assert np.sum(pix[0, 5:] != pix[28, 5:]) == 1
    hid = codes.binary_code(800)
    assert hid.shape == (800, 10) and len({tuple(r) for r in hid}) == 800
    out = codes.one_hot_code(10)
    np.testing.assert_array_equal(out, 2 * np.eye(10) - 1)
    assert codes.pixel_code(8, 8, 64).shape == (4096, 3 + 3 + 6)
    assert set(np.unique(pix)) == {-1.0, 1.0}


@pytest.mark.parametrize("size,params,ratio", [("gn5", 613, 1038), ("gn20", 1353, 470),
                                               ("gn30", 1973, 322)])
def test_pnas_parameter_counts(size, params, ratio):
    plain, genome = train.check_compressible(dgb_mnist.get_config(f"paper,{size}"))
    assert plain == 636_010
    assert genome == params
    assert round(plain / genome) == ratio
    h = dgb_mnist.GNET_SIZES[size]
    assert genome == 2 * gnet.gnet_param_count(20, h) + gnet.gnet_param_count(10, (5,)) + 10


def _spec():
    layer = gnet.CompressedLayer("dense_0", codes.pixel_code(8, 8), codes.binary_code(16),
                                 codes.binary_code(16))
    return gnet.DGBSpec((layer,), (16, 8), (5,))


def test_grid_and_pairwise_evaluation_agree():
    spec = _spec()
    g = gnet.init_gnets(spec, jax.random.key(0))
    layer = spec.layers[0]
    net = spec.weight_gnet(layer)
    grid = net.apply({"params": g["dense_0"]}, layer.pre_codes, layer.post_codes)
    a, b = np.meshgrid(np.arange(64), np.arange(16), indexing="ij")
    pairs = net.apply({"params": g["dense_0"]}, layer.pre_codes[a.ravel()],
                      layer.post_codes[b.ravel()], grid=False)
    np.testing.assert_allclose(np.asarray(grid).ravel(), np.asarray(pairs), rtol=1e-5, atol=1e-5)


def test_gnet_fits_a_smooth_weight_matrix():
    spec = _spec()
    rows, cols = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    pre = np.cos(np.pi * rows.ravel() / 7) + 0.5 * np.sin(np.pi * cols.ravel() / 7)
    post = np.linspace(-1, 1, 16)
    scale = 1 / np.sqrt(64)
    target = {"dense_0": {"kernel": jnp.asarray(scale * np.outer(pre, post), jnp.float32),
                          "bias": jnp.asarray(scale * post, jnp.float32)}}
    g = gnet.init_gnets(spec, jax.random.key(1))
    opt = optax.adam(1e-2)
    state = opt.init(g)

    @jax.jit
    def step(g, state):
        loss, grads = jax.value_and_grad(gnet.fit_loss, argnums=1)(spec, g, target, None)
        updates, state = opt.update(grads, state, g)
        return optax.apply_updates(g, updates), state, loss

    first = None
    for _ in range(600):
        g, state, loss = step(g, state)
        first = loss if first is None else first
    fitted = gnet.generate(spec, g, target)["dense_0"]["kernel"]
    rel = float(jnp.mean((fitted - target["dense_0"]["kernel"]) ** 2)
                / jnp.var(target["dense_0"]["kernel"]))
    assert rel < 0.05, rel
    assert float(loss) < 0.05 * float(first)


def test_bad_configs_name_the_field():
    c = dgb_mnist.get_config("test")
    c.dataset = "imagenet"
    with pytest.raises(train.ConfigError, match="dataset"):
        train.validate(c)
    c = dgb_mnist.get_config("test")
    c.model.hidden_sizes = (20,)
    c.dgb.hidden = (400, 400)
    with pytest.raises(train.ConfigError, match="dgb.hidden"):
        train.check_compressible(c)
    c = dgb_mnist.get_config("test")
    c.dgb.iterations = 0
    with pytest.raises(train.ConfigError, match="dgb.iterations"):
        train.validate(c)
    with pytest.raises(train.ConfigError, match="method"):
        train.train_and_evaluate(dgb_mnist.get_config("test"), method="sgd")


def _synthetic(n, seed):
    """Ten classes, each a Gaussian blob at its own place on a circle, plus pixel noise.

    Spatially smooth classes, like digits: the weights that separate them are smooth functions of
    the pixel position, which a g-net on Gray-coded positions can express.
    """
    rng = np.random.default_rng(seed)
    angle = 2 * np.pi * np.arange(10) / 10
    cy, cx = 13.5 + 8 * np.sin(angle), 13.5 + 8 * np.cos(angle)
    yy, xx = np.mgrid[:28, :28]
    blobs = np.exp(-((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2) / 18.0)
    y = rng.integers(0, 10, n).astype(np.int32)
    x = blobs[y] + 0.3 * rng.normal(size=(n, 28, 28))
    return np.clip(x, 0, 1)[..., None].astype(np.float32), y


def test_dgb_innate_network_beats_chance_on_synthetic_data():
    c = dgb_mnist.get_config("test")
    c.model.hidden_sizes = (32,)
    c.dgb.iterations = 30
    c.dgb.eval_every = 30
    c.dgb.pnet_samples = 1000
    c.dgb.pnet_batch_size = 50
    c.dgb.mix_tau = 5.0
    c.dgb.gnet_pairs = 2048
    ds = (_synthetic(1000, 1), _synthetic(500, 2))
    out = train.train_and_evaluate(c, datasets=ds)
    assert out["compression_ratio"] > 10
    assert out["innate_accuracy"] > 0.6, out  # chance is 0.1


def test_wide_gnet_generates_in_blocks_like_one_shot(monkeypatch):
    layer = gnet.CompressedLayer("dense_0", codes.pixel_code(8, 8), codes.binary_code(16), None)
    spec = gnet.DGBSpec((layer,), (40,))
    g = gnet.init_gnets(spec, jax.random.key(2))
    net = spec.weight_gnet(layer)
    whole = net.apply({"params": g["dense_0"]}, layer.pre_codes, layer.post_codes)
    monkeypatch.setattr(gnet, "_GRID_ELEMENTS", 7 * 16 * 40)  # 7-row blocks, ragged last block
    blocks = net.apply({"params": g["dense_0"]}, layer.pre_codes, layer.post_codes)
    np.testing.assert_allclose(np.asarray(blocks), np.asarray(whole), rtol=1e-5, atol=1e-6)
