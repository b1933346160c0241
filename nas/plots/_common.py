"""What every plot kind shares: axis titles with units, log axes, hover text, trial subsets."""

from __future__ import annotations

import numpy as np
import plotly.colors
import xarray as xr

from nas._errors import InputError
from nas.results._dataset import objectives_of, units_of
from nas.results._merge import select_study

SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "star", "hexagon", "pentagon")
"""Marker symbol of each hardware (or study), in order of appearance."""

PALETTE = plotly.colors.qualitative.Plotly
"""Colour of each study in overlays."""


def axis_title(metric: str) -> str:
    """``latency_s [s]``: the metric with its unit (none for unitless ones)."""
    unit = units_of(metric)
    return metric if unit == "1" else f"{metric} [{unit}]"


def axis_type(values: np.ndarray) -> str:
    """``"log"`` when the positive finite values span more than two decades, else ``"linear"``."""
    values = np.asarray(values)
    finite = values[np.isfinite(values) & (values > 0)] if values.dtype.kind == "f" else []
    return "log" if len(finite) and finite.max() / finite.min() > 100 else "linear"


def hover(subset: xr.Dataset, metrics: list[str]) -> list[str]:
    """One hover label per trial: its number, architecture, hardware and ``metrics`` with units."""
    labels = [c for c in ("arch", "hardware") if c in subset.coords]
    lines = []
    for i in range(subset.sizes["trial"]):
        parts = [f"trial {int(subset.trial[i])}"]
        parts += [f"{c}: {subset[c].values[i]}" for c in labels]
        parts += [f"{m}: {subset[m].values[i]:.4g} {units_of(m)}" for m in metrics]
        lines.append("<br>".join(parts))
    return lines


def partition(dataset: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset, xr.Dataset]:
    """``(completed, front, dominated, infeasible)`` trials of a single-study dataset."""
    done = dataset.isel(trial=np.flatnonzero(dataset.state.values == "COMPLETE"))
    pareto = done.is_pareto.values.astype(bool)
    feasible = done.is_feasible.values.astype(bool)
    return (done, done.isel(trial=np.flatnonzero(pareto)), done.isel(trial=np.flatnonzero(~pareto & feasible)),
            done.isel(trial=np.flatnonzero(~feasible)))


def objective_metrics(dataset: xr.Dataset) -> list[str]:
    """The study's objective metrics, in order."""
    return [metric for metric, _ in objectives_of(dataset)]


def check_metrics(dataset: xr.Dataset, overlay: bool = False, **chosen: str | None) -> None:
    """Raise a one-line ValueError naming any chosen metric the dataset lacks, with the choices.

    With ``overlay``, the message names the study of a merged dataset that lacks it.
    """
    for label, metric in chosen.items():
        if metric is not None and metric not in dataset.variables:
            choices = ", ".join(sorted(str(v) for v in dataset.data_vars))
            where = f" (study {dataset.attrs.get('study_name')!r})" if overlay else ""
            raise InputError(f"{label}={metric!r} is not in the dataset{where}; choose from {choices}")


def count(dataset: xr.Dataset) -> int:
    """Number of trials in a dataset."""
    return int(dataset.sizes.get("trial", 0))


def single_study(dataset: xr.Dataset, study: str | None = None) -> xr.Dataset:
    """The study named ``study`` of a merged dataset, or the dataset itself when it holds one study."""
    if "study" not in dataset.dims:
        if study is not None and study != dataset.attrs.get("study_name"):
            raise InputError(f"study={study!r}: this dataset holds study {dataset.attrs.get('study_name')!r} only")
        return dataset
    if study is None:
        raise InputError(f"the dataset holds studies {', '.join(map(str, dataset.study.values))}; "
                         "choose one (--study NAME on the command line, study= in Python)")
    return select_study(dataset, study)


def shared_objectives(studies: list[tuple[str, xr.Dataset]], needed: int = 1) -> list[tuple[str, str]]:
    """``(metric, direction)`` of the first study's objectives that every study has as an objective too.

    Raises:
        ValueError: Fewer than ``needed`` are shared; the message asks for explicit metrics.
    """
    shared = [pair for pair in objectives_of(studies[0][1])
              if all(pair in objectives_of(study) for _, study in studies[1:])]
    if len(shared) < needed:
        names = ", ".join(name for name, _ in studies)
        raise InputError(f"studies {names} share {len(shared)} objective(s) "
                         f"({', '.join(m for m, _ in shared) or 'none'}); name the metrics to plot")
    return shared
