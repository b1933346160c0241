"""Non-dominated (Pareto) sets of candidates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas._errors import InputError


def pareto_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Mark the rows of ``values`` that no other row dominates.

    A row dominates another if it is at least as good in every objective and strictly
    better in one. Rows with a NaN are never on the front; duplicate rows are all kept.

    Args:
        values: Array of shape ``(n_candidates, n_objectives)``.
        directions: ``"minimize"`` or ``"maximize"`` per objective.

    Returns:
        Boolean array of length ``n_candidates``.

    Example:
        >>> pareto_mask(np.array([[1.0, 5.0], [2.0, 2.0], [3.0, 3.0]]), ["minimize", "minimize"]).tolist()
        [True, True, False]
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(directions):
        raise InputError(f"values has shape {values.shape}; expected (n, {len(directions)})")
    unknown = set(directions) - {"minimize", "maximize"}
    if unknown:
        raise InputError(f"directions {sorted(unknown)} are not 'minimize' or 'maximize'")
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    costs = values * signs
    valid = ~np.isnan(costs).any(axis=1)
    mask = np.zeros(len(costs), dtype=bool)
    # Visit in lexicographic order: a row can only be dominated by rows visited before it,
    # so comparing against the front found so far suffices (cost O(n * front size)).
    order = np.lexsort(costs[valid].T[::-1])
    candidates = np.flatnonzero(valid)[order]
    front: list[int] = []
    for row in candidates:
        if front:
            kept = costs[front]
            dominated = np.all(kept <= costs[row], axis=1) & np.any(kept < costs[row], axis=1)
            if dominated.any():
                continue
        front.append(row)
    mask[front] = True
    return mask
