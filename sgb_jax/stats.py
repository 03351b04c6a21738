"""Population statistics (scipy): survival curve, paired t-test, Pearson r, confidence intervals.

Used for paper Fig. 5 (population mean vs mean network: paired t-test, 99% CI), Fig. 4E (returns of
the same individuals on two bodies: Pearson r) and the survival curve (beyond the paper): the
probability that the best of N developed individuals clears a return threshold.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats as sps


def _as_1d(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds non-finite values")
    return x


@dataclasses.dataclass(frozen=True)
class SurvivalCurve:
    """P(best of N individuals clears `threshold`) for each N in `sizes`, with a bootstrap CI."""

    sizes: np.ndarray
    probability: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    threshold: float
    num_bootstrap: int
    confidence: float

    def as_dict(self) -> dict:
        return {"sizes": self.sizes.tolist(), "probability": self.probability.tolist(),
                "ci_low": self.ci_low.tolist(), "ci_high": self.ci_high.tolist(),
                "threshold": self.threshold, "num_bootstrap": self.num_bootstrap,
                "confidence": self.confidence}


def survival_curve(scores: np.ndarray, threshold: float, sizes: list[int] | np.ndarray,
                   num_bootstrap: int = 2000, confidence: float = 0.95,
                   seed: int = 0) -> SurvivalCurve:
    """Bootstrap probability that the best of N developed individuals scores above `threshold`.

    For each N, `num_bootstrap` groups of N individuals are drawn with replacement from the
    evaluated population (one score per individual, e.g. its mean return) and the fraction of groups
    whose best member clears the threshold is the estimate; it converges to `1 - (1 - q)^N` with `q`
    the fraction of individuals above the threshold. The CI resamples the population itself
    (percentile bootstrap of that closed form), so it reflects having evaluated only `len(scores)`
    individuals.
    """
    scores = _as_1d(scores, "scores")
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1)
    if sizes.size == 0 or np.any(sizes < 1):
        raise ValueError(f"survival sizes must be integers >= 1, got {sizes.tolist()}")
    if num_bootstrap < 1:
        raise ValueError(f"num_bootstrap must be >= 1, got {num_bootstrap}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    m = scores.size
    above = scores > threshold
    prob = np.empty(sizes.size)
    for i, n in enumerate(sizes):
        groups = rng.integers(0, m, size=(num_bootstrap, int(n)))
        prob[i] = above[groups].any(axis=1).mean()
    q_boot = above[rng.integers(0, m, size=(num_bootstrap, m))].mean(axis=1)
    curves = 1.0 - (1.0 - q_boot[:, None]) ** sizes[None, :]
    alpha = (1.0 - confidence) / 2.0
    return SurvivalCurve(sizes=sizes, probability=prob,
                         ci_low=np.quantile(curves, alpha, axis=0),
                         ci_high=np.quantile(curves, 1.0 - alpha, axis=0),
                         threshold=float(threshold), num_bootstrap=int(num_bootstrap),
                         confidence=float(confidence))


@dataclasses.dataclass(frozen=True)
class TTest:
    """A t-test: statistic, two-sided p-value, degrees of freedom and the mean difference."""

    t_statistic: float
    p_value: float
    dof: int
    mean_difference: float


def paired_t_test(a: np.ndarray, b: np.ndarray) -> TTest:
    """Two-sided paired t-test of `a - b` (scipy `ttest_rel`); positive t means `a` is larger.

    Pairs share their environment keys (Fig. 5: an individual and the mean network on the same
    episodes), so episode difficulty cancels in the differences.
    """
    a, b = _as_1d(a, "a"), _as_1d(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal sizes, got {a.size} and {b.size}")
    if a.size < 2:
        raise ValueError("a paired t-test needs at least 2 pairs")
    res = sps.ttest_rel(a, b)
    return TTest(float(res.statistic), float(res.pvalue), int(a.size - 1), float(np.mean(a - b)))


def pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Pearson r and its two-sided p-value (scipy), e.g. normal vs long-leg returns (Fig. 4E)."""
    x, y = _as_1d(x, "x"), _as_1d(y, "y")
    if x.shape != y.shape or x.size < 3:
        raise ValueError(f"pearson needs two samples of equal size >= 3, got {x.size}, {y.size}")
    res = sps.pearsonr(x, y)
    return float(res.statistic), float(res.pvalue)


def mean_ci(x: np.ndarray, confidence: float = 0.99, axis: int = 0
            ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and t-based half-width of its `confidence` interval along `axis` (Fig. 5: 99%)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    if n < 2:
        return mean, np.zeros_like(mean)
    sem = x.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, sps.t.ppf(0.5 + confidence / 2.0, n - 1) * sem
