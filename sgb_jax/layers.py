"""SGB genome layers: a Gaussian per (pre type, post type) pair, developed into plain weights.

Paper §2.1: for neuron `a` of pre type `i = t(a)` and neuron `b` of post type `j = t(b)`,
`W[a, b] ~ N(mu[i, j], sigma[i, j]^2)` independently, with `sigma = softplus(rho)`; biases have one
Gaussian per post type. A layer offers the two forward paths of DESIGN.md §3 from one definition:

* `develop(key)`: the exact path; every synapse sampled, returns a plain `{'kernel', 'bias'}` dict that
  `flax.linen.Dense` / `Conv` apply unchanged (`key=None` gives the mean network, sigma = 0).
* `__call__(x)`: the factorised local-reparameterisation path for training (Kingma et al. 2015).
  With one-hot assignments `A_in`, `A_out`, the pre-activation of an example is Gaussian with mean
  `((x A_in) mu) A_out^T` and variance `((x^2 A_in) sigma^2) A_out^T`; we sample it per example.
  Cost is O(B (n_in k_in + k_in k_out + n_out)) instead of O(B n_in n_out).

Both layers need the `'noise'` RNG stream when applied stochastically.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from sgb_jax import cell_types as ct
from sgb_jax import priors

MU_INITS = ("zeros", "normal")


def _init_mu(scale: float, fan_in: int, kind: str):
    """mu init. `zeros` is the paper's (§4.3); `normal` draws N(0, scale^2 / fan_in) in type space,
    which breaks the symmetry between neurons of one type at once (fan_in = developed fan-in)."""
    if kind not in MU_INITS:
        raise ValueError(f"model.mu_init must be one of {MU_INITS}, got {kind!r}")
    if kind == "zeros":
        return nn.initializers.zeros
    return nn.initializers.normal(stddev=scale / np.sqrt(fan_in))


class SGBDense(nn.Module):
    """Dense layer whose weights are developed from a cell-type genome.

    Attributes:
      in_features, features: developed layer size `n_in -> n_out`.
      in_types, out_types: cell-type specs of the pre- and post-synaptic neurons.
      mu_init, mu_init_scale: see `_init_mu`.
      sigma_init: initial sigma of every type pair (as a multiple of 1/sqrt(n_in)).
      use_bias: bias distributions per post type.
    """

    in_features: int
    features: int
    in_types: ct.CellTypeSpec
    out_types: ct.CellTypeSpec
    mu_init: str = "normal"
    mu_init_scale: float = 1.0
    sigma_init: float = 0.1
    use_bias: bool = True

    def setup(self) -> None:
        self.t_in = self.in_types.assign(self.in_features, f"{self.name}.in_types")
        self.t_out = self.out_types.assign(self.features, f"{self.name}.out_types")
        k_in, k_out = self.in_types.k, self.out_types.k
        rho0 = priors.softplus_inverse(self.sigma_init / np.sqrt(self.in_features))
        self.mu = self.param("mu", _init_mu(self.mu_init_scale, self.in_features, self.mu_init),
                             (k_in, k_out))
        self.rho = self.param("rho", nn.initializers.constant(rho0), (k_in, k_out))
        if self.use_bias:
            self.bias_mu = self.param("bias_mu", nn.initializers.zeros, (k_out,))
            self.bias_rho = self.param("bias_rho", nn.initializers.constant(rho0), (k_out,))

    def _bias(self) -> tuple[jax.Array, jax.Array]:
        if not self.use_bias:
            zeros = jnp.zeros((self.out_types.k,))
            return zeros, zeros
        return self.bias_mu, nn.softplus(self.bias_rho)

    def __call__(self, x: jax.Array, deterministic: bool = False) -> jax.Array:
        """Factorised forward. `deterministic=True` is the mean network (no noise)."""
        # One-hot matmuls rather than gathers: their backward pass is a matmul too, where a
        # gather's is a scatter-add that runs serially on CPU and dominated wide layers.
        a_in = jnp.asarray(ct.one_hot(self.t_in, self.in_types.k), x.dtype)
        a_out_t = jnp.asarray(ct.one_hot(self.t_out, self.out_types.k).T, x.dtype)
        b_mu, b_sigma = self._bias()
        mean = ((x @ a_in) @ self.mu + b_mu) @ a_out_t
        if deterministic:
            return mean
        sigma = nn.softplus(self.rho)
        var = ((x**2 @ a_in) @ sigma**2 + b_sigma**2) @ a_out_t
        eps = jax.random.normal(self.make_rng("noise"), mean.shape, mean.dtype)
        return mean + jnp.sqrt(var) * eps

    def noise(self, key: jax.Array) -> dict[str, jax.Array]:
        """The standard-normal draws `eps` of one individual (`W = mu + sigma * eps`)."""
        kw, kb = jax.random.split(key)
        out = {"kernel": jax.random.normal(kw, (self.in_features, self.features))}
        if self.use_bias:
            out["bias"] = jax.random.normal(kb, (self.features,))
        return out

    def develop_from_noise(self, eps: dict[str, jax.Array] | None) -> dict[str, jax.Array]:
        """Phenotype `mu + sigma * eps` for given draws (`None`: the mean network).

        Lets a caller draw `eps` once and develop it again later (e.g. after a genome update)
        without paying for the random numbers twice; `develop(key)` is this of `noise(key)`.
        """
        t_in, t_out = jnp.asarray(self.t_in), jnp.asarray(self.t_out)
        kernel = self.mu[t_in][:, t_out]
        b_mu, b_sigma = self._bias()
        bias = b_mu[t_out]
        if eps is not None:
            kernel = kernel + nn.softplus(self.rho)[t_in][:, t_out] * eps["kernel"]
            if self.use_bias:
                bias = bias + b_sigma[t_out] * eps["bias"]
        out = {"kernel": kernel}
        if self.use_bias:
            out["bias"] = bias
        return out

    def develop(self, key: jax.Array | None) -> dict[str, jax.Array]:
        """Exact development of one phenotype; `key=None` gives the mean network."""
        return self.develop_from_noise(None if key is None else self.noise(key))

    def kl(self, prior: priors.Prior, key: jax.Array | None, scope: str = "type_pair",
           num_samples: int = 1) -> jax.Array:
        """KL(q || prior) of this layer's genome; `scope` per type pair (eq. 2) or per synapse."""
        if scope not in priors.KL_SCOPES:
            raise ValueError(f"kl scope must be one of {priors.KL_SCOPES}, got {scope!r}")
        n_in = np.bincount(self.t_in, minlength=self.in_types.k).astype(np.float32)
        n_out = np.bincount(self.t_out, minlength=self.out_types.k).astype(np.float32)
        w_kernel = np.outer(n_in, n_out) if scope == "synapse" else 1.0
        w_bias = n_out if scope == "synapse" else 1.0
        kw, kb = jax.random.split(key) if key is not None else (None, None)
        total = priors.kl_divergence(self.mu, nn.softplus(self.rho), prior, kw, w_kernel,
                                     num_samples)
        if self.use_bias:
            total += priors.kl_divergence(self.bias_mu, nn.softplus(self.bias_rho), prior, kb,
                                          w_bias, num_samples)
        return total


class SGBConv(nn.Module):
    """Convolution whose kernel `(h, w, c_in, c_out)` is developed from a 4-D type genome.

    Each kernel axis has its own cell types (paper §2.1: kernel rows, kernel columns, input and output
    channels), so `mu` and `rho` have shape `(k_h, k_w, k_in, k_out)`. Training samples one kernel per
    call (exact path, shared by the batch): the factorised trick would ignore the correlation that
    weight sharing across positions creates.
    """

    in_features: int
    features: int
    kernel_size: Sequence[int]
    types: tuple[ct.CellTypeSpec, ct.CellTypeSpec, ct.CellTypeSpec, ct.CellTypeSpec]
    padding: str = "SAME"
    mu_init: str = "normal"
    mu_init_scale: float = 1.0
    sigma_init: float = 0.1
    use_bias: bool = True

    def setup(self) -> None:
        kh, kw = self.kernel_size
        sizes = (kh, kw, self.in_features, self.features)
        axes = ("kernel_rows", "kernel_cols", "in_channels", "out_channels")
        self.axis_types = [spec.assign(n, f"{self.name}.{ax}")
                           for spec, n, ax in zip(self.types, sizes, axes, strict=True)]
        ks = tuple(spec.k for spec in self.types)
        fan_in = kh * kw * self.in_features
        rho0 = priors.softplus_inverse(self.sigma_init / np.sqrt(fan_in))
        self.mu = self.param("mu", _init_mu(self.mu_init_scale, fan_in, self.mu_init), ks)
        self.rho = self.param("rho", nn.initializers.constant(rho0), ks)
        if self.use_bias:
            self.bias_mu = self.param("bias_mu", nn.initializers.zeros, (ks[3],))
            self.bias_rho = self.param("bias_rho", nn.initializers.constant(rho0), (ks[3],))

    def _expand(self, table: jax.Array) -> jax.Array:
        t = [jnp.asarray(a) for a in self.axis_types]
        return table[t[0]][:, t[1]][:, :, t[2]][:, :, :, t[3]]

    def noise(self, key: jax.Array) -> dict[str, jax.Array]:
        """The standard-normal draws of one individual's kernel (and bias)."""
        kw, kb = jax.random.split(key)
        kh, kw_size = self.kernel_size
        out = {"kernel": jax.random.normal(kw, (kh, kw_size, self.in_features, self.features))}
        if self.use_bias:
            out["bias"] = jax.random.normal(kb, (self.features,))
        return out

    def develop_from_noise(self, eps: dict[str, jax.Array] | None) -> dict[str, jax.Array]:
        """Phenotype `mu + sigma * eps` for given draws (`None`: the mean network)."""
        kernel = self._expand(self.mu)
        if eps is not None:
            kernel = kernel + self._expand(nn.softplus(self.rho)) * eps["kernel"]
        out = {"kernel": kernel}
        if self.use_bias:
            bias = self.bias_mu[jnp.asarray(self.axis_types[3])]
            if eps is not None:
                bias = bias + nn.softplus(self.bias_rho)[jnp.asarray(self.axis_types[3])] \
                    * eps["bias"]
            out["bias"] = bias
        return out

    def develop(self, key: jax.Array | None) -> dict[str, jax.Array]:
        return self.develop_from_noise(None if key is None else self.noise(key))

    def __call__(self, x: jax.Array, deterministic: bool = False) -> jax.Array:
        phen = self.develop(None if deterministic else self.make_rng("noise"))
        y = jax.lax.conv_general_dilated(x, phen["kernel"], (1, 1), self.padding,
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + phen["bias"] if self.use_bias else y

    def kl(self, prior: priors.Prior, key: jax.Array | None, scope: str = "type_pair",
           num_samples: int = 1) -> jax.Array:
        if scope not in priors.KL_SCOPES:
            raise ValueError(f"kl scope must be one of {priors.KL_SCOPES}, got {scope!r}")
        counts = [np.bincount(a, minlength=s.k).astype(np.float32)
                  for a, s in zip(self.axis_types, self.types, strict=True)]
        w_kernel = (np.einsum("a,b,c,d->abcd", *counts) if scope == "synapse" else 1.0)
        kw, kb = jax.random.split(key) if key is not None else (None, None)
        total = priors.kl_divergence(self.mu, nn.softplus(self.rho), prior, kw, w_kernel,
                                     num_samples)
        if self.use_bias:
            w_bias = counts[3] if scope == "synapse" else 1.0
            total += priors.kl_divergence(self.bias_mu, nn.softplus(self.bias_rho), prior, kb,
                                          w_bias, num_samples)
        return total
