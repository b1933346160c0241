"""``hypervolume``: how the front's hypervolume grew with the trials, reference point stated."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from nas._errors import InputError
from nas.plots._common import PALETTE
from nas.results._dataset import objectives_of, units_of
from nas.results._hypervolume import REFERENCE_MARGIN, hypervolume
from nas.results._hypervolume import reference_point as hypervolume_reference
from nas.results._merge import studies_of


def hypervolume_history(dataset: xr.Dataset, bounds: np.ndarray | None = None) -> xr.DataArray:
    """Normalised hypervolume of the feasible trials numbered up to each trial.

    Args:
        dataset: A single-study results dataset.
        bounds: Objective vectors that fix the normalisation and the reference point
            (see :func:`nas.results._hypervolume.hypervolume`); default the study's feasible trials.

    Returns:
        A DataArray on dimension ``trial`` (unitless) whose ``reference_point`` attr is the
        reference point in the objectives' own units (JSON ``{metric: value}``).
    """
    objectives = objectives_of(dataset)
    metrics, directions = [m for m, _ in objectives], [d for _, d in objectives]
    values = _feasible_values(dataset, metrics)
    bounds = values if bounds is None else bounds
    history = np.zeros(dataset.sizes["trial"])
    current, seen = 0.0, np.zeros(len(values), dtype=bool)
    for i in range(len(values)):
        seen[i] = True
        if np.isfinite(values[i]).all():
            current = hypervolume(values[seen], directions, bounds=bounds)
        history[i] = current
    return xr.DataArray(
        history, dims="trial", coords={"trial": dataset.trial.values}, name="hypervolume",
        attrs={"units": "1", "reference_point": json.dumps(reference_point(bounds, objectives)),
               "description": "hypervolume of the feasible trials up to this one, in the unit-scaled loss space "
                              "(each objective scaled by the ideal-to-nadir span of the bounds)"},
    )


def reference_point(bounds: np.ndarray, objectives: list[tuple[str, str]]) -> dict[str, float]:
    """The hypervolume's reference point in the objectives' units (:func:`nas.results.reference_point`), by metric."""
    reference = hypervolume_reference(bounds, [d for _, d in objectives])
    return {metric: float(v) for (metric, _), v in zip(objectives, reference, strict=True)}


def hypervolume_figure(dataset: xr.Dataset) -> go.Figure:
    """Hypervolume against trials, one line per study, all normalised by the same bounds.

    Args:
        dataset: A results dataset, or a merged one whose studies share their objectives:
            their curves are then normalised by the feasible trials of all of them, so the
            heights compare.

    The title states the reference point in the objectives' own units.
    """
    studies = studies_of(dataset)
    objectives = objectives_of(studies[0][1])
    for name, study in studies[1:]:
        if objectives_of(study) != objectives:
            raise InputError(f"study {name!r} has other objectives than {studies[0][0]!r}; "
                             "hypervolumes compare only on the same objectives")
    metrics = [m for m, _ in objectives]
    bounds = np.concatenate([_feasible_values(study, metrics) for _, study in studies])
    figure = go.Figure()
    for i, (name, study) in enumerate(studies):
        history = hypervolume_history(study, bounds)
        figure.add_trace(go.Scatter(x=history.trial.values, y=history.values, mode="lines", name=name,
                                    line={"shape": "hv", "color": PALETTE[i % len(PALETTE)]}))
    reference = reference_point(bounds, objectives)
    stated = ", ".join(f"{m} {v:.4g}" + ("" if units_of(m) == "1" else f" {units_of(m)}")
                       for m, v in reference.items())
    figure.update_layout(
        title={"text": f"Hypervolume vs trials<br><sub>reference point: {stated} (nadir + "
                       f"{REFERENCE_MARGIN:.0%} of the ideal-to-nadir span of the feasible trials shown); "
                       "objectives scaled to that span</sub>"},
        xaxis={"title": "trial"}, yaxis={"title": "hypervolume (normalised)", "rangemode": "tozero"},
        template="plotly_white", legend={"orientation": "h", "y": -0.15},
    )
    return figure


def _feasible_values(dataset: xr.Dataset, metrics: list[str]) -> np.ndarray:
    values = np.stack([dataset[m].values.astype(float) for m in metrics], axis=1)
    values[~(dataset.is_feasible.values.astype(bool) & (dataset.state.values == "COMPLETE"))] = np.nan
    return values
