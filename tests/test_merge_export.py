"""Merging studies along `study`, and exporting a found design (TOML + state dict), on real studies."""

import importlib.util
import json
import shutil
import tomllib

import numpy as np
import pytest
import torch
import xarray as xr
from click.testing import CliRunner

import nas
from cli import main
from cost_models import load_hardware
from nas import (
    export_candidate,
    load_candidate,
    load_dataset,
    merge_datasets,
    plot_figure,
    run_search,
    save_dataset,
    study_to_dataset,
    write_report,
)
from nas.plots import PLOT_KINDS
from nas.results import candidate_from_dataset, select_study
from nas.study import parse_spec

SIZED = {
    "study": {"name": "sized", "n_trials": 8, "seed": 3, "sampler": "random"},
    "space": {"name": "nb201"},
    "accuracy": {"source": "synflow"},
    "hardware": {"presets": ["edge_systolic", "h100"], "precision": "int8", "batch_size": 1,
                 "search": {"edge_systolic": {"rows": [8, 16, 32], "cols": [16, 32]}}},
    "compression": {"prune_ratio": [0.0, 0.8], "pattern": ["unstructured", "channel"], "share_bits": [4, 8]},
    "objectives": [{"metric": "log_synflow", "direction": "maximize"},
                   {"metric": "latency_s", "direction": "minimize"}],
    "constraints": [{"metric": "area_mm2", "max": 100.0}],
}
"""A compressed, proxy-scored study that sizes a systolic array (conditional params) or
takes an H100 (infeasible under the area budget): every path a rebuild must follow."""


@pytest.fixture(scope="module")
def sized(tmp_path_factory):
    """The SIZED study run for real, as (its trials, its dataset read back from netCDF); the storage is then
    deleted, so everything after reads the dataset alone."""
    folder = tmp_path_factory.mktemp("sized")
    study = run_search(parse_spec(SIZED), storage=folder / "sized.journal", n_workers=1, progress=False)
    trials = study.trials
    dataset = load_dataset(save_dataset(study_to_dataset(study), folder / "sized.nc"))
    (folder / "sized.journal").unlink()
    return trials, dataset


@pytest.fixture(scope="module")
def quick(searched_study):
    return study_to_dataset(searched_study[2])


def test_params_come_back_with_their_conditional_hardware_keys(sized):
    trials, ds = sized
    for trial in trials:
        assert nas.results.params_of(ds, trial.number) == trial.params
    chosen = {trial.params["hardware"] for trial in trials}
    assert chosen == {"edge_systolic", "h100"}, "the fixed seed should pick both presets; change it if not"
    fidelity = json.loads(ds.attrs["accuracy_fidelity_json"])
    assert fidelity["published_spearman_rho"]["abdelfattah2021"] == 0.74  # synflow, Abdelfattah et al. 2021
    on_h100 = ds.hardware.values == "h100"
    assert np.isnan(ds["edge_systolic.rows"].values[on_h100]).all()
    assert not ds.is_feasible.values[on_h100].any()


def test_a_rebuilt_candidate_costs_exactly_what_the_search_recorded(sized):
    _, ds = sized
    done = ds.trial.values[(ds.state == "COMPLETE").values]
    systolic = [int(t) for t in done if ds.hardware.sel(trial=t) == "edge_systolic"]
    for trial in (systolic[0], int(done[-1])):
        candidate = candidate_from_dataset(ds, trial)
        row = ds.sel(trial=trial)
        assert candidate.cost.latency_s[0] == row.latency_s.item()
        assert candidate.cost.energy_j[0] == row.energy_j.item()
        if candidate.hardware_name == "edge_systolic":
            assert candidate.hardware.rows == int(row["edge_systolic.rows"])
            assert candidate.hardware_overrides == {"rows": int(row["edge_systolic.rows"]),
                                                    "cols": int(row["edge_systolic.cols"])}


def test_export_writes_a_toml_and_state_dict_that_load_back(sized, tmp_path):
    _, ds = sized
    trial = nas.results.default_trial(ds)
    row = ds.sel(trial=trial)
    path = export_candidate(ds, trial, tmp_path / "best.toml", torch_path=tmp_path / "best.pt")
    document = tomllib.loads(path.read_text())
    assert document["candidate"]["trial"] == trial and document["candidate"]["is_pareto"] is True
    assert document["candidate"]["seed"] == int(row.trial_seed)
    assert document["genotype"]["arch"] == row.arch.item()
    assert document["objectives"] == {"log_synflow": row.log_synflow.item(), "latency_s": row.latency_s.item()}
    assert document["compression"]["pattern"] == row.prune_pattern.item()
    assert document["compression"]["share_bits"] == int(row.share_bits)
    hardware = document["hardware"]
    assert hardware["preset"] == row.hardware.item() and hardware["precision"] == "int8"
    config = load_hardware(hardware["preset"], hardware["overrides"])
    for key, value in hardware["overrides"].items():
        assert hardware["config"][key] == value == getattr(config, key)

    loaded = load_candidate(path, tmp_path / "best.pt")
    assert loaded.cost.latency_s[0] == row.latency_s.item()
    saved = torch.load(tmp_path / "best.pt", weights_only=True)
    assert saved.keys() == loaded.module.state_dict().keys()
    for name, tensor in loaded.module.state_dict().items():
        torch.testing.assert_close(tensor, saved[name], rtol=0, atol=0)
    weights = torch.cat([m.weight.flatten() for m in loaded.module.modules() if isinstance(m, torch.nn.Conv2d)])
    if row.prune_pattern.item() == "unstructured":
        assert (weights == 0).float().mean() >= row.prune_ratio.item() - 0.01
    distinct = max(len(torch.unique(m.weight)) for m in loaded.module.modules() if isinstance(m, torch.nn.Conv2d))
    assert distinct <= 2 ** int(row.share_bits)  # weight sharing left one codebook of 2^bits values per layer


def test_a_failed_trial_cannot_be_exported(sized, tmp_path):
    _, ds = sized
    failed = ds.trial.values[(ds.state == "FAIL").values]
    if not len(failed):
        pytest.skip("this run of the study had no failed trial")
    with pytest.raises(ValueError, match="did not complete"):
        export_candidate(ds, int(failed[0]), tmp_path / "x.toml")


def test_merge_stacks_studies_and_gives_each_back_unchanged(sized, quick, tmp_path):
    _, ds = sized
    merged = merge_datasets([quick, ds])
    assert merged.study.values.tolist() == ["small", "sized"]
    assert merged.latency_s.dims == ("study", "trial")
    assert merged.has_trial.sum("trial").values.tolist() == [quick.sizes["trial"], ds.sizes["trial"]]
    assert "is_pareto_overall" not in merged, "the studies have different objectives"
    formats = ["all.nc"] + (["all.zarr"] if importlib.util.find_spec("zarr") else [])
    for path in (tmp_path / name for name in formats):
        back = load_dataset(save_dataset(merged, path))
        xr.testing.assert_identical(back, merged)
        xr.testing.assert_identical(select_study(back, "small"), quick)
        xr.testing.assert_identical(select_study(back, "sized"), ds)


def test_merging_a_study_with_itself_keeps_its_front_as_the_overall_one(quick):
    merged = merge_datasets([quick, quick], names=["a", "b"])
    for name in ("a", "b"):
        np.testing.assert_array_equal(merged.is_pareto_overall.sel(study=name).values, quick.is_pareto.values)
    with pytest.raises(ValueError, match=r"studies \['small'\] appear twice"):
        merge_datasets([quick, quick])


def test_a_merged_file_replots_and_reports_without_the_studies(sized, quick, tmp_path):
    _, ds = sized
    path = save_dataset(merge_datasets([quick, ds]), tmp_path / "all.nc")
    assert not list(tmp_path.glob("*.journal"))
    merged = load_dataset(path)
    options = {"front": {"x": "latency_s", "y": "energy_j"}, "front3d": {"z": "energy_j", "y": "area_mm2"},
               "matrix": {"metrics": ["latency_s", "energy_j"]}, "breakdown": {"study": "sized"},
               "roofline": {"study": "sized"}}
    for kind in PLOT_KINDS:
        if kind in ("hypervolume", "parallel"):
            continue
        figure = plot_figure(merged, kind, **options.get(kind, {}))
        assert {trace.name for trace in figure.data} >= (
            {"small: Pareto front", "sized: Pareto front"} if kind.startswith("front") else set()), kind
        assert figure.data, kind
    with pytest.raises(ValueError, match="share 1 objective"):
        plot_figure(merged, "front")
    with pytest.raises(ValueError, match="other objectives"):
        plot_figure(merged, "hypervolume")
    page = write_report(merged, tmp_path / "all.html").read_text()
    assert "Study small" in page and "Study sized" in page and "share 1 objective(s) (latency_s)" in page


def test_cli_merge_and_export(quick, tmp_path):
    a = save_dataset(quick, tmp_path / "a.nc")
    b = tmp_path / "b.nc"
    shutil.copy(a, b)
    runner = CliRunner()
    result = runner.invoke(main, ["merge", str(a), str(b), "-o", str(tmp_path / "ab.nc"), "--names", "gpu1,gpu2"])
    assert result.exit_code == 0, result.output
    assert "merged 2 studies: gpu1 (16 trials), gpu2 (16 trials)" in result.output
    result = runner.invoke(main, ["merge", str(a), str(b), "-o", str(tmp_path / "x.nc")])
    assert result.exit_code == 2 and "appear twice" in result.output

    result = runner.invoke(main, ["export", str(tmp_path / "ab.nc"), "--study", "gpu2", "--torch"])
    assert result.exit_code == 0, result.output
    trial = nas.results.default_trial(quick)
    toml_path = tmp_path / f"ab_gpu2_trial{trial}.toml"
    assert toml_path.exists() and toml_path.with_suffix(".pt").exists()
    assert tomllib.loads(toml_path.read_text())["candidate"]["trial"] == trial
    result = runner.invoke(main, ["export", str(tmp_path / "ab.nc")])
    assert result.exit_code == 2 and "choose one (--study NAME" in result.output


@pytest.mark.parametrize("command", ["merge", "export", "report", "plot"])
def test_results_commands_have_help(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "Usage: " in result.output
