"""SGB-PPO actor and critic: genomes, per-individual development and the acting helpers.

Paper §2.3 / §4.5: the actor and the critic are `SGBMLP` genomes whose hidden layers are SGB layers
and whose output layers are deterministic (`deterministic_output=True`). Every individual develops
one phenotype per network from its developmental key (DESIGN.md §3: `W = mu + sigma * eps(key)`);
the actor's key is `fold_in(key, 0)`, the critic's `fold_in(key, 1)`, so one key per individual
fixes both connectomes. In `deterministic` mode the same objects hold `PlainMLP` parameters and
development is the identity: the vanilla network run through the same trainer.

The actor outputs `2 * action_size` numbers, the parameters of Brax's `NormalTanhDistribution`
(loc, pre-softplus scale), exactly as Brax's own policy network does.

Stable helpers used by population evaluation:
* `load_policy(workdir) -> (config, policy_model, policy_genome, normalizer_params)`
* `policy_action(phenotype, normalizer_params, obs) -> deterministic action` (tanh of the loc half).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from brax.training import distribution
from brax.training.acme import running_statistics

from sgb_jax import cell_types as ct
from sgb_jax import priors
from sgb_jax.models import SGBMLP, PlainMLP

MODES = ("sgb", "deterministic")
Genome = Any
Phenotype = Any

POLICY_FOLD, VALUE_FOLD = 0, 1


def hidden_sizes(network: ml_collections.ConfigDict) -> tuple[int, ...]:
    """Hidden widths: `depth` layers of `hidden_width` (Brax's policy depth, width 128)."""
    return (int(network.hidden_width),) * int(network.depth)


def _input_types(network: ml_collections.ConfigDict, obs_size: int) -> int:
    # -1 (the default) means one type per observation entry.
    k = int(network.input_types)
    return obs_size if k == -1 else k


@dataclasses.dataclass(frozen=True)
class PPOModels:
    """The actor and critic of one SGB-PPO agent (`mode` 'sgb' or 'deterministic')."""

    mode: str
    policy_model: SGBMLP | PlainMLP
    value_model: SGBMLP | PlainMLP
    action_distribution: distribution.NormalTanhDistribution
    obs_size: int
    action_size: int

    @property
    def is_sgb(self) -> bool:
        return self.mode == "sgb"

    def init(self, key: jax.Array) -> dict[str, Genome]:
        """Fresh genomes `{'policy', 'value'}` (plain params in deterministic mode)."""
        kp, kv = jax.random.split(key)
        x = jnp.zeros((1, self.obs_size), jnp.float32)
        init = (lambda m, k: m.init({"params": k, "noise": k}, x)["params"])
        return {"policy": init(self.policy_model, kp), "value": init(self.value_model, kv)}

    def develop_policy(self, genome: Genome, key: jax.Array | None) -> Phenotype:
        """Actor phenotype of the individual with developmental key `key` (None: mean network)."""
        if not self.is_sgb:
            return genome
        k = None if key is None else jax.random.fold_in(key, POLICY_FOLD)
        return self.policy_model.apply({"params": genome}, k, method="develop")

    def develop_value(self, genome: Genome, key: jax.Array | None) -> Phenotype:
        """Critic phenotype of the individual with developmental key `key`."""
        if not self.is_sgb:
            return genome
        k = None if key is None else jax.random.fold_in(key, VALUE_FOLD)
        return self.value_model.apply({"params": genome}, k, method="develop")

    def noise(self, params: dict[str, Genome], key: jax.Array) -> dict[str, Any]:
        """One individual's standard-normal draws `{'policy', 'value'}` (SGB mode), such that
        `develop_policy(g, key) == develop_policy_from_noise(g, noise(params, key)['policy'])`;
        likewise the critic. Only the shapes of `params` are read."""
        return {"policy": self.policy_model.apply(
                    {"params": params["policy"]}, jax.random.fold_in(key, POLICY_FOLD),
                    method="noise"),
                "value": self.value_model.apply(
                    {"params": params["value"]}, jax.random.fold_in(key, VALUE_FOLD),
                    method="noise")}

    def develop_policy_from_noise(self, genome: Genome, noise: Any) -> Phenotype:
        return self.policy_model.apply({"params": genome}, noise, method="develop_from_noise")

    def develop_value_from_noise(self, genome: Genome, noise: Any) -> Phenotype:
        return self.value_model.apply({"params": genome}, noise, method="develop_from_noise")

    def apply_policy(self, phenotype: Phenotype, normalizer_params: Any,
                     obs: jax.Array) -> jax.Array:
        """Distribution parameters `(..., 2 * action_size)` of one phenotype."""
        x = running_statistics.normalize(obs, normalizer_params)
        return _plain(self.policy_model).apply({"params": phenotype}, x)

    def apply_value(self, phenotype: Phenotype, normalizer_params: Any,
                    obs: jax.Array) -> jax.Array:
        x = running_statistics.normalize(obs, normalizer_params)
        return _plain(self.value_model).apply({"params": phenotype}, x)[..., 0]

    def genome_kl(self, params: dict[str, Genome], prior: priors.Prior, key: jax.Array,
                  scope: str = "type_pair", num_samples: int = 1) -> jax.Array:
        """KL(q(actor) || prior) + KL(q(critic) || prior) (paper eq. 5); 0 when deterministic."""
        if not self.is_sgb:
            return jnp.zeros(())
        kp, kv = jax.random.split(key)
        kl_p = self.policy_model.apply({"params": params["policy"]}, prior, kp, scope,
                                       num_samples, method="kl")
        kl_v = self.value_model.apply({"params": params["value"]}, prior, kv, scope,
                                      num_samples, method="kl")
        return kl_p + kl_v


def _plain(model: SGBMLP | PlainMLP) -> PlainMLP:
    return model.plain() if isinstance(model, SGBMLP) else model


def make_models(config: ml_collections.ConfigDict, obs_size: int,
                action_size: int) -> PPOModels:
    """Actor and critic for `config.mode` ('sgb' or 'deterministic') and `config.network`."""
    net = config.network
    hidden = hidden_sizes(net)
    dist = distribution.NormalTanhDistribution(event_size=action_size)
    outputs = {"policy": dist.param_size, "value": 1}
    models = {}
    for name, n_out in outputs.items():
        sizes = (obs_size, *hidden, n_out)
        if config.mode == "sgb":
            types = (ct.CellTypeSpec(_input_types(net, obs_size)),
                     *[ct.CellTypeSpec(int(net.hidden_types))] * len(hidden),
                     ct.CellTypeSpec(n_out))
            models[name] = SGBMLP(sizes, types, activation=net.activation,
                                  deterministic_output=True, mu_init=net.mu_init,
                                  mu_init_scale=net.mu_init_scale, sigma_init=net.sigma_init)
        elif config.mode == "deterministic":
            models[name] = PlainMLP(tuple(sizes[1:]), net.activation)
        else:
            raise ValueError(f"mode must be one of {MODES} for a network, got {config.mode!r}")
    return PPOModels(config.mode, models["policy"], models["value"], dist, obs_size, action_size)


def policy_action(phenotype: Phenotype, normalizer_params: Any, obs: jax.Array,
                  activation: str = "swish") -> jax.Array:
    """Deterministic action of one actor phenotype: `tanh(loc)`, the mode of the tanh-Normal.

    `obs` is the raw observation (`(..., obs_size)`); it is normalised with the running
    statistics the agent was trained with. The network shape is read from the phenotype.
    """
    n = len(phenotype)
    features = tuple(int(phenotype[f"dense_{i}"]["kernel"].shape[-1]) for i in range(n))
    x = running_statistics.normalize(obs, normalizer_params)
    out = PlainMLP(features, activation).apply({"params": phenotype}, x)
    return jnp.tanh(out[..., : features[-1] // 2])


def load_policy(workdir: str, step: int | None = None
                ) -> tuple[ml_collections.ConfigDict, SGBMLP | PlainMLP, Genome, Any]:
    """`(config, policy_model, policy_genome, normalizer_params)` of a trained workdir.

    Reads `config.json` and the latest (or given) orbax checkpoint written by
    `sgb_jax.rl.ppo.train_and_evaluate`. In 'sgb' mode `policy_model` is the `SGBMLP` genome model
    (use `sgb_jax.population.develop`); in 'deterministic' mode it is the `PlainMLP` and the
    genome is already the phenotype.
    """
    from sgb_jax.rl import ppo  # late import: ppo builds on this module

    with open(os.path.join(workdir, "config.json")) as f:
        config = ml_collections.ConfigDict(json.load(f))
    learner = ppo.restore_learner(config, workdir, step)
    models = make_models(config, learner.obs_size, learner.action_size)
    return (config, models.policy_model, learner.state.params["policy"],
            learner.state.normalizer_params)
