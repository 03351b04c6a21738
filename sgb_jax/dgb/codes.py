"""Neuron identity codes of the deterministic genomic bottleneck (Shuvaev et al., PNAS 2024).

Every p-net neuron carries a short binary code; a g-net maps the concatenated (pre, post) codes of a
synapse to its weight. PNAS MNIST layout (10 bits per neuron): an input pixel is a 5-bit Gray code
of its column followed by a 5-bit Gray code of its row; a hidden neuron is the binary code of its
index; an output neuron is a one-hot code. Gray codes make spatial neighbours differ in one bit, so
a smooth function of position is easy for the g-net. Code arrays are `(n, bits)` float32 in {-1, +1}
(zero-centred inputs train better with Adam than {0, 1}; the bit widths, and so the parameter
counts, are the same).
"""

from __future__ import annotations

import math

import numpy as np


def num_bits(n: int) -> int:
    """Bits needed to give `n` items distinct binary codes (at least 1)."""
    if n < 1:
        raise ValueError(f"need at least one neuron to code, got {n}")
    return max(1, math.ceil(math.log2(n)))


def _bits(values: np.ndarray, bits: int) -> np.ndarray:
    """Most significant bit first, as {0, 1} integers."""
    shifts = np.arange(bits - 1, -1, -1)
    return (values[:, None] >> shifts[None, :]) & 1


def gray(values: np.ndarray, bits: int) -> np.ndarray:
    """Reflected binary Gray code `v ^ (v >> 1)` of each value, `(len(values), bits)` in {0, 1}."""
    values = np.asarray(values, np.int64)
    if values.size and values.max() >= 2**bits:
        raise ValueError(f"value {values.max()} does not fit in {bits} bits")
    return _bits(values ^ (values >> 1), bits)


def _signed(b: np.ndarray) -> np.ndarray:
    return (2.0 * b - 1.0).astype(np.float32)


def binary_code(n: int, bits: int | None = None) -> np.ndarray:
    """Binary ids `0..n-1` (hidden neurons)."""
    bits = num_bits(n) if bits is None else bits
    return _signed(_bits(np.arange(n), bits))


def one_hot_code(n: int) -> np.ndarray:
    """One-hot codes (output neurons): `n` bits."""
    return _signed(np.eye(n, dtype=np.int64))


def pixel_code(height: int, width: int, channels: int = 1) -> np.ndarray:
    """Codes of a row-major flattened `(height, width, channels)` image (or conv feature map).

    Gray(column) ++ Gray(row), plus the binary channel id when `channels > 1`; 28 x 28 -> 10 bits.
    """
    rows, cols, chans = np.meshgrid(np.arange(height), np.arange(width), np.arange(channels),
                                    indexing="ij")
    parts = [gray(cols.ravel(), num_bits(width)), gray(rows.ravel(), num_bits(height))]
    if channels > 1:
        parts.append(_bits(chans.ravel(), num_bits(channels)))
    return _signed(np.concatenate(parts, axis=1))
