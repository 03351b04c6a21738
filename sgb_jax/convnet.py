"""CIFAR-10 network, 2 conv + 3 FC (paper §2.2, Fig. 2D): `SGBConvNet` genome and `PlainConvNet`.

Only the FC layers are compressed by default (cell types: FC1 input 100 types, hidden layers
`hidden_types`, outputs 10); the conv layers are plain, deterministic, trained with the genome and
copied into every phenotype. `conv_types=(k_h, k_w, k_in, k_out)` makes the conv layers
`layers.SGBConv` genomes instead (4-D cell types), with their own compression accounting.
`SGBConvNet` has the interface of `models.SGBMLP`: `__call__(x, deterministic)`, `develop(key)`
-> param tree of `PlainConvNet`, `kl(...)`, `plain()`.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import ml_collections

from sgb_jax import cell_types as ct
from sgb_jax import priors
from sgb_jax.layers import SGBConv, SGBDense
from sgb_jax.models import activation_fn, develop_layers, kl_of_layers


def _pool(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (2, 2), (2, 2), padding="SAME")


def feature_shape(input_shape: Sequence[int], conv_features: Sequence[int]) -> tuple[int, int, int]:
    """Shape `(H, W, C)` of the conv feature map that FC1 flattens (each conv halves H and W)."""
    h, w = input_shape[0], input_shape[1]
    for _ in conv_features:
        h, w = -(-h // 2), -(-w // 2)
    return h, w, conv_features[-1]


def conv_param_count(input_channels: int, conv_features: Sequence[int], kernel_size: int) -> int:
    """Parameters of the plain conv stack (kernels and biases)."""
    total, c_in = 0, input_channels
    for c in conv_features:
        total += kernel_size * kernel_size * c_in * c + c
        c_in = c
    return total


class PlainConvNet(nn.Module):
    """conv-relu-pool x len(conv_features), then dense layers; applies phenotypes."""

    conv_features: Sequence[int] = (32, 64)
    hidden_sizes: Sequence[int] = (384, 192)
    num_classes: int = 10
    kernel_size: int = 5
    activation: str = "relu"

    def feature_shape(self, input_shape: Sequence[int]) -> tuple[int, int, int]:
        return feature_shape(input_shape, self.conv_features)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation_fn(self.activation)
        k = self.kernel_size
        for i, c in enumerate(self.conv_features):
            x = _pool(act(nn.Conv(c, (k, k), padding="SAME", name=f"conv_{i}")(x)))
        x = x.reshape(x.shape[0], -1)
        sizes = (*self.hidden_sizes, self.num_classes)
        for i, n in enumerate(sizes):
            x = nn.Dense(n, name=f"dense_{i}")(x)
            if i < len(sizes) - 1:
                x = act(x)
        return x


class SGBConvNet(nn.Module):
    """Genome of `PlainConvNet` over cell types (FC layers; conv layers optionally).

    Attributes:
      input_shape: image shape `(H, W, C)`.
      input_types, input_strategy: cell types of the flattened conv features entering FC1.
      hidden_types, output_types: cell types of the FC hidden and output neurons.
      conv_types: None (plain conv layers) or `(k_h, k_w, k_in, k_out)` types per conv layer.
    """

    input_shape: Sequence[int] = (32, 32, 3)
    conv_features: Sequence[int] = (32, 64)
    hidden_sizes: Sequence[int] = (384, 192)
    num_classes: int = 10
    kernel_size: int = 5
    input_types: int = 100
    input_strategy: str = "contiguous"
    hidden_types: int = 50
    output_types: int = 10
    conv_types: tuple[int, int, int, int] | None = None
    activation: str = "relu"
    mu_init: str = "normal"
    mu_init_scale: float = 1.0
    sigma_init: float = 0.1

    def setup(self) -> None:
        k = self.kernel_size
        convs, c_in = [], self.input_shape[2]
        for i, c in enumerate(self.conv_features):
            if self.conv_types is None:
                convs.append(nn.Conv(c, (k, k), padding="SAME", name=f"conv_{i}"))
            else:
                kh, kw, kin, kout = self.conv_types
                specs = (ct.CellTypeSpec(kh), ct.CellTypeSpec(kw), ct.CellTypeSpec(min(kin, c_in)),
                         ct.CellTypeSpec(kout))
                convs.append(SGBConv(c_in, c, (k, k), specs, mu_init=self.mu_init,
                                     mu_init_scale=self.mu_init_scale,
                                     sigma_init=self.sigma_init, name=f"conv_{i}"))
            c_in = c
        self.convs = convs
        fmap = feature_shape(self.input_shape, self.conv_features)
        sizes = (fmap[0] * fmap[1] * fmap[2], *self.hidden_sizes, self.num_classes)
        specs = [ct.CellTypeSpec(self.input_types, self.input_strategy,
                                 fmap if self.input_strategy == "tiles" else None)]
        specs += [ct.CellTypeSpec(self.hidden_types) for _ in self.hidden_sizes]
        specs += [ct.CellTypeSpec(self.output_types)]
        self.dense = [SGBDense(sizes[i], sizes[i + 1], specs[i], specs[i + 1],
                               mu_init=self.mu_init, mu_init_scale=self.mu_init_scale,
                               sigma_init=self.sigma_init, name=f"dense_{i}")
                      for i in range(len(sizes) - 1)]
        self.act = activation_fn(self.activation)

    def __call__(self, x: jax.Array, deterministic: bool = False) -> jax.Array:
        """Conv layers (sampled once per call if SGB), then the factorised FC forward."""
        for conv in self.convs:
            y = conv(x) if isinstance(conv, nn.Conv) else conv(x, deterministic)
            x = _pool(self.act(y))
        x = x.reshape(x.shape[0], -1)
        for i, layer in enumerate(self.dense):
            x = layer(x, deterministic)
            if i < len(self.dense) - 1:
                x = self.act(x)
        return x

    def develop(self, key: jax.Array | None) -> dict:
        """One phenotype (param tree of `PlainConvNet`); `key=None` gives the mean network."""
        return develop_layers([*self.convs, *self.dense], key)

    def kl(self, prior: priors.Prior, key: jax.Array | None, scope: str = "type_pair",
           num_samples: int = 1) -> jax.Array:
        """Sum of KL(q || prior) over the SGB layers (plain conv layers carry none)."""
        return kl_of_layers([*self.convs, *self.dense], prior, key, scope, num_samples)

    def plain(self) -> PlainConvNet:
        return PlainConvNet(tuple(self.conv_features), tuple(self.hidden_sizes),
                            self.num_classes, self.kernel_size, self.activation, parent=None)


def build(m: ml_collections.ConfigDict, input_shape: tuple[int, ...],
          num_classes: int) -> SGBConvNet:
    """Builder for `supervised.train.MODEL_BUILDERS['convnet']` from a `config.model` block."""
    conv_types = m.get("conv_types")
    return SGBConvNet(tuple(input_shape), tuple(m.conv_features), tuple(m.hidden_sizes),
                      num_classes, int(m.get("kernel_size", 5)), m.input_types,
                      m.get("input_strategy", "contiguous"), m.hidden_types, m.output_types,
                      None if conv_types is None else tuple(conv_types), m.activation,
                      m.mu_init, m.mu_init_scale, m.sigma_init)
