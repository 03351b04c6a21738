"""Appendix A on trained MNIST and RL genomes: Jensen gap vs prediction, Hessian spectra, sigma step.

`analyse(develop, genome, loss_fn, ...)` takes any loss of a phenotype. Everything is measured in
the developed (synapse) space: `mu` is the mean network and the per-synapse sigma is
`softplus(rho)` expanded over the cell types, so `mu + sigma * eps` is exactly the distribution
`develop(key)` samples (checked against it: `measured_gap_develop`); deterministic synapses (the RL
output heads) have sigma 0 and are masked out of the synapse spectrum. The genome-space Hessian
`E^T H E` is reported beside it.

* MNIST (`mnist`, `mnist_<act>`): trained (or reused, `--config.real.genome_workdir=...`) through
  `sgb_jax.supervised.train.train_and_evaluate`; `L(w)` = mean cross-entropy of the plain network
  with weights `w` on the first `real.eval_examples` training images.
* RL (`ant_rl`): an SGB-PPO Ant genome, reused (`--config.rl.genome_workdir=results/...`, a finished
  `experiments/train_ppo.py` sgb run) or trained into `<out>/ant_rl_genome` by
  `sgb_jax.rl.ppo.train_and_evaluate`. `L(w)` = the trainer's objective without the genome KL:
  Brax's PPO loss (clipped surrogate + value + entropy) of the actor/critic phenotype pair `w` on a
  fixed batch collected once by the mean network, GAE targets and advantages frozen at the mean
  critic (`sgb_jax.rl.phenotype_loss` says why). Also: zero-shot return of developed individuals vs
  the mean network, as a sanity number.

Writes `results/theory/summary.json` (per model: `measured_gap`, `predicted_gap`,
`negative_eigen_fraction`, spectra, `sigma_step`, ...) and `results/theory/hessian_spectrum.png`.

  python experiments/hessian_real.py --config=configs/theory.py:cpu \
      --config.rl.genome_workdir=results/ppo_ant_sgb_w32
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import matplotlib
import ml_collections
import numpy as np
import optax
from absl import app, flags, logging
from flax import traverse_util
from ml_collections import config_flags

from sgb_jax import population, theory
from sgb_jax.checkpoint import Checkpointer
from sgb_jax.rl import config as config_lib
from sgb_jax.rl import evaluate, phenotype_loss, ppo
from sgb_jax.supervised import train as sup_train

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Flags are defined only when run as a script, so tests can import both launchers."""
    config_flags.DEFINE_config_file("config", "configs/theory.py:cpu", "theory config")
    flags.DEFINE_string("out", "results/theory", "output folder")

_POSITIVE_INTS = ("epochs", "eval_examples", "gap_samples", "hutchinson_probes", "paired_samples",
                  "lanczos_steps", "lanczos_probes", "sigma_step_samples", "batch_size")


def validate(config) -> None:
    """Check the `real` section before anything loads or compiles; errors name the field."""
    r = config.real
    for field in _POSITIVE_INTS:
        v = getattr(r, field)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"real.{field} must be a positive integer, got {v!r}")
    if not r.sigma_step_scales or any(not c > 0 for c in r.sigma_step_scales):
        raise ValueError(f"real.sigma_step_scales must be positive factors, got "
                         f"{r.sigma_step_scales}")
    if not r.sigma_step_eta > 0:
        raise ValueError(f"real.sigma_step_eta must be > 0, got {r.sigma_step_eta}")
    allowed = ("relu", "tanh", "swish", "elu")
    if not r.activations or any(a not in allowed for a in r.activations):
        raise ValueError(f"real.activations must list some of {allowed}, got {r.activations}")
    if r.genome_workdir is not None and not os.path.isfile(
            os.path.join(r.genome_workdir, "summary.json")):
        raise ValueError(f"real.genome_workdir {r.genome_workdir!r} holds no summary.json of a "
                         "finished sgb_jax.supervised run")
    validate_rl(config)


_RL_POSITIVE_INTS = ("hidden_width", "depth", "hidden_types", "num_timesteps", "num_envs",
                     "batch_size", "num_minibatches", "batch_envs", "segments_per_env",
                     "return_episodes")
_RL_VARIANTS = ("cpu", "paper", "test")


def validate_rl(config) -> None:
    """Check the `rl` section (and the SGB-PPO config it trains with); errors name the field."""
    rl = config.rl
    if not isinstance(rl.enabled, bool):
        raise ValueError(f"rl.enabled must be True or False, got {rl.enabled!r}")
    for field in _RL_POSITIVE_INTS:
        v = getattr(rl, field)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"rl.{field} must be a positive integer, got {v!r}")
    for field in ("warmup_steps", "return_individuals"):
        v = getattr(rl, field)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"rl.{field} must be an integer >= 0, got {v!r}")
    if rl.train_variant not in _RL_VARIANTS:
        raise ValueError(f"rl.train_variant must be one of {_RL_VARIANTS} (a variant of "
                         f"configs/ppo_ant.py), got {rl.train_variant!r}")
    if not rl.enabled:
        return
    if rl.genome_workdir is None:
        try:
            config_lib.validate(rl_train_config(config))
        except config_lib.ConfigError as err:
            raise ValueError(f"rl: the genome's SGB-PPO config is invalid: {err}") from None
        return
    files = [os.path.join(rl.genome_workdir, f) for f in ("summary.json", "config.json")]
    if not all(os.path.isfile(f) for f in files):
        raise ValueError(f"rl.genome_workdir {rl.genome_workdir!r} holds no summary.json and "
                         "config.json of a finished sgb_jax.rl.ppo run")
    with open(files[1]) as f:
        mode = json.load(f).get("mode")
    if mode != "sgb":
        raise ValueError(f"rl.genome_workdir {rl.genome_workdir!r} was trained in mode {mode!r}; "
                         "the analysis needs an SGB genome (mode 'sgb')")


def _load_config(filename: str, variant: str) -> ml_collections.ConfigDict:
    """`configs/<filename>`'s `get_config(variant)`, loaded by path (no package needed)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs",
                        filename)
    spec = importlib.util.spec_from_file_location(filename.removesuffix(".py") + "_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant)


def genome_config(config, activation: str) -> ml_collections.ConfigDict:
    """The supervised config that trains the CPU-scale genome (from configs/mnist_sgb.py)."""
    c = _load_config("mnist_sgb.py", "cpu")
    r = config.real
    c.seed = config.seed
    c.model.hidden_sizes = tuple(r.hidden_sizes)
    c.model.input_types, c.model.hidden_types = r.input_types, r.hidden_types
    c.model.output_types = r.output_types
    c.model.activation = activation
    c.train.epochs = r.epochs
    c.train.max_train_examples = r.max_train_examples
    c.eval.num_individuals = 20
    return c


def sigma_tables(genome: dict) -> dict:
    """Genome-space sigma: `softplus(rho)` of every SGB layer, keyed like `mu` / `bias_mu`."""
    flat = traverse_util.flatten_dict(genome)
    out = {}
    for path, v in flat.items():
        if path[-1] in ("rho", "bias_rho"):
            out[path[:-1] + ("mu" if path[-1] == "rho" else "bias_mu",)] = jax.nn.softplus(v)
    return traverse_util.unflatten_dict(out)


def _genome_tables(genome: dict, tables: dict, rest) -> dict:
    """`genome` with the `mu`/`bias_mu` tables replaced by `tables`, every other leaf by `rest`."""
    flat = traverse_util.flatten_dict(genome)
    full = {path: rest(v) for path, v in flat.items()}
    full.update(traverse_util.flatten_dict(tables))
    return traverse_util.unflatten_dict(full)


def make_expand(develop: Callable, genome: dict) -> tuple[Callable, dict]:
    """`(expand, head)`: the phenotype is `head + expand(genome-space tables)`.

    `expand` maps `mu`/`bias_mu`-keyed tables to the phenotype through the cell-type expansion and
    is linear (every other genome leaf is zeroed), as `theory.sigma_step_check` needs; `head` is
    the phenotype part that is not developed from tables (the deterministic RL output layers; all
    zeros for an all-SGB network).
    """
    zero = lambda v: jnp.zeros_like(v)

    def expand(tables: dict) -> dict:
        return develop(_genome_tables(genome, tables, zero), None)

    s_tab = sigma_tables(genome)
    head = develop(_genome_tables(genome, jax.tree_util.tree_map(zero, s_tab), lambda v: v), None)
    return expand, head


def analyse(develop: Callable, genome: dict, loss_fn: Callable, r,
            key: jax.Array) -> tuple[dict, dict]:
    """All appendix-A quantities for one genome; returns a JSON-ready dict and the spectra.

    `develop(genome, key)` -> phenotype (`key=None`: the mean network); `loss_fn(phenotype)` is
    `L(w)`. Synapses without noise (deterministic output layers) keep sigma = 0: the synapse
    spectrum is then taken over the noisy synapses only (a 0/1 mask), where eq. 5 lives.
    """
    expand, head = make_expand(develop, genome)
    s_tab = sigma_tables(genome)
    flat_genome = traverse_util.flatten_dict(genome)
    mu_tab = traverse_util.unflatten_dict(
        {path: flat_genome[path] for path in traverse_util.flatten_dict(s_tab)})
    mu = develop(genome, None)
    sigma = expand(s_tab)
    keys = jax.random.split(key, 8)
    bs = r.batch_size
    sig_flat = jnp.concatenate([v.ravel() for v in jax.tree_util.tree_leaves(sigma)])
    noisy = int(jnp.sum(sig_flat > 0))
    mask = None if noisy == sig_flat.size else jax.tree_util.tree_map(
        lambda s: (s > 0).astype(s.dtype), sigma)
    out: dict = {"synapse_params": int(sig_flat.size), "noisy_synapses": noisy,
                 "genome_mu_params": int(sum(v.size for v in jax.tree_util.tree_leaves(mu_tab))),
                 "loss_mean_network": float(loss_fn(mu))}
    out["sigma_synapse_mean"] = float(sig_flat[sig_flat > 0].mean())
    t0 = time.time()

    gap = theory.jensen_gap(loss_fn, mu, sigma, keys[0], r.gap_samples, batch_size=bs)
    out["measured_gap"], out["measured_gap_sem"] = gap.mean, gap.sem
    # Cross-check: the same gap through the library's develop (independent individuals).
    dev_loss = jax.jit(lambda k: loss_fn(develop(genome, k)))
    dev = np.array([float(dev_loss(k)) for k in jax.random.split(keys[1], r.gap_samples)])
    out["measured_gap_develop"] = float(dev.mean() - out["loss_mean_network"])
    out["measured_gap_develop_sem"] = float(dev.std(ddof=1) / np.sqrt(dev.size))
    logging.info("measured gap %.5f +- %.5f (develop: %.5f +- %.5f) [%.0f s]", gap.mean, gap.sem,
                 out["measured_gap_develop"], out["measured_gap_develop_sem"], time.time() - t0)

    pred = theory.predicted_gap(loss_fn, mu, sigma, keys[2], r.hutchinson_probes, batch_size=bs)
    out["predicted_gap"], out["predicted_gap_sem"] = pred.mean, pred.sem
    paired = theory.paired_gap(loss_fn, mu, sigma, keys[3], r.paired_samples, batch_size=bs)
    out["paired"] = {k: {"mean": v.mean, "sem": v.sem, "num": v.num} for k, v in paired.items()}
    logging.info("predicted gap (Hutchinson) %.5f +- %.5f; paired measured %.5f vs quadratic "
                 "%.5f, remainder %.5f +- %.5f [%.0f s]", pred.mean, pred.sem,
                 paired["measured"].mean, paired["predicted"].mean, paired["remainder"].mean,
                 paired["remainder"].sem, time.time() - t0)

    spectra = {
        "synapse": theory.hessian_spectrum(loss_fn, mu, keys[4], r.lanczos_steps,
                                           r.lanczos_probes, scale=mask),
        "noise_weighted": theory.hessian_spectrum(loss_fn, mu, keys[5], r.lanczos_steps,
                                                  r.lanczos_probes, scale=sigma),
        "genome": theory.hessian_spectrum(
            lambda t: loss_fn(jax.tree_util.tree_map(jnp.add, head, expand(t))), mu_tab, keys[6],
            min(r.lanczos_steps, out["genome_mu_params"]), r.lanczos_probes),
    }
    out["negative_eigen_fraction"] = theory.negative_eigen_fraction(spectra["synapse"])
    for name, spec in spectra.items():
        out[f"spectrum_{name}"] = {
            "dim": spec.dim, "lambda_min": float(spec.values.min()),
            "lambda_max": float(spec.values.max()),
            "negative_eigen_fraction": theory.negative_eigen_fraction(spec),
            "trace_slq": float(spec.dim * jnp.mean(jnp.sum(spec.weights * spec.values, 1))),
        }
    # SLQ estimate of tr(S H S) / 2 = an independent route to the predicted gap.
    out["predicted_gap_slq"] = 0.5 * out["spectrum_noise_weighted"]["trace_slq"]
    logging.info("spectra %s [%.0f s]", {k: out[f"spectrum_{k}"] for k in spectra},
                 time.time() - t0)

    out["sigma_step"] = {}
    for scale in r.sigma_step_scales:
        # sigma scaled by `scale`: the first-order rule's error should shrink as sigma does.
        s_scaled = jax.tree_util.tree_map(lambda v, c=scale: c * v, s_tab)
        chk = theory.sigma_step_check(loss_fn, mu, s_scaled, keys[7], r.sigma_step_eta,
                                      r.sigma_step_samples, expand=expand, batch_size=bs)
        m, f, p = (np.concatenate([np.ravel(v) for v in jax.tree_util.tree_leaves(t)])
                   for t in (chk.measured, chk.first_order, chk.paper_rule))
        out["sigma_step"][f"sigma_x{scale:g}"] = {
            "eta": r.sigma_step_eta, "samples": r.sigma_step_samples,
            "rel_error_vs_first_order": theory.relative_error(chk.measured, chk.first_order),
            "rel_error_vs_paper_rule": theory.relative_error(chk.measured, chk.paper_rule),
            "cosine_vs_first_order": theory.cosine(chk.measured, chk.first_order),
            "cosine_vs_paper_rule": theory.cosine(chk.measured, chk.paper_rule),
            "sign_agreement_first_order": float(np.mean(np.sign(m) == np.sign(f))),
            "sign_agreement_paper_rule": float(np.mean(np.sign(m) == np.sign(p))),
            "fraction_sigma_shrinking": float(np.mean(m < 0)),
        }
    logging.info("sigma step %s [%.0f s]", out["sigma_step"], time.time() - t0)
    out["analysis_seconds"] = time.time() - t0
    return out, spectra


def plot_spectra(spectra_by_model: dict, path: str) -> None:
    names = ["synapse", "noise_weighted", "genome"]
    models = list(spectra_by_model)
    fig, axes = plt.subplots(len(models), 3, figsize=(13, 3.4 * len(models)), squeeze=False)
    for i, model_name in enumerate(models):
        for j, name in enumerate(names):
            spec = spectra_by_model[model_name][name]
            v, w = np.ravel(spec.values), np.ravel(spec.weights) / spec.values.shape[0]
            ax = axes[i, j]
            # Ritz values span a few negative ones near 0 and a long positive tail: symlog x.
            ax.plot(v, np.maximum(w, 1e-12), "o", ms=3)
            ax.set_xscale("symlog", linthresh=1e-3 * float(np.abs(v).max()))
            ax.set_yscale("log")
            ax.axvline(0.0, color="r", lw=0.7)
            ax.set_title(f"{model_name}: {name} Hessian (dim {spec.dim})", fontsize=10)
            ax.set_xlabel("Ritz value")
        axes[i, 0].set_ylabel("SLQ weight")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv) -> None:
    del argv
    config = FLAGS.config
    try:
        validate(config)
    except ValueError as err:  # config errors name the field
        raise SystemExit(f"invalid config: {err}") from None
    os.makedirs(FLAGS.out, exist_ok=True)
    start = time.time()
    r = config.real
    summary: dict = {"config": config.real.to_dict(), "rl_config": config.rl.to_dict()}
    all_spectra = {}
    if r.genome_workdir is not None:
        with open(os.path.join(r.genome_workdir, "summary.json")) as f:
            runs = [("mnist", r.genome_workdir, ml_collections.ConfigDict(json.load(f)["config"]))]
    else:
        # One genome per activation: "mnist" (relu, the paper's) and "mnist_<act>" beside it.
        runs = [("mnist" if act == "relu" else f"mnist_{act}",
                 os.path.join(FLAGS.out, f"mnist_genome_{act}"), genome_config(config, act))
                for act in r.activations]
    for name, workdir, gconf in runs:
        if not os.path.isfile(os.path.join(workdir, "summary.json")):
            logging.info("training the %s genome in %s", name, workdir)
            sup_train.train_and_evaluate(gconf, workdir)
        summary[name] = analyse_run(gconf, workdir, r, jax.random.key(config.seed + 1))
        all_spectra[name] = summary[name].pop("_spectra")
        print(name, json.dumps({k: summary[name][k] for k in _HEADLINE}))
    if config.rl.enabled:
        workdir = config.rl.genome_workdir or os.path.join(FLAGS.out, "ant_rl_genome")
        if not os.path.isfile(os.path.join(workdir, "summary.json")):
            logging.info("training the RL genome in %s", workdir)
            ppo.train_and_evaluate(rl_train_config(config), workdir, log=logging.info)
        summary["ant_rl"] = analyse_rl_run(workdir, config, jax.random.key(config.seed + 1))
        all_spectra["ant_rl"] = summary["ant_rl"].pop("_spectra")
        print("ant_rl", json.dumps({k: summary["ant_rl"][k] for k in _HEADLINE}))
    summary["wall_seconds"] = time.time() - start
    with open(os.path.join(FLAGS.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    plot_spectra(all_spectra, os.path.join(FLAGS.out, "hessian_spectrum.png"))
    print(f"wrote {FLAGS.out}/summary.json and hessian_spectrum.png in "
          f"{time.time() - start:.1f} s")


_HEADLINE = ("measured_gap", "measured_gap_sem", "predicted_gap", "predicted_gap_sem",
             "negative_eigen_fraction")


def analyse_run(gconf, workdir: str, r, key: jax.Array) -> dict:
    """Restore one trained genome and analyse it on the first `r.eval_examples` training images."""
    from sgb_jax import data  # imported lazily: tfds is only needed here

    with open(os.path.join(workdir, "summary.json")) as f:
        train_summary = json.load(f)
    model, genome = sup_train.load_trained(gconf, workdir)
    x_tr, y_tr = data.load(gconf.dataset, "train", data_dir=gconf.get("data_dir"),
                           raw_dir=gconf.get("raw_dir"))
    x = jnp.asarray(x_tr[:r.eval_examples].reshape(r.eval_examples, -1), jnp.float32)
    y = jnp.asarray(y_tr[:r.eval_examples], jnp.int32)
    plain = model.plain()

    def loss_fn(phenotype):
        logits = plain.apply({"params": phenotype}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    result, spectra = analyse(lambda g, k: population.develop(model, g, k), genome, loss_fn, r,
                              key)
    result["eval_examples"] = int(x.shape[0])
    result["genome_workdir"] = workdir
    result["activation"] = gconf.model.activation
    for k in ("innate_accuracy_mean", "innate_accuracy_sem", "mean_network_accuracy",
              "compression_ratio", "train_seconds"):
        result[k] = train_summary.get(k)
    result["_spectra"] = spectra
    return result


# --- RL genome ----------------------------------------------------------------------------------


def rl_train_config(config) -> ml_collections.ConfigDict:
    """The SGB-PPO config that trains the RL genome (configs/ppo_ant.py:<rl.train_variant>)."""
    c = _load_config("ppo_ant.py", config.rl.train_variant)
    rl = config.rl
    c.mode, c.seed = "sgb", config.seed
    c.network.hidden_width, c.network.depth = rl.hidden_width, rl.depth
    c.network.hidden_types = rl.hidden_types
    c.ppo.update(dict(num_timesteps=rl.num_timesteps, num_envs=rl.num_envs,
                      batch_size=rl.batch_size, num_minibatches=rl.num_minibatches))
    c.eval.num_evals = min(c.eval.num_evals, 6)
    c.eval.num_eval_envs = min(c.eval.num_eval_envs, 32)
    return c


def analyse_rl(setup, params: dict, normalizer_params, config, key: jax.Array) -> tuple[dict, dict]:
    """Appendix A on an SGB-PPO genome: `L` = PPO loss without KL on a mean-network batch.

    See `sgb_jax.rl.phenotype_loss` for `L`. Also reports, as a sanity number, the zero-shot
    return of `rl.return_individuals` developed actors vs the mean network on shared episodes.
    """
    rl = config.rl
    k_batch, k_entropy, k_analyse, k_return = jax.random.split(key, 4)
    t0 = time.time()
    data = phenotype_loss.collect_batch(setup, params, normalizer_params, k_batch,
                                        rl.batch_envs, rl.warmup_steps, rl.segments_per_env)
    mean = phenotype_loss.develop(setup.models, params, None)
    loss_fn = phenotype_loss.frozen_ppo_loss(setup, normalizer_params, data, mean, k_entropy)
    batch_seconds = time.time() - t0
    develop = lambda g, k: phenotype_loss.develop(setup.models, g, k)
    result, spectra = analyse(develop, params, loss_fn, config.real, k_analyse)
    result["transitions"] = int(data.reward.size)
    result["batch_rows"] = [int(d) for d in data.reward.shape]
    result["batch_seconds"] = batch_seconds
    result["batch_mean_reward"] = float(data.reward.mean())
    result["loss"] = ("Brax PPO loss without the genome KL (clipped surrogate + value + entropy), "
                      "targets and advantages frozen at the mean critic, fixed batch collected "
                      "by the mean network")
    if rl.return_individuals:
        cfg = setup.config
        env = config_lib.make_env(cfg)
        policy_model = setup.models.policy_model
        k_dev, k_env = jax.random.split(k_return)
        out = evaluate.evaluate_genome(env, policy_model, params["policy"], normalizer_params,
                                       k_dev, k_env, rl.return_individuals, rl.return_episodes,
                                       cfg.env.episode_length, cfg.env.action_repeat)
        pop = population.summarize(np.asarray(out.population.returns).mean(axis=1))
        result["return_population_mean"], result["return_population_sem"] = pop.mean, pop.sem
        result["return_mean_network"] = float(np.mean(out.mean_network.returns))
        result["return_population_minus_mean_network"] = pop.mean - result["return_mean_network"]
        logging.info("returns: population %.1f +- %.1f, mean network %.1f", pop.mean, pop.sem,
                     result["return_mean_network"])
    return result, spectra


def restore_rl_genome(workdir: str) -> tuple:
    """`(setup, params, normalizer_params)` of a finished SGB-PPO workdir.

    Only the trained parameters and the observation normaliser are read from the latest orbax
    checkpoint (a partial restore), and `config.json` is laid over today's defaults, so genomes
    trained before the trainer's environment state or config gained fields still load.
    """
    tconf = config_lib.default_config()
    with open(os.path.join(workdir, "config.json")) as f:
        tconf.update(json.load(f))
    setup = ppo.build(tconf)
    state = jax.eval_shape(lambda k: ppo.init_state(setup, k), jax.random.PRNGKey(0))
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"))
    try:
        tree = ckpt.restore({"train": {"params": state.params,
                                       "normalizer_params": state.normalizer_params}},
                            partial=True)["train"]
    finally:
        ckpt.close()
    return setup, tree["params"], tree["normalizer_params"]


def analyse_rl_run(workdir: str, config, key: jax.Array) -> dict:
    """Restore a trained SGB-PPO workdir (`config.json` + orbax checkpoint) and analyse it."""
    with open(os.path.join(workdir, "summary.json")) as f:
        train_summary = json.load(f)
    setup, params, normalizer_params = restore_rl_genome(workdir)
    tconf = setup.config
    result, spectra = analyse_rl(setup, params, normalizer_params, config, key)
    result["genome_workdir"] = workdir
    result["env"], result["activation"] = tconf.env.name, tconf.network.activation
    result["hidden_width"], result["depth"] = tconf.network.hidden_width, tconf.network.depth
    result["hidden_types"] = tconf.network.hidden_types
    for k in ("final_return", "env_steps", "compression_ratio", "train_seconds"):
        result[k] = train_summary.get(k)
    result["_spectra"] = spectra
    return result


if __name__ == "__main__":
    define_flags()
    app.run(main)
