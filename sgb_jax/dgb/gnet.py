"""G-networks of the deterministic genomic bottleneck and the p-net layers they generate.

A g-net (Shuvaev et al., PNAS 2024) is a small MLP `g(c_pre ++ c_post) -> w` shared by all synapses
of one p-net weight matrix; a bias g-net `g(c_post) -> b` serves a hidden layer's biases. Generating
a whole matrix evaluates the g-net on every (pre, post) pair at once: the first layer of an MLP on a
concatenation splits as `c_pre K_pre + c_post K_post + b`, so it costs two small matmuls and one
broadcast sum, and the rest is one batched matmul over the `n_pre x n_post` grid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from sgb_jax import compression

# Largest (pre, post, hidden) activation block evaluated at once when generating a matrix.
_GRID_ELEMENTS = 2**24


class GNet(nn.Module):
    """MLP `sum(in_dims) -> hidden... -> 1` (ReLU), output times the fixed `output_scale`.

    `in_dims` is `(d_pre, d_post)` for a weight g-net, `(d,)` for a bias g-net. `output_scale` (a
    constant, not a parameter: 1/sqrt(fan_in) of the generated layer) puts the g-net's raw output at
    unit scale, so one Adam learning rate suits every layer.
    """

    in_dims: tuple[int, ...]
    hidden: tuple[int, ...]
    output_scale: float = 1.0

    def _layers(self) -> list[tuple[jax.Array, jax.Array]]:
        sizes = (sum(self.in_dims), *self.hidden, 1)
        return [(self.param(f"kernel_{i}", nn.initializers.lecun_normal(), (a, b)),
                 self.param(f"bias_{i}", nn.initializers.zeros, (b,)))
                for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))]

    @staticmethod
    def _tail(h: jax.Array, layers) -> jax.Array:
        for kernel, bias in layers[1:]:
            h = nn.relu(h) @ kernel + bias
        return h[..., 0]

    @nn.compact
    def __call__(self, *codes: jax.Array, grid: bool = True) -> jax.Array:
        """Raw (unscaled) outputs.

        One code array `(n, d)` -> `(n,)`. Two arrays `pre (n_pre, d_pre)`, `post (n_post, d_post)`:
        `grid=True` -> every pair, `(n_pre, n_post)`; `grid=False` -> row-wise pairs (`n_pre ==
        n_post`), `(n,)`, used to fit on a random subset of synapses.
        """
        layers = self._layers()
        k0, b0 = layers[0]
        if len(codes) != len(self.in_dims):
            raise ValueError(f"g-net takes {len(self.in_dims)} code arrays, got {len(codes)}")
        if len(codes) == 1:
            h = codes[0] @ k0 + b0
        else:
            pre, post = codes
            a, b = pre @ k0[:self.in_dims[0]], post @ k0[self.in_dims[0]:]
            if not grid:
                return self._tail(a + b + b0, layers)
            rows = max(1, _GRID_ELEMENTS // (b.shape[0] * max(self.hidden)))
            if rows >= a.shape[0]:
                return self._tail(a[:, None, :] + b[None, :, :] + b0, layers)
            # Wide g-nets: generate the matrix in row blocks so the (rows, n_post, hidden)
            # activations stay small.
            n = a.shape[0]
            pad = -n % rows
            a = jnp.pad(a, ((0, pad), (0, 0))).reshape(-1, rows, a.shape[1])
            out = jax.lax.map(lambda ab: self._tail(ab[:, None, :] + b[None, :, :] + b0, layers),
                              a)
            return out.reshape(-1, b.shape[0])[:n]
        return self._tail(h, layers)


@dataclasses.dataclass(frozen=True)
class CompressedLayer:
    """One p-net dense layer `name` (param tree `{kernel, bias}`) whose kernel a g-net generates.

    `bias_codes=None` keeps the bias uncompressed (a genome parameter, PNAS: output biases).
    """

    name: str
    pre_codes: np.ndarray
    post_codes: np.ndarray
    bias_codes: np.ndarray | None

    @property
    def fan_in(self) -> int:
        return self.pre_codes.shape[0]


@dataclasses.dataclass(frozen=True)
class DGBSpec:
    """Which p-net layers are generated and by which g-net sizes.

    Attributes:
      layers: the compressed layers; every other p-net parameter is copied into the genome as is.
      hidden: hidden sizes of each weight g-net (PNAS GN5: (10, 5); GN20: (20, 10); GN30: (30, 10)).
      bias_hidden: hidden sizes of each bias g-net (PNAS: (5,)).
    """

    layers: tuple[CompressedLayer, ...]
    hidden: tuple[int, ...]
    bias_hidden: tuple[int, ...] = (5,)

    def weight_gnet(self, layer: CompressedLayer) -> GNet:
        dims = (layer.pre_codes.shape[1], layer.post_codes.shape[1])
        return GNet(dims, tuple(self.hidden), 1.0 / float(np.sqrt(layer.fan_in)))

    def bias_gnet(self, layer: CompressedLayer) -> GNet:
        return GNet((layer.bias_codes.shape[1],), tuple(self.bias_hidden),
                    1.0 / float(np.sqrt(layer.fan_in)))


def init_gnets(spec: DGBSpec, key: jax.Array) -> dict:
    """G-net params `{name: ..., 'bias_' + name: ...}`."""
    out = {}
    for i, layer in enumerate(spec.layers):
        k = jax.random.fold_in(key, i)
        kw, kb = jax.random.split(k)
        out[layer.name] = spec.weight_gnet(layer).init(
            kw, jnp.asarray(layer.pre_codes[:1]), jnp.asarray(layer.post_codes[:1]))["params"]
        if layer.bias_codes is not None:
            out["bias_" + layer.name] = spec.bias_gnet(layer).init(
                kb, jnp.asarray(layer.bias_codes[:1]))["params"]
    return out


def generate(spec: DGBSpec, gnets: dict, pnet: dict) -> dict:
    """The p-net that the genome develops: compressed tensors from the g-nets, the rest from `pnet`.

    This is the DGB's innate network (no further training). `pnet` supplies the uncompressed
    parameters (output biases, and any layer not in `spec`, e.g. CIFAR conv layers).
    """
    out = dict(pnet)
    for layer in spec.layers:
        g = spec.weight_gnet(layer)
        kernel = g.apply({"params": gnets[layer.name]}, jnp.asarray(layer.pre_codes),
                         jnp.asarray(layer.post_codes)) * g.output_scale
        new = dict(pnet[layer.name], kernel=kernel)
        if layer.bias_codes is not None:
            gb = spec.bias_gnet(layer)
            new["bias"] = gb.apply({"params": gnets["bias_" + layer.name]},
                                   jnp.asarray(layer.bias_codes)) * gb.output_scale
        out[layer.name] = new
    return out


def fit_loss(spec: DGBSpec, gnets: dict, pnet: dict, key: jax.Array | None,
             num_pairs: int = 0) -> jax.Array:
    """Sum over tensors of the MSE between g-net output and p-net weights, in g-net units.

    `num_pairs > 0` estimates each weight MSE on that many synapses drawn uniformly (with
    replacement); 0 uses every synapse.
    """
    total = jnp.float32(0.0)
    for i, layer in enumerate(spec.layers):
        g = spec.weight_gnet(layer)
        target = pnet[layer.name]["kernel"] / g.output_scale
        if num_pairs:
            ka, kb = jax.random.split(jax.random.fold_in(key, i))
            a = jax.random.randint(ka, (num_pairs,), 0, target.shape[0])
            b = jax.random.randint(kb, (num_pairs,), 0, target.shape[1])
            pred = g.apply({"params": gnets[layer.name]}, jnp.asarray(layer.pre_codes)[a],
                           jnp.asarray(layer.post_codes)[b], grid=False)
            total += jnp.mean((pred - target[a, b]) ** 2)
        else:
            pred = g.apply({"params": gnets[layer.name]}, jnp.asarray(layer.pre_codes),
                           jnp.asarray(layer.post_codes))
            total += jnp.mean((pred - target) ** 2)
        if layer.bias_codes is not None:
            gb = spec.bias_gnet(layer)
            pred = gb.apply({"params": gnets["bias_" + layer.name]}, jnp.asarray(layer.bias_codes))
            total += jnp.mean((pred - pnet[layer.name]["bias"] / gb.output_scale) ** 2)
    return total


def genome_param_count(spec: DGBSpec, gnets: dict, pnet: dict) -> int:
    """G-net parameters plus every p-net parameter the g-nets do not generate."""
    kept = 0
    for name, params in pnet.items():
        layer = next((ly for ly in spec.layers if ly.name == name), None)
        for pname, value in params.items():
            if layer is None or not (pname == "kernel" or (pname == "bias"
                                                            and layer.bias_codes is not None)):
                kept += int(np.prod(value.shape))
    return compression.param_count(gnets) + kept


def gnet_param_count(in_dim: int, hidden: Sequence[int]) -> int:
    """Parameters of an MLP `in_dim -> hidden... -> 1` (weights and biases)."""
    sizes = (in_dim, *hidden, 1)
    return int(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True)))
