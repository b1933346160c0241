"""Costing each distinct layer once (cost_models._distinct_rows) gives what costing every layer gives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import cost_models._distinct_rows as distinct_rows
from cost_models import Cost, Workload, WorkloadBuilder, cost_model_for, load_hardware
from cost_models._distinct_rows import DistinctRows
from nas.cost import apply_precision
from nas.sweep import nb201_workload
from search_spaces import NB201_N_ARCHS

SAMPLE = 120
"""NB201 networks drawn (seeded): about 22,000 layers, above MIN_ROWS."""


def _sample() -> Workload:
    indices = np.sort(np.random.default_rng(15).choice(NB201_N_ARCHS, size=SAMPLE, replace=False))
    return nb201_workload(indices, dataset="cifar10")


def _columns(cost: Cost) -> dict[str, np.ndarray]:
    columns = {"layer_latency_s": cost.layer_latency_s, "layer_bound": cost.layer_bound,
               "latency_s": cost.latency_s, "energy_j": cost.energy_j}
    columns.update({f"energy_{level}": v for level, v in cost.layer_energy_by_level_j.items()})
    columns.update({f"detail_{name}": v for name, v in cost.layer_detail.items()})
    return columns


def _both(workload: Workload, hardware, monkeypatch) -> tuple[Cost, Cost]:
    """The cost with every layer costed (MIN_ROWS above the workload) and with distinct rows."""
    model = cost_model_for(hardware)
    monkeypatch.setattr(distinct_rows, "MIN_ROWS", len(workload) + 1)
    direct = model.evaluate(workload, hardware)
    monkeypatch.setattr(distinct_rows, "MIN_ROWS", 0)
    deduplicated = model.evaluate(workload, hardware)
    return direct, deduplicated


def _assert_same(direct: Cost, deduplicated: Cost) -> None:
    assert deduplicated.workload is direct.workload
    expected, got = _columns(direct), _columns(deduplicated)
    assert expected.keys() == got.keys()
    for name, values in expected.items():
        assert got[name].dtype == values.dtype, name
        if values.dtype.kind == "f":
            np.testing.assert_array_equal(got[name], values, err_msg=name)  # NaN equals NaN here
        else:
            assert np.array_equal(got[name], values), name


@pytest.mark.parametrize(("preset", "precision"), [("h100", "fp16"), ("h100", "fp32"), ("tpu_v1", "int8"),
                                                   ("edge_systolic", "int8"), ("eie", "int8")])
def test_distinct_rows_cost_what_every_layer_costs(preset, precision, monkeypatch):
    workload = apply_precision(_sample(), precision)
    direct, deduplicated = _both(workload, load_hardware(preset), monkeypatch)
    assert len(DistinctRows.of(workload, min_rows=0).table) < len(workload) / 100  # it did de-duplicate
    _assert_same(direct, deduplicated)


def test_eie_weight_residency_stays_per_network(monkeypatch):
    """EIE keeps a network's weights on chip only when all of them fit: with SRAM for about half the
    sampled networks, the same layer streams its weights in some networks and not in others."""
    workload = apply_precision(_sample(), "int8", weight_bits=4, act_bits=16)
    eie = load_hardware("eie")
    stored = cost_model_for(eie).evaluate(workload, eie)
    entry_bytes = (eie.relative_index_bits + eie.weight_index_bits) / 8.0
    network_bytes = workload.per_network(np.nan_to_num(stored.layer_detail["entries"]) * entry_bytes)
    half = dataclasses.replace(eie, sparse_matrix_sram_bytes_per_pe=int(np.median(network_bytes) / eie.n_pes),
                               pointer_sram_bytes_per_pe=10**9)
    direct, deduplicated = _both(workload, half, monkeypatch)
    _assert_same(direct, deduplicated)
    streams = workload.per_network(np.nan_to_num(direct.layer_detail["dram_bytes"])) > \
        workload.per_network(np.nan_to_num(stored.layer_detail["dram_bytes"]))
    assert 0 < streams.sum() < workload.n_networks


def _repeated(rows: int) -> Workload:
    b = WorkloadBuilder(batch_size=1)
    b.conv("conv", c=8, h=8, w=8, k=8, r=3, padding=1)
    b.linear("fc", c=64, k=10)
    return Workload.concat([b.build()] * (rows // 2))


def test_rows_found_by_value():
    workload = _repeated(10_000)
    rows = DistinctRows.of(workload)
    assert len(rows.table) == 2 and not rows.identity
    assert rows.table.macs[rows.index].tolist() == workload.macs.tolist()
    assert np.array_equal(rows.expand(rows.table.weights), workload.weights)
    # A row of one layer, away from the layers first searched for representatives, is found too.
    once = dataclasses.replace(workload, ops=np.where(np.arange(len(workload)) == 7, 1, workload.ops))
    rows = DistinctRows.of(once)
    assert len(rows.table) == 3
    assert np.array_equal(rows.table.ops[rows.index], once.ops)


def test_rows_of_a_workload_are_found_once():
    workload = _repeated(10_000)
    rows = DistinctRows.of(workload)
    assert DistinctRows.of(workload) is rows
    copy = dataclasses.replace(workload)  # another workload with the same columns: found again
    assert DistinctRows.of(copy) is not rows
    assert np.array_equal(DistinctRows.of(copy).index, rows.index)
    assert not rows.index.flags.writeable


def test_short_or_varied_workloads_are_costed_row_by_row():
    assert DistinctRows.of(_repeated(100)).identity  # below MIN_ROWS
    workload = _repeated(10_000)
    varied = dataclasses.replace(workload, macs=workload.macs + np.arange(len(workload)))
    assert DistinctRows.of(varied).identity  # every row distinct


@pytest.mark.parametrize("multiplier", [distinct_rows._HASH_MULTIPLIER, np.int64(1)])
def test_wide_columns_not_set_by_the_shape_still_split_rows(multiplier, monkeypatch):
    """Wide columns that vary within one shape enter the hash; with a multiplier of 1 the hash is
    their sum, rows (a, b) and (b, a) collide, and the check against each row's representative must
    split them again."""
    monkeypatch.setattr(distinct_rows, "_HASH_MULTIPLIER", multiplier)
    workload = _repeated(10_000)
    wide = 2**61  # too wide for the exact mixed-radix part
    macs = np.where(np.arange(len(workload)) % 4 < 2, wide, 0)
    ops = wide - macs
    workload = dataclasses.replace(workload, macs=macs, ops=ops)
    rows = DistinctRows.of(workload)
    assert len(rows.table) == 4  # (conv, fc) x (macs, ops) swapped
    for column in ("macs", "ops", "kind"):
        assert np.array_equal(getattr(rows.table, column)[rows.index], getattr(workload, column))


def test_split_makes_rows_that_differ_in_a_key_distinct():
    workload = _repeated(10_000)
    rows = DistinctRows.of(workload)
    key = np.arange(len(workload)) % 3 == 0
    split, key_of_row = rows.split(key)
    assert len(split.table) == 4
    assert np.array_equal(key_of_row[split.index], key)
    assert np.array_equal(split.table.kind[split.index], workload.kind)


def test_float_columns_compare_bit_for_bit():
    workload = _repeated(10_000)
    density = np.where(np.arange(len(workload)) < 5000, 0.5, np.nextafter(0.5, 1.0))
    rows = DistinctRows.of(workload.with_compression(weight_density=density))
    assert len(rows.table) == 4  # (conv, fc) x two densities one ulp apart
    assert np.array_equal(rows.table.weight_density[rows.index], density)
