"""``matrix``: every pair of objectives in a scatter matrix, for studies with more than three."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from nas._errors import InputError
from nas.plots._common import (
    PALETTE,
    axis_title,
    check_metrics,
    count,
    hover,
    partition,
    shared_objectives,
)
from nas.results._merge import studies_of


def matrix_figure(dataset: xr.Dataset, *, metrics: Sequence[str] | None = None) -> go.Figure:
    """Scatter matrix (splom) of the completed trials in every pair of ``metrics``.

    Args:
        dataset: A results dataset, or a merged one (one colour per study).
        metrics: The metrics to pair; default the study's objectives.

    The front is coloured by hardware (by study when overlaid); dominated trials are
    grey and infeasible ones crosses. The diagonal is left out.
    """
    studies = studies_of(dataset)
    metrics = list(metrics or [m for m, _ in shared_objectives(studies, needed=2)])
    if len(metrics) < 2:
        raise InputError(f"a scatter matrix needs two metrics or more; got {metrics}")
    overlay = len(studies) > 1
    figure = go.Figure()
    for i, (name, study) in enumerate(studies):
        check_metrics(study, overlay, **{f"metrics[{j}]": m for j, m in enumerate(metrics)})
        _, front, dominated, infeasible = partition(study)
        prefix = f"{name}: " if overlay else ""
        faint = PALETTE[i % len(PALETTE)] if overlay else "lightgrey"
        parts = [(dominated, f"{prefix}dominated", {"color": faint, "size": 4, "opacity": 0.5}),
                 (infeasible, f"{prefix}infeasible", {"color": faint, "size": 5, "symbol": "x"})]
        if overlay:
            parts.append((front, f"{prefix}Pareto front", {"color": PALETTE[i % len(PALETTE)], "size": 7}))
        else:
            for j, hardware in enumerate(np.unique(front.hardware.values)):
                rows = np.flatnonzero(front.hardware.values == hardware)
                parts.append((front.isel(trial=rows), f"Pareto front ({hardware})",
                              {"color": PALETTE[j % len(PALETTE)], "size": 7, "line": {"width": 0.5}}))
        for subset, label, marker in parts:
            if count(subset):
                figure.add_trace(go.Splom(
                    dimensions=[{"label": axis_title(m), "values": subset[m].values} for m in metrics],
                    name=label, marker=marker, text=hover(subset, metrics), hoverinfo="text",
                    diagonal_visible=False, showupperhalf=False,
                ))
    size = max(500, 200 * len(metrics))
    figure.update_layout(
        title=", ".join(name for name, _ in studies) + f": {len(metrics)} metrics pairwise",
        width=size, height=size, template="plotly_white", dragmode="select",
    )
    return figure
