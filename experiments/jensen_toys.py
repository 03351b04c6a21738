"""Paper Fig. 6: gradient descent on E[L(mu + sigma eps)] for 1-D convex, concave, non-convex toys.

For each toy, 100 gradient steps on the reparameterised objective (`theory.reparam_descent`) from
the stated `(mu0, sigma0)`; along the path the Jensen gap `Delta L = E[L(mu + sigma eps)] - L(mu)`
is computed by Gauss-Hermite quadrature (exact to float precision for these smooth losses) next to
its second-order prediction `1/2 L''(mu) sigma^2` (eq. 5). Writes `results/theory/toys.png` and
`results/theory/toys.json`.

  python experiments/jensen_toys.py --config=configs/theory.py:cpu
"""

from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

from sgb_jax import theory

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Convex everywhere, concave everywhere, and a double well (concave for |x| < 1/sqrt(3)).
TOY_LOSSES = {
    "convex": lambda x: x**2,
    "concave": lambda x: -jnp.log(jnp.cosh(x)),
    "nonconvex": lambda x: x**4 / 4 - x**2 / 2,
}
TOY_FORMULAS = {"convex": "x^2", "concave": "-log cosh x", "nonconvex": "x^4/4 - x^2/2"}

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Flags are defined only when run as a script, so tests can import both launchers."""
    config_flags.DEFINE_config_file("config", "configs/theory.py:cpu", "theory config")
    flags.DEFINE_string("out", "results/theory", "output folder")


def validate(config) -> None:
    """Check the `toys` section before anything compiles; errors name the field."""
    t = config.toys
    unknown = [name for name in t.losses if name not in TOY_LOSSES]
    if unknown:
        raise ValueError(f"toys.losses: unknown {unknown}; allowed {sorted(TOY_LOSSES)}")
    for field in ("mu0", "sigma0"):
        if len(getattr(t, field)) != len(t.losses):
            raise ValueError(f"toys.{field} needs one entry per toys.losses ({len(t.losses)}), "
                             f"got {len(getattr(t, field))}")
    if any(s <= 0 for s in t.sigma0):
        raise ValueError(f"toys.sigma0 must be > 0, got {t.sigma0}")
    for field in ("num_steps", "num_samples", "quadrature_order"):
        if int(getattr(t, field)) < 1:
            raise ValueError(f"toys.{field} must be a positive integer, got {getattr(t, field)}")
    if not t.learning_rate > 0:
        raise ValueError(f"toys.learning_rate must be > 0, got {t.learning_rate}")


def quadrature_gap(loss, mu: np.ndarray, sigma: np.ndarray, order: int) -> np.ndarray:
    """`E[L(mu + sigma eps)] - L(mu)` by Gauss-Hermite (probabilists') quadrature, vectorised."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(order)
    weights = weights / weights.sum()
    vals = loss(jnp.asarray(mu)[:, None] + jnp.asarray(sigma)[:, None] * nodes[None])
    return np.asarray(vals @ weights - loss(jnp.asarray(mu)))


def run_toys(config) -> dict:
    """Descend every toy; return per-toy trajectories, gaps and predictions (lists for JSON)."""
    t = config.toys
    key = jax.random.key(config.seed)
    out = {}
    for i, name in enumerate(t.losses):
        loss = TOY_LOSSES[name]
        trace = theory.reparam_descent(loss, jnp.float32(t.mu0[i]), jnp.float32(t.sigma0[i]),
                                       jax.random.fold_in(key, i), t.learning_rate, t.num_steps,
                                       t.num_samples)
        mu, sigma = np.asarray(trace.mu, np.float64), np.asarray(trace.sigma, np.float64)
        gap = quadrature_gap(loss, mu, sigma, t.quadrature_order)
        curvature = np.asarray(jax.vmap(jax.grad(jax.grad(loss)))(jnp.asarray(mu)))
        pred = 0.5 * curvature * sigma**2
        out[name] = {
            "formula": TOY_FORMULAS[name], "mu": mu.tolist(), "sigma": sigma.tolist(),
            "gap": gap.tolist(), "predicted_gap": pred.tolist(), "curvature": curvature.tolist(),
            "mu0": float(mu[0]), "sigma0": float(sigma[0]), "mu_final": float(mu[-1]),
            "sigma_final": float(sigma[-1]), "gap_initial": float(gap[0]),
            "gap_final": float(gap[-1]),
            "gap_sign_per_step": {"positive": int((gap > 0).sum()),
                                  "negative": int((gap < 0).sum())},
        }
        logging.info("%s L=%s: mu %.3f -> %.3f, sigma %.3f -> %.3f, gap %.4f -> %.4f "
                     "(predicted %.4f -> %.4f)", name, TOY_FORMULAS[name], mu[0], mu[-1],
                     sigma[0], sigma[-1], gap[0], gap[-1], pred[0], pred[-1])
    return out


def plot(results: dict, path: str) -> None:
    names = list(results)
    fig, axes = plt.subplots(3, len(names), figsize=(4.2 * len(names), 9.5), squeeze=False)
    for j, name in enumerate(names):
        r = results[name]
        mu, sigma = np.array(r["mu"]), np.array(r["sigma"])
        lo, hi = min(mu.min() - 2 * sigma.max(), -2.0), max(mu.max() + 2 * sigma.max(), 2.0)
        xs = np.linspace(lo, hi, 400)
        ax = axes[0, j]
        ax.plot(xs, TOY_LOSSES[name](jnp.asarray(xs)), color="0.3")
        ys = np.asarray(TOY_LOSSES[name](jnp.asarray(mu)))
        ax.scatter(mu, ys, c=np.arange(mu.size), cmap="viridis", s=8, zorder=3)
        ax.plot(mu[0], ys[0], "kx", ms=10, mew=2, label="start", zorder=4)
        ax.plot(mu[-1], ys[-1], "r^", ms=9, label="after 100 steps", zorder=4)
        for m, s, c in ((mu[0], sigma[0], "k"), (mu[-1], sigma[-1], "r")):
            ax.axvspan(m - s, m + s, color=c, alpha=0.08)
        ax.set_title(f"{name}: L(x) = {r['formula']}")
        ax.set_xlabel("x")
        ax.legend(fontsize=8)
        ax = axes[1, j]
        ax.plot(mu, label="mu")
        ax.plot(sigma, label="sigma")
        ax.set_xlabel("gradient step")
        ax.legend(fontsize=8)
        ax = axes[2, j]
        ax.plot(r["gap"], label="Delta L (quadrature)")
        ax.plot(r["predicted_gap"], "--", label="1/2 L''(mu) sigma^2")
        ax.axhline(0.0, color="k", lw=0.7)
        ax.set_xlabel("gradient step")
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel("loss, path of mu (+-sigma band)")
    axes[1, 0].set_ylabel("parameter")
    axes[2, 0].set_ylabel("Jensen gap")
    fig.suptitle("Gradient descent on E[L(mu + sigma eps)] (paper Fig. 6)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
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
    results = run_toys(config)
    plot(results, os.path.join(FLAGS.out, "toys.png"))
    with open(os.path.join(FLAGS.out, "toys.json"), "w") as f:
        json.dump({"config": config.toys.to_dict(), "toys": results,
                   "wall_seconds": time.time() - start}, f, indent=1)
    print(f"wrote {FLAGS.out}/toys.png and toys.json in {time.time() - start:.1f} s")


if __name__ == "__main__":
    define_flags()
    app.run(main)
