"""``roofline``: one design's layers against its hardware's compute and off-chip bandwidth roofs."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from nas.plots._breakdown import _BOUND_COLOURS
from nas.plots._common import single_study
from nas.results._export import candidate_from_dataset


def roofline_figure(dataset: xr.Dataset, *, trial: int | None = None, study: str | None = None) -> go.Figure:
    """Roofline of one design: each layer's achieved rate against its arithmetic intensity.

    Args:
        dataset: A results dataset (or a merged one, with ``study``).
        trial: The trial; default the Pareto design best in the first objective.
        study: Which study of a merged dataset.

    Intensity is operations per byte moved to or from off-chip memory; layers that move
    none (everything on chip) are drawn at the right edge as triangles. Operations are
    2 x MACs (the GPU model's own FLOP count on GPUs). Colour says what bound each layer.
    """
    single = single_study(dataset, study)
    candidate = candidate_from_dataset(single, trial)
    cost = candidate.cost
    detail = cost.layer_detail
    ops = detail["flop"] if "flop" in detail else 2.0 * cost.workload.macs.astype(float)
    dram = detail["dram_bytes"]
    ran = (ops > 0) & np.isfinite(cost.layer_latency_s) & (cost.layer_latency_s > 0)
    rate = np.divide(ops, cost.layer_latency_s, out=np.zeros_like(ops, dtype=float), where=ran)
    on_chip = ran & ~(dram > 0)
    intensity = np.divide(ops, dram, out=np.full_like(ops, np.nan, dtype=float), where=ran & (dram > 0))
    peak, bandwidth, what = candidate.hardware.roof(cost)
    finite = intensity[np.isfinite(intensity)]
    ridge = peak / bandwidth
    low = min(finite.min() if len(finite) else ridge, ridge) / 4
    high = max(finite.max() if len(finite) else ridge, ridge) * 4
    edge = high / 2
    figure = go.Figure()
    x = np.geomspace(low, high, 200)
    figure.add_trace(go.Scatter(x=x, y=np.minimum(peak, bandwidth * x), mode="lines", name="roof",
                                line={"color": "black"}, hoverinfo="skip"))
    names = cost.workload.name
    for bound, colour in _BOUND_COLOURS.items():
        for rows, symbol, where in ((ran & ~on_chip & (cost.layer_bound == bound), "circle", ""),
                                    (on_chip & (cost.layer_bound == bound), "triangle-right", ", on chip")):
            if rows.any():
                xs = np.where(on_chip[rows], edge, intensity[rows])
                figure.add_trace(go.Scatter(
                    x=xs, y=rate[rows], mode="markers", name=f"{bound}-bound{where}",
                    marker={"color": colour, "symbol": symbol, "size": 7, "line": {"width": 0.5}},
                    text=[f"{n}<br>{o:.3g} op, {d:.3g} B off chip<br>{r:.3g} op/s"
                          for n, o, d, r in zip(names[rows], ops[rows], dram[rows], rate[rows], strict=True)],
                    hoverinfo="text",
                ))
    hardware = candidate.hardware_name + "".join(f", {k}={v}" for k, v in candidate.hardware_overrides.items())
    figure.update_layout(
        title={"text": f"{single.attrs['study_name']} trial {candidate.trial} on {hardware}: roofline<br>"
                       f"<sub>compute roof {peak:.3g} op/s ({what}); bandwidth roof {bandwidth:.3g} B/s; "
                       f"ridge at {ridge:.3g} op/B</sub>"},
        xaxis={"title": "arithmetic intensity [op/B off chip]", "type": "log"},
        yaxis={"title": "achieved rate [op/s]", "type": "log"},
        template="plotly_white", legend={"orientation": "h", "y": -0.2},
    )
    return figure
