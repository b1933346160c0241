"""Exhaustive sweeps: the stacked NB201 builder, the sweep file, the dataset, a real LocalCluster, the CLI."""

import dataclasses
import json

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from nas import load_dataset, pareto_mask, run_sweep, save_dataset
from nas.cost import apply_precision
from nas.run import dask_client
from nas.study import CompressionChoice, compress_workload, evaluate_candidate
from nas.sweep import SweepSpecError, load_sweep_spec, nb201_workload, parse_sweep_spec
from search_spaces import get_space, index_to_arch

ARCHS = [0, 1462, 1651, 6111, 15624]
"""A few cells: the all-conv3x3 (1462), the all-none (1651), the best CIFAR-10 test cell (6111)."""


def _spec(**changes):
    data = {
        "sweep": {"name": "small"},
        "space": {"archs": ARCHS},
        "hardware": {"preset": "edge_systolic", "precision": "int8",
                     "grid": {"rows": [8, 32], "dataflow": ["weight_stationary", "output_stationary"]}},
        "objectives": [{"metric": "accuracy_valid_pct", "direction": "maximize"},
                       {"metric": "edp_j_s", "direction": "minimize"},
                       {"metric": "area_mm2", "direction": "minimize"}],
    }
    for section, values in changes.items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **values}
        else:
            data[section] = values
    return parse_sweep_spec(data)


POLICIES = [
    {"name": "dense"},
    {"prune_ratio": 0.5, "pattern": "unstructured", "weight_format": "int8", "act_format": "int8"},
    {"pattern": "2:4", "weight_format": "fp8_e4m3"},
    {"prune_ratio": 0.5, "pattern": "channel", "share_bits": 4},
]


@pytest.fixture(scope="module")
def swept():
    spec = _spec()
    return spec, run_sweep(spec, chunk_size=3)


@pytest.mark.parametrize("choice", [
    None,
    CompressionChoice(0.5, "unstructured", "int8", "int8", None),
    CompressionChoice(0.5, "2:4", None, None, None),
    CompressionChoice(0.3, "channel", "fp8_e4m3", None, 4),
    CompressionChoice(0.7, "channel", None, None, None),
])
def test_stacked_networks_equal_each_network_built_alone(choice):
    space = get_space("nb201", dataset="cifar100")
    indices = [*ARCHS, 77, 9000]
    stacked = nb201_workload(indices, dataset="cifar100", batch_size=4, precision="fp16", choice=choice)
    assert stacked.n_networks == len(indices)
    for position, index in enumerate(indices):
        alone = apply_precision(space.workload(index_to_arch(index), batch_size=4), "fp16")
        if choice is not None:
            alone = compress_workload(alone, choice)
        mine = stacked.select(stacked.network == position)
        for field in dataclasses.fields(alone):
            if field.name != "network":
                np.testing.assert_array_equal(getattr(mine, field.name), getattr(alone, field.name),
                                              err_msg=f"{field.name} of cell {index}")


def test_dims_coords_and_units(swept):
    spec, ds = swept
    assert dict(ds.latency_s.sizes) == {"arch_index": 5, "rows": 2, "dataflow": 2}
    assert ds.arch_index.values.tolist() == ARCHS
    assert ds.arch.sel(arch_index=1651).item() == index_to_arch(1651)
    assert ds.rows.values.tolist() == [8, 32]
    assert ds.dataflow.values.tolist() == ["weight_stationary", "output_stationary"]
    assert ds.area_mm2.dims == ("rows", "dataflow")
    assert ds.macs.dims == ("arch_index",) and ds.macs.dtype == np.int64
    assert ds.accuracy_valid_pct.dims == ("arch_index",)
    assert ds.is_pareto.dims == ds.latency_s.dims
    assert ds.latency_s.attrs["units"] == "s" and ds.energy_j.attrs["units"] == "J"
    assert ds.edp_j_s.attrs["units"] == "J s" and ds.power_w.attrs["units"] == "W"
    assert ds.accuracy_valid_pct.attrs["units"] == "%"
    assert any(name.startswith("energy_") and name.endswith("_j") and name != "energy_j" for name in ds)
    assert json.loads(ds.attrs["spec_json"]) == json.loads(spec.to_json())
    # Bigger arrays are faster and larger: the dims really index what they say.
    latency = ds.latency_s.sel(arch_index=1462, dataflow="weight_stationary")
    assert latency.sel(rows=32) < latency.sel(rows=8)
    assert (ds.area_mm2.sel(rows=32) > ds.area_mm2.sel(rows=8)).all()


def test_values_equal_the_trial_of_the_same_candidate(swept):
    spec, ds = swept
    study = spec.study_spec()
    compared = 0
    for index in (1462, 6111, 15624):
        for point in ({"rows": 8, "dataflow": "output_stationary"}, {"rows": 32, "dataflow": "weight_stationary"}):
            metrics = evaluate_candidate(study, spec.trial_params(index, point), trial_number=0)
            grid_point = ds.sel(arch_index=index, **point)
            shared = [name for name in metrics if name in ds.data_vars]
            assert {"latency_s", "energy_j", "area_mm2", "accuracy_valid_pct", "macs",
                    "latency_compute_bound_fraction"} <= set(shared)
            for name in shared:
                assert grid_point[name].item() == pytest.approx(metrics[name], rel=1e-12, abs=0), name
                compared += 1
    assert compared > 50


def test_policy_values_equal_a_compressed_trial():
    spec = _spec(policies=POLICIES, objectives=[{"metric": "latency_s", "direction": "minimize"},
                                                {"metric": "compressed_size_bytes", "direction": "minimize"}])
    ds = run_sweep(spec, chunk_size=4)
    assert ds.policy.values.tolist() == ["dense", "unstructured0.5_wint8_aint8", "2:4_wfp8_e4m3", "channel0.5_share4"]
    assert ds.prune_ratio.values.tolist() == [0.0, 0.5, 0.5, 0.5]
    assert ds.share_bits.values.tolist() == [0, 0, 0, 4]
    assert ds.macs.dims == ("arch_index", "policy")
    # A trial prunes the torch module and reads its masks; with ratio 0.5 every NB201 layer keeps exactly half.
    for policy in (1, 3):
        study = spec.study_spec(policy=policy)
        point = {"rows": 32, "dataflow": "output_stationary"}
        metrics = evaluate_candidate(study, spec.trial_params(6111, point), trial_number=0)
        grid_point = ds.sel(arch_index=6111, policy=ds.policy.values[policy], **point)
        for name in ("latency_s", "energy_j", "macs", "params", "compressed_size_bytes", "weight_bytes"):
            assert grid_point[name].item() == pytest.approx(metrics[name], rel=1e-12, abs=0), (policy, name)
    channel = ds.sel(policy="channel0.5_share4", arch_index=1462)
    dense = ds.sel(policy="dense", arch_index=1462)
    assert channel.macs < dense.macs and channel.compressed_size_bytes < dense.compressed_size_bytes


def test_a_gpu_sweep_runs_in_the_execution_mode_a_search_of_the_same_study_does():
    objectives = [{"metric": "latency_s", "direction": "minimize"}]
    hardware = {"preset": "h100", "precision": "fp16", "grid": {"sustained_clock_mhz": [1410.0, 1830.0]}}
    latency = {}
    for mode in ("eager", "cuda_graph", None):
        spec = _spec(hardware={**hardware, **({} if mode is None else {"execution_mode": mode})},
                     space={"archs": [1462, 6111]}, objectives=objectives)
        ds = run_sweep(spec)
        study = spec.study_spec()
        assert study.hardware.execution_mode == mode
        assert ds.attrs["execution_mode"] == (mode or "cuda_graph")  # the h100 preset's own
        for index, clock in ((1462, 1410.0), (6111, 1830.0)):
            point = {"sustained_clock_mhz": clock}
            trial = evaluate_candidate(study, spec.trial_params(index, point), trial_number=0)
            swept_s = ds.latency_s.sel(arch_index=index, **point).item()
            assert swept_s == pytest.approx(trial["latency_s"], rel=1e-12, abs=0), (mode, index, clock)
        latency[mode] = ds.latency_s
    # Eager PyTorch pays the host's issue time per op: a batch-1 CIFAR cell is much slower than its graph.
    assert (latency["eager"] > 1.5 * latency["cuda_graph"]).all()
    xr.testing.assert_identical(latency[None], latency["cuda_graph"])


@pytest.mark.parametrize(("hardware", "expected"), [
    ({"execution_mode": "graph"}, "unknown execution_mode 'graph'; choose from cuda_graph, eager"),
    ({"execution_mode": "eager"}, "execution_mode applies to GPU presets; 'edge_systolic' is a systolic preset"),
    ({"preset": "h100", "precision": "fp16", "execution_mode": "eager", "grid": {"execution_mode": ["eager"]}},
     "execution_mode is fixed and also in grid; give it in one place"),
])
def test_a_bad_execution_mode_gives_one_line_naming_it(hardware, expected):
    with pytest.raises(SweepSpecError) as error:
        _spec(hardware=hardware)
    assert "\n" not in str(error.value) and expected in str(error.value)


def test_is_pareto_is_the_front_of_the_whole_grid(swept):
    spec, ds = swept
    columns = [ds[o.metric].broadcast_like(ds.latency_s).transpose(*ds.latency_s.dims).values.reshape(-1)
               for o in spec.objectives]
    expected = pareto_mask(np.stack(columns, axis=1), spec.directions)
    np.testing.assert_array_equal(ds.is_pareto.values.reshape(-1), expected)
    assert 0 < expected.sum() < expected.size


def test_stacks_and_chunks_do_not_change_values():
    from cost_models import evaluate, load_hardware

    spec = _spec(space={"archs": 600}, hardware={"grid": {"rows": [8, 16, 32]}})
    ds = run_sweep(spec, chunk_size=700)  # chunks of 350 and 250 cells on 2 and 1 points; stacks of 256 + 94
    archs = spec.arch_indices()
    for rows in (8, 32):
        cost = evaluate(nb201_workload(archs, precision="int8"), load_hardware("edge_systolic", {"rows": rows}))
        np.testing.assert_allclose(ds.energy_j.sel(rows=rows), cost.energy_j,
                                   rtol=1e-12)
    np.testing.assert_array_equal(ds.arch_index, archs)


def test_local_cluster_gives_the_same_dataset_and_netcdf_round_trips(swept, tmp_path):
    spec, in_process = swept
    with dask_client(n_workers=2) as client:
        distributed = run_sweep(spec, client, chunk_size=4)
    for name in ("elapsed_s", "created_utc"):
        distributed.attrs.pop(name)
    expected = in_process.copy()
    for name in ("elapsed_s", "created_utc"):
        expected.attrs.pop(name)
    xr.testing.assert_identical(distributed, expected)
    loaded = load_dataset(save_dataset(distributed, tmp_path / "sweep.nc"))
    xr.testing.assert_equal(loaded, distributed)
    assert loaded.is_pareto.dtype == bool


@pytest.mark.parametrize(("changes", "expected"), [
    ({"hardware": {"grid": {"rowz": [8, 16]}}}, "hardware: grid.rowz = 8: key 'rowz' is not a known key; allowed:"),
    ({"hardware": {"grid": {"rows": [8, -1]}}}, "hardware: grid.rows = -1: key 'rows' is -1; give an integer >= 1"),
    ({"hardware": {"preset": "tpu_v9"}}, "hardware.preset: hardware: unknown preset 'tpu_v9'"),
    ({"space": {"archs": [3, 15625]}}, "space.archs: [15625]: give 'all', a number of cells to sample"),
    ({"policies": [{"pattern": "2:4", "prune_ratio": 0.3}]}, "policies.0: pattern '2:4' removes exactly half"),
    ({"policies": [{"prune_ratio": 0.5}]}, "objectives[0].metric 'accuracy_valid_pct': the NAS-Bench-201 table"),
    ({"objectives": [{"metric": "latency", "direction": "minimize"}]}, "objectives[0].metric 'latency' is not a"),
    ({"sweep": {"name": "s", "chunks": 3}}, "sweep.chunks: unknown field; remove it or check its spelling"),
])
def test_a_bad_field_gives_one_line_naming_it(changes, expected):
    with pytest.raises(SweepSpecError) as error:
        _spec(**changes)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("<sweep>: ")
    assert expected in message


def test_shipped_sweep_file_loads():
    spec = load_sweep_spec("studies/sweep_nb201_edge_systolic.toml")
    assert spec.dims == ["arch_index", "rows", "cols", "dataflow"]
    assert spec.n_networks == 15_625 * 4 * 4 * 3
    assert spec.study_spec().hardware.search == {"edge_systolic": spec.hardware.grid}


def test_sampled_archs_are_reproducible():
    first = _spec(space={"archs": 50}, sweep={"name": "s", "seed": 3}).arch_indices()
    assert len(set(first.tolist())) == 50
    np.testing.assert_array_equal(first, _spec(space={"archs": 50}, sweep={"name": "s", "seed": 3}).arch_indices())
    assert not np.array_equal(first, _spec(space={"archs": 50}, sweep={"name": "s", "seed": 4}).arch_indices())


def test_cli_sweep_writes_the_dataset(tmp_path):
    from cli import main

    sweep_file = tmp_path / "tiny.toml"
    sweep_file.write_text(
        '[sweep]\nname = "tiny"\n[space]\narchs = [1462, 6111]\n'
        '[hardware]\npreset = "eie"\nprecision = "int8"\n[hardware.grid]\nn_pes = [32, 64]\n'
        '[[objectives]]\nmetric = "latency_s"\ndirection = "minimize"\n'
    )
    out = tmp_path / "tiny.nc"
    result = CliRunner().invoke(main, ["sweep", str(sweep_file), "-o", str(out), "--workers", "1",
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "4 networks" in result.output and str(out) in result.output
    ds = load_dataset(out)
    assert dict(ds.latency_s.sizes) == {"arch_index": 2, "n_pes": 2}

    sweep_file.write_text(sweep_file.read_text().replace("n_pes", "n_pez"))
    result = CliRunner().invoke(main, ["sweep", str(sweep_file), "--no-progress"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "grid.n_pez" in result.output
