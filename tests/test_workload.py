"""The Workload IR and the Cost result: shapes, counts, compression state, stacking."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cost_models import (
    Cost,
    LayerKind,
    NumberFormat,
    SparsityPattern,
    Workload,
    WorkloadBuilder,
)


def small_net(batch_size: int = 2) -> Workload:
    b = WorkloadBuilder(batch_size=batch_size)
    p, q = b.conv("conv", c=3, h=8, w=8, k=4, r=3, padding=1, bias=True)
    b.norm("bn", c=4, h=p, w=q)
    b.elementwise("relu", c=4, h=p, w=q)
    b.conv("dw", c=4, h=p, w=q, k=4, r=3, padding=1, groups=4)
    p, q = b.pool("pool", c=4, h=p, w=q, r=2, stride=2)
    b.elementwise("add", c=4, h=p, w=q, inputs=2)
    b.pool("gap", c=4, h=p, w=q, r=1, global_pool=True)
    b.linear("fc", c=4, k=10)
    return b.build()


def test_counts_by_hand():
    wl = small_net(batch_size=2)
    row = dict(zip(wl.name, range(len(wl)), strict=True))
    conv = row["conv"]
    assert (wl.p[conv], wl.q[conv]) == (8, 8)
    assert wl.macs[conv] == 2 * 4 * 8 * 8 * 3 * 3 * 3
    assert wl.params[conv] == 4 * 3 * 3 * 3 + 4
    assert wl.kind[row["dw"]] == LayerKind.DEPTHWISE_CONV
    assert wl.macs[row["dw"]] == 2 * 4 * 8 * 8 * 9
    assert wl.params[row["bn"]] == 8 and wl.macs[row["bn"]] == 0
    assert (wl.p[row["pool"]], wl.ops[row["pool"]]) == (4, 2 * 4 * 4 * 4 * 4)
    assert wl.input_elems[row["add"]] == 2 * wl.output_elems[row["add"]]
    assert (wl.r[row["gap"]], wl.p[row["gap"]]) == (4, 1)
    assert wl.macs[row["fc"]] == 2 * 40 and wl.params[row["fc"]] == 50
    assert wl.n_networks == 1 and set(wl.network) == {0}


def test_defaults_are_dense_fp32():
    wl = small_net()
    assert set(wl.weight_density) == {1.0} and set(wl.act_density) == {1.0}
    assert set(wl.weight_bits) == {32} and set(wl.act_bits) == {32}
    assert set(wl.pattern) == {SparsityPattern.DENSE} and set(wl.math) == {NumberFormat.FP32}
    np.testing.assert_allclose(wl.weight_bytes, wl.weights * 4)
    np.testing.assert_allclose(wl.input_bytes, wl.input_elems * 4)


def test_columns_are_read_only():
    wl = small_net()
    with pytest.raises(ValueError):
        wl.macs[0] = 1


def test_with_compression_touches_only_weighted_layers():
    wl = small_net()
    pruned = wl.with_compression(weight_density=0.5, pattern=SparsityPattern.N_M, weight_bits=8, act_bits=8,
                                 math=NumberFormat.INT8)
    weighted = np.isin(wl.kind, (LayerKind.CONV, LayerKind.DEPTHWISE_CONV, LayerKind.LINEAR))
    assert set(pruned.weight_density[weighted]) == {0.5}
    assert set(pruned.weight_density[~weighted]) == {1.0}
    assert set(pruned.pattern[~weighted]) == {SparsityPattern.DENSE}
    assert set(pruned.act_bits) == {8} and set(pruned.math) == {NumberFormat.INT8}
    np.testing.assert_array_equal(pruned.macs, wl.macs)
    np.testing.assert_allclose(pruned.effective_macs, wl.macs * np.where(weighted, 0.5, 1.0))
    assert set(wl.weight_density) == {1.0}, "the original is unchanged"
    only_fc = wl.with_compression(weight_bits=4, layers=wl.name == "fc")
    assert only_fc.weight_bits.tolist().count(4) == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b: b.conv("x", c=6, h=8, w=8, k=4, r=3, groups=4), "divisible by groups"),
        (lambda b: b.conv("x", c=3, h=2, w=2, k=4, r=5), "does not fit"),
    ],
)
def test_impossible_layers_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call(WorkloadBuilder())


def test_invalid_compression_is_refused():
    wl = small_net()
    with pytest.raises(ValueError, match="weight_density"):
        wl.with_compression(weight_density=0.0)
    with pytest.raises(ValueError, match="act_density"):
        wl.with_compression(act_density=1.5)
    with pytest.raises(ValueError, match="bits"):
        wl.with_compression(weight_bits=0)
    with pytest.raises(ValueError, match="batch_size"):
        WorkloadBuilder(batch_size=0)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 8), min_size=1, max_size=5))
def test_concat_conserves_every_network(batches):
    nets = [small_net(batch_size=n) for n in batches]
    stacked = Workload.concat(nets)
    assert stacked.n_networks == len(nets)
    np.testing.assert_array_equal(stacked.per_network(stacked.macs), [n.macs.sum() for n in nets])
    np.testing.assert_array_equal(stacked.per_network(stacked.params), [n.params.sum() for n in nets])
    assert stacked.select(stacked.network == len(nets) - 1).macs.sum() == nets[-1].macs.sum()


def test_to_dict_uses_labels():
    table = small_net().to_dict()
    assert table["kind"][0] == "conv" and table["math"][0] == "fp32" and table["pattern"][0] == "dense"


def make_cost(workload, latency, bound):
    return Cost(hardware="test", workload=workload, layer_latency_s=np.asarray(latency, dtype=float),
                layer_energy_by_level_j={"mac": np.ones(len(workload)), "dram": np.full(len(workload), 2.0)},
                layer_bound=np.asarray(bound), layer_detail={}, area_mm2=1.0, energy_method="test")


def test_cost_totals_and_tables():
    two = Workload.concat([small_net(), small_net()])
    size = len(two)
    cost = make_cost(two, np.arange(size), ["compute"] * size)
    half = size // 2
    np.testing.assert_allclose(cost.latency_s, [np.arange(half).sum(), np.arange(half, size).sum()])
    np.testing.assert_allclose(cost.energy_j, [3.0 * half, 3.0 * half])
    assert cost.summary(1)["energy_dram_j"] == 2.0 * half
    assert list(cost.layer_table(1)["layer"]) == list(small_net().name)


def test_unsupported_layer_poisons_its_network_only():
    two = Workload.concat([small_net(), small_net()])
    latency = np.ones(len(two))
    latency[0] = np.nan
    cost = make_cost(two, latency, ["unsupported"] + ["memory"] * (len(two) - 1))
    assert np.isnan(cost.latency_s[0]) and cost.latency_s[1] == len(two) // 2
    assert cost.unsupported.sum() == 1


def test_cost_refuses_unknown_bounds_and_ragged_columns():
    wl = small_net()
    with pytest.raises(ValueError, match=r"layer_bound holds \['fast'\]"):
        make_cost(wl, np.ones(len(wl)), ["fast"] * len(wl))
    with pytest.raises(ValueError, match="has 1 rows"):
        make_cost(wl, np.ones(1), ["compute"] * len(wl))


def test_transformer_rows_count_every_token_and_head():
    b = WorkloadBuilder(batch_size=2)
    b.linear("qkv", c=64, k=192, rows=10)
    b.matmul("scores", m=10, c=16, k=10, groups=4)
    b.copy("cat", c=64, h=10, w=1)
    wl = b.build()
    assert wl.kind.tolist() == [LayerKind.LINEAR, LayerKind.MATMUL, LayerKind.COPY]
    assert wl.macs.tolist() == [2 * 10 * 64 * 192, 2 * 4 * 10 * 16 * 10, 0]
    assert wl.weights.tolist() == [64 * 192, 0, 0]
    assert wl.input_elems.tolist() == [2 * 10 * 64, 2 * 4 * (10 * 16 + 16 * 10), 2 * 64 * 10]
    assert wl.output_elems.tolist() == [2 * 10 * 192, 2 * 4 * 10 * 10, 2 * 64 * 10]
    with pytest.raises(ValueError, match="rows"):
        b.linear("bad", c=4, k=4, rows=0)
    with pytest.raises(ValueError, match="matmul"):
        b.matmul("bad", m=0, c=4, k=4)
