"""``front``: the Pareto front in two metrics, one study or several overlaid."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from nas.plots._common import (
    PALETTE,
    SYMBOLS,
    axis_title,
    axis_type,
    check_metrics,
    count,
    hover,
    objective_metrics,
    partition,
    shared_objectives,
)
from nas.results._merge import studies_of


def pareto_figure(
    dataset: xr.Dataset, *, x: str | None = None, y: str | None = None, color: str | None = None
) -> go.Figure:
    """Scatter of every completed trial with the Pareto front highlighted.

    Args:
        dataset: A results dataset (:func:`~nas.study_to_dataset`), or a merged one
            (:func:`~nas.merge_datasets`), whose studies are overlaid in one colour each.
        x: Metric on the x axis; default the first objective that is not on ``y`` (for a
            single-objective study, ``latency_s``, or ``energy_j`` when latency is the objective).
        y: Metric on the y axis; default the first maximised objective (accuracy), else the first.
        color: Metric or coordinate that colours the front of a single study; default
            the third objective, else ``hardware``.

    Dominated trials are grey, infeasible ones (violating a constraint) are crosses,
    the front is coloured. Axes are logarithmic where a metric spans over two decades.
    A merged dataset's cross-study front (``is_pareto_overall``) is ringed.
    """
    studies = studies_of(dataset)
    first = studies[0][1]
    objectives = objective_metrics(first)
    if x is None or y is None:
        shared = shared_objectives(studies, needed=1 if x or y or len(studies) == 1 else 2)
        y = y or next((m for m, d in shared if d == "maximize" and m != x), next(m for m, _ in shared if m != x))
        # One objective: show what it costs, against latency (or energy, when latency is the objective).
        x = x or next((m for m, _ in shared if m != y), "latency_s" if y != "latency_s" else "energy_j")
    if len(studies) > 1:
        return _overlay(dataset, studies, x, y)
    if color is None:
        rest = [m for m in objectives if m not in (x, y)]
        color = rest[0] if rest else "hardware"
    check_metrics(first, x=x, y=y, color=color)

    done, front, dominated, infeasible = partition(first)
    figure = go.Figure()
    for subset, name, marker in (
        (dominated, "dominated", {"color": "lightgrey", "size": 6}),
        (infeasible, "infeasible", {"color": "darkgrey", "size": 7, "symbol": "x"}),
    ):
        if count(subset):
            figure.add_trace(go.Scatter(
                x=subset[x].values, y=subset[y].values, mode="markers", name=name, marker=marker,
                text=hover(subset, objectives), hoverinfo="text",
            ))
    if count(front):
        _add_front(figure, front, x, y, color, objectives)
    figure.update_layout(
        title=f"{first.attrs['study_name']}: {count(done)} completed trials, {count(front)} on the Pareto front",
        xaxis={"title": axis_title(x), "type": axis_type(done[x].values)},
        yaxis={"title": axis_title(y), "type": axis_type(done[y].values)},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.15},
    )
    return figure


def _add_front(figure: go.Figure, front: xr.Dataset, x: str, y: str, color: str, metrics: list[str]) -> None:
    """One trace per hardware (its own marker symbol), coloured by ``color`` on a shared scale."""
    colour_values = front[color].values
    numeric = np.issubdtype(colour_values.dtype, np.number)
    hardware = front["hardware"].values if "hardware" in front.coords else np.array(["front"] * len(colour_values))
    groups = np.unique(hardware)
    for i, label in enumerate(groups):
        rows = np.flatnonzero(hardware == label)
        rows = rows[np.argsort(front[x].values[rows])]
        marker = {"size": 11, "symbol": SYMBOLS[i % len(SYMBOLS)], "line": {"width": 1, "color": "black"}}
        if numeric:
            marker.update(color=colour_values[rows], colorscale="Viridis", cmin=np.nanmin(colour_values),
                          cmax=np.nanmax(colour_values), showscale=i == 0, colorbar={"title": axis_title(color)})
        suffix = f" ({label})" if len(groups) > 1 else ""
        figure.add_trace(go.Scatter(
            x=front[x].values[rows], y=front[y].values[rows], mode="markers", name=f"Pareto front{suffix}",
            marker=marker, text=hover(front.isel(trial=rows), metrics), hoverinfo="text",
        ))


def _overlay(merged: xr.Dataset, studies: list[tuple[str, xr.Dataset]], x: str, y: str) -> go.Figure:
    figure = go.Figure()
    values = {x: [], y: []}
    for i, (name, study) in enumerate(studies):
        check_metrics(study, overlay=True, x=x, y=y)
        done, front, dominated, infeasible = partition(study)
        metrics = objective_metrics(study)
        colour = PALETTE[i % len(PALETTE)]
        for subset, label, marker in (
            (dominated, "dominated", {"color": colour, "size": 5, "opacity": 0.3}),
            (infeasible, "infeasible", {"color": colour, "size": 6, "opacity": 0.4, "symbol": "x"}),
            (front, "Pareto front", {"color": colour, "size": 10, "symbol": SYMBOLS[i % len(SYMBOLS)],
                                     "line": {"width": 1, "color": "black"}}),
        ):
            if count(subset):
                order = np.argsort(subset[x].values)
                figure.add_trace(go.Scatter(
                    x=subset[x].values[order], y=subset[y].values[order], mode="markers", name=f"{name}: {label}",
                    legendgroup=name, marker=marker, text=hover(subset.isel(trial=order), metrics), hoverinfo="text",
                ))
        for metric in (x, y):
            values[metric].append(done[metric].values)
    if "is_pareto_overall" in merged:
        overall = merged.is_pareto_overall.values
        figure.add_trace(go.Scatter(
            x=merged[x].values[overall], y=merged[y].values[overall], mode="markers", name="front of all studies",
            marker={"size": 17, "symbol": "circle-open", "color": "black", "line": {"width": 2}}, hoverinfo="skip",
        ))
    names = ", ".join(name for name, _ in studies)
    figure.update_layout(
        title=f"Pareto fronts of {len(studies)} studies: {names}",
        xaxis={"title": axis_title(x), "type": axis_type(np.concatenate(values[x]))},
        yaxis={"title": axis_title(y), "type": axis_type(np.concatenate(values[y]))},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.15},
    )
    return figure
