"""Plotly figures drawn from a results dataset (never from a live study)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from nas._results import objectives_of, units_of


def pareto_figure(
    dataset: xr.Dataset, *, x: str | None = None, y: str | None = None, color: str | None = None
) -> go.Figure:
    """Scatter of every completed trial with the Pareto front highlighted.

    Args:
        dataset: A results dataset (:func:`~nas.study_to_dataset`).
        x: Metric on the x axis; default the first objective that is not on ``y``.
        y: Metric on the y axis; default the first maximised objective (accuracy), else the first.
        color: Metric or coordinate that colours the front; default the third objective,
            else ``hardware``.

    Dominated trials are grey, infeasible ones (violating a constraint) are crosses,
    the front is coloured. Axes are logarithmic where a metric spans over two decades.
    """
    objectives = objectives_of(dataset)
    names = [metric for metric, _ in objectives]
    y = y or next((m for m, d in objectives if d == "maximize"), names[0])
    x = x or next((m for m in names if m != y), None)
    if x is None:
        raise ValueError("the study has one objective; pass another metric as x")
    if color is None:
        rest = [m for m in names if m not in (x, y)]
        color = rest[0] if rest else "hardware"
    for label, metric in (("x", x), ("y", y), ("color", color)):
        if metric not in dataset.variables:
            choices = ", ".join(sorted(str(v) for v in dataset.data_vars))
            raise ValueError(f"{label}={metric!r} is not in the dataset; choose from {choices}")

    done = dataset.where(dataset.state == "COMPLETE", drop=True)
    front = done.where(done.is_pareto.astype(bool), drop=True)
    dominated = done.where(~done.is_pareto.astype(bool) & done.is_feasible.astype(bool), drop=True)
    infeasible = done.where(~done.is_feasible.astype(bool), drop=True)

    figure = go.Figure()
    for subset, name, marker in (
        (dominated, "dominated", {"color": "lightgrey", "size": 6}),
        (infeasible, "infeasible", {"color": "darkgrey", "size": 7, "symbol": "x"}),
    ):
        if subset.sizes.get("trial", 0):
            figure.add_trace(go.Scatter(
                x=subset[x].values, y=subset[y].values, mode="markers", name=name, marker=marker,
                text=_hover(subset, names), hoverinfo="text",
            ))
    if front.sizes.get("trial", 0):
        _add_front(figure, front, x, y, color, names)
    figure.update_layout(
        title=f"{dataset.attrs['study_name']}: {done.sizes.get('trial', 0)} completed trials, "
              f"{front.sizes.get('trial', 0)} on the Pareto front",
        xaxis={"title": _axis_title(x), "type": _axis_type(done[x].values)},
        yaxis={"title": _axis_title(y), "type": _axis_type(done[y].values)},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.15},
    )
    return figure


_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "star", "hexagon", "pentagon")


def _add_front(figure: go.Figure, front: xr.Dataset, x: str, y: str, color: str, metrics: list[str]) -> None:
    """One trace per hardware (its own marker symbol), coloured by ``color`` on a shared scale."""
    colour_values = front[color].values
    numeric = np.issubdtype(colour_values.dtype, np.number)
    hardware = front["hardware"].values if "hardware" in front.coords else np.array(["front"] * len(colour_values))
    groups = np.unique(hardware)
    for i, label in enumerate(groups):
        rows = np.flatnonzero(hardware == label)
        rows = rows[np.argsort(front[x].values[rows])]
        marker = {"size": 11, "symbol": _SYMBOLS[i % len(_SYMBOLS)], "line": {"width": 1, "color": "black"}}
        if numeric:
            marker.update(color=colour_values[rows], colorscale="Viridis", cmin=np.nanmin(colour_values),
                          cmax=np.nanmax(colour_values), showscale=i == 0, colorbar={"title": _axis_title(color)})
        suffix = f" ({label})" if len(groups) > 1 else ""
        figure.add_trace(go.Scatter(
            x=front[x].values[rows], y=front[y].values[rows], mode="markers", name=f"Pareto front{suffix}",
            marker=marker, text=_hover(front.isel(trial=rows), metrics), hoverinfo="text",
        ))


def write_html(figure: go.Figure, path: str | Path) -> Path:
    """Write a figure as a self-contained HTML page (plotly.js embedded, so it renders offline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(path, include_plotlyjs=True, full_html=True)
    return path


def _axis_title(metric: str) -> str:
    unit = units_of(metric)
    return metric if unit == "1" else f"{metric} [{unit}]"


def _axis_type(values: np.ndarray) -> str:
    finite = values[np.isfinite(values) & (values > 0)] if values.dtype.kind == "f" else []
    return "log" if len(finite) and finite.max() / finite.min() > 100 else "linear"


def _hover(subset: xr.Dataset, metrics: list[str]) -> list[str]:
    labels = [c for c in ("arch", "hardware") if c in subset.coords]
    lines = []
    for i in range(subset.sizes["trial"]):
        parts = [f"trial {int(subset.trial[i])}"]
        parts += [f"{c}: {subset[c].values[i]}" for c in labels]
        parts += [f"{m}: {subset[m].values[i]:.4g} {units_of(m)}" for m in metrics]
        lines.append("<br>".join(parts))
    return lines
