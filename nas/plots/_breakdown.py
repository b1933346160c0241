"""``breakdown``: where one design's energy and time go, layer by layer."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from cost_models import BOUNDS
from nas.plots._common import PALETTE, single_study
from nas.results._export import candidate_from_dataset

_BOUND_COLOURS = {"compute": "#1f77b4", "memory": "#ff7f0e", "launch": "#2ca02c", "unsupported": "#d62728"}


def breakdown_figure(dataset: xr.Dataset, *, trial: int | None = None, study: str | None = None) -> go.Figure:
    """Per-layer energy stacked by where it is spent, and per-layer latency by what bounds it.

    The candidate is rebuilt from its parameters and costed again (:func:`~nas.results.candidate_from_dataset`),
    so the figure needs only the dataset.

    Args:
        dataset: A results dataset (or a merged one, with ``study``).
        trial: The trial; default the Pareto design best in the first objective.
        study: Which study of a merged dataset.

    Energy levels are the cost model's own (``dram``, ``buffer``, ``register_file``, ``mac``
    on accelerators; ``static``, ``compute``, ``dram`` on GPUs).
    """
    single = single_study(dataset, study)
    candidate = candidate_from_dataset(single, trial)
    cost = candidate.cost
    layers = cost.workload.name
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                           subplot_titles=("energy per layer by level [µJ]", "latency per layer by bound [µs]"))
    for i, (level, joules) in enumerate(cost.layer_energy_by_level_j.items()):
        figure.add_trace(go.Bar(x=layers, y=joules * 1e6, name=f"energy: {level}", legendgroup="energy",
                                marker_color=PALETTE[i % len(PALETTE)]), row=1, col=1)
    for bound in BOUNDS:
        rows = cost.layer_bound == bound
        if rows.any():
            figure.add_trace(go.Bar(x=layers, y=np.where(rows, cost.layer_latency_s, 0.0) * 1e6,
                                    name=f"latency: {bound}-bound", legendgroup="latency",
                                    marker_color=_BOUND_COLOURS[bound]), row=2, col=1)
    summary = cost.summary()
    labels = candidate.spec.make_space().describe_genotype(candidate.genotype)
    overrides = ", ".join(f"{k}={v}" for k, v in candidate.hardware_overrides.items())
    hardware = candidate.hardware_name + (f" ({overrides})" if overrides else "")
    figure.update_layout(
        barmode="stack", bargap=0.1, template="plotly_white", height=750,
        title={"text": f"{single.attrs['study_name']} trial {candidate.trial} on {hardware}, {candidate.precision}: "
                       f"{summary['latency_s']:.4g} s, {summary['energy_j']:.4g} J over {len(layers)} layers"
                       f"<br><sub>{labels.get('arch', candidate.genotype)}</sub>"},
        legend={"orientation": "h", "y": -0.25},
    )
    figure.update_xaxes(tickangle=-90, tickfont={"size": 7}, row=2, col=1)
    return figure
