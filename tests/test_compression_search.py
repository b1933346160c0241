"""Compression as search dimensions: the [compression] section, the trial, the metrics."""

import numpy as np
import optuna
import pytest

from cost_models import MAC_KINDS, NumberFormat, evaluate
from nas import run_search, study_to_dataset
from nas.study import (
    StudySpecError,
    build_candidate,
    choice_from_params,
    compress_workload,
    evaluate_candidate,
    suggest_candidate,
    suggest_compression,
)

CONV3 = dict.fromkeys(("edge_0_1", "edge_0_2", "edge_1_2", "edge_0_3", "edge_1_3", "edge_2_3"), "nor_conv_3x3")
SEARCHED = {"prune_ratio": [0.0, 0.9], "pattern": ["unstructured", "2:4", "channel"],
            "weight_format": ["int8", "fp16"], "share_bits": [4, 5]}


@pytest.fixture
def proxy_spec(small_spec):
    def make(compression=None, **hardware):
        return small_spec(
            name="compressed", n_trials=6, accuracy={"source": "synflow"}, compression=compression or SEARCHED,
            objectives=[{"metric": "log_synflow", "direction": "maximize"},
                        {"metric": "compressed_size_bytes", "direction": "minimize"}],
            hardware={"presets": ["t4"], **hardware},
        )
    return make


@pytest.mark.parametrize(
    ("compression", "message"),
    [
        ({"pattern": "3:4"}, "compression.pattern: unknown '3:4'; choose from unstructured, 2:4, channel"),
        ({"prune_ratio": 0.99}, "compression.prune_ratio: 0.99: give a fraction in [0, 0.95]"),
        ({"prune_ratio": [0.5, 0.1]}, "compression.prune_ratio: "),
        ({"weight_format": ["int8", "int9"]}, "compression.weight_format: unknown 'int9'"),
        ({"share_bits": 9}, "compression.share_bits: 9: codebooks of 2 to 256 entries"),
        ({"pruning": 0.5}, "compression.pruning: unknown field"),
    ],
)
def test_bad_compression_fields_are_named(proxy_spec, compression, message):
    with pytest.raises(StudySpecError, match=message.replace("[", r"\[").replace("(", r"\(")):
        proxy_spec(compression)


def test_oracle_accuracy_refuses_compression(small_spec):
    with pytest.raises(StudySpecError, match="knows only the accuracy of uncompressed networks"):
        small_spec(compression={"prune_ratio": 0.5})


def test_two_four_fixes_the_ratio_and_fixed_settings_suggest_nothing(proxy_spec):
    section = proxy_spec().compression
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        suggest_compression(trial, section, [])
        choice = choice_from_params(section, trial.params)
        assert ("prune_ratio" in trial.params) == (choice.pattern != "2:4")
        if choice.pattern == "2:4":
            assert choice.prune_ratio == 0.5
        seen.add(choice.pattern)
        study.tell(trial, 0.0)
    assert seen == {"unstructured", "2:4", "channel"}
    fixed = proxy_spec({"prune_ratio": 0.3, "pattern": "channel", "weight_format": "int8"}).compression
    trial = study.ask()
    suggest_compression(trial, fixed, [])
    assert trial.params == {}
    assert choice_from_params(fixed, {}).prune_ratio == 0.3


def test_per_layer_ratios_reach_each_layer(proxy_spec):
    with pytest.raises(StudySpecError, match="per_layer searches one unstructured ratio per layer"):
        proxy_spec({"per_layer": True, "pattern": ["unstructured", "channel"], "prune_ratio": [0.0, 0.9]})
    spec = proxy_spec({"per_layer": True, "prune_ratio": [0.0, 0.9]}, batch_size=64)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    suggest_candidate(trial, spec, spec.make_space())
    layer_params = {k: v for k, v in trial.params.items() if k.startswith("prune_ratio:")}
    workload = spec.make_space().workload(spec.make_space().from_params(trial.params))
    assert len(layer_params) == int(np.isin(workload.kind, MAC_KINDS).sum()) > 0
    assert "prune_ratio" not in trial.params
    choice = choice_from_params(spec.compression, trial.params)
    compressed = compress_workload(workload, choice)
    for name, ratio in choice.layer_ratios.items():
        row = list(workload.name).index(name)
        assert compressed.weight_density[row] == pytest.approx(1 - ratio, abs=0.02)
    result = evaluate_candidate(spec, trial.params, trial_number=0)
    assert result["compressed_size_bytes"] > 0


def metrics(spec, **compression):
    return evaluate_candidate(spec, {**CONV3, **compression}, trial_number=0)


def test_compression_moves_the_metrics_the_right_way(proxy_spec):
    spec = proxy_spec(batch_size=64)
    dense = metrics(spec, prune_pattern="unstructured", prune_ratio=0.0, weight_format="fp16", share_bits=5)
    pruned = metrics(spec, prune_pattern="unstructured", prune_ratio=0.8, weight_format="fp16", share_bits=5)
    channel = metrics(spec, prune_pattern="channel", prune_ratio=0.5, weight_format="fp16", share_bits=5)
    two_four = metrics(spec, prune_pattern="2:4", weight_format="fp16", share_bits=5)
    assert pruned["compressed_size_bytes"] < dense["compressed_size_bytes"]
    assert pruned["latency_s"] == dense["latency_s"], "a GPU gains nothing from unstructured sparsity"
    assert two_four["latency_s"] == dense["latency_s"], "a T4 has no sparse tensor cores"
    assert channel["latency_s"] < dense["latency_s"] and channel["macs"] < dense["macs"]
    assert pruned["log_synflow"] < dense["log_synflow"], "the proxy sees the compressed network"


def test_two_four_speeds_up_an_ampere_gpu_by_less_than_2x(proxy_spec):
    spec = proxy_spec(presets=["a100"], batch_size=256)
    dense = metrics(spec, prune_pattern="unstructured", prune_ratio=0.0, weight_format="fp16", share_bits=5)
    two_four = metrics(spec, prune_pattern="2:4", weight_format="fp16", share_bits=5)
    assert dense["latency_s"] / 2 < two_four["latency_s"] < dense["latency_s"]


def test_sharing_shrinks_the_file_and_a_study_records_compression(proxy_spec, tmp_path):
    no_sharing = proxy_spec({**SEARCHED, "share_bits": None})
    plain = metrics(no_sharing, prune_pattern="unstructured", prune_ratio=0.0, weight_format="fp16")
    shared = metrics(proxy_spec(), prune_pattern="unstructured", prune_ratio=0.0, weight_format="fp16", share_bits=4)
    assert shared["compressed_size_bytes"] < plain["compressed_size_bytes"] / 3

    study = run_search(proxy_spec(), storage=tmp_path / "c.journal", n_workers=2, progress=False)
    dataset = study_to_dataset(study)
    assert dataset.sizes["trial"] == 6 and (dataset.state == "COMPLETE").all()
    for coord in ("prune_pattern", "weight_format", "share_bits"):
        assert coord in dataset.coords
    assert dataset.compressed_size_bytes.attrs["units"] == "B"


def test_an_fp4_study_runs_at_the_b200_s_fp4_rate_and_on_the_h100_s_fp8_path(small_spec):
    spec = small_spec(
        name="fp4", accuracy={"source": "params"}, hardware={"presets": ["b200", "h100"], "batch_size": 256},
        compression={"weight_format": ["fp8_e4m3", "fp4_e2m1"], "act_format": ["fp8_e4m3", "fp4_e2m1"]},
        objectives=[{"metric": "latency_s", "direction": "minimize"}])
    cell = {**dict.fromkeys(CONV3, "skip_connect"), "edge_0_1": "nor_conv_1x1"}  # few weights to fake-quantize
    latency = {(hardware, fmt): evaluate_candidate(spec, {**cell, "hardware": hardware, "weight_format": fmt,
                                                          "act_format": fmt}, trial_number=0)["latency_s"]
               for hardware, fmt in (("b200", "fp8_e4m3"), ("b200", "fp4_e2m1"), ("h100", "fp4_e2m1"))}
    assert latency["b200", "fp4_e2m1"] < latency["b200", "fp8_e4m3"]
    # The H100 has no fp4 tensor cores: the candidate costs what its 4-bit workload costs in fp8.
    params = {**cell, "hardware": "h100", "weight_format": "fp4_e2m1", "act_format": "fp4_e2m1"}
    built = build_candidate(spec, params, trial_number=0, module=False)
    assert set(built.workload.weight_bits.tolist()) == {4} and built.hardware.name == "h100"
    assert (built.workload.math == NumberFormat.FP4).all()
    as_fp8 = evaluate(built.workload.with_compression(math=NumberFormat.FP8), built.hardware)
    assert latency["h100", "fp4_e2m1"] == pytest.approx(as_fp8.latency_s[0], rel=1e-12)
