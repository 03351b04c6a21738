"""Train-step time of a plain MLP vs SGB (factorised and exact-materialised), side by side.

    python bench/layer_step.py [--batch 128] [--reps 30] [--widths 800,3200,12800] [--types 50]

All variants are jitted Adam steps on the same random batch of a 784-H-10 MLP (MNIST shapes). The
variants are timed interleaved, one step each per round, so machine noise hits them alike; the
median over rounds is reported, and every figure is a ratio to the plain MLP measured in the same
run. `exact` develops one phenotype per step (every synapse sampled) and applies it; `factorised`
is the local-reparameterisation path used for training (S = 1 sample for both).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgb_jax import SGBMLP, CellTypeSpec, PlainMLP, population  # noqa: E402


def _ce(logits, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def make_steps(width: int, types: int, batch: int):
    x = jax.random.uniform(jax.random.key(0), (batch, 784))
    y = jax.random.randint(jax.random.key(1), (batch,), 0, 10)
    opt = optax.adam(1e-3)
    plain = PlainMLP((width, 10))
    sgb = SGBMLP((784, width, 10), (CellTypeSpec(30, "tiles", (28, 28)), CellTypeSpec(types),
                                    CellTypeSpec(10)))
    p_plain = plain.init(jax.random.key(2), x)["params"]
    g = sgb.init({"params": jax.random.key(3), "noise": jax.random.key(4)}, x)["params"]

    def stepper(loss):
        @jax.jit
        def step(params, opt_state, key):
            grads = jax.grad(loss)(params, key)
            updates, opt_state = opt.update(grads, opt_state)
            return optax.apply_updates(params, updates), opt_state
        return step

    losses = {
        "plain": (lambda p, k: _ce(plain.apply({"params": p}, x), y), p_plain),
        "factorised": (lambda p, k: _ce(sgb.apply({"params": p}, x, rngs={"noise": k}), y), g),
        "exact": (lambda p, k: _ce(sgb.plain().apply(
            {"params": population.develop(sgb, p, k)}, x), y), g),
    }
    return {name: (stepper(fn), params, opt.init(params)) for name, (fn, params) in losses.items()}


def time_interleaved(steps: dict, reps: int) -> dict[str, float]:
    state = {n: (p, o) for n, (_, p, o) in steps.items()}
    key = jax.random.key(5)
    for n, (step, _, _) in steps.items():  # compile + warm up
        for _ in range(3):
            state[n] = step(*state[n], key)
        jax.block_until_ready(state[n])
    times: dict[str, list[float]] = {n: [] for n in steps}
    for r in range(reps):
        k = jax.random.fold_in(key, r)
        for n, (step, _, _) in steps.items():
            t = time.perf_counter()
            state[n] = step(*state[n], k)
            jax.block_until_ready(state[n])
            times[n].append(time.perf_counter() - t)
    return {n: float(np.median(v)) for n, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--types", type=int, default=50)
    ap.add_argument("--widths", default="800,3200,12800")
    args = ap.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    print(f"backend {jax.default_backend()}, batch {args.batch}, hidden types {args.types}, "
          f"median of {args.reps} interleaved steps")
    variants = {}
    for width in widths:
        for name, v in make_steps(width, args.types, args.batch).items():
            if name != "exact" or width == widths[0]:  # exact: the plain cost plus sampling
                variants[f"{name}@{width}"] = v
    med = time_interleaved(variants, args.reps)
    w0 = widths[0]
    print(f"width {w0}: plain {med[f'plain@{w0}'] * 1e3:.3f} ms/step")
    print(f"width {w0}: factorised/plain: {med[f'factorised@{w0}'] / med[f'plain@{w0}']:.2f}x")
    print(f"width {w0}: exact/plain: {med[f'exact@{w0}'] / med[f'plain@{w0}']:.2f}x")
    for width in widths:
        print(f"width {width}: factorised {med[f'factorised@{width}'] * 1e3:.3f} ms, "
              f"factorised/plain: {med[f'factorised@{width}'] / med[f'plain@{width}']:.2f}x, "
              f"factorised/factorised@{w0}: {med[f'factorised@{width}'] / med[f'factorised@{w0}']:.2f}x")


if __name__ == "__main__":
    main()
