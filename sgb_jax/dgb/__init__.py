"""Deterministic genomic bottleneck (DGB) baseline: codes, g-nets, intermittent training."""

from sgb_jax.dgb import codes, gnet, train
from sgb_jax.dgb.gnet import DGBSpec, GNet, generate

__all__ = ["DGBSpec", "GNet", "codes", "generate", "gnet", "train"]
