"""Intermittent DGB training (Shuvaev et al., PNAS 2024) and the plain-network baseline.

One iteration `n = 1, 2, ...`:
  1. train the p-net on `pnet_samples` examples (~1/6 epoch in PNAS) with Adam;
  2. fit the g-nets to the p-net's weights (MSE, Adam, `gnet_steps` steps);
  3. regenerate the p-net: `W <- e W + (1 - e) g(W)` with `e = exp(-n / mix_tau)` (PNAS tau = 20),
     so the p-net is handed over to the genome gradually.
The innate network is `generate(g-nets)`: the p-net the genome develops, not trained further.
Phases are jitted whole and each is a `lax.scan`; `eval_every` iterations run as one compiled call.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from flax import struct

from sgb_jax import compression
from sgb_jax.dgb import codes
from sgb_jax.dgb.gnet import (
    CompressedLayer,
    DGBSpec,
    fit_loss,
    generate,
    genome_param_count,
    init_gnets,
)
from sgb_jax.models import PlainMLP

DATASET_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
NUM_CLASSES = 10
MODEL_KINDS = ("mlp", "convnet")


class ConfigError(ValueError):
    """A DGB config that cannot run; the message names the field and the allowed values."""


@struct.dataclass
class DGBState:
    pnet: Any
    pnet_opt: Any
    gnets: Any
    gnet_opt: Any


def dense_spec(input_codes: np.ndarray, hidden_sizes: tuple[int, ...], num_classes: int,
               hidden: tuple[int, ...], bias_hidden: tuple[int, ...],
               prefix: str = "dense_") -> DGBSpec:
    """PNAS code layout for a dense stack `prefix0..`: binary ids for hidden neurons, one-hot
    outputs, hidden biases from bias g-nets, output biases uncompressed."""
    layer_codes = [input_codes, *[codes.binary_code(h) for h in hidden_sizes],
                   codes.one_hot_code(num_classes)]
    n = len(layer_codes) - 1
    layers = tuple(CompressedLayer(f"{prefix}{i}", layer_codes[i], layer_codes[i + 1],
                                   layer_codes[i + 1] if i < n - 1 else None) for i in range(n))
    return DGBSpec(layers, tuple(hidden), tuple(bias_hidden))


def build(config: ml_collections.ConfigDict) -> tuple[nn.Module, DGBSpec, Callable]:
    """(p-net module, DGB spec, prep(images) -> network input) for `config`."""
    shape = DATASET_SHAPES[config.dataset]
    hidden_sizes = tuple(int(h) for h in config.model.hidden_sizes)
    d = config.dgb
    if config.model.kind == "mlp":
        module = PlainMLP((*hidden_sizes, NUM_CLASSES))
        spec = dense_spec(codes.pixel_code(*shape), hidden_sizes, NUM_CLASSES, tuple(d.hidden),
                          tuple(d.bias_hidden))
        return module, spec, lambda x: jnp.asarray(x, jnp.float32).reshape(x.shape[0], -1)
    from sgb_jax import convnet  # imported lazily: the MLP path needs no conv code

    module = convnet.PlainConvNet(tuple(config.model.conv_features), hidden_sizes, NUM_CLASSES,
                                  int(config.model.get("kernel_size", 5)))
    spec = dense_spec(codes.pixel_code(*module.feature_shape(shape)), hidden_sizes, NUM_CLASSES,
                      tuple(d.hidden), tuple(d.bias_hidden))
    return module, spec, lambda x: jnp.asarray(x, jnp.float32)


def validate(config: ml_collections.ConfigDict) -> None:
    """Check a DGB / plain config before anything compiles."""
    if config.dataset not in DATASET_SHAPES:
        raise ConfigError(f"dataset must be one of {sorted(DATASET_SHAPES)}, got "
                          f"{config.dataset!r}")
    if config.model.kind not in MODEL_KINDS:
        raise ConfigError(f"model.kind must be one of {MODEL_KINDS}, got {config.model.kind!r}")
    d = config.dgb
    for field in ("iterations", "pnet_samples", "pnet_batch_size", "gnet_steps", "eval_every"):
        v = d[field]
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"dgb.{field} must be a positive integer, got {v!r}")
    if d.gnet_pairs < 0:
        raise ConfigError(f"dgb.gnet_pairs must be >= 0 (0 = all synapses), got {d.gnet_pairs}")
    for field in ("pnet_learning_rate", "gnet_learning_rate", "mix_tau"):
        if not d[field] > 0:
            raise ConfigError(f"dgb.{field} must be > 0, got {d[field]!r}")
    for field in ("hidden", "bias_hidden"):
        if not d[field] or any(int(h) < 1 for h in d[field]):
            raise ConfigError(f"dgb.{field} must be a non-empty tuple of positive sizes, got "
                              f"{d[field]!r}")
    if d.pnet_batch_size > d.pnet_samples:
        raise ConfigError(f"dgb.pnet_batch_size ({d.pnet_batch_size}) exceeds dgb.pnet_samples "
                          f"({d.pnet_samples})")


def check_compressible(config: ml_collections.ConfigDict) -> tuple[int, int]:
    """(plain params, genome params); raises if the g-nets are not smaller than the p-net."""
    module, spec, prep = build(config)
    shape = DATASET_SHAPES[config.dataset]
    pnet = jax.eval_shape(lambda: module.init(jax.random.key(0),
                                              prep(np.zeros((1, *shape))))["params"])
    gnets = jax.eval_shape(lambda: init_gnets(spec, jax.random.key(0)))
    plain, genome = compression.param_count(pnet), genome_param_count(spec, gnets, pnet)
    if genome >= plain:
        raise ConfigError(f"dgb.hidden {tuple(config.dgb.hidden)} gives a genome of {genome} "
                          f"params, not smaller than the {plain}-param p-net; choose smaller "
                          "g-net hidden sizes")
    return plain, genome


def _accuracy(apply_fn, params, x: jax.Array, y: jax.Array, chunk: int = 2000) -> jax.Array:
    n = x.shape[0] // chunk * chunk
    xs = x[:n].reshape(-1, chunk, *x.shape[1:])
    ys = y[:n].reshape(-1, chunk)
    hits = jax.lax.map(lambda b: jnp.sum(jnp.argmax(apply_fn(params, b[0]), -1) == b[1]),
                       (xs, ys))
    rest = jnp.sum(jnp.argmax(apply_fn(params, x[n:]), -1) == y[n:]) if n < x.shape[0] else 0
    return (jnp.sum(hits) + rest) / x.shape[0]


def make_pnet_phase(apply_fn, optimizer, steps: int, batch: int):
    """`phase(pnet, opt_state, x, y, key)`: `steps` Adam steps on random batches (one scan)."""

    def loss_fn(params, xb, yb):
        logits = apply_fn(params, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def phase(pnet, opt_state, x, y, key):
        idx = jax.random.permutation(key, x.shape[0])[:steps * batch].reshape(steps, batch)

        def step(carry, i):
            params, opt = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, x[i], y[i])
            updates, opt = optimizer.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), loss

        (pnet, opt_state), losses = jax.lax.scan(step, (pnet, opt_state), idx)
        return pnet, opt_state, losses.mean()

    return phase


def make_gnet_phase(spec: DGBSpec, optimizer, steps: int, num_pairs: int):
    """`phase(gnets, opt_state, pnet, key)`: fit the g-nets to `pnet` (one scan of Adam steps)."""

    def phase(gnets, opt_state, pnet, key):
        def step(carry, k):
            g, opt = carry
            loss, grads = jax.value_and_grad(fit_loss, argnums=1)(spec, g, pnet, k, num_pairs)
            updates, opt = optimizer.update(grads, opt, g)
            return (optax.apply_updates(g, updates), opt), loss

        (gnets, opt_state), losses = jax.lax.scan(step, (gnets, opt_state),
                                                  jax.random.split(key, steps))
        return gnets, opt_state, losses[-1]

    return phase


def _load(config):
    from sgb_jax import data  # lazily: the unit tests pass arrays

    out = []
    for split in ("train", "test"):
        x, y = data.load(config.dataset, split, data_dir=config.get("data_dir"),
                         raw_dir=config.get("raw_dir"))
        out.append((x, y))
    limit = config.get("max_train_examples")
    if limit:
        out[0] = (out[0][0][:limit], out[0][1][:limit])
    return out


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | None = None,
                       datasets=None, method: str = "dgb") -> dict[str, Any]:
    """Train DGB (`method='dgb'`) or the plain p-net alone (`'plain'`); return a summary dict.

    The plain baseline runs the same p-net phases for the same number of iterations with no g-net.
    `datasets=((x_tr, y_tr), (x_te, y_te))` skips loading. Writes `<workdir>/summary.json` if
    `workdir` is given.
    """
    if method not in ("dgb", "plain"):
        raise ConfigError(f"method must be 'dgb' or 'plain', got {method!r}")
    validate(config)
    plain_params, genome_params = check_compressible(config)
    (x_tr, y_tr), (x_te, y_te) = datasets if datasets is not None else _load(config)
    module, spec, prep = build(config)
    x_tr, x_te = prep(x_tr), prep(x_te)
    y_tr, y_te = jnp.asarray(y_tr, jnp.int32), jnp.asarray(y_te, jnp.int32)
    d = config.dgb
    batch = d.pnet_batch_size
    steps = min(d.pnet_samples, x_tr.shape[0]) // batch
    if steps < 1:
        raise ConfigError(f"dgb.pnet_batch_size {batch} exceeds the {x_tr.shape[0]} examples")

    def apply_fn(params, x):
        return module.apply({"params": params}, x)

    key = jax.random.key(config.seed)
    k_p, k_g, k_run = jax.random.split(key, 3)
    pnet = module.init(k_p, x_tr[:1])["params"]
    p_opt = optax.adam(d.pnet_learning_rate)
    g_opt = optax.adam(d.gnet_learning_rate)
    gnets = init_gnets(spec, k_g)
    state = DGBState(pnet, p_opt.init(pnet), gnets, g_opt.init(gnets))
    pnet_phase = make_pnet_phase(apply_fn, p_opt, steps, batch)
    gnet_phase = make_gnet_phase(spec, g_opt, d.gnet_steps, d.gnet_pairs)
    use_gnet = method == "dgb"

    def iteration(state: DGBState, n: jax.Array, x, y):
        kp, kg = jax.random.split(jax.random.fold_in(k_run, n))
        pnet, p_state, p_loss = pnet_phase(state.pnet, state.pnet_opt, x, y, kp)
        if not use_gnet:
            return state.replace(pnet=pnet, pnet_opt=p_state), (p_loss, jnp.float32(0.0))
        gnets, g_state, g_loss = gnet_phase(state.gnets, state.gnet_opt, pnet, kg)
        e = jnp.exp(-(n + 1.0) / d.mix_tau)
        pnet = jax.tree.map(lambda w, g: e * w + (1.0 - e) * g, pnet, generate(spec, gnets, pnet))
        return DGBState(pnet, p_state, gnets, g_state), (p_loss, g_loss)

    @jax.jit
    def chunk(state, ns, x, y):
        return jax.lax.scan(lambda s, n: iteration(s, n, x, y), state, ns)

    @jax.jit
    def evaluate(state, x, y):
        innate = generate(spec, state.gnets, state.pnet) if use_gnet else state.pnet
        return _accuracy(apply_fn, innate, x, y), _accuracy(apply_fn, state.pnet, x, y)

    history, t0 = [], time.time()
    for start in range(0, d.iterations, d.eval_every):
        ns = jnp.arange(start, min(start + d.eval_every, d.iterations))
        state, (p_loss, g_loss) = chunk(state, ns, x_tr, y_tr)
        innate, pnet_acc = (float(v) for v in evaluate(state, x_te, y_te))
        row = {"iteration": int(ns[-1]) + 1, "pnet_loss": float(p_loss[-1]),
               "fit_loss": float(g_loss[-1]), "innate_accuracy": innate,
               "pnet_accuracy": pnet_acc, "seconds": time.time() - t0}
        history.append(row)
        logging.info("%s iter %d/%d pnet loss %.4f fit %.4f innate acc %.4f p-net acc %.4f %.0fs",
                     method, row["iteration"], d.iterations, row["pnet_loss"], row["fit_loss"],
                     innate, pnet_acc, row["seconds"])
    genome = genome_params if use_gnet else plain_params
    summary = {
        "method": method, "dataset": config.dataset, "seed": int(config.seed),
        "compression_ratio": compression.compression_ratio(plain_params, genome),
        "genome_params": genome, "plain_params": plain_params,
        "innate_accuracy": history[-1]["innate_accuracy"],
        "pnet_accuracy": history[-1]["pnet_accuracy"],
        "train_seconds": time.time() - t0, "history": history,
    }
    if not math.isfinite(summary["innate_accuracy"]):
        raise FloatingPointError(f"{method} produced a non-finite accuracy")
    if workdir is not None:
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "summary.json"), "w") as f:
            json.dump({**summary, "config": config.to_dict()}, f, indent=2, default=str)
    return summary
