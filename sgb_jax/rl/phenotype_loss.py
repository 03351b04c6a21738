"""The SGB-PPO objective as a function of one phenotype pair on a fixed batch (for `sgb_jax.theory`).

Paper appendix A asks for `Delta L = E[L(mu + sigma eps)] - L(mu)` with `L` a function of the
developed weights. For an RL genome we take `L` = the trainer's loss without the genome KL, i.e.
Brax's PPO loss (`compute_ppo_loss`: clipped policy surrogate + `vf_coefficient` * value loss +
`entropy_cost` * negative entropy, as in `sgb_jax.rl.ppo.make_loss`), with two choices that make it
a deterministic function of one phenotype pair `w = {'policy': actor, 'value': critic}`:

* **Fixed batch, collected once by the mean network** (`collect_batch`): `num_envs` environments
  run the mean actor (sampled tanh-Normal actions, as in training) for `warmup_steps`, then
  `segments_per_env` unroll rows of the trainer's `ppo.unroll_length` are kept. At `w = mu` every
  importance ratio is 1, so `L(mu)` is the PPO loss at the start of an update; an individual
  `mu + sigma eps` is scored off-policy on the mean network's transitions.
* **Frozen targets** (`frozen_ppo_loss`): Brax's loss computes GAE targets and advantages from the
  critic being evaluated and then `stop_gradient`s them, so its *values* depend on the critic through
  the targets while its autodiff gradient and Hessian do not. Here targets and (normalised)
  advantages are computed once, by Brax's `compute_gae`, at the mean network's critic and held
  fixed. `L(w)` is then the one function whose values, gradient and Hessian agree: at `w = mu` it
  equals Brax's loss in value and gradient (tested), and its Hessian is the autodiff Hessian of
  Brax's loss there. The entropy term uses one fixed key (the tanh-Normal entropy is a one-sample
  estimate in Brax).

The observation normaliser is the trained one, not updated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from brax.training import acting, types
from brax.training.agents.ppo import losses as ppo_losses

from sgb_jax.rl import networks

Genome = Any
Phenotype = Any


def develop(models: networks.PPOModels, genome: dict, key: jax.Array | None) -> dict:
    """`{'policy', 'value'}` phenotypes of the individual with developmental key `key`.

    The same key derivation as training (`develop_policy` / `develop_value` fold the key), so one
    key fixes both connectomes; `key=None` is the mean network.
    """
    return {"policy": models.develop_policy(genome["policy"], key),
            "value": models.develop_value(genome["value"], key)}


def collect_batch(setup, genome: dict, normalizer_params: Any, key: jax.Array, num_envs: int,
                  warmup_steps: int, segments_per_env: int) -> types.Transition:
    """Transitions of the mean network, as Brax loss rows `[num_envs * segments, unroll, ...]`.

    `setup` is a `sgb_jax.rl.ppo.Setup`; its `eval_env` (Brax's episode + auto-reset wrappers, no
    developmental keys) is stepped. Extras carry what `compute_ppo_loss` reads: the behaviour
    `log_prob`, `raw_action`, `distribution_params` and the `truncation` flag.
    """
    models, dist = setup.models, setup.models.action_distribution
    mean = develop(models, genome, None)
    unroll = int(setup.config.ppo.unroll_length)

    def policy(obs, key_sample):
        logits = models.apply_policy(mean["policy"], normalizer_params, obs)
        raw = dist.sample_no_postprocessing(logits, key_sample)
        return dist.postprocess(raw), {"log_prob": dist.log_prob(logits, raw),
                                       "raw_action": raw, "distribution_params": logits}

    @jax.jit
    def run(key):
        k_env, k_warm, k_act = jax.random.split(key, 3)
        state = setup.eval_env.reset(jax.random.split(k_env, num_envs))
        if warmup_steps:
            state, _ = acting.generate_unroll(setup.eval_env, state, policy, k_warm, warmup_steps,
                                              extra_fields=("truncation",))
        _, data = acting.generate_unroll(setup.eval_env, state, policy, k_act,
                                         segments_per_env * unroll, extra_fields=("truncation",))
        # [T, E, ...] -> env-major [E, T, ...] -> rows of one env's consecutive `unroll` steps.
        return jax.tree_util.tree_map(
            lambda x: jnp.swapaxes(x, 0, 1).reshape((num_envs * segments_per_env, unroll,
                                                     *x.shape[2:])), data)

    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)  # Brax's wrappers size their counters from raw uint32 keys
    return run(key)


def frozen_ppo_loss(setup, normalizer_params: Any, data: types.Transition, mean: dict,
                    key: jax.Array) -> Callable[[dict], jax.Array]:
    """`L(w)`: Brax's PPO loss of phenotype pair `w` on `data`, targets frozen at `mean`'s critic.

    `data` holds rows `[B, T, ...]` (Brax's minibatch layout); `mean` is the mean network's
    `{'policy', 'value'}` phenotype; `key` fixes the entropy estimate.
    """
    p, models = setup.config.ppo, setup.models
    dist = models.action_distribution
    tm = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), data)  # time-major, as Brax
    obs = tm.observation
    values = models.apply_value(mean["value"], normalizer_params, obs)
    bootstrap = models.apply_value(mean["value"], normalizer_params, tm.next_observation[-1])
    truncation = tm.extras["state_extras"]["truncation"]
    termination = (1 - tm.discount) * (1 - truncation)
    vs, advantages = ppo_losses.compute_gae(
        truncation=truncation, termination=termination, rewards=tm.reward * p.reward_scaling,
        values=values, bootstrap_value=bootstrap, lambda_=p.gae_lambda, discount=p.discounting)
    if p.normalize_advantage:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    raw_action = tm.extras["policy_extras"]["raw_action"]
    behaviour_log_prob = tm.extras["policy_extras"]["log_prob"]
    eps = p.clipping_epsilon

    def loss(phenotype: dict) -> jax.Array:
        logits = models.apply_policy(phenotype["policy"], normalizer_params, obs)
        ratio = jnp.exp(dist.log_prob(logits, raw_action) - behaviour_log_prob)
        surrogate = jnp.minimum(ratio * advantages, jnp.clip(ratio, 1 - eps, 1 + eps) * advantages)
        baseline = models.apply_value(phenotype["value"], normalizer_params, obs)
        v_loss = 0.5 * p.vf_coefficient * jnp.mean((vs - baseline) ** 2)
        entropy = jnp.mean(dist.entropy(logits, key))
        return -jnp.mean(surrogate) + v_loss - p.entropy_cost * entropy

    return loss
