"""sgb_jax: the Stochastic Genomic Bottleneck in JAX/Flax."""

from sgb_jax import cell_types, compression, layers, models, population, priors
from sgb_jax.cell_types import CellTypeSpec
from sgb_jax.layers import SGBConv, SGBDense
from sgb_jax.models import SGBMLP, PlainMLP

__all__ = [
    "CellTypeSpec", "PlainMLP", "SGBConv", "SGBDense", "SGBMLP", "cell_types", "compression",
    "layers", "models", "population", "priors",
]
__version__ = "0.1.0"
