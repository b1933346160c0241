"""Hypervolume of a set of objective vectors: the one number that says how good a front is.

The hypervolume is the volume of objective space that a set of points dominates, up
to a reference point (Zitzler and Thiele, 1998). It is computed in a normalised space:
every objective is turned into a loss (maximised ones negated) and scaled by the
ideal-to-nadir span of a *bounds* set, so that seconds, joules and percent weigh the
same and two fronts scored against the same bounds are comparable. Exact, by moocore
(Lopez-Ibanez et al.: dimension-sweep in 2-D and 3-D, HV4D+ in 4-D, recursive above).

References:
    E. Zitzler, L. Thiele. "Multiobjective optimization using evolutionary algorithms -
    a comparative case study." PPSN V, 1998.
    A. P. Guerreiro, C. M. Fonseca. "Computing and updating hypervolume contributions in
    up to four dimensions." IEEE TEVC 22(3), 2018 (moocore's HV3D+ and HV4D+).
"""

from __future__ import annotations

from collections.abc import Sequence

import moocore
import numpy as np

REFERENCE_MARGIN = 0.1
"""The reference point lies this fraction of the ideal-to-nadir span beyond the nadir, so
that the extreme points of a front still add volume."""


def as_losses(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Objective values ``(n, m)`` as losses: maximised objectives negated."""
    values = np.asarray(values, dtype=float).reshape(-1, len(directions))
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return values * signs


def reference_point(bounds: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """The reference point :func:`hypervolume` scores against, in the objectives' own units.

    The nadir of ``bounds`` moved :data:`REFERENCE_MARGIN` of the ideal-to-nadir span to the
    worse side of every objective (a span of 0 counts as 1). NaN where ``bounds`` has no
    finite row.

    Example:
        >>> reference_point(np.array([[1.0, 90.0], [3.0, 80.0]]), ["minimize", "maximize"]).tolist()
        [3.2, 79.0]
    """
    losses = as_losses(bounds, directions)
    losses = losses[np.isfinite(losses).all(axis=1)]
    if not len(losses):
        return np.full(len(directions), np.nan)
    ideal, nadir = losses.min(axis=0), losses.max(axis=0)
    return as_losses((nadir + REFERENCE_MARGIN * _span(ideal, nadir))[None, :], directions)[0]  # negating undoes it


def _span(ideal: np.ndarray, nadir: np.ndarray) -> np.ndarray:
    return np.where(nadir > ideal, nadir - ideal, 1.0)


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
    scaled = (losses - ideal) / _span(ideal, nadir)
    reference = np.full(scaled.shape[1], 1.0 + REFERENCE_MARGIN)
    scaled = scaled[(scaled < reference).all(axis=1)]
    if len(scaled) == 0:
        return 0.0
    return float(moocore.hypervolume(scaled, ref=reference))
