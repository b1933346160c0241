"""``front3d``: the Pareto front in three metrics, rotatable."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from nas._errors import InputError
from nas.plots._common import (
    PALETTE,
    axis_title,
    axis_type,
    check_metrics,
    count,
    hover,
    partition,
    shared_objectives,
)
from nas.results._merge import studies_of

_SYMBOLS_3D = ("circle", "square", "diamond", "cross")
"""The filled marker symbols Scatter3d has."""


def front3d_figure(
    dataset: xr.Dataset, *, x: str | None = None, y: str | None = None, z: str | None = None
) -> go.Figure:
    """3-D scatter of the completed trials with the Pareto front highlighted.

    Args:
        dataset: A results dataset, or a merged one (its studies overlaid, one colour each).
        x: Metric on the x axis; default the first objective.
        y: Metric on the y axis; default the second objective.
        z: Metric on the z axis; default the third objective (a two-objective study
            must name one, such as ``area_mm2``).

    The front is coloured by hardware (by study when overlaid), dominated trials are
    small and faint, infeasible ones are crosses; log axes where a metric spans over two decades.
    """
    studies = studies_of(dataset)
    shared = [m for m, _ in shared_objectives(studies, needed=0 if x and y and z else 1)]
    x, y, z = (chosen or (shared[i] if i < len(shared) else None) for i, chosen in enumerate((x, y, z)))
    if y is None or z is None:
        raise InputError(f"{len(shared)} objective(s) to plot; name the other axes (y=, z=)")
    overlay = len(studies) > 1
    objectives = list(dict.fromkeys((x, y, z)))
    figure = go.Figure()
    seen: dict[str, list[np.ndarray]] = {x: [], y: [], z: []}
    for i, (name, study) in enumerate(studies):
        check_metrics(study, overlay, x=x, y=y, z=z)
        done, front, dominated, infeasible = partition(study)
        for metric in seen:
            seen[metric].append(done[metric].values)
        prefix = f"{name}: " if overlay else ""
        faint = PALETTE[i % len(PALETTE)] if overlay else "lightgrey"
        for subset, label, marker in (
            (dominated, "dominated", {"color": faint, "size": 3, "opacity": 0.5}),
            (infeasible, "infeasible", {"color": faint, "size": 3, "symbol": "x"}),
        ):
            if count(subset):
                figure.add_trace(_scatter(subset, (x, y, z), f"{prefix}{label}", marker, objectives))
        groups = [(name, np.arange(count(front)))] if overlay else [
            (str(hw), np.flatnonzero(front.hardware.values == hw)) for hw in np.unique(front.hardware.values)]
        for j, (group, rows) in enumerate(groups if count(front) else []):
            k = i if overlay else j
            marker = {"color": PALETTE[k % len(PALETTE)], "size": 6, "symbol": _SYMBOLS_3D[k % len(_SYMBOLS_3D)],
                      "line": {"width": 1, "color": "black"}}
            label = f"{prefix}Pareto front" + (f" ({group})" if not overlay and len(groups) > 1 else "")
            figure.add_trace(_scatter(front.isel(trial=rows), (x, y, z), label, marker, objectives))
    title = ", ".join(name for name, _ in studies)
    figure.update_layout(
        title=f"{title}: Pareto front in {x}, {y} and {z}",
        scene={axis: {"title": axis_title(metric), "type": axis_type(np.concatenate(seen[metric]))}
               for axis, metric in (("xaxis", x), ("yaxis", y), ("zaxis", z))},
        template="plotly_white",
        legend={"orientation": "h"},
    )
    return figure


def _scatter(subset: xr.Dataset, axes: tuple[str, str, str], name: str, marker: dict,
             metrics: list[str]) -> go.Scatter3d:
    x, y, z = (subset[metric].values for metric in axes)
    return go.Scatter3d(x=x, y=y, z=z, mode="markers", name=name, marker=marker, text=hover(subset, metrics),
                        hoverinfo="text")
