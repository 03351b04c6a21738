"""Appendix A on a trained MNIST genome: Jensen gap vs prediction, Hessian spectra, sigma step.

The genome is trained (or reused, `--config.real.genome_workdir=...`) through
`sgb_jax.supervised.train.train_and_evaluate`. Everything is measured in the developed (synapse)
space: `L(w)` is the mean cross-entropy of the plain network with weights `w` on a fixed set of
training images, `mu` the mean network, and the per-synapse sigma is `softplus(rho)` expanded over
the cell types, so `mu + sigma * eps` is exactly the distribution `develop(key)` samples
(checked below against `population.develop`). The genome-space Hessian `E^T H E` is reported beside
it. Writes `results/theory/summary.json` (per model: `measured_gap`, `predicted_gap`,
`negative_eigen_fraction`, ...) and `results/theory/hessian_spectrum.png`.

  python experiments/hessian_real.py --config=configs/theory.py:cpu
"""

from __future__ import annotations

import importlib.util
import json
import os
import time

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


def genome_config(config, activation: str) -> ml_collections.ConfigDict:
    """The supervised config that trains the CPU-scale genome (from configs/mnist_sgb.py)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs",
                        "mnist_sgb.py")
    spec = importlib.util.spec_from_file_location("mnist_sgb_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config("cpu")
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


def make_expand(model, genome: dict):
    """Linear map genome-space tables (`mu`/`bias_mu` keys) -> phenotype, rho held constant."""
    flat = traverse_util.flatten_dict(genome)

    def expand(tables: dict) -> dict:
        full = dict(flat)
        full.update(traverse_util.flatten_dict(tables))
        return population.mean_network(model, traverse_util.unflatten_dict(full))

    return expand


def analyse(model, genome: dict, x: jax.Array, y: jax.Array, r, key: jax.Array) -> dict:
    """All appendix-A quantities for one genome; returns a JSON-ready dict."""
    plain = model.plain()

    def loss_fn(phenotype):
        logits = plain.apply({"params": phenotype}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    expand = make_expand(model, genome)
    s_tab = sigma_tables(genome)
    mu_tab = {layer: {k: genome[layer][k] for k in s_tab[layer]} for layer in s_tab}
    mu = population.mean_network(model, genome)
    sigma = expand(s_tab)
    keys = jax.random.split(key, 8)
    bs = r.batch_size
    out: dict = {"synapse_params": int(sum(v.size for v in jax.tree_util.tree_leaves(mu))),
                 "genome_mu_params": int(sum(v.size for v in jax.tree_util.tree_leaves(mu_tab))),
                 "eval_examples": int(x.shape[0]), "loss_mean_network": float(loss_fn(mu))}
    sig_flat = jnp.concatenate([v.ravel() for v in jax.tree_util.tree_leaves(sigma)])
    out["sigma_synapse_mean"] = float(sig_flat.mean())
    t0 = time.time()

    gap = theory.jensen_gap(loss_fn, mu, sigma, keys[0], r.gap_samples, batch_size=bs)
    out["measured_gap"], out["measured_gap_sem"] = gap.mean, gap.sem
    # Cross-check: the same gap through the library's develop (independent individuals).
    dev_loss = jax.jit(lambda k: loss_fn(population.develop(model, genome, k)))
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
                                           r.lanczos_probes),
        "noise_weighted": theory.hessian_spectrum(loss_fn, mu, keys[5], r.lanczos_steps,
                                                  r.lanczos_probes, scale=sigma),
        "genome": theory.hessian_spectrum(lambda t: loss_fn(expand(t)), mu_tab, keys[6],
                                          min(r.lanczos_steps, out["genome_mu_params"]),
                                          r.lanczos_probes),
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
    summary: dict = {"config": config.real.to_dict()}
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
    result, spectra = analyse(model, genome, x, y, r, key)
    result["genome_workdir"] = workdir
    result["activation"] = gconf.model.activation
    for k in ("innate_accuracy_mean", "innate_accuracy_sem", "mean_network_accuracy",
              "compression_ratio", "train_seconds"):
        result[k] = train_summary.get(k)
    result["_spectra"] = spectra
    return result


if __name__ == "__main__":
    define_flags()
    app.run(main)
