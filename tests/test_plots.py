"""Every plot kind, drawn from a real study's dataset read back from netCDF."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import cli
from nas import load_dataset, plot_figure, save_dataset, study_to_dataset
from nas.plots import PLOT_KINDS, PlotExportError, hypervolume_history, reference_point, write_png
from nas.results import hypervolume

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def results(searched_study, tmp_path_factory):
    path = save_dataset(study_to_dataset(searched_study[2]), tmp_path_factory.mktemp("plots") / "small.nc")
    return path, load_dataset(path)


@pytest.fixture(scope="module")
def constrained(results):
    """The study's dataset as if a constraint had ruled out its three fastest completed trials."""
    ds = results[1].copy(deep=True)
    fastest = np.argsort(ds.latency_s.values)[:3]
    ds.is_feasible.values[fastest] = False
    ds.is_pareto.values[fastest] = False
    return ds


def _points(figure, prefix):
    return sum(len(trace.dimensions[0].values if trace.type == "splom" else trace.x)
               for trace in figure.data if trace.name and trace.name.startswith(prefix))


def test_front3d_marks_front_dominated_and_infeasible(constrained):
    figure = plot_figure(constrained, "front3d")
    assert _points(figure, "Pareto front") == int(constrained.is_pareto.sum())
    assert _points(figure, "infeasible") == 3
    assert _points(figure, "dominated") == int((constrained.is_feasible & ~constrained.is_pareto).sum())
    assert figure.layout.scene.xaxis.title.text == "accuracy_valid_pct [%]"
    assert figure.layout.scene.zaxis.title.text == "energy_j [J]"


def test_front_marks_infeasible_trials(constrained):
    figure = plot_figure(constrained, "front")
    infeasible = [trace for trace in figure.data if trace.name == "infeasible"]
    assert len(infeasible) == 1 and infeasible[0].marker.symbol == "x" and len(infeasible[0].x) == 3


def test_matrix_pairs_every_objective(constrained):
    figure = plot_figure(constrained, "matrix")
    labels = [d.label for d in figure.data[0].dimensions]
    assert labels == ["accuracy_valid_pct [%]", "latency_s [s]", "energy_j [J]"]
    assert sum(len(trace.dimensions[0].values) for trace in figure.data) == constrained.sizes["trial"]
    assert _points(figure, "Pareto front") == int(constrained.is_pareto.sum())


def test_parallel_has_an_axis_per_objective_and_colours_by_class(constrained):
    figure = plot_figure(constrained, "parallel", metrics=["area_mm2"])
    (trace,) = figure.data
    labels = [d.label for d in trace.dimensions]
    assert labels == ["accuracy_valid_pct [%] (max)", "latency_s [s] (min)", "energy_j [J] (min)", "area_mm2 [mm2]",
                      "hardware"]
    colour = np.asarray(trace.line.color)
    assert (colour == 2).sum() == int(constrained.is_pareto.sum())
    assert (colour == 0).sum() == 3
    np.testing.assert_array_equal(trace.dimensions[1].values, constrained.latency_s.values)


def test_hypervolume_grows_to_that_of_all_feasible_trials_and_states_its_reference(constrained):
    history = hypervolume_history(constrained)
    assert (np.diff(history.values) >= 0).all()
    values = np.stack([constrained[m].values for m in ("accuracy_valid_pct", "latency_s", "energy_j")], axis=1)
    feasible = values[constrained.is_feasible.values]
    assert history.values[-1] == pytest.approx(hypervolume(feasible, ["maximize", "minimize", "minimize"]))
    reference = json.loads(history.attrs["reference_point"])
    span = feasible[:, 1].max() - feasible[:, 1].min()
    assert reference["latency_s"] == pytest.approx(feasible[:, 1].max() + 0.1 * span)
    accuracy_span = feasible[:, 0].max() - feasible[:, 0].min()
    assert reference["accuracy_valid_pct"] == pytest.approx(feasible[:, 0].min() - 0.1 * accuracy_span)
    figure = plot_figure(constrained, "hypervolume")
    assert f"latency_s {reference['latency_s']:.4g} s" in figure.layout.title.text
    assert reference == reference_point(feasible, [("accuracy_valid_pct", "maximize"), ("latency_s", "minimize"),
                                                   ("energy_j", "minimize")])


def test_breakdown_bars_add_up_to_the_trials_totals(results):
    _, ds = results
    trial = int(ds.trial.values[ds.is_pareto.values][0])
    figure = plot_figure(ds, "breakdown", trial=trial)
    energy_uj = sum(np.nansum(t.y) for t in figure.data if t.name.startswith("energy"))
    latency_us = sum(np.nansum(t.y) for t in figure.data if t.name.startswith("latency"))
    assert energy_uj == pytest.approx(ds.energy_j.sel(trial=trial).item() * 1e6, rel=1e-9)
    assert latency_us == pytest.approx(ds.latency_s.sel(trial=trial).item() * 1e6, rel=1e-9)
    assert {t.name for t in figure.data} >= {"energy: static", "energy: dram", "energy: compute"}
    assert f"trial {trial} on {ds.hardware.sel(trial=trial).item()}" in figure.layout.title.text


def test_roofline_draws_each_layer_under_its_gpus_roofs(results):
    _, ds = results
    trial = int(ds.trial.values[ds.is_pareto.values][0])
    hardware = ds.hardware.sel(trial=trial).item()
    peak = {"h100": 989.4e12, "a100": 312e12, "t4": 65e12}[hardware]  # fp16 dense tensor peaks, datasheets
    figure = plot_figure(ds, "roofline", trial=trial)
    roof = next(t for t in figure.data if t.name == "roof")
    assert max(roof.y) == pytest.approx(peak)
    points = [t for t in figure.data if t.name != "roof"]
    rates = np.concatenate([t.y for t in points])
    assert len(rates) > 50 and (rates > 0).all()
    assert (rates <= peak * 1.000001).all(), "no layer may run faster than the compute roof"


def test_plot_figure_names_bad_kinds_and_options(results):
    _, ds = results
    with pytest.raises(ValueError, match="unknown plot kind 'pie'; choose from front, front3d"):
        plot_figure(ds, "pie")
    with pytest.raises(ValueError, match="plot kind 'matrix' does not take trial; it takes metrics"):
        plot_figure(ds, "matrix", trial=3)
    with pytest.raises(ValueError, match="trial 999 is not in the dataset"):
        plot_figure(ds, "roofline", trial=999)


def test_cli_knows_every_plot_kind():
    assert set(cli.PLOT_KIND_NAMES) == set(PLOT_KINDS)


@pytest.mark.parametrize("kind", sorted(PLOT_KINDS))
def test_cli_plot_writes_each_kind(results, tmp_path, kind):
    out = tmp_path / f"{kind}.html"
    result = CliRunner().invoke(cli.main, ["plot", str(results[0]), "--kind", kind, "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert out.stat().st_size > 1_000_000 and '<script src="https://cdn.plot.ly' not in page


@pytest.mark.skipif(CHROMIUM is None, reason="PNG export needs Debian's chromium (apt-get install chromium)")
def test_cli_plot_writes_a_png_with_chromium(results, tmp_path):
    pytest.importorskip("kaleido", reason="PNG export needs kaleido (pip install 'nas-codesign[plots]')")
    out = tmp_path / "front.html"
    result = CliRunner().invoke(cli.main, ["plot", str(results[0]), "-o", str(out), "--png"])
    assert result.exit_code == 0, result.output
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_without_a_browser_says_what_to_install(results, tmp_path, monkeypatch):
    pytest.importorskip("kaleido")
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-browser"))
    with pytest.raises(PlotExportError, match="apt-get install -y chromium"):
        write_png(plot_figure(results[1], "front"), tmp_path / "front.png")
    result = CliRunner().invoke(cli.main, ["plot", str(results[0]), "-o", str(tmp_path / "f.png")])
    assert result.exit_code == 2 and result.output.startswith("error: PNG export needs a Chromium browser")
