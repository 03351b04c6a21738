"""Supervised SGB training: Bayes-by-Backprop ELBO steps, checkpoints, innate evaluation.

The loss is the negative ELBO per datum (paper eq. 1, 3):
``mean_s CE(f(x; w_s), y) + kl_weight * mean_s KL_s(q || p)``, with `S = train.num_samples`
reparameterised samples drawn through the factorised local-reparameterisation forward, and
`kl_weight = 1 / N_train` unless set. Innate performance = test accuracy of developed individuals
with no further training (exact path), reported as mean ± SEM with the mean network beside it.

Every batch and key is a pure function of `(seed, step)`, so a run resumed from a checkpoint ends
with exactly the parameters of an uninterrupted run.
"""

from __future__ import annotations

import functools
import json
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
from flax import struct

from sgb_jax import cell_types as ct
from sgb_jax import compression, convnet, population, priors
from sgb_jax.checkpoint import Checkpointer
from sgb_jax.models import SGBMLP
from sgb_jax.supervised import config as config_lib


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN/Inf; the last good checkpoint is left untouched."""


@struct.dataclass
class TrainState:
    step: jax.Array
    genome: Any
    opt_state: Any


def _build_mlp(m: ml_collections.ConfigDict, input_shape: tuple[int, ...],
               num_classes: int) -> SGBMLP:
    n_in = int(np.prod(input_shape))
    hidden = tuple(int(h) for h in m.hidden_sizes)
    specs = [ct.CellTypeSpec(m.input_types, m.input_strategy, tuple(input_shape))]
    specs += [ct.CellTypeSpec(m.hidden_types) for _ in hidden]
    specs += [ct.CellTypeSpec(m.output_types)]
    return SGBMLP((n_in, *hidden, num_classes), tuple(specs), m.activation,
                  mu_init=m.mu_init, mu_init_scale=m.mu_init_scale, sigma_init=m.sigma_init)


# Model kinds -> builder(model_config, input_shape, num_classes). A builder returns a genome module
# with `__call__(x, deterministic)`, `develop(key)`, `kl(...)` and `plain()` (see SGBMLP).
MODEL_BUILDERS: dict[str, Callable[..., nn.Module]] = {"mlp": _build_mlp, "convnet": convnet.build}


def build_model(config: ml_collections.ConfigDict) -> nn.Module:
    shape = config_lib.DATASET_SHAPES[config.dataset]
    return MODEL_BUILDERS[config.model.kind](config.model, shape,
                                             config_lib.NUM_CLASSES[config.dataset])


def _prep(model: nn.Module, images: np.ndarray) -> jax.Array:
    """MLPs take flat vectors; conv models keep NHWC."""
    x = jnp.asarray(images, jnp.float32)
    return x.reshape(x.shape[0], -1) if isinstance(model, SGBMLP) else x


def make_loss_fn(model: nn.Module, prior: priors.Prior, kl_weight: float, kl_scope: str,
                 num_samples: int, kl_samples: int):
    """Negative ELBO per datum, averaged over `num_samples` reparameterised samples."""

    def loss_fn(genome, x, y, key):
        def one_sample(k):
            k_fwd, k_kl = jax.random.split(k)
            logits = model.apply({"params": genome}, x, rngs={"noise": k_fwd})
            nll = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            kl = model.apply({"params": genome}, prior, k_kl, kl_scope, kl_samples, method="kl")
            acc = jnp.mean(jnp.argmax(logits, -1) == y)
            return nll, kl, acc

        nll, kl, acc = jax.vmap(one_sample)(jax.random.split(key, num_samples))
        loss = nll.mean() + kl_weight * kl.mean()
        return loss, {"loss": loss, "nll": nll.mean(), "kl": kl.mean(), "train_accuracy": acc.mean()}

    return loss_fn


def make_train_step(loss_fn, optimizer: optax.GradientTransformation):
    @jax.jit
    def train_step(state: TrainState, x, y, key):
        grads, metrics = jax.grad(loss_fn, has_aux=True)(state.genome, x, y, key)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.genome)
        genome = optax.apply_updates(state.genome, updates)
        return TrainState(state.step + 1, genome, opt_state), metrics

    return train_step


@functools.partial(jax.jit, static_argnums=0)
def _num_correct(plain: nn.Module, phenotypes, xb: jax.Array, yb: jax.Array) -> jax.Array:
    # Module-level and keyed on the (hashable) plain network, so every chunk of individuals and the
    # mean network reuse one compilation instead of re-tracing a fresh closure per call.
    logits = jax.vmap(lambda p: plain.apply({"params": p}, xb))(phenotypes)
    return jnp.sum(jnp.argmax(logits, -1) == yb[None], axis=1)


def accuracy_of_population(model: nn.Module, phenotypes, x: jax.Array, y: jax.Array,
                           batch: int = 2000) -> np.ndarray:
    """Test accuracy of every individual of a stacked population (one vmapped call per batch)."""
    plain = model.plain()
    total = sum(np.asarray(_num_correct(plain, phenotypes, x[i:i + batch], y[i:i + batch]))
                for i in range(0, x.shape[0], batch))
    return total / x.shape[0]


def innate_evaluation(model: nn.Module, genome, key: jax.Array, x: jax.Array, y: jax.Array,
                      num_individuals: int, chunk: int) -> dict[str, Any]:
    """Innate (zero-shot) test accuracy of developed individuals and of the mean network."""
    accs = []
    keys = jax.random.split(key, num_individuals)
    develop = jax.jit(jax.vmap(lambda k: population.develop(model, genome, k)))
    for i in range(0, num_individuals, chunk):
        accs.append(accuracy_of_population(model, develop(keys[i:i + chunk]), x, y))
    accs = np.concatenate(accs)
    mean_net = population.stack([population.mean_network(model, genome)])
    stats = population.summarize(accs)
    return {
        "innate_accuracy_mean": stats.mean, "innate_accuracy_sem": stats.sem,
        "innate_accuracy_std": stats.std, "num_individuals": stats.num,
        "innate_accuracies": [float(a) for a in accs],
        "mean_network_accuracy": float(accuracy_of_population(model, mean_net, x, y)[0]),
    }


def init_state(config: ml_collections.ConfigDict, model: nn.Module, example: jax.Array,
               optimizer: optax.GradientTransformation) -> TrainState:
    """Step-0 training state; its structure is also the template for restoring checkpoints."""
    k_init = jax.random.split(jax.random.key(config.seed), 4)[0]
    genome = model.init({"params": k_init, "noise": k_init}, example)["params"]
    return TrainState(jnp.int32(0), genome, optimizer.init(genome))


# Fields a resumed run may change: where the data lives, logging/checkpoint cadence, evaluation.
RESUMABLE_FIELDS = ("raw_dir", "data_dir", "train.checkpoint_every", "train.log_every", "eval")


def make_optimizer(config: ml_collections.ConfigDict, total_steps: int):
    lr = config.train.learning_rate
    if config.train.lr_schedule == "cosine":
        lr = optax.cosine_decay_schedule(lr, total_steps)
    return optax.adam(lr)


def load_trained(config: ml_collections.ConfigDict, workdir: str, step: int | None = None):
    """`(model, genome)` from the checkpoints of a finished (or interrupted) run in `workdir`."""
    config_lib.validate(config)
    model = build_model(config)
    shape = config_lib.DATASET_SHAPES[config.dataset]
    example = _prep(model, np.zeros((2, *shape), np.float32))
    template = init_state(config, model, example, make_optimizer(config, 1))
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"))
    state = ckpt.restore(template, step)
    ckpt.close()
    return model, state.genome


def _tensorboard(workdir: str):
    """A TensorBoard writer under `<workdir>/tb` when tensorboardX (a brax dependency) exists."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(os.path.join(workdir, "tb"))


def _load_data(config):
    from sgb_jax import data  # imported lazily: tests of the step functions need no tfds

    x_tr, y_tr = data.load(config.dataset, "train", data_dir=config.data_dir,
                           raw_dir=config.raw_dir)
    x_te, y_te = data.load(config.dataset, "test", data_dir=config.data_dir,
                           raw_dir=config.raw_dir)
    if config.train.get("max_train_examples"):
        x_tr, y_tr = x_tr[:config.train.max_train_examples], y_tr[:config.train.max_train_examples]
    return (x_tr, y_tr), (x_te, y_te)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       datasets=None, stop_after: int | None = None) -> dict[str, Any]:
    """Train an SGB genome, evaluate its innate accuracy, write `<workdir>/summary.json`.

    Resumes from `<workdir>/checkpoints` if present. `datasets=((x_tr, y_tr), (x_te, y_te))` skips
    loading; `stop_after=n` stops after global step n (for tests of resumption) and returns {}.
    """
    config_lib.validate(config)
    os.makedirs(workdir, exist_ok=True)
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"))
    # Before loading data: a mismatched workdir fails at once.
    ckpt.record_config(workdir, config, RESUMABLE_FIELDS, config_lib.ConfigError)
    (x_tr, y_tr), (x_te, y_te) = datasets if datasets is not None else _load_data(config)
    model = build_model(config)
    x_tr, x_te = _prep(model, x_tr), _prep(model, x_te)
    y_tr, y_te = jnp.asarray(y_tr, jnp.int32), jnp.asarray(y_te, jnp.int32)
    n_train, bs = x_tr.shape[0], config.train.batch_size
    if bs > n_train:
        raise config_lib.ConfigError(f"train.batch_size {bs} exceeds the {n_train} examples")
    steps_per_epoch = n_train // bs
    total_steps = config.train.epochs * steps_per_epoch

    _, k_data, k_train, k_eval = jax.random.split(jax.random.key(config.seed), 4)
    optimizer = make_optimizer(config, total_steps)
    state = init_state(config, model, x_tr[:2], optimizer)
    prior = priors.make_prior(config.prior.kind, config.prior.pi, config.prior.sigma1,
                              config.prior.sigma2, config.prior.sigma)
    kl_weight = 1.0 / n_train if config.kl.weight is None else float(config.kl.weight)
    loss_fn = make_loss_fn(model, prior, kl_weight, config.kl.scope, config.train.num_samples,
                           config.kl.num_samples)
    train_step = make_train_step(loss_fn, optimizer)

    if ckpt.latest_step() is not None:
        state = ckpt.restore(state)
        print(f"resumed from step {int(state.step)} ({ckpt.directory})", flush=True)
    step = int(state.step)
    metrics_file = open(os.path.join(workdir, "metrics.jsonl"), "a")
    tb = _tensorboard(workdir)
    plain_params = compression.param_count(
        jax.eval_shape(lambda: population.mean_network(model, state.genome)))
    genome_params = compression.param_count(state.genome)
    ratio = compression.compression_ratio(plain_params, genome_params)
    print(f"genome {genome_params} params, plain network {plain_params} params: compression "
          f"{ratio:.1f}x; {total_steps} steps of batch {bs}", flush=True)

    t_start, t_last, s_last, epoch_perm = time.time(), time.time(), step, (-1, None)
    last_metrics: dict[str, float] = {}
    while step < total_steps and (stop_after is None or step < stop_after):
        epoch, i = divmod(step, steps_per_epoch)
        if epoch_perm[0] != epoch:
            epoch_perm = (epoch, jax.random.permutation(jax.random.fold_in(k_data, epoch), n_train))
        idx = epoch_perm[1][i * bs:(i + 1) * bs]
        state, metrics = train_step(state, x_tr[idx], y_tr[idx], jax.random.fold_in(k_train, step))
        step += 1
        boundary = step % config.train.checkpoint_every == 0 or step == total_steps
        if step % config.train.log_every == 0 or boundary:
            last_metrics = {k: float(v) for k, v in metrics.items()}
            if not np.isfinite(last_metrics["loss"]):
                metrics_file.close()
                if tb is not None:
                    tb.close()
                ckpt.close()
                raise NonFiniteLossError(
                    f"loss became {last_metrics['loss']} at step {step} (nll "
                    f"{last_metrics['nll']}, kl {last_metrics['kl']}); the last good checkpoint "
                    f"(step {ckpt.latest_step()}) in {ckpt.directory} is intact. Lower "
                    "train.learning_rate or check the data.")
            now = time.time()
            rate = (step - s_last) / max(now - t_last, 1e-9)
            t_last, s_last = now, step
            line = {"step": step, "epoch": epoch, **last_metrics, "steps_per_second": rate}
            metrics_file.write(json.dumps(line) + "\n")
            metrics_file.flush()
            if tb is not None:
                for name, value in line.items():
                    tb.add_scalar(f"train/{name}", value, step)
            print(f"step {step}/{total_steps} epoch {epoch} loss {last_metrics['loss']:.4f} "
                  f"nll {last_metrics['nll']:.4f} kl {last_metrics['kl']:.1f} "
                  f"acc {last_metrics['train_accuracy']:.3f} {rate:.1f} steps/s", flush=True)
        if boundary:
            ckpt.save(step, state)
    metrics_file.close()
    if tb is not None:
        tb.close()
    ckpt.close()
    train_seconds = time.time() - t_start
    if stop_after is not None and step < total_steps:
        return {}

    result = innate_evaluation(model, state.genome, k_eval, x_te, y_te,
                               config.eval.num_individuals, config.eval.chunk)
    summary = {
        "dataset": config.dataset, "compression_ratio": ratio, "genome_params": genome_params,
        "plain_params": plain_params, **result, "train_seconds": train_seconds, "steps": step,
        "final_train_metrics": last_metrics, "config": config.to_dict(),
    }
    with open(os.path.join(workdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, default=str)
    return summary
