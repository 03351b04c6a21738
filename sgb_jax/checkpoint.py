"""Atomic, resumable checkpoints of training state pytrees (orbax), shared by supervised and RL.

Orbax writes each step into a temporary directory and renames it when complete, so a run killed while
saving leaves the previous checkpoint intact. Typed PRNG keys are stored as their raw key data and
re-wrapped on restore.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from flax import traverse_util


def _is_typed_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_storable(tree: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda x: jax.random.key_data(x) if _is_typed_key(x) else x, tree)


def _from_storable(stored: Any, template: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda s, t: jax.random.wrap_key_data(s, impl=jax.random.key_impl(t))
        if _is_typed_key(t) else s, stored, template)


class Checkpointer:
    """Keeps the newest `keep` checkpoints of a state pytree under `directory`."""

    def __init__(self, directory: str, keep: int = 2):
        if keep < 1:
            raise ValueError(f"checkpoint keep must be >= 1, got {keep}")
        self.directory = os.path.abspath(directory)
        self._manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: Any) -> None:
        """Write `state` for `step` and wait until it is complete on disk."""
        self._manager.save(step, args=ocp.args.StandardSave(_to_storable(state)), force=True)
        self._manager.wait_until_finished()

    def restore(self, template: Any, step: int | None = None, partial: bool = False) -> Any:
        """Restore into the structure (and dtypes) of `template`; default: the latest step.

        `partial=True`: `template` may name a subset of the stored tree (e.g. only the trained
        parameters of a run whose environment state has since changed shape); the rest is skipped.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint under {self.directory}")
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct,
                                          _to_storable(template))
        args = (ocp.args.PyTreeRestore(abstract, partial_restore=True) if partial
                else ocp.args.StandardRestore(abstract))
        stored = self._manager.restore(step, args=args)
        return _from_storable(stored, template)

    def close(self) -> None:
        self._manager.close()

    def record_config(self, workdir: str, config: Any, resumable: tuple[str, ...] = (),
                      error: type[Exception] = ValueError) -> None:
        """`record_config` for the run these checkpoints belong to; closes them if it raises."""
        try:
            record_config(workdir, config, self.latest_step() is not None, resumable, error)
        except error:
            self.close()
            raise


def record_config(workdir: str, config: Any, resuming: bool, resumable: tuple[str, ...] = (),
                  error: type[Exception] = ValueError) -> None:
    """Write `config` (an `ml_collections.ConfigDict`) to `workdir/config.json`, atomically.

    When `resuming` (the workdir holds checkpoints), the run there must be the same run: any field
    that differs from the recorded config, other than those under the `resumable` prefixes (e.g.
    `ppo.num_timesteps` to train a finished run further), raises `error` naming the fields, before
    anything is overwritten. Otherwise a new seed or network would silently continue the old run.
    """
    path = os.path.join(workdir, "config.json")
    new = json.loads(config.to_json())
    if resuming and os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        old_flat, new_flat = (traverse_util.flatten_dict(d, sep=".") for d in (old, new))
        changed = [k for k in sorted(set(old_flat) | set(new_flat))
                   if old_flat.get(k) != new_flat.get(k)
                   and not any(k == p or k.startswith(p + ".") for p in resumable)]
        if changed:
            detail = ", ".join(f"{k}: {old_flat.get(k)!r} -> {new_flat.get(k)!r}"
                               for k in changed[:6])
            raise error(f"{workdir} holds checkpoints of a run with another config ({detail}"
                        f"{', ...' if len(changed) > 6 else ''}); resume it with its own config "
                        f"or choose another workdir")
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(new, f, indent=2)
    os.replace(tmp, path)
