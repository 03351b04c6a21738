"""SGB-PPO trainer: Brax's PPO loss over per-environment developed individuals, plus the genome KL.

Paper eq. (5): `L(theta) = L_PPO(theta) + c3 * (KL(q(W_actor | theta) || p) + KL(q(W_critic | theta)
|| p))`, with `L_PPO` Brax's `compute_ppo_loss` (imported, not copied) and the KL from
`SGBMLP.kl`. We compose Brax's public pieces: `envs.training.wrap` (episodes, auto-reset, vmap),
`acting.generate_unroll` and `acting.Evaluator`, `running_statistics`, `compute_ppo_loss`.

How an individual reaches Brax's loss. `compute_ppo_loss` calls
`policy_apply(normalizer_params, params, observation)` and gives it no key, so the individual travels
in the observation pytree: `DevelopmentWrapper` turns each environment's observation into
`{'state': obs, 'index_a', 'index_b', 'use_b'}`, indices into this iteration's *noise bank*.

* At the start of every iteration (`new_individuals`) each environment gets
  `development.individuals_per_env = K` developmental keys: slot 0 is the individual it is hosting
  (carried over, so an episode keeps its connectome across iterations), slots 1.. are fresh. The
  bank holds their standard-normal draws `eps` (actor and critic), drawn once per iteration; an
  individual's phenotype is `W = mu + sigma * eps`, exactly `develop(key)` (DESIGN.md §3). Drawing
  once and re-developing from the bank, rather than re-drawing from keys in every minibatch row,
  is what makes SGB mode affordable (the random numbers were ~99% of its cost).
* At the start of each unroll segment (`_rotate`) the individual in use becomes `index_a` and the
  next slot `index_b`; when the episode ends, `use_b` becomes 1 and the new episode is played by
  `index_b`. A second episode end inside the same segment, or more than `K - 1` in one iteration,
  keeps the current individual (metric `individual_overflow`).

Indices are constant along a segment, and a segment is exactly one row of Brax's minibatch layout
`[rows, unroll_length]`. Minibatches are shuffled in groups of `development.segments_per_group`
consecutive segments of one environment, and the loss develops each group's individuals once from
the bank, only where the group needs them (`sgb_jax.rl.individuals`); pi_old and pi_new thus use the
same connectome, and the gradient reaches `mu` and `rho` through `W = mu + sigma * eps`. The critic
is developed from the same individual key. In `deterministic` mode development is the identity
and the same code trains a plain MLP (minibatches of single rows, as Brax).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax
from brax import envs
from brax.training import acting
from brax.training import networks as brax_networks
from brax.training.acme import running_statistics, specs
from brax.training.agents.ppo import losses as ppo_losses
from brax.training.agents.ppo import networks as ppo_networks

from sgb_jax import compression, priors
from sgb_jax.checkpoint import Checkpointer
from sgb_jax.rl import config as config_lib
from sgb_jax.rl import individuals, networks

DEV_FIELDS = ("index_a", "index_b", "use_b")
_DEV_SALT = 0x5B6  # separates developmental keys from the env's own reset randomness
Bank = Any  # {'policy': eps tree, 'value': eps tree}, leading axis num_envs * K


class DevelopmentWrapper(envs.Wrapper):
    """Adds each environment's individual (indices into the noise bank) to a batched env's
    observation; the individuals' keys live in `info['individual_keys']` `[E, K, 2]`."""

    def __init__(self, env: envs.Env, individuals_per_env: int):
        super().__init__(env)
        self.k = individuals_per_env

    def reset(self, rng: jax.Array) -> envs.State:
        state = self.env.reset(rng)
        keys = jax.vmap(lambda r: jax.random.split(jax.random.fold_in(r, _DEV_SALT), self.k))(rng)
        obs = {"state": state.obs, **_first_slots(rng.shape[0], self.k)}
        return state.replace(obs=obs, info={**state.info, "individual_keys": keys})

    def step(self, state: envs.State, action: jax.Array) -> envs.State:
        dev = state.obs
        nstate = self.env.step(state.replace(obs=dev["state"]), action)
        use_b = jnp.maximum(dev["use_b"], nstate.done)
        return nstate.replace(obs={**dev, "state": nstate.obs, "use_b": use_b})


def _first_slots(num_envs: int, k: int) -> dict:
    base = jnp.arange(num_envs, dtype=jnp.int32) * k
    return {"index_a": base, "index_b": base + 1, "use_b": jnp.zeros(num_envs, jnp.float32)}


def _rotate(obs: dict, k: int) -> dict:
    """Segment start: the individual in use becomes `index_a`, the env's next slot `index_b`."""
    index_a = jnp.where(obs["use_b"] > 0, obs["index_b"], obs["index_a"])
    last = index_a // k * k + k - 1
    return {**obs, "index_a": index_a, "index_b": jnp.minimum(index_a + 1, last),
            "use_b": jnp.zeros_like(obs["use_b"])}


def new_individuals(env_state: envs.State, key: jax.Array, k: int) -> envs.State:
    """Iteration start: slot 0 = the individual each env is hosting, slots 1.. fresh keys."""
    obs, keys = env_state.obs, env_state.info["individual_keys"]
    n = keys.shape[0]
    current = jnp.where(obs["use_b"] > 0, obs["index_b"], obs["index_a"])
    hosted = keys.reshape(n * k, *keys.shape[2:])[current]
    fresh = jax.random.split(key, n * (k - 1)).reshape(n, k - 1, *keys.shape[2:])
    keys = jnp.concatenate([hosted[:, None], fresh], axis=1)
    return env_state.replace(obs={**obs, **_first_slots(n, k)},
                             info={**env_state.info, "individual_keys": keys})


@flax.struct.dataclass
class TrainState:
    """Everything a resumed run needs besides the environment state."""

    params: dict
    opt_state: Any
    normalizer_params: running_statistics.RunningStatisticsState
    key: jax.Array
    iteration: jax.Array


@dataclasses.dataclass
class Learner:
    state: TrainState
    obs_size: int
    action_size: int


@dataclasses.dataclass
class Setup:
    """Static pieces of one training run, built from a validated config."""

    config: ml_collections.ConfigDict
    models: networks.PPOModels
    env: envs.Env  # training env: wrapped + DevelopmentWrapper
    eval_env: envs.Env  # wrapped, for acting.Evaluator
    optimizer: optax.GradientTransformation
    prior: priors.Prior
    loss_fn: Callable
    num_segments: int
    steps_per_iteration: int
    num_iterations: int

    def _individuals_apply(self, develop_from_noise, apply, genome, bank, normalizer_params,
                           obs):
        d = self.config.development
        return individuals.individuals_apply(develop_from_noise, apply, genome, bank,
                                             normalizer_params, obs, d.individuals_per_env,
                                             d.segments_per_group)

    def policy_apply(self, normalizer_params, genome, obs, bank: Bank | None = None):
        """Brax-style apply over loss rows: each sample's own individual from the bank."""
        m = self.models
        if not m.is_sgb:
            return m.apply_policy(genome, normalizer_params, obs["state"])
        return self._individuals_apply(m.develop_policy_from_noise, m.apply_policy, genome,
                                       bank["policy"], normalizer_params, obs)

    def value_apply(self, normalizer_params, genome, obs, bank: Bank | None = None):
        m = self.models
        if not m.is_sgb:
            return m.apply_value(genome, normalizer_params, obs["state"])
        return self._individuals_apply(m.develop_value_from_noise, m.apply_value, genome,
                                       bank["value"], normalizer_params, obs)

    def noise_bank(self, params: dict, env_state: envs.State) -> Bank | None:
        """Draws of every individual the environments may host this iteration (SGB mode)."""
        if not self.models.is_sgb:
            return None
        keys = env_state.info["individual_keys"]
        flat = keys.reshape(-1, *keys.shape[2:])
        return jax.vmap(self.models.noise, in_axes=(None, 0))(params, flat)

    def acting_policy(self, genome: Any, normalizer_params: Any, dev_obs: dict,
                      bank: Bank | None) -> Callable:
        """Brax policy `(obs, key) -> (action, extras)`.

        SGB: the segment's `index_a` phenotypes are developed once per segment; the few
        environments that switched to `index_b` (their episode ended) develop and act through
        `individuals.sparse_rows`.
        """
        m, dist = self.models, self.models.action_distribution
        if m.is_sgb:
            dev = jax.vmap(m.develop_policy_from_noise, in_axes=(None, 0))
            phen_a = dev(genome, individuals.take(bank["policy"], dev_obs["index_a"]))
            run = jax.vmap(m.apply_policy, in_axes=(0, None, 0))
            cap = individuals.capacity(dev_obs["index_a"].shape[0])

        def policy(obs, key_sample):
            if m.is_sgb:
                x = obs["state"]
                logits = run(phen_a, normalizer_params, x)
                switched = (obs["use_b"] > 0) & (obs["index_b"] != obs["index_a"])
                logits_b = individuals.sparse_rows(switched, cap, lambda idx: run(
                    dev(genome, individuals.take(bank["policy"], obs["index_b"][idx])),
                    normalizer_params, x[idx]))
                logits = jnp.where(switched[:, None], logits_b, logits)
            else:
                logits = m.apply_policy(genome, normalizer_params, obs["state"])
            raw = dist.sample_no_postprocessing(logits, key_sample)
            extras = {"log_prob": dist.log_prob(logits, raw), "raw_action": raw,
                      "distribution_params": logits}
            return dist.postprocess(raw), extras

        return policy

    def eval_policy(self, params: tuple) -> Callable:
        """Evaluation: environment i hosts the individual developed from `keys[i]`."""
        normalizer_params, genome, keys = params
        m, dist = self.models, self.models.action_distribution
        deterministic = self.config.eval.deterministic

        if m.is_sgb:  # developed once, outside the per-step policy
            phen = jax.vmap(m.develop_policy, in_axes=(None, 0))(genome, keys)

        def policy(obs, key_sample):
            if m.is_sgb:
                logits = jax.vmap(m.apply_policy, in_axes=(0, None, 0))(
                    phen, normalizer_params, obs)
            else:
                logits = m.apply_policy(genome, normalizer_params, obs)
            if deterministic:
                return dist.mode(logits), {}
            return dist.sample(logits, key_sample), {}

        return policy


def build(config: ml_collections.ConfigDict) -> Setup:
    """Validate `config` (before any compile) and assemble the trainer's static pieces."""
    config_lib.validate(config)
    if config.mode == "brax":
        raise config_lib.ConfigError("mode 'brax' runs sgb_jax.rl.baseline, not this trainer")
    raw_env = config_lib.make_env(config)
    obs_size, action_size = int(raw_env.observation_size), int(raw_env.action_size)
    config_lib.validate_for_env(config, obs_size)
    e, p = config.env, config.ppo
    env = DevelopmentWrapper(envs.training.wrap(raw_env, episode_length=e.episode_length,
                                                action_repeat=e.action_repeat),
                             config.development.individuals_per_env)
    eval_env = envs.training.wrap(raw_env, episode_length=e.episode_length,
                                  action_repeat=e.action_repeat)
    models = networks.make_models(config, obs_size, action_size)
    opt = optax.adam(p.learning_rate)
    if p.max_grad_norm is not None:
        opt = optax.chain(optax.clip_by_global_norm(p.max_grad_norm), opt)
    pr = config.prior
    prior = priors.make_prior(pr.kind, pr.pi, pr.sigma1, pr.sigma2, pr.sigma)
    setup = Setup(config=config, models=models, env=env, eval_env=eval_env, optimizer=opt,
                  prior=prior, loss_fn=None, num_segments=p.batch_size * p.num_minibatches
                  // p.num_envs, steps_per_iteration=config_lib.steps_per_iteration(config),
                  num_iterations=config_lib.num_iterations(config))
    setup.loss_fn = make_loss(setup)
    return setup


def make_loss(setup: Setup) -> Callable:
    """`loss(params, normalizer_params, data, key, bank) -> (total, metrics)`: PPO + c3 * KL."""
    p, kl_cfg = setup.config.ppo, setup.config.kl

    def loss(params, normalizer_params, data, key, bank=None):
        k_ppo, k_kl = key, jax.random.fold_in(key, 1)  # k_ppo: the key Brax's loss gets
        # The bank is data, not a parameter: built per call so the applies close over it.
        ppo_network = ppo_networks.PPONetworks(
            policy_network=brax_networks.FeedForwardNetwork(
                init=None, apply=lambda n, g, o: setup.policy_apply(n, g, o, bank)),
            value_network=brax_networks.FeedForwardNetwork(
                init=None, apply=lambda n, g, o: setup.value_apply(n, g, o, bank)),
            parametric_action_distribution=setup.models.action_distribution)
        ppo_loss, metrics = ppo_losses.compute_ppo_loss(
            ppo_losses.PPONetworkParams(policy=params["policy"], value=params["value"]),
            normalizer_params, data, k_ppo, ppo_network, entropy_cost=p.entropy_cost,
            discounting=p.discounting, reward_scaling=p.reward_scaling,
            gae_lambda=p.gae_lambda, clipping_epsilon=p.clipping_epsilon,
            normalize_advantage=p.normalize_advantage, vf_coefficient=p.vf_coefficient)
        kl = setup.models.genome_kl(params, setup.prior, k_kl, kl_cfg.scope, kl_cfg.num_samples)
        total = ppo_loss + kl_cfg.c3 * kl
        return total, {**metrics, "genome_kl": kl, "total_loss": total}

    return loss


def init_state(setup: Setup, key: jax.Array) -> TrainState:
    params = setup.models.init(key)
    spec = specs.Array((setup.models.obs_size,), jnp.dtype("float32"))
    return TrainState(params=params, opt_state=setup.optimizer.init(params),
                      normalizer_params=running_statistics.init_state(spec),
                      key=jax.random.fold_in(key, 1), iteration=jnp.zeros((), jnp.int32))


def collect(setup: Setup, state: TrainState, env_state: envs.State, key: jax.Array,
            bank: Bank | None = None) -> tuple[envs.State, Any]:
    """Roll out `num_segments` segments; returns rows `[S * num_envs, unroll_length, ...]`."""
    genome = state.params["policy"]
    k = setup.config.development.individuals_per_env

    def segment(carry, _):
        env_state, key = carry
        k_act, key = jax.random.split(key)  # Brax's order: use the first half, carry the second
        env_state = env_state.replace(obs=_rotate(env_state.obs, k))
        policy = setup.acting_policy(genome, state.normalizer_params, env_state.obs, bank)
        env_state, data = acting.generate_unroll(setup.env, env_state, policy, k_act,
                                                 setup.config.ppo.unroll_length,
                                                 extra_fields=("truncation",))
        return (env_state, key), data

    (env_state, _), data = jax.lax.scan(segment, (env_state, key), (),
                                        length=setup.num_segments)
    data = jax.tree_util.tree_map(
        lambda x: jnp.swapaxes(x, 1, 2).reshape((-1, *x.shape[1:2], *x.shape[3:])), data)
    return env_state, data


def train_step(setup: Setup, state: TrainState, env_state: envs.State
               ) -> tuple[TrainState, envs.State, dict]:
    """One iteration: draw this iteration's individuals, collect `batch_size * num_minibatches`
    rows, then PPO epochs over them."""
    p = setup.config.ppo
    # The same key schedule as Brax's `training_step` / `sgd_step` / `minibatch_step`, so that in
    # deterministic mode, from the same parameters and keys, an iteration is Brax's
    # (tests/test_rl_ppo.py::test_deterministic_iteration_equals_brax).
    k_sgd, k_collect, key = jax.random.split(state.key, 3)
    env_state = new_individuals(env_state, jax.random.fold_in(k_collect, _DEV_SALT),
                                setup.config.development.individuals_per_env)
    bank = setup.noise_bank(state.params, env_state)
    env_state, data = collect(setup, state, env_state, k_collect, bank)
    normalizer_params = state.normalizer_params
    if p.normalize_observations:
        normalizer_params = running_statistics.update(normalizer_params,
                                                      data.observation["state"])
    grad_fn = jax.value_and_grad(setup.loss_fn, has_aux=True)
    # Minibatches are shuffled in groups of G consecutive segments of one environment (SGB mode;
    # G = 1, single rows as in Brax, otherwise), so the loss develops few phenotypes per group.
    g = setup.config.development.segments_per_group if setup.models.is_sgb else 1
    groups = individuals.group_layout(data, p.num_envs, g)
    num_groups = groups.reward.shape[0]
    obs = data.observation
    # Rows where an episode ended but no fresh individual was left (same one kept).
    overflow = jnp.mean((obs["use_b"][:, -1] > 0) & (obs["index_a"][:, 0] == obs["index_b"][:, 0]))

    def minibatch(carry, batch):
        opt_state, params, k = carry
        k, k_loss = jax.random.split(k)
        (_, metrics), grads = grad_fn(params, normalizer_params, batch, k_loss, bank)
        updates, opt_state = setup.optimizer.update(grads, opt_state, params)
        return (opt_state, optax.apply_updates(params, updates), k), metrics

    def epoch(carry, _):
        opt_state, params, k = carry
        k, k_perm, k_mb = jax.random.split(k, 3)
        perm = jax.random.permutation(k_perm, num_groups)
        shuffled = jax.tree_util.tree_map(
            lambda x: x[perm].reshape((p.num_minibatches, -1, *x.shape[2:])), groups)
        (opt_state, params, _), metrics = jax.lax.scan(minibatch, (opt_state, params, k_mb),
                                                       shuffled)
        return (opt_state, params, k), metrics

    (opt_state, params, _), metrics = jax.lax.scan(
        epoch, (state.opt_state, state.params, k_sgd), (), length=p.num_updates_per_batch)
    new_state = TrainState(params=params, opt_state=opt_state,
                           normalizer_params=normalizer_params, key=key,
                           iteration=state.iteration + 1)
    metrics = jax.tree_util.tree_map(jnp.mean, metrics)
    return new_state, env_state, {**metrics, "individual_overflow": overflow}


def evaluate_returns(setup: Setup, genome: Any, normalizer_params: Any, key: jax.Array
                     ) -> jax.Array:
    """Return of one episode in each of `eval.num_eval_envs` environments, each hosting the
    individual developed from its own key (Brax's `EvalWrapper` + `acting.generate_unroll`)."""
    cfg = setup.config
    n = cfg.eval.num_eval_envs
    k_env, k_dev, k_act = jax.random.split(key, 3)
    env = envs.training.EvalWrapper(setup.eval_env)
    state = env.reset(jax.random.split(k_env, n))
    policy = setup.eval_policy((normalizer_params, genome, jax.random.split(k_dev, n)))
    state, _ = acting.generate_unroll(env, state, policy, k_act,
                                      cfg.env.episode_length // cfg.env.action_repeat)
    return state.info["eval_metrics"].episode_metrics["reward"]


_COMPILED: dict[str, tuple[Callable, Callable]] = {}
# Fields a resumed run may change: the budget (to train further), checkpointing, evaluation.
RESUMABLE_FIELDS = ("ppo.num_timesteps", "checkpoint", "eval")


def compiled(setup: Setup) -> tuple[Callable, Callable]:
    """Jitted `(train_step, evaluate_returns)`, shared by runs whose static config matches.

    Seeds, budgets and checkpoint settings do not enter the compiled functions, so a sweep over
    seeds (or a resumed run in the same process) compiles once.
    """
    cfg = setup.config.to_dict()
    for field in ("seed", "checkpoint"):
        cfg.pop(field)
    cfg["ppo"].pop("num_timesteps")
    cfg["eval"].pop("num_evals")
    key = json.dumps(cfg, sort_keys=True, default=str)
    if key not in _COMPILED:
        _COMPILED[key] = (jax.jit(lambda s, e: train_step(setup, s, e)),
                          jax.jit(lambda g, n, k: evaluate_returns(setup, g, n, k)))
    return _COMPILED[key]


def reset_envs(setup: Setup, key: jax.Array) -> envs.State:
    return setup.env.reset(jax.random.split(key, setup.config.ppo.num_envs))


def initial_state(setup: Setup) -> tuple[TrainState, envs.State]:
    """Fresh state and environments from `config.seed`."""
    k_init, k_env = jax.random.split(jax.random.PRNGKey(setup.config.seed))
    return init_state(setup, k_init), jax.jit(lambda k: reset_envs(setup, k))(k_env)


def _template(setup: Setup) -> dict:
    """Abstract checkpoint tree (shapes only: nothing is compiled or run)."""
    k = jax.random.PRNGKey(0)
    return jax.eval_shape(lambda k: {"train": init_state(setup, k),
                                     "env": reset_envs(setup, k)}, k)


def restore_learner(config: ml_collections.ConfigDict, workdir: str,
                    step: int | None = None) -> Learner:
    """The trained state of a workdir (used by `networks.load_policy`)."""
    setup = build(config)
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"))
    try:
        tree = ckpt.restore(_template(setup), step)
    finally:
        ckpt.close()
    return Learner(tree["train"], setup.models.obs_size, setup.models.action_size)


def _param_counts(setup: Setup, params: dict) -> dict:
    """Genome vs developed network size (every trainable number, biases included)."""
    genome = compression.param_count(params)
    net = setup.config.network
    plain = sum(compression.plain_mlp_param_count(
        (setup.models.obs_size, *networks.hidden_sizes(net), n_out))
        for n_out in (setup.models.action_distribution.param_size, 1))
    return {"genome_params": int(genome), "plain_params": int(plain),
            "compression_ratio": float(plain) / float(genome)}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       log: Callable[[str], None] = print) -> dict:
    """Train (resuming from `workdir/checkpoints` if present), evaluate, write `summary.json`."""
    t_start = time.time()
    setup = build(config)
    os.makedirs(workdir, exist_ok=True)
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), keep=config.checkpoint.keep)
    ckpt.record_config(workdir, config, RESUMABLE_FIELDS, config_lib.ConfigError)
    progress_path = os.path.join(workdir, "progress.jsonl")
    state, env_state = initial_state(setup)
    history: list[dict] = []
    if ckpt.latest_step() is not None:
        tree = ckpt.restore({"train": state, "env": env_state})
        state, env_state = tree["train"], tree["env"]
        if os.path.exists(progress_path):
            with open(progress_path) as f:
                history = [json.loads(line) for line in f if line.strip()]
            done = int(state.iteration)
            history = [h for h in history if h["iteration"] <= done]
        log(f"resumed from iteration {int(state.iteration)}")
    elif os.path.exists(progress_path):
        os.remove(progress_path)

    step_fn, eval_fn = compiled(setup)
    eval_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 2)
    n_iter = setup.num_iterations
    eval_every = config_lib.eval_every(config)

    def evaluate(state: TrainState) -> float:
        returns = eval_fn(state.params["policy"], state.normalizer_params,
                          jax.random.fold_in(eval_key, int(state.iteration)))
        return float(jnp.mean(returns))

    def record(entry: dict) -> None:
        history.append(entry)
        with open(progress_path, "a") as f:
            f.write(json.dumps(entry) + "\n")
        log(f"[{config.mode} {config.env.name}] iter {entry['iteration']}/{n_iter} env_steps "
            f"{entry['env_steps']} steps/s {entry['steps_per_second']:.0f} eval_return "
            f"{entry['eval_return']:.2f}")

    if not history:
        record({"iteration": 0, "env_steps": 0, "steps_per_second": 0.0,
                "eval_return": evaluate(state), "wall_seconds": time.time() - t_start})
    train_time = 0.0
    it = int(state.iteration)
    while it < n_iter:
        t0 = time.time()
        state, env_state, metrics = step_fn(state, env_state)
        jax.block_until_ready(state.params)
        dt = time.time() - t0
        train_time += dt
        it += 1
        if it % config.checkpoint.every == 0 or it == n_iter:
            ckpt.save(it, {"train": state, "env": env_state})
        if it % eval_every == 0 or it == n_iter:
            entry = {"iteration": it, "env_steps": it * setup.steps_per_iteration,
                     "steps_per_second": setup.steps_per_iteration / dt,
                     "eval_return": evaluate(state), "wall_seconds": time.time() - t_start,
                     **{k: float(v) for k, v in metrics.items()}}
            record(entry)
    ckpt.close()

    summary = {
        "env": config.env.name, "backend": config.env.backend, "mode": config.mode,
        "seed": config.seed, "initial_return": history[0]["eval_return"],
        "final_return": history[-1]["eval_return"],
        "env_steps": n_iter * setup.steps_per_iteration,
        "train_seconds": time.time() - t_start, "update_seconds_this_call": train_time,
        "cell_types": int(config.network.hidden_types) if config.mode == "sgb"
        else int(config.network.hidden_width),
        "input_types": (setup.models.obs_size if config.network.input_types == -1
                        else int(config.network.input_types)) if config.mode == "sgb" else None,
        "hidden_width": int(config.network.hidden_width), "depth": int(config.network.depth),
        "c3": float(config.kl.c3), "num_envs": int(config.ppo.num_envs),
        "returns": [[h["env_steps"], h["eval_return"]] for h in history],
        **_param_counts(setup, state.params),
    }
    with open(os.path.join(workdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary

