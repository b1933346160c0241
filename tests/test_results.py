import json

import numpy as np
import xarray as xr

from nas import load_dataset, pareto_figure, pareto_mask, save_dataset, study_to_dataset, write_html


def test_dataset_schema(searched_study):
    spec, _, study = searched_study
    ds = study_to_dataset(study)
    assert ds.sizes["trial"] == spec.study.n_trials
    for coord in ("edge_0_1", "edge_2_3", "hardware", "arch", "arch_index", "state", "fail_reason"):
        assert coord in ds.coords
    for metric, unit in (("latency_s", "s"), ("energy_j", "J"), ("accuracy_valid_pct", "%"), ("macs", "MAC")):
        assert ds[metric].attrs["units"] == unit
    assert ds.arch_index.dtype == np.int64
    assert json.loads(ds.attrs["spec_json"])["study"]["name"] == spec.study.name
    assert ds.attrs["directions"] == "maximize,minimize,minimize"
    assert "optuna" in json.loads(ds.attrs["versions_json"])


def test_is_pareto_matches_the_objectives(searched_study):
    _, _, study = searched_study
    ds = study_to_dataset(study)
    values = np.stack([ds.accuracy_valid_pct, ds.latency_s, ds.energy_j], axis=1)
    expected = pareto_mask(values, ["maximize", "minimize", "minimize"])
    np.testing.assert_array_equal(ds.is_pareto.values, expected)
    assert ds.is_pareto.any()
    assert {t.number for t in study.best_trials} == set(ds.trial.values[ds.is_pareto.values])


def test_netcdf_round_trip_is_lossless(searched_study, tmp_path):
    ds = study_to_dataset(searched_study[2])
    back = load_dataset(save_dataset(ds, tmp_path / "r.nc"))
    xr.testing.assert_identical(ds, back)
    assert back.is_pareto.dtype == bool
    sel = back.where(back.is_pareto & (back.hardware == back.hardware.values[0]), drop=True)
    assert sel.sizes["trial"] <= int(back.is_pareto.sum())


def test_plot_is_written_from_the_dataset_alone(searched_study, tmp_path):
    ds = load_dataset(save_dataset(study_to_dataset(searched_study[2]), tmp_path / "r.nc"))
    figure = pareto_figure(ds)
    names = [trace.name for trace in figure.data]
    assert any(name.startswith("Pareto front") for name in names)
    front_points = sum(len(t.x) for t in figure.data if t.name.startswith("Pareto front"))
    assert front_points == int(ds.is_pareto.sum())
    assert figure.layout.xaxis.title.text == "latency_s [s]"
    page = write_html(figure, tmp_path / "front.html").read_text()
    assert "plotly.js" in page[:5000] or "Plotly" in page
    assert '<script src="https://cdn.plot.ly' not in page
