"""Rank correlation (Spearman's rho, Kendall's tau-b) in numpy, with ties handled as the textbooks do."""

from __future__ import annotations

import numpy as np

from nas._errors import InputError

_PAIR_BLOCK = 256
"""Rows of the pairwise sign matrix built at a time by :func:`kendall_tau`, to bound memory."""


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values``; tied values share the mean of the ranks they span.

    Example:
        >>> average_ranks(np.array([10.0, 30.0, 20.0, 30.0])).tolist()
        [1.0, 3.5, 2.0, 3.5]
    """
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    # Each run of equal values gets the mean of its first and last 1-based positions.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    run_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson's correlation of the average ranks (NaN if either is constant).

    Example:
        >>> spearman_rho(np.array([1, 2, 3, 4]), np.array([10, 20, 40, 30]))
        0.8
    """
    x, y = _pair(x, y)
    rx, ry = average_ranks(x) - (len(x) + 1) / 2, average_ranks(y) - (len(y) + 1) / 2
    denominator = np.sqrt(np.sum(rx * rx) * np.sum(ry * ry))
    return float(np.sum(rx * ry) / denominator) if denominator > 0 else float("nan")


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b: ``(concordant - discordant) / sqrt((n0 - ties_x) (n0 - ties_y))`` over all pairs.

    ``n0 = n (n - 1) / 2``; a pair tied in ``x`` or ``y`` is neither concordant nor
    discordant (Kendall 1945). Exact, O(n^2) in blocks of rows; NaN if either is constant.

    Example:
        >>> kendall_tau(np.array([1, 2, 3, 4]), np.array([10, 20, 40, 30]))
        0.6666666666666666
        >>> round(kendall_tau(np.array([1, 1, 2, 3]), np.array([1, 2, 2, 3])), 4)  # scipy.stats.kendalltau: 0.8
        0.8
    """
    x, y = _pair(x, y)
    numerator = untied_x = untied_y = 0
    for start in range(0, len(x), _PAIR_BLOCK):
        block = slice(start, start + _PAIR_BLOCK)
        sx = np.sign(x[block, None] - x[None, :])
        sy = np.sign(y[block, None] - y[None, :])
        # Each unordered pair appears twice (i, j) and (j, i) with the same products: halve at the end.
        numerator += int(np.sum(sx * sy))
        untied_x += int(np.count_nonzero(sx))
        untied_y += int(np.count_nonzero(sy))
    denominator = np.sqrt(float(untied_x) * float(untied_y))
    return float(numerator / denominator) if denominator > 0 else float("nan")


def _pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise InputError(f"rank correlation: expected two 1-D arrays of one length, got shapes {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InputError("rank correlation: values must be finite; drop the NaN or infinite entries first")
    return x, y
