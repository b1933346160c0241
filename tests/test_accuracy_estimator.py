"""The compression-aware accuracy estimator: its features, its fit, the split it is scored on, and the study source."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from importlib import resources

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from nas import InputError
from nas.benchmarks import NB201AccuracyTable
from nas.compression import (
    AccuracyEstimator,
    CompressionFeatures,
    PruningPolicy,
    activation_error,
    compression_features,
    fit_accuracy_estimator,
    fit_mask,
    fit_on_rows,
    held_out_scores,
    is_fit_cell,
    load_accuracy_estimator,
    prune_module,
    quantize_module,
    read_estimator_rows,
)
from nas.study import AccuracySection, accuracy_fidelity, evaluate_candidate, format_accuracy_sources, parse_spec

SHIPPED = tomllib.loads((resources.files("nas") / "data" / "accuracy_estimator.toml").read_text())
ALL_CONV = {f"edge_{edge}": "nor_conv_3x3" for edge in ("0_1", "0_2", "1_2", "0_3", "1_3", "2_3")}


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(8, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(32, 10))


def _features(compress) -> CompressionFeatures:
    dense = _net()
    compressed = copy.deepcopy(dense)
    compress(compressed)
    return compression_features(dense, compressed)


# --- features ---------------------------------------------------------------------------

def test_an_untouched_copy_has_no_error():
    features = _features(lambda net: None)
    assert (features.weight_error, features.act_error, features.n_layers) == (0.0, 0.0, 3)


def test_weight_error_grows_with_the_pruning_ratio_and_shrinks_with_the_bits():
    errors = [_features(lambda net, r=r: prune_module(net, PruningPolicy(ratio=r))).weight_error
              for r in (0.3, 0.6, 0.9)]
    assert errors[0] < errors[1] < errors[2] < 1
    # Magnitude pruning removes the smallest weights: less energy than the fraction of weights removed.
    assert errors[2] < 0.9
    by_bits = [_features(lambda net, f=f: quantize_module(net, f)).weight_error for f in ("int4", "int6", "int8")]
    assert by_bits[0] > by_bits[1] > by_bits[2] > 0
    # Each bit halves the quantization step: a quarter of the error power per bit, about.
    assert by_bits[0] / by_bits[2] == pytest.approx(4.0**4, rel=0.5)


def test_activation_error_is_read_from_the_layers_input_quantizers():
    assert _features(lambda net: quantize_module(net, "int8")).act_error == 0.0
    features = _features(lambda net: quantize_module(net, "int8", "int4"))
    assert features.act_error == pytest.approx(activation_error("int4"))
    assert activation_error("int4") > 10 * activation_error("int8")
    only_first = _features(lambda net: quantize_module(net, "int8", "int4", layers=["0"]))
    assert only_first.act_error == pytest.approx(activation_error("int4") / 3)


def test_features_refuse_modules_that_are_not_copies():
    with pytest.raises(InputError, match="same"):
        compression_features(_net(), nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(InputError, match="fine_tune_epochs"):
        compression_features(_net(), _net(), fine_tune_epochs=-1)


# --- the estimate and its fit -----------------------------------------------------------

ESTIMATOR = AccuracyEstimator(weight_coef=8.0, act_coef=40.0, fine_tune_decay_per_epoch=1.5, steepness=2.5)


def test_the_estimate_is_the_dense_accuracy_without_compression_and_falls_to_chance():
    none = CompressionFeatures(0.0, 0.0, 10)
    assert ESTIMATOR.accuracy_pct(93.0, none, chance_pct=10.0) == 93.0
    collapse = CompressionFeatures(5.0, 0.0, 10)
    assert ESTIMATOR.accuracy_pct(93.0, collapse, chance_pct=10.0) == pytest.approx(10.0, abs=0.01)
    estimates = [ESTIMATOR.accuracy_pct(93.0, CompressionFeatures(w, 0.0, 10), chance_pct=10.0)
                 for w in (0.01, 0.1, 0.3)]
    assert estimates == sorted(estimates, reverse=True)
    tuned = dataclasses.replace(collapse, fine_tune_epochs=3)
    assert ESTIMATOR.kept_fraction(tuned) > ESTIMATOR.kept_fraction(collapse)


def test_the_fit_recovers_the_coefficients_that_made_the_data():
    rng = np.random.default_rng(0)
    features = [CompressionFeatures(float(w), float(a), 10, int(e))
                for w, a, e in zip(rng.uniform(0, 0.8, 200), rng.uniform(0, 0.05, 200), rng.integers(0, 3, 200),
                                   strict=True)]
    kept = np.array([ESTIMATOR.kept_fraction(f) for f in features])
    fitted = fit_accuracy_estimator(features, kept)
    for name, value in ESTIMATOR.coefficients.items():
        assert fitted.coefficients[name] == pytest.approx(value, rel=0.02), name


# --- the shipped fit: split and leakage ---------------------------------------------------

def test_the_shipped_split_keeps_every_cell_on_one_side():
    rows = read_estimator_rows()
    fit = is_fit_cell(rows["cell"])
    assert fit.any() and (~fit).any()
    assert set(rows["cell"][fit]).isdisjoint(rows["cell"][~fit])
    assert (rows["cell"][fit] % 2 == 0).all() and (rows["cell"][~fit] % 2 == 1).all()
    assert SHIPPED["fit"]["n_fit_rows"] == int(fit.sum())
    used = fit_mask(rows, chance_pct=10.0)
    assert SHIPPED["fit"]["n_fit_rows_used"] == int(used.sum()) and not (used & ~fit).any()
    assert SHIPPED["held_out"]["n_rows"] == int((~fit).sum())


def test_refitting_without_the_held_out_rows_gives_the_shipped_coefficients():
    rows = read_estimator_rows()
    fit = is_fit_cell(rows["cell"])
    without_held_out = {name: column[fit] for name, column in rows.items()}
    refitted = fit_on_rows(without_held_out, chance_pct=10.0)
    for name, value in load_accuracy_estimator().coefficients.items():
        assert refitted.coefficients[name] == pytest.approx(value, rel=1e-4), name
    # Whatever the held-out accuracies are, the fit does not move.
    scrambled = {**rows, "accuracy_pct": np.where(fit, rows["accuracy_pct"], 50.0)}
    assert fit_on_rows(scrambled, chance_pct=10.0).coefficients == pytest.approx(refitted.coefficients)


def test_the_held_out_scores_read_only_held_out_rows_and_match_the_shipped_ones():
    rows = read_estimator_rows()
    fit = is_fit_cell(rows["cell"])
    # NaN in every fit row: a rank correlation over any of them would raise.
    poisoned = {**rows, **{name: np.where(fit, np.nan, rows[name])
                           for name in ("accuracy_pct", "log_synflow", "weight_error", "act_error")}}
    scores = held_out_scores(load_accuracy_estimator(), poisoned, chance_pct=10.0)
    for name, value in scores.items():
        assert value == pytest.approx(SHIPPED["held_out"][name], abs=1e-4), name


def test_the_estimator_ranks_held_out_compressed_accuracy_better_than_synflow():
    held = SHIPPED["held_out"]
    assert held["estimator_spearman_rho"] > held["synflow_spearman_rho"]
    assert held["estimator_kendall_tau"] > held["synflow_kendall_tau"]


# --- the study source ---------------------------------------------------------------------

def _spec(**accuracy):
    return parse_spec({
        "study": {"name": "estimate", "n_trials": 1},
        "space": {"name": "nb201"},
        "accuracy": {"source": "estimator", **accuracy},
        "hardware": {"presets": ["a100"]},
        "compression": {"prune_ratio": [0.0, 0.9], "pattern": "unstructured", "weight_format": ["fp16", "int8"]},
        "objectives": [{"metric": "estimated_accuracy_pct", "direction": "maximize"},
                       {"metric": "latency_s", "direction": "minimize"}],
    })


def test_a_study_scores_the_compressed_candidate_below_its_table_accuracy():
    spec = _spec()
    dense = evaluate_candidate(spec, {**ALL_CONV, "prune_ratio": 0.0, "weight_format": "fp16"}, 0)
    pruned = evaluate_candidate(spec, {**ALL_CONV, "prune_ratio": 0.9, "weight_format": "int8"}, 0)
    assert dense["estimated_kept_fraction"] == pytest.approx(1.0, abs=1e-3)  # fp16 rounds a little
    table_pct = NB201AccuracyTable().accuracy_pct(dense["arch_index"], "cifar10", split="test")
    assert dense["estimated_accuracy_pct"] == pytest.approx(table_pct, abs=0.1)
    assert pruned["estimated_accuracy_pct"] < dense["estimated_accuracy_pct"] - 1
    tuned = evaluate_candidate(_spec(fine_tune_epochs=1), {**ALL_CONV, "prune_ratio": 0.9, "weight_format": "int8"}, 0)
    assert tuned["estimated_accuracy_pct"] > pruned["estimated_accuracy_pct"]


def test_the_source_is_checked_when_the_study_loads():
    with pytest.raises(ValueError, match="fine_tune_epochs: only source 'estimator'"):
        AccuracySection(source="synflow", fine_tune_epochs=1)
    with pytest.raises(ValueError, match="NAS-Bench-201 table"):
        parse_spec({"study": {"name": "s", "n_trials": 1}, "space": {"name": "resnet"},
                    "accuracy": {"source": "estimator"}, "hardware": {"presets": ["a100"]},
                    "objectives": [{"metric": "estimated_accuracy_pct", "direction": "maximize"}]})


def test_the_fidelity_and_the_sources_table_report_the_held_out_numbers():
    description, record = accuracy_fidelity(AccuracySection(source="estimator"), "nb201", "cifar10")
    rho = SHIPPED["held_out"]["estimator_spearman_rho"]
    assert record["measured_spearman_rho"] == rho and f"rho {rho}" in description
    assert record["zero_cost_spearman_rho"] == SHIPPED["held_out"]["synflow_spearman_rho"]
    listing = format_accuracy_sources()
    line = next(line for line in listing.splitlines() if line.startswith("estimator "))
    assert f"{rho:.3f}" in line


# --- the fit script -----------------------------------------------------------------------

def _small_table() -> xr.Dataset:
    """Four cells x three policies, as `nas compression-table` writes them."""
    cells = np.array([0, 1, 2, 3])
    dense = np.array([95.0, 94.0, 96.0, 93.0])
    return xr.Dataset(
        {"accuracy_pct": (("cell", "policy"), np.stack([dense, dense - 0.3, np.full(4, 12.0)], axis=1)),
         "dense_accuracy_pct": ("cell", dense),
         "nb201_cifar10_accuracy_pct": ("cell", np.array([10.0, 80.0, 85.0, 70.0]))},
        coords={"cell": cells, "policy": ["dense", "int8", "unstructured_0.9"],
                "pruning": ("policy", ["none", "none", "unstructured"]),
                "pruning_ratio": ("policy", [0.0, 0.0, 0.9]),
                "weight_format": ("policy", ["fp32", "int8", "fp32"]),
                "act_format": ("policy", ["fp32", "int8", "fp32"]),
                "weight_sharing_bits": ("policy", [0, 0, 0]),
                "fine_tune_epochs": ("policy", [0, 0, 0])},
        attrs={"dataset": "mnist_5k"})


def test_the_fit_script_fits_on_even_cells_and_scores_odd_ones(tmp_path):
    from benchmarks.fit_accuracy_estimator import main

    _small_table().to_netcdf(tmp_path / "table.nc", engine="h5netcdf")
    out, rows_path = tmp_path / "estimator.toml", tmp_path / "rows.csv.gz"
    main([str(tmp_path / "table.nc"), "--rows", str(rows_path), "--out", str(out)])
    written = tomllib.loads(out.read_text())
    rows = read_estimator_rows(rows_path)
    assert len(rows["cell"]) == 12 and written["fit"]["n_fit_rows"] == 6 and written["held_out"]["n_rows"] == 6
    assert rows["weight_error"][rows["policy"] == "unstructured_0.9"].min() > 0.3
    assert (rows["weight_error"][rows["policy"] == "dense"] == 0).all()
    estimator = load_accuracy_estimator(out)
    assert estimator.kept_fraction(CompressionFeatures(0.7, 0.0, 1)) < 0.1


def test_reused_rows_keep_known_cells_features_compute_new_ones_and_reread_the_accuracies():
    from benchmarks.fit_accuracy_estimator import table_rows

    grown = _small_table()
    fresh = table_rows(grown)
    known = {name: values[:6].copy() for name, values in table_rows(grown.isel(cell=[0, 1])).items()}
    known["weight_error"][:] = 0.123  # a marker: reused features come back as they were stored
    known["accuracy_pct"][:] = -1.0  # measured columns are read from the table, never from the rows

    reused = table_rows(grown, known=known)

    assert (reused["weight_error"][:6] == 0.123).all()
    np.testing.assert_array_equal(reused["weight_error"][6:], fresh["weight_error"][6:])
    np.testing.assert_array_equal(reused["accuracy_pct"], fresh["accuracy_pct"])
    np.testing.assert_array_equal(reused["cell"], fresh["cell"])
