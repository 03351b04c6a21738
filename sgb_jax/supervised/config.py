"""Validation of supervised-training configs: one place, before any data loading or compiling.

Every error names the offending field and what is allowed, e.g.
``model.hidden_types: 900 cell types for 800 neurons ...``.
"""

from __future__ import annotations

import ml_collections

from sgb_jax import cell_types as ct
from sgb_jax import priors

DATASET_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10}
MODEL_KINDS = ("mlp", "convnet")


class ConfigError(ValueError):
    """A config field has an invalid value; the message names the field."""


def _positive(value, field: str, kind=int) -> None:
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        raise ConfigError(f"{field} must be a positive {kind.__name__}, got {value!r}")


def _spec(k, strategy: str, n: int, field: str, image_shape=None) -> None:
    try:
        ct.CellTypeSpec(int(k) if isinstance(k, int) else k, strategy,
                        image_shape).assign(n, field)
    except ct.CellTypeError as err:
        raise ConfigError(str(err)) from None


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise `ConfigError` naming the first invalid field of a supervised config."""
    if config.dataset not in DATASET_SHAPES:
        raise ConfigError(f"dataset must be one of {sorted(DATASET_SHAPES)}, got "
                          f"{config.dataset!r}")
    shape = DATASET_SHAPES[config.dataset]
    m = config.model
    if m.kind not in MODEL_KINDS:
        raise ConfigError(f"model.kind must be one of {MODEL_KINDS}, got {m.kind!r}")
    hidden = tuple(m.hidden_sizes)
    if not hidden:
        raise ConfigError("model.hidden_sizes must list at least one hidden layer width")
    for i, h in enumerate(hidden):
        _positive(h, f"model.hidden_sizes[{i}]")
    if m.kind == "mlp":
        n_in = shape[0] * shape[1] * shape[2]
        if m.input_strategy not in ct.STRATEGIES:
            raise ConfigError(f"model.input_strategy must be one of {ct.STRATEGIES}, got "
                              f"{m.input_strategy!r}")
        _positive(m.input_types, "model.input_types")
        _spec(m.input_types, m.input_strategy, n_in, "model.input_types", shape)
    _positive(m.hidden_types, "model.hidden_types")
    for i, h in enumerate(hidden):
        _spec(m.hidden_types, "contiguous", h, f"model.hidden_types (layer {i}, width {h})")
    _positive(m.output_types, "model.output_types")
    _spec(m.output_types, "contiguous", NUM_CLASSES[config.dataset], "model.output_types")
    if m.mu_init not in ("zeros", "normal"):
        raise ConfigError(f"model.mu_init must be 'zeros' or 'normal', got {m.mu_init!r}")
    _positive(m.sigma_init, "model.sigma_init", float)
    try:
        priors.make_prior(config.prior.kind, config.prior.pi, config.prior.sigma1,
                          config.prior.sigma2, config.prior.sigma)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if config.kl.scope not in priors.KL_SCOPES:
        raise ConfigError(f"kl.scope must be one of {priors.KL_SCOPES}, got {config.kl.scope!r}")
    if config.kl.weight is not None and (not isinstance(config.kl.weight, (int, float))
                                         or config.kl.weight < 0):
        raise ConfigError(f"kl.weight must be >= 0 or None (= 1/N_train), got "
                          f"{config.kl.weight!r}")
    _positive(config.kl.num_samples, "kl.num_samples")
    t = config.train
    _positive(t.epochs, "train.epochs")
    _positive(t.batch_size, "train.batch_size")
    _positive(t.learning_rate, "train.learning_rate", float)
    if t.lr_schedule not in ("constant", "cosine"):
        raise ConfigError(f"train.lr_schedule must be 'constant' or 'cosine', got "
                          f"{t.lr_schedule!r}")
    _positive(t.num_samples, "train.num_samples")
    _positive(t.checkpoint_every, "train.checkpoint_every")
    _positive(t.log_every, "train.log_every")
    if t.get("max_train_examples") is not None:
        _positive(t.max_train_examples, "train.max_train_examples")
    _positive(config.eval.num_individuals, "eval.num_individuals")
    _positive(config.eval.chunk, "eval.chunk")
