import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import nas
from nas import load_dataset, pareto_mask, save_dataset, study_to_dataset, write_html
from nas.plots import pareto_figure


def test_dataset_schema(searched_study):
    spec, _, study = searched_study
    ds = study_to_dataset(study)
    assert ds.sizes["trial"] == spec.study.n_trials
    for coord in ("edge_0_1", "edge_2_3", "hardware", "arch", "arch_index", "state", "fail_reason"):
        assert coord in ds.coords
    for metric, unit in (("latency_s", "s"), ("energy_j", "J"), ("accuracy_valid_pct", "%"), ("macs", "MAC"),
                         ("power_w", "W"), ("edp_j_s", "J s")):
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


def test_dataset_records_provenance(searched_study):
    spec, _, study = searched_study
    ds = study_to_dataset(study)
    hardware = json.loads(ds.attrs["hardware_json"])
    assert set(hardware) == {"h100", "a100", "t4"}
    assert hardware["h100"]["family"] == "gpu" and hardware["h100"]["process_node_nm"] == 4.0
    assert json.loads(ds.attrs["constraints_json"]) == []
    assert ds.attrs["accuracy_source"] == "oracle" and "200 epochs" in ds.attrs["accuracy_fidelity"]
    assert json.loads(ds.attrs["accuracy_fidelity_json"]) == {}
    seeds = {t.number: nas.study.trial_seed(spec.study.seed, t.number) for t in study.trials}
    assert [seeds[int(t)] for t in ds.trial.values] == ds.trial_seed.values.tolist()


def test_params_of_gives_back_each_trials_parameters(searched_study):
    ds = study_to_dataset(searched_study[2])
    for trial in searched_study[2].trials:
        assert nas.results.params_of(ds, trial.number) == trial.params
    with pytest.raises(ValueError, match="trial 999 is not in the dataset"):
        nas.results.params_of(ds, 999)


def test_zarr_round_trip_is_lossless(searched_study, tmp_path):
    pytest.importorskip("zarr", reason="zarr output needs zarr (pip install 'nas-codesign[plots]')")
    ds = study_to_dataset(searched_study[2])
    path = save_dataset(ds, tmp_path / "r.zarr")
    assert path.is_dir()
    back = load_dataset(path)
    xr.testing.assert_identical(ds, back)
    assert back.state.dtype == object and back.is_pareto.dtype == bool and back.arch_index.dtype == np.int64


def test_a_study_whose_trials_all_failed_still_has_its_objective_columns(small_spec, tmp_path):
    from nas import run_search

    spec = small_spec(name="all_fail", n_trials=3, hardware={"presets": ["eie"], "precision": "int8"})
    ds = study_to_dataset(run_search(spec, storage=tmp_path / "f.journal", n_workers=1, progress=False))
    assert (ds.state == "FAIL").all() and "cannot run layers" in str(ds.fail_reason.values[0])
    for metric in ("accuracy_valid_pct", "latency_s", "energy_j"):
        assert np.isnan(ds[metric].values).all()
    assert not ds.is_pareto.any()


DASHBOARD = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent)) or shutil.which("optuna-dashboard")


@pytest.mark.skipif(DASHBOARD is None, reason="optuna-dashboard is not installed (pip install optuna-dashboard)")
def test_optuna_dashboard_serves_the_study_journal(searched_study):
    spec, storage, _ = searched_study
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [DASHBOARD, str(storage), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline, body = time.monotonic() + 60, None
        while body is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as response:
                    body = json.loads(response.read())
            except OSError:
                time.sleep(0.5)
        assert body is not None, "optuna-dashboard did not answer within 60 s"
        summaries = {s["study_name"]: s for s in body["study_summaries"]}
        assert summaries[spec.study.name]["directions"] == ["maximize", "minimize", "minimize"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_loaded_strings_are_objects_as_built(searched_study, tmp_path):
    ds = study_to_dataset(searched_study[2])
    back = load_dataset(save_dataset(ds, tmp_path / "r.nc"))
    assert {name: back[name].dtype for name in ds.variables} == {name: ds[name].dtype for name in ds.variables}
