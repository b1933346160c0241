"""Plotly figures drawn from a results dataset, never from a live study.

Each kind of plot is one module and one entry of :data:`PLOT_KINDS`; :func:`plot_figure`
draws a kind by name (``nas plot --kind``). Every kind reads a single study's dataset,
and the kinds that compare (``front``, ``front3d``, ``matrix``, ``parallel``,
``hypervolume``) overlay the studies of a merged one (:func:`~nas.merge_datasets`).
``breakdown`` and ``roofline`` rebuild one candidate from its parameters and cost it
again, so they too need nothing but the dataset.

Example:
    >>> sorted(PLOT_KINDS)
    ['breakdown', 'front', 'front3d', 'hypervolume', 'matrix', 'parallel', 'roofline']
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import plotly.graph_objects as go
import xarray as xr

from nas._errors import InputError
from nas.plots._breakdown import breakdown_figure
from nas.plots._common import single_study
from nas.plots._front import pareto_figure
from nas.plots._front3d import front3d_figure
from nas.plots._hypervolume_history import hypervolume_figure, hypervolume_history, reference_point
from nas.plots._matrix import matrix_figure
from nas.plots._output import PlotExportError, write_html, write_png
from nas.plots._parallel import parallel_figure
from nas.plots._report import write_report
from nas.plots._roofline import roofline_figure

PLOT_KINDS: dict[str, Callable[..., go.Figure]] = {
    "front": pareto_figure,
    "front3d": front3d_figure,
    "matrix": matrix_figure,
    "parallel": parallel_figure,
    "hypervolume": hypervolume_figure,
    "breakdown": breakdown_figure,
    "roofline": roofline_figure,
}
"""Plot kind name -> function ``(dataset, **options) -> plotly Figure``."""


def plot_figure(dataset: xr.Dataset, kind: str, **options: object) -> go.Figure:
    """Draw plot ``kind`` of ``dataset``; options that are None are left at the kind's default.

    Raises:
        ValueError: Unknown kind, or an option the kind does not take (both named).
    """
    if kind not in PLOT_KINDS:
        raise InputError(f"unknown plot kind {kind!r}; choose from {', '.join(PLOT_KINDS)}")
    function = PLOT_KINDS[kind]
    accepted = set(inspect.signature(function).parameters) - {"dataset"}
    given = {name: value for name, value in options.items() if value is not None}
    unknown = sorted(set(given) - accepted)
    if unknown:
        takes = ", ".join(sorted(accepted)) or "no options"
        raise InputError(f"plot kind {kind!r} does not take {', '.join(unknown)}; it takes {takes}")
    return function(dataset, **given)


__all__ = [
    "PLOT_KINDS",
    "PlotExportError",
    "breakdown_figure",
    "front3d_figure",
    "hypervolume_figure",
    "hypervolume_history",
    "matrix_figure",
    "parallel_figure",
    "pareto_figure",
    "plot_figure",
    "reference_point",
    "roofline_figure",
    "single_study",
    "write_html",
    "write_png",
    "write_report",
]
