"""One validation result, and the rank statistic every rank check shares."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class ValidationResult:
    """One cost-model number beside the reference it must reproduce.

    Args:
        reference: What is checked, e.g. ``"EIE Alex-6 latency"``.
        citation: Paper or datasheet the published number comes from.
        where: Table, figure or section of ``citation`` (or the data column) it is read from.
        model: Cost-model family and hardware configuration it ran on, with the arithmetic
            and batch where they matter (``"gpu/gtx_1080ti fp32 batch 32"``); ``"-"`` when not modelled.
        model_value: The model's number in ``unit`` (NaN when not modelled). For rank checks,
            the median model latency; for bound checks, the layers on the right side.
        published_value: The reference number in ``unit``. For rank checks, the median
            reference latency; for bound checks, the number of layers checked.
        unit: Unit of the two values.
        metric: ``"relative error"`` (``model / published - 1``), ``"Spearman rho"``,
            ``"bounds matched"`` (fraction of layers on the right side of the roofline),
            ``"median |error|"``, ``"bias"``, ``"share within ±25%"`` (measured GPU rows),
            ``"report"`` (shown with no target), ``"error, points"`` (estimated minus published
            accuracy, percentage points: the compression estimates) or ``"not modelled"``.
        score: The relative error, rho or fraction matched (NaN when not modelled).
        tolerance: Largest allowed ``|relative error|``, smallest allowed rho, or the
            fraction that must match (NaN when not modelled).
        passed: Whether ``score`` is within ``tolerance``; None when not modelled.
        note: How the model value was obtained, what set it, or why it is not modelled.
    """

    reference: str
    citation: str
    where: str
    model: str
    model_value: float
    published_value: float
    unit: str
    metric: str
    score: float
    tolerance: float
    passed: bool | None
    note: str = ""


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two equally long samples (ties get their mean rank).

    Example:
        >>> round(spearman_rho(np.array([1.0, 2.0, 2.0, 5.0]), np.array([10.0, 30.0, 20.0, 40.0])), 4)
        0.9487
    """
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 0 in ascending order, ties sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    result = np.empty(len(values))
    result[order] = np.repeat(first + (counts - 1) / 2.0, counts)
    return result
