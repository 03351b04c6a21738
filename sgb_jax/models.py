"""Networks built from SGB layers, and the plain networks that apply their phenotypes.

`SGBMLP` is a genome: its params are the per-layer `mu`, `rho` tables. `develop(key)` returns a
phenotype with exactly the param tree of `PlainMLP(features=...)`, so one plain network applies every
developed individual, the mean network and, for comparison, an ordinarily trained network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from sgb_jax import cell_types as ct
from sgb_jax import priors
from sgb_jax.layers import SGBConv, SGBDense

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu, "tanh": jnp.tanh, "swish": nn.swish, "elu": nn.elu,
}


def activation_fn(name: str) -> Callable[[jax.Array], jax.Array]:
    if name not in ACTIVATIONS:
        raise ValueError(f"model.activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


def _is_sgb(layer: nn.Module) -> bool:
    return isinstance(layer, (SGBDense, SGBConv))


def noise_of_layers(layers: Sequence[nn.Module], key: jax.Array) -> dict:
    """One individual's standard-normal draws `{name: eps}` for the SGB layers of a stack (one key
    per layer, as `develop_layers` splits them)."""
    keys = jax.random.split(key, len(layers))
    return {layer.name: layer.noise(k) for layer, k in zip(layers, keys, strict=True)
            if _is_sgb(layer)}


def develop_layers_from_noise(layers: Sequence[nn.Module], noise: dict | None) -> dict:
    """Phenotype of a stack from given draws (`None`: mean network); deterministic layers
    contribute their own params unchanged."""
    return {layer.name: layer.develop_from_noise(None if noise is None else noise[layer.name])
            if _is_sgb(layer) else dict(layer.variables["params"]) for layer in layers}


def develop_layers(layers: Sequence[nn.Module], key: jax.Array | None) -> dict:
    """Phenotype of a stack of layers: SGB layers develop (one key each, `None` = mean network),
    deterministic layers contribute their own params unchanged."""
    return develop_layers_from_noise(layers, None if key is None else noise_of_layers(layers, key))


def kl_of_layers(layers: Sequence[nn.Module], prior: priors.Prior, key: jax.Array | None,
                 scope: str, num_samples: int) -> jax.Array:
    """Sum of KL(q || prior) over the SGB layers of a stack (deterministic layers carry none)."""
    sgb = [layer for layer in layers if _is_sgb(layer)]
    keys = [None] * len(sgb) if key is None else list(jax.random.split(key, len(sgb)))
    return sum((layer.kl(prior, k, scope, num_samples) for layer, k in zip(sgb, keys, strict=True)),
               jnp.float32(0.0))


class PlainMLP(nn.Module):
    """Deterministic MLP `n_0 -> features[0] -> ... -> features[-1]`; applies phenotypes."""

    features: Sequence[int]
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation_fn(self.activation)
        for i, n in enumerate(self.features):
            x = nn.Dense(n, name=f"dense_{i}")(x)
            if i < len(self.features) - 1:
                x = act(x)
        return x


class SGBMLP(nn.Module):
    """MLP genome `layer_sizes[0] -> ... -> layer_sizes[-1]` over the given cell types.

    Attributes:
      layer_sizes: developed sizes, input first.
      cell_types: one `CellTypeSpec` per entry of `layer_sizes` (a neuron keeps its type in both the
        layer it leaves and the layer it enters).
      deterministic_output: the last layer is an ordinary `nn.Dense` (the RL heads, paper §2.3).
    """

    layer_sizes: Sequence[int]
    cell_types: Sequence[ct.CellTypeSpec]
    activation: str = "relu"
    deterministic_output: bool = False
    mu_init: str = "normal"
    mu_init_scale: float = 1.0
    sigma_init: float = 0.1

    def setup(self) -> None:
        if len(self.layer_sizes) < 2:
            raise ValueError(f"model.layer_sizes needs >= 2 entries, got {self.layer_sizes}")
        if len(self.cell_types) != len(self.layer_sizes):
            raise ValueError(f"model.cell_types has {len(self.cell_types)} entries for "
                             f"{len(self.layer_sizes)} layer sizes; give one per layer size")
        n = len(self.layer_sizes) - 1
        layers = []
        for i in range(n):
            if i == n - 1 and self.deterministic_output:
                layers.append(nn.Dense(self.layer_sizes[i + 1], name=f"dense_{i}"))
            else:
                layers.append(SGBDense(
                    self.layer_sizes[i], self.layer_sizes[i + 1], self.cell_types[i],
                    self.cell_types[i + 1], mu_init=self.mu_init,
                    mu_init_scale=self.mu_init_scale, sigma_init=self.sigma_init,
                    name=f"dense_{i}"))
        self.layers = layers
        self.act = activation_fn(self.activation)

    def __call__(self, x: jax.Array, deterministic: bool = False) -> jax.Array:
        """Factorised (training) forward; `deterministic=True` is the mean network."""
        for i, layer in enumerate(self.layers):
            x = layer(x) if isinstance(layer, nn.Dense) else layer(x, deterministic)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return x

    def develop(self, key: jax.Array | None) -> dict:
        """One phenotype (param tree of `PlainMLP`); `key=None` gives the mean network."""
        return develop_layers(self.layers, key)

    def noise(self, key: jax.Array) -> dict:
        """One individual's draws: `develop(key) == develop_from_noise(noise(key))`."""
        return noise_of_layers(self.layers, key)

    def develop_from_noise(self, noise: dict | None) -> dict:
        """Phenotype from draws made earlier (`None`: the mean network)."""
        return develop_layers_from_noise(self.layers, noise)

    def kl(self, prior: priors.Prior, key: jax.Array | None, scope: str = "type_pair",
           num_samples: int = 1) -> jax.Array:
        """Sum of the SGB layers' KL(q || prior) (deterministic layers carry none)."""
        return kl_of_layers(self.layers, prior, key, scope, num_samples)

    def plain(self) -> PlainMLP:
        """The plain network that applies this genome's phenotypes."""
        return PlainMLP(tuple(self.layer_sizes[1:]), self.activation, parent=None)
