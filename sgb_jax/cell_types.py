"""Cell-type assignments: which of a layer's `k` types each neuron belongs to.

An assignment is static configuration (a numpy int array `types[n] in [0, k)`), never a trainable
parameter. Every type must own at least one neuron, so `1 <= k <= n`. Three strategies:

* ``contiguous``: neurons split into `k` consecutive blocks of (nearly) equal size; the default for
  hidden layers.
* ``tiles``: for image inputs `(height, width, channels)` flattened row-major, a grid of
  `rows x cols = k` spatial tiles; every pixel (all channels) of a tile shares one type.
* ``random``: a fixed random balanced assignment drawn from a seed.

`CellTypeSpec` is a frozen, hashable description of one of these so that Flax modules can carry it as
an attribute; `assign(n)` turns it into the array.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

STRATEGIES = ("contiguous", "tiles", "random")


class CellTypeError(ValueError):
    """An impossible or inconsistent cell-type assignment."""


def _check_k(n: int, k: int, where: str) -> None:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise CellTypeError(f"{where}: number of cell types must be an integer, got {k!r}")
    if k < 1:
        raise CellTypeError(f"{where}: number of cell types must be >= 1, got {k}")
    if k > n:
        raise CellTypeError(
            f"{where}: {k} cell types for {n} neurons; every type must own at least one neuron, "
            f"so cell types must be <= {n}"
        )


def contiguous(n: int, k: int, where: str = "layer") -> np.ndarray:
    """Split `n` neurons into `k` consecutive blocks whose sizes differ by at most one."""
    _check_k(n, k, where)
    return (np.arange(n) * k // n).astype(np.int32)


def tiles(shape: tuple[int, ...], k: int, where: str = "input") -> np.ndarray:
    """Spatial tiles of a row-major flattened image of `shape = (height, width[, channels])`.

    The grid is `rows x cols = k` with `rows <= cols` as close to square as `k` allows (30 -> 5 x 6);
    channels of a pixel share the pixel's tile.
    """
    if len(shape) not in (2, 3):
        raise CellTypeError(f"{where}: tiles need an image shape (H, W[, C]), got {shape}")
    height, width = shape[0], shape[1]
    channels = shape[2] if len(shape) == 3 else 1
    _check_k(height * width, k, where)
    rows = max(r for r in range(1, math.isqrt(k) + 1) if k % r == 0)
    cols = k // rows
    if rows > height or cols > width:
        raise CellTypeError(
            f"{where}: {k} tiles need a {rows} x {cols} grid, larger than the {height} x {width} image"
        )
    row_of = contiguous(height, rows, where)
    col_of = contiguous(width, cols, where)
    grid = row_of[:, None] * cols + col_of[None, :]
    return np.repeat(grid.reshape(-1), channels).astype(np.int32)


def random_balanced(n: int, k: int, seed: int, where: str = "layer") -> np.ndarray:
    """A fixed random assignment in which every type owns floor(n/k) or ceil(n/k) neurons."""
    base = contiguous(n, k, where)
    return np.random.default_rng(seed).permutation(base).astype(np.int32)


def validate(types: np.ndarray, k: int, where: str = "layer") -> np.ndarray:
    """Check that `types` is a 1-D assignment onto exactly the types `0..k-1`."""
    types = np.asarray(types)
    if types.ndim != 1 or not np.issubdtype(types.dtype, np.integer):
        raise CellTypeError(f"{where}: an assignment is a 1-D integer array, got {types.dtype} "
                            f"of shape {types.shape}")
    _check_k(types.shape[0], k, where)
    if types.min() < 0 or types.max() >= k:
        raise CellTypeError(f"{where}: type ids must lie in [0, {k}), got [{types.min()}, "
                            f"{types.max()}]")
    counts = np.bincount(types, minlength=k)
    if (counts == 0).any():
        raise CellTypeError(f"{where}: cell types {np.flatnonzero(counts == 0).tolist()} own no "
                            "neuron; every type must own at least one")
    return types.astype(np.int32)


def one_hot(types: np.ndarray, k: int) -> np.ndarray:
    """The `n x k` assignment matrix `A` with `A[a, t(a)] = 1` (DESIGN.md §3 factorised path)."""
    return np.eye(k, dtype=np.float32)[np.asarray(types)]


@dataclasses.dataclass(frozen=True)
class CellTypeSpec:
    """Hashable description of an assignment; `assign(n)` builds and validates it.

    Attributes:
      k: number of cell types.
      strategy: one of ``contiguous``, ``tiles``, ``random``.
      image_shape: `(H, W[, C])` for ``tiles``.
      seed: seed for ``random``.
    """

    k: int
    strategy: str = "contiguous"
    image_shape: tuple[int, ...] | None = None
    seed: int = 0

    def assign(self, n: int, where: str = "layer") -> np.ndarray:
        if self.strategy not in STRATEGIES:
            raise CellTypeError(f"{where}: unknown cell-type strategy {self.strategy!r}; "
                                f"choose one of {STRATEGIES}")
        if self.strategy == "contiguous":
            types = contiguous(n, self.k, where)
        elif self.strategy == "random":
            types = random_balanced(n, self.k, self.seed, where)
        else:
            if self.image_shape is None:
                raise CellTypeError(f"{where}: strategy 'tiles' needs image_shape")
            if math.prod(self.image_shape) != n:
                raise CellTypeError(f"{where}: image_shape {self.image_shape} has "
                                    f"{math.prod(self.image_shape)} pixels, layer has {n} inputs")
            types = tiles(self.image_shape, self.k, where)
        return validate(types, self.k, where)
