"""One self-contained HTML page per results dataset: the front, the Pareto designs, where a
design's time and energy go, and where the numbers came from.

The page embeds plotly.js once and every figure after it, so it opens offline, from a
file, in any browser. It is drawn from the dataset alone (a merged dataset gives the
overlaid fronts, then one section per study).
"""

from __future__ import annotations

import collections
import datetime
import html
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.offline
import xarray as xr

from nas.plots._breakdown import breakdown_figure
from nas.plots._front import pareto_figure
from nas.plots._front3d import front3d_figure
from nas.plots._hypervolume_history import hypervolume_figure
from nas.plots._matrix import matrix_figure
from nas.plots._parallel import parallel_figure
from nas.plots._roofline import roofline_figure
from nas.results._dataset import objectives_of, units_of
from nas.results._export import default_trial, spec_to_toml
from nas.results._merge import studies_of

_TABLE_METRICS = ("latency_s", "energy_j", "power_w", "area_mm2", "compressed_size_bytes", "macs", "params")
"""Metrics listed for every Pareto design beside the objectives, where the dataset has them."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; } h3 { margin-top: 1.5em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: right; }
th { background: #f4f4f4; } td.text, th.text { text-align: left; font-family: monospace; }
pre { background: #f8f8f8; padding: 1em; overflow-x: auto; font-size: 0.8em; }
.note { color: #666; font-size: 0.9em; }
"""


def write_report(dataset: xr.Dataset, path: str | Path, *, trial: int | None = None, source: str = "") -> Path:
    """Write the report of a results dataset (or a merged one) as one HTML file.

    Args:
        dataset: A results dataset (:func:`~nas.study_to_dataset`) or a merged one.
        path: The HTML file to write.
        trial: The design whose per-layer breakdown and roofline are shown (single-study
            datasets); default the Pareto design best in the first objective.
        source: The file the dataset was read from, named in the page.

    Returns:
        The path written.
    """
    studies = studies_of(dataset)
    title = studies[0][0] if len(studies) == 1 else f"{len(studies)} studies: {', '.join(n for n, _ in studies)}"
    body = [f"<h1>Pareto report: {html.escape(title)}</h1>",
            f"<p class='note'>from {html.escape(source or 'a results dataset')}, written "
            f"{datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')} by nas report</p>"]
    if len(studies) > 1:
        body.append("<h2>All studies</h2>")
        for draw in (pareto_figure, hypervolume_figure, parallel_figure):
            body += _optional(lambda draw=draw: draw(dataset))
        for name, study in studies:
            body += [f"<h2>Study {html.escape(name)}</h2>", *_study_section(study, None, with_front=True)]
    else:
        body += _study_section(studies[0][1], trial, with_front=True)
    page = (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style><script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script>"
            f"</head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _study_section(study: xr.Dataset, trial: int | None, *, with_front: bool) -> list[str]:
    objectives = objectives_of(study)
    states = study.state.values
    feasible = study.is_feasible.values.astype(bool)
    parts = [
        f"<p>{len(states)} trials: {int((states == 'COMPLETE').sum())} completed, {int((states == 'FAIL').sum())} "
        f"failed, {int(feasible.sum())} feasible, <b>{int(study.is_pareto.sum())} on the Pareto front</b> of "
        + ", ".join(f"{direction} {html.escape(metric)}" for metric, direction in objectives) + ".</p>",
    ]
    if with_front:
        parts.append(_figure(pareto_figure(study)))
        if len(objectives) == 3:
            parts.append(_figure(front3d_figure(study)))
        elif len(objectives) > 3:
            parts.append(_figure(matrix_figure(study)))
        parts.append(_figure(parallel_figure(study)))
        parts += _optional(lambda: hypervolume_figure(study))
    parts += ["<h3>Pareto designs</h3>", _pareto_table(study)]
    try:
        chosen = default_trial(study) if trial is None else trial
    except ValueError as error:
        parts.append(f"<p class='note'>No per-layer breakdown: {html.escape(str(error))}</p>")
    else:
        parts.append(f"<h3>Where trial {chosen}'s time and energy go</h3>")
        parts += _optional(lambda: breakdown_figure(study, trial=chosen))
        parts += _optional(lambda: roofline_figure(study, trial=chosen))
    parts += _failures(study)
    parts += _provenance(study)
    return parts


def _pareto_table(study: xr.Dataset) -> str:
    front = study.isel(trial=np.flatnonzero(study.is_pareto.values.astype(bool)))
    if not front.sizes["trial"]:
        return "<p class='note'>No trial is on the Pareto front.</p>"
    objectives = objectives_of(study)
    first, direction = objectives[0]
    order = np.argsort(front[first].values)
    front = front.isel(trial=order[::-1] if direction == "maximize" else order)
    metrics = [m for m, _ in objectives] + [m for m in _TABLE_METRICS
                                            if m in front and m not in dict(objectives)]
    searched = [name for name in json.loads(study.attrs.get("param_distributions_json", "{}"))
                if name != "hardware" and not name.startswith("edge_")]
    labels = [c for c in ("hardware", *searched, "arch") if c in front.coords]
    header = ["trial"] + [f"{m} [{units_of(m)}]" for m in metrics] + labels
    rows = ["<tr>" + "".join(f"<th class='{'text' if h in labels else ''}'>{html.escape(h)}</th>" for h in header)
            + "</tr>"]
    for i in range(front.sizes["trial"]):
        cells = [f"<td>{int(front.trial.values[i])}</td>"]
        cells += [f"<td>{front[m].values[i]:.4g}</td>" for m in metrics]
        cells += [f"<td class='text'>{html.escape(_label(front[c].values[i]))}</td>" for c in labels]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _failures(study: xr.Dataset) -> list[str]:
    reasons = collections.Counter(str(r) for r, s in zip(study.fail_reason.values, study.state.values, strict=True)
                                  if s == "FAIL")
    if not reasons:
        return []
    items = "".join(f"<li>{n} x {html.escape(reason)}</li>" for reason, n in reasons.most_common(5))
    more = f"<li>... and {len(reasons) - 5} other reasons</li>" if len(reasons) > 5 else ""
    return [f"<h3>Failed trials ({sum(reasons.values())})</h3><ul>{items}{more}</ul>"]


def _provenance(study: xr.Dataset) -> list[str]:
    attrs = study.attrs
    hardware = json.loads(attrs.get("hardware_json", "{}"))
    rows = [
        ("study", attrs.get("study_name", "")),
        ("search space", f"{attrs.get('space', '')} on {attrs.get('dataset', '')}"),
        ("accuracy", f"{attrs.get('accuracy_source', '')}: {attrs.get('accuracy_fidelity', '')}"),
        *_fidelity_rows(json.loads(attrs.get("accuracy_fidelity_json", "{}"))),
        ("sampler, seed", f"{attrs.get('sampler', '')}, seed {attrs.get('seed', '')}"),
        ("precision, batch", f"{attrs.get('precision', '')}, batch {attrs.get('batch_size', '')}"),
        ("constraints", ", ".join(f"{c['metric']} {'<=' if c.get('max') is not None else '>='} "
                                  f"{c['max'] if c.get('max') is not None else c['min']}"
                                  for c in json.loads(attrs.get("constraints_json", "[]"))) or "none"),
        *((f"hardware {name}", f"{h['family']}, {h['process_node_nm']:g} nm; {h['source']}")
          for name, h in hardware.items()),
        ("dataset created", attrs.get("created_utc", "")),
        ("versions", ", ".join(f"{k} {v}" for k, v in json.loads(attrs.get("versions_json", "{}")).items())),
    ]
    table = "".join(f"<tr><th class='text'>{html.escape(k)}</th><td class='text'>{html.escape(str(v))}</td></tr>"
                    for k, v in rows)
    spec = spec_to_toml(attrs["spec_json"]) if "spec_json" in attrs else ""
    return ["<h3>Provenance</h3>", f"<table>{table}</table>",
            "<p class='note'>The study file that reproduces this study (nas search with it continues it):</p>",
            f"<pre>{html.escape(spec, quote=False)}</pre>"]


def _fidelity_rows(fidelity: dict) -> list[tuple[str, str]]:
    if not fidelity:
        return []
    rows = [("proxy fidelity, measured", (
        f"Spearman rho {fidelity['measured_spearman_rho']:.3f}, Kendall tau {fidelity['measured_kendall_tau']:.3f} "
        f"on {fidelity['measured_n_archs']} cells against {fidelity['against']} ({fidelity['measured_with']})"))]
    if "zero_cost_spearman_rho" in fidelity:
        rows.append(("zero-cost proxy, same rows", f"{fidelity['zero_cost_baseline']}: Spearman rho "
                     f"{fidelity['zero_cost_spearman_rho']}, Kendall tau {fidelity['zero_cost_kendall_tau']}"))
    if not fidelity["same_batch_as_measured"]:
        rows.append(("proxy fidelity, caveat", "this study scored its proxies on another batch than the measurement"))
    if fidelity.get("note"):
        rows.append(("proxy fidelity, caveat", fidelity["note"]))
    published = ", ".join(f"{rho:g} ({source})" for source, rho in fidelity["published_spearman_rho"].items())
    if published:
        rows.append(("proxy fidelity, published", f"Spearman rho {published}"))
    return rows


def _figure(figure: go.Figure) -> str:
    return figure.to_html(full_html=False, include_plotlyjs=False)


def _optional(draw) -> list[str]:
    """A figure that cannot be drawn for this dataset is replaced by a line saying why."""
    try:
        return [_figure(draw())]
    except ValueError as error:
        return [f"<p class='note'>{html.escape(str(error))}</p>"]


def _label(value: object) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
    return str(value)
