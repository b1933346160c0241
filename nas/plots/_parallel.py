"""``parallel``: parallel coordinates with every objective as an axis."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from nas.plots._common import axis_title, check_metrics, count, partition, shared_objectives
from nas.results._merge import studies_of

_CLASSES = ("infeasible", "dominated", "Pareto front")
_COLOURS = ("#d62728", "#c7c7c7", "#1f77b4")


def parallel_figure(dataset: xr.Dataset, *, metrics: Sequence[str] | None = None) -> go.Figure:
    """Parallel coordinates of the completed trials: one axis per objective, one line per trial.

    Args:
        dataset: A results dataset, or a merged one (a ``study`` axis is added).
        metrics: Extra metrics to add as axes after the objectives.

    Lines are blue on the Pareto front, grey when dominated and red when infeasible. A
    ``hardware`` axis (and a ``study`` axis for a merged dataset) is added when there
    are several. Each axis title says whether the objective is minimised or maximised.
    """
    studies = studies_of(dataset)
    objectives = shared_objectives(studies)
    axes = list(objectives)
    axes += [(metric, "") for metric in metrics or () if metric not in (*dict(objectives), "hardware", "study")]
    columns: dict[str, list[np.ndarray]] = {metric: [] for metric, _ in axes}
    columns.update(hardware=[], study=[])
    classes = []
    for name, study in studies:
        check_metrics(study, len(studies) > 1, **{f"metrics[{j}]": m for j, (m, _) in enumerate(axes)})
        done, _, _, _ = partition(study)
        for metric, _ in axes:
            columns[metric].append(done[metric].values)
        columns["hardware"].append(done.hardware.values.astype(str))
        columns["study"].append(np.full(count(done), name))
        classes.append(np.where(done.is_pareto.values.astype(bool), 2, np.where(done.is_feasible.values, 1, 0)))
    dimensions = [_dimension(axis_title(metric) + (f" ({direction[:3]})" if direction else ""),
                             np.concatenate(columns[metric])) for metric, direction in axes]
    for label in ("hardware", "study"):
        values = np.concatenate(columns[label])
        if len(set(values)) > 1:
            dimensions.append(_dimension(label, values))
    colour = np.concatenate(classes)
    figure = go.Figure(go.Parcoords(
        dimensions=dimensions,
        line={"color": colour, "cmin": 0, "cmax": 2,
              "colorscale": [[0, _COLOURS[0]], [0.5, _COLOURS[1]], [1, _COLOURS[2]]]},
    ))
    shown = ", ".join(f"{label} {int((colour == k).sum())}" for k, label in enumerate(_CLASSES))
    figure.update_layout(
        title=", ".join(name for name, _ in studies) + f": {len(colour)} completed trials ({shown})",
        template="plotly_white",
    )
    return figure


def _dimension(label: str, values: np.ndarray) -> dict:
    """A parcoords axis; text values (a dataflow, a hardware name) become labelled categories."""
    if values.dtype.kind in "fiub":
        return {"label": label, "values": values.astype(float)}
    names = sorted({str(v) for v in values if str(v)})
    codes = np.array([names.index(str(v)) if str(v) else np.nan for v in values])
    return {"label": label, "values": codes, "tickvals": list(range(len(names))), "ticktext": names}
