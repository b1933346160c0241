"""The joint trial: hardware keys and precision as search dimensions, per-layer bits, every sampler."""

import numpy as np
import optuna
import pytest
import torch

from cost_models import MAC_KINDS, load_hardware
from cost_models._hardware import PRESET_DIR
from nas.study import (
    SAMPLERS,
    StudySpecError,
    choice_from_params,
    compress_module,
    compress_workload,
    evaluate_candidate,
    hardware_from_params,
    make_sampler,
    suggest_candidate,
    trial_seed,
)
from search_spaces import NB201_EDGES

CONV3 = dict.fromkeys(NB201_EDGES, "nor_conv_3x3")
SIZING = {"presets": ["edge_systolic", "h100"], "precision": "int8", "batch_size": 1,
          "search": {"edge_systolic": {"rows": [8, 16, 32, 64], "cols": [8, 64],
                                       "dataflow": ["weight_stationary", "output_stationary"]}}}


@pytest.fixture
def sizing_spec(small_spec):
    def make(**hardware):
        return small_spec(
            name="sizing", hardware={**SIZING, **hardware},
            objectives=[{"metric": "accuracy_valid_pct", "direction": "maximize"},
                        {"metric": "edp_j_s", "direction": "minimize"}],
            constraints=[{"metric": "area_mm2", "max": 10.0}],
        )
    return make


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"tpu_v1": {"rows": [8]}}, "hardware: search.tpu_v1: not in presets"),
        ({"edge_systolic": {"rowz": [8]}}, "hardware: search.edge_systolic.rowz = 8: key 'rowz' is not a known key"),
        ({"edge_systolic": {"rows": [8, -1]}}, "hardware: search.edge_systolic.rows = -1: key 'rows' is -1"),
        ({"edge_systolic": {"rows": []}}, "hardware: search.edge_systolic.rows: give at least one choice"),
        ({"edge_systolic": {"source": ["x"]}}, "hardware: search.edge_systolic.source: a label"),
    ],
)
def test_bad_hardware_search_keys_are_named_on_load(sizing_spec, search, message):
    with pytest.raises(StudySpecError, match=message):
        sizing_spec(search=search)


def test_hardware_keys_are_suggested_only_with_their_preset(sizing_spec):
    spec = sizing_spec()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    presets = set()
    for _ in range(20):
        trial = study.ask()
        suggest_candidate(trial, spec, spec.make_space())
        searched = {name for name in trial.params if name.startswith("edge_systolic.")}
        presets.add(trial.params["hardware"])
        assert searched == ({"edge_systolic.rows", "edge_systolic.cols", "edge_systolic.dataflow"}
                            if trial.params["hardware"] == "edge_systolic" else set())
        study.tell(trial, 0.0)
    assert presets == {"edge_systolic", "h100"}


def test_a_candidate_is_costed_on_its_sized_array(sizing_spec):
    spec = sizing_spec()
    params = {**CONV3, "hardware": "edge_systolic", "edge_systolic.cols": 64,
              "edge_systolic.dataflow": "weight_stationary"}
    by_rows = {rows: evaluate_candidate(spec, {**params, "edge_systolic.rows": rows}, 0) for rows in (8, 16, 32, 64)}
    _, overrides, config = hardware_from_params(spec, {**params, "edge_systolic.rows": 16})
    assert overrides == {"rows": 16, "cols": 64, "dataflow": "weight_stationary"}
    assert config == load_hardware("edge_systolic", overrides)
    latency = [by_rows[rows]["latency_s"] for rows in (8, 16, 32, 64)]
    area = [by_rows[rows]["area_mm2"] for rows in (8, 16, 32, 64)]
    assert all(a > b for a, b in zip(latency, latency[1:], strict=False)), "more MAC rows run faster"
    assert all(a < b for a, b in zip(area, area[1:], strict=False)), "and cost area"
    for metrics in by_rows.values():
        assert metrics["power_w"] == pytest.approx(metrics["energy_j"] / metrics["latency_s"])
        assert metrics["edp_j_s"] == pytest.approx(metrics["energy_j"] * metrics["latency_s"])
        assert metrics["macs"] == by_rows[8]["macs"]
    assert [by_rows[rows]["mac_units"] for rows in (8, 16, 32, 64)] == [8 * 64, 16 * 64, 32 * 64, 64 * 64]
    assert len({metrics["onchip_sram_bytes"] for metrics in by_rows.values()}) == 1, "same buffers"


def test_precision_choices_are_a_search_dimension(sizing_spec):
    spec = sizing_spec(presets=["h100"], precision=["fp16", "int8"], search={}, batch_size=256)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        suggest_candidate(trial, spec, spec.make_space())
        seen.add(trial.params["precision"])
        study.tell(trial, 0.0)
    assert seen == {"fp16", "int8"}
    fp16, int8 = (evaluate_candidate(spec, {**CONV3, "precision": p}, 0) for p in ("fp16", "int8"))
    assert int8["weight_bytes"] == fp16["weight_bytes"] / 2
    assert int8["latency_s"] < fp16["latency_s"], "H100 int8 tensor cores have twice the fp16 rate"


def test_an_unsupported_precision_fails_the_trial_with_its_reason(sizing_spec):
    spec = sizing_spec(precision="fp16")
    with pytest.raises(RuntimeError, match="hardware 'edge_systolic' cannot run layers stem.conv"):
        evaluate_candidate(spec, {**CONV3, "hardware": "edge_systolic", "edge_systolic.rows": 8,
                                  "edge_systolic.cols": 8, "edge_systolic.dataflow": "weight_stationary"}, 0)


@pytest.fixture
def mixed_precision_spec(small_spec):
    return small_spec(
        name="mixed", accuracy={"source": "synflow"}, hardware={"presets": ["edge_systolic"], "precision": "int8"},
        compression={"weight_format": ["int4", "int8"], "act_format": ["int4", "int8"], "per_layer_bits": True},
        objectives=[{"metric": "log_synflow", "direction": "maximize"},
                    {"metric": "energy_j", "direction": "minimize"}],
    )


def test_per_layer_bits_need_format_choices(small_spec):
    with pytest.raises(StudySpecError, match="per_layer_bits searches one weight format per layer"):
        small_spec(accuracy={"source": "synflow"}, compression={"weight_format": "int8", "per_layer_bits": True},
                   objectives=[{"metric": "log_synflow", "direction": "maximize"}])


def test_per_layer_bits_reach_the_workload_and_the_module(mixed_precision_spec):
    spec = mixed_precision_spec
    space = spec.make_space()
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3)).ask()
    suggest_candidate(trial, spec, space)
    workload = space.workload(space.from_params(trial.params))
    mac_layers = list(workload.name[np.isin(workload.kind, MAC_KINDS)])
    assert {f"weight_format:{name}" for name in mac_layers} <= set(trial.params)
    assert {f"act_format:{name}" for name in mac_layers} <= set(trial.params)
    assert "weight_format" not in trial.params

    choice = choice_from_params(spec.compression, trial.params)
    compressed = compress_workload(workload, choice)
    bits = dict(zip(compressed.name, compressed.weight_bits, strict=True))
    act_bits = dict(zip(compressed.name, compressed.act_bits, strict=True))
    for name in mac_layers:
        assert bits[name] == int(trial.params[f"weight_format:{name}"].removeprefix("int"))
        assert act_bits[name] == int(trial.params[f"act_format:{name}"].removeprefix("int"))
    weight_free = ~np.isin(compressed.kind, MAC_KINDS)
    assert (compressed.act_bits[weight_free] == 8).all(), "pools and adds carry the widest activation choice"

    torch.manual_seed(trial_seed(0, 0))
    module = space.build(space.from_params(trial.params))
    compress_module(module, choice)
    modules = dict(module.named_modules())
    for name in mac_layers:
        weight = modules[name].weight.detach()
        levels_per_channel = max(torch.unique(row).numel() for row in weight.flatten(1))
        assert levels_per_channel <= 2 ** bits[name], f"{name} holds more values than {bits[name]} bits"


def test_narrower_layers_gain_only_where_the_macs_support_them(mixed_precision_spec, small_spec, tmp_path):
    preset = (PRESET_DIR / "edge_systolic.toml").read_text()
    four_bit = tmp_path / "edge_systolic_int4.toml"
    four_bit.write_text(preset.replace("operand_bits = [8]", "operand_bits = [4, 8]"))
    space = mixed_precision_spec.make_space()
    workload = space.workload(space.from_params(CONV3))
    mac_layers = list(workload.name[np.isin(workload.kind, MAC_KINDS)])

    def mac_energy_j(hardware: str, fmt: str) -> float:
        spec = small_spec(name="mixed", accuracy={"source": "synflow"},
                          hardware={"presets": [hardware], "precision": "int8"},
                          compression=mixed_precision_spec.compression.model_dump(),
                          objectives=[{"metric": "energy_j", "direction": "minimize"}])
        params = {**CONV3, **{f"weight_format:{n}": fmt for n in mac_layers},
                  **{f"act_format:{n}": fmt for n in mac_layers}}
        return evaluate_candidate(spec, params, 0)["energy_mac_j"]

    assert mac_energy_j("edge_systolic", "int4") == mac_energy_j("edge_systolic", "int8"), "8-bit MACs only"
    assert mac_energy_j(str(four_bit), "int4") < mac_energy_j(str(four_bit), "int8")


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_runs_a_joint_study_reproducibly(sizing_spec, name):
    spec = sizing_spec()
    space = spec.make_space()

    def run() -> list[dict]:
        study = optuna.create_study(directions=spec.directions,
                                    sampler=make_sampler(name, seed=7, population_size=4))
        for _ in range(12):
            trial = study.ask()
            suggest_candidate(trial, spec, space)
            metrics = evaluate_candidate(spec, trial.params, trial.number)
            trial.set_constraint("area_mm2_max", metrics["area_mm2"] - 10.0)
            study.tell(trial, [metrics[o.metric] for o in spec.objectives])
        return [t.params for t in study.trials]

    first = run()
    assert first == run(), "a seeded sampler replays the same candidates"
    assert len({tuple(sorted(p.items())) for p in first}) > 1


def test_an_unknown_sampler_is_refused(small_spec):
    with pytest.raises(StudySpecError, match="study.sampler"):
        small_spec(study={"name": "s", "n_trials": 1, "sampler": "cmaes"})
    with pytest.raises(ValueError, match="unknown sampler 'cmaes'; choose from"):
        make_sampler("cmaes", seed=0)
