"""Benchmark: SGB-PPO training env-steps/s vs Brax's own `ppo.train`, same width, envs and settings.

    python bench/ppo_throughput.py                                  # configs/ppo_ant.py:cpu
    python bench/ppo_throughput.py --config=configs/ppo_ant.py:cpu --config.ppo.num_envs=256

Both trainers run in this one process, one after the other, on the same config (SGB hidden types
from the config; Brax: plain MLPs of the same depth and width). SGB-PPO: `iterations` jitted
`ppo.train_step` calls timed one by one after two warm-up calls (fastest kept). Brax: `ppo.train` over
`brax_epochs` training epochs of `iterations` steps each; its own `training/sps` of the last epoch
(training only, no compile, no evaluation) is used. Our trainer in `deterministic` mode (plain MLPs)
is timed too, to separate the trainer's own overhead from the cost of development. Prints
`deterministic/brax_ppo steps per second: <r>x` and `sgb_ppo/brax_ppo steps per second: <r>x`.
"""

from __future__ import annotations

import os
import sys
import time

import jax
from absl import app, flags
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgb_jax.rl import baseline, ppo  # noqa: E402
from sgb_jax.rl import config as config_lib  # noqa: E402

_ITERS = flags.DEFINE_integer("iterations", 3, "Timed training iterations per trainer/epoch.")
_EPOCHS = flags.DEFINE_integer("brax_epochs", 3, "Brax training epochs (the last is timed).")


def sgb_steps_per_second(config, iterations: int) -> tuple[float, list[float]]:
    """`(steps/s of the fastest timed iteration, all iteration times)` of our jitted iteration.

    Two untimed warm-up calls: like Brax's epoch, the second call can compile again (the state
    coming out of the first call differs in weak types from the freshly built one).
    """
    setup = ppo.build(config)
    state, env_state = ppo.initial_state(setup)
    step = jax.jit(lambda s, e: ppo.train_step(setup, s, e))
    times = []
    for _ in range(2 + iterations):
        t0 = time.perf_counter()
        state, env_state, _ = step(state, env_state)
        jax.block_until_ready(state.params)
        times.append(time.perf_counter() - t0)
    return setup.steps_per_iteration / min(times[2:]), times


def brax_steps_per_second(config, iterations: int, epochs: int) -> tuple[float, list[float]]:
    """Brax `ppo.train`'s own training/sps of its last epoch (all epochs listed)."""
    from brax.training.agents.ppo import train as brax_ppo

    env = config_lib.make_env(config)
    p, e = config.ppo, config.env
    per_iteration = p.batch_size * p.num_minibatches * p.unroll_length * e.action_repeat
    sps: list[float] = []

    def progress(_, metrics):
        if "training/sps" in metrics:
            sps.append(float(metrics["training/sps"]))

    kwargs = baseline.brax_train_kwargs(config, env)
    kwargs.update(num_timesteps=per_iteration * iterations * epochs, num_evals=epochs + 1,
                  num_eval_envs=8)
    brax_ppo.train(**kwargs, progress_fn=progress)
    if not sps:
        raise RuntimeError("brax ppo.train reported no training/sps")
    return sps[-1], sps


def main(argv):
    del argv
    config = _CONFIG.value
    config.mode = "sgb"
    try:
        config_lib.validate(config)
    except config_lib.ConfigError as err:
        sys.exit(f"invalid config: {err}")
    p, net = config.ppo, config.network
    print(f"{config.env.name}/{config.env.backend}: width {net.hidden_width} x depth {net.depth}, "
          f"{net.hidden_types} hidden types, {p.num_envs} envs, batch {p.batch_size} x "
          f"{p.num_minibatches} minibatches x unroll {p.unroll_length}, "
          f"{jax.device_count()} {jax.devices()[0].platform} device(s)")
    sgb, times = sgb_steps_per_second(config, _ITERS.value)
    print(f"sgb_ppo: {sgb:.0f} env steps/s (iteration seconds, 2 warm-ups first: "
          + ", ".join(f"{t:.2f}" for t in times) + ")")
    det_config = config.copy_and_resolve_references()
    det_config.mode = "deterministic"
    det, det_times = sgb_steps_per_second(det_config, _ITERS.value)
    print(f"deterministic (our trainer, plain MLP): {det:.0f} env steps/s (iteration seconds: "
          + ", ".join(f"{t:.2f}" for t in det_times) + ")")
    brax, all_sps = brax_steps_per_second(config, _ITERS.value, _EPOCHS.value)
    print(f"brax_ppo: {brax:.0f} env steps/s (per epoch: "
          + ", ".join(f"{s:.0f}" for s in all_sps) + ")")
    print(f"deterministic/brax_ppo steps per second: {det / brax:.2f}x")
    print(f"sgb_ppo/brax_ppo steps per second: {sgb / brax:.2f}x")


if __name__ == "__main__":
    # Defined here, not at import, so tests can import several launchers.
    _CONFIG = config_flags.DEFINE_config_file("config", "configs/ppo_ant.py:cpu", "PPO config.")
    app.run(main)
