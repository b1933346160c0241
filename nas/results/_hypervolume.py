"""Hypervolume of a set of objective vectors: the one number that says how good a front is.

The hypervolume is the volume of objective space that a set of points dominates, up
to a reference point (Zitzler and Thiele, 1998). It is computed in a normalised space:
every objective is turned into a loss (maximised ones negated) and scaled by the
ideal-to-nadir span of a *bounds* set, so that seconds, joules and percent weigh the
same and two fronts scored against the same bounds are comparable. Exact, by Optuna's
WFG implementation.

References:
    E. Zitzler, L. Thiele. "Multiobjective optimization using evolutionary algorithms -
    a comparative case study." PPSN V, 1998.
    L. While, L. Bradstreet, L. Barone. "A Fast Way of Calculating Exact Hypervolumes."
    IEEE TEVC 16(1), 2012.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from optuna._hypervolume import compute_hypervolume  # Optuna's exact WFG; private, stable since 3.x

REFERENCE_MARGIN = 0.1
"""The reference point lies this fraction of the ideal-to-nadir span beyond the nadir, so
that the extreme points of a front still add volume."""


def as_losses(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Objective values ``(n, m)`` as losses: maximised objectives negated."""
    values = np.asarray(values, dtype=float).reshape(-1, len(directions))
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return values * signs


def hypervolume(values: np.ndarray, directions: Sequence[str], bounds: np.ndarray | None = None) -> float:
    """Normalised hypervolume of ``values`` (rows: points; columns: objectives in ``directions`` order).

    Args:
        values: Objective values, shape ``(n, m)``; rows with a NaN (failed or
            infeasible trials) are ignored.
        directions: ``"minimize"`` or ``"maximize"`` per column.
        bounds: Points that fix the normalisation (ideal and nadir) and so the
            reference point; default ``values`` itself. Pass the exhaustive set to
            compare a search's front with the true front.

    Returns:
        The dominated volume in the unit-scaled loss space, in [0, (1 + margin)^m]
        (dimensionless). 0 when no point beats the reference.

    Example:
        >>> pts = np.array([[1.0, 90.0], [2.0, 95.0], [3.0, 80.0]])
        >>> hv = hypervolume(pts, ["minimize", "maximize"])
        >>> round(hv, 4)
        1.0433
        >>> hypervolume(pts[:1], ["minimize", "maximize"], bounds=pts) < hv
        True
    """
    losses = as_losses(values, directions)
    losses = losses[np.isfinite(losses).all(axis=1)]
    bound_losses = losses if bounds is None else as_losses(bounds, directions)
    bound_losses = bound_losses[np.isfinite(bound_losses).all(axis=1)]
    if len(losses) == 0 or len(bound_losses) == 0:
        return 0.0
    ideal, nadir = bound_losses.min(axis=0), bound_losses.max(axis=0)
    span = np.where(nadir > ideal, nadir - ideal, 1.0)
    scaled = (losses - ideal) / span
    reference = np.full(scaled.shape[1], 1.0 + REFERENCE_MARGIN)
    scaled = scaled[(scaled < reference).all(axis=1)]
    if len(scaled) == 0:
        return 0.0
    return float(compute_hypervolume(scaled, reference))
