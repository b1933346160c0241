"""Systolic-array (TPU-like) model: lowering, tiling, roofline bounds, energy, presets."""

import dataclasses
import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cost_models import (
    PRESET_DIR,
    HardwareSpecError,
    NumberFormat,
    SystolicArrayModel,
    SystolicConfig,
    WorkloadBuilder,
    evaluate,
    load_hardware,
)

MODEL = SystolicArrayModel()
INT8 = {"weight_bits": 8, "act_bits": 8, "math": NumberFormat.INT8}


@pytest.fixture(scope="module")
def tpu():
    return load_hardware("tpu_v1")


def fc(batch, c, k):
    b = WorkloadBuilder(batch_size=batch)
    b.linear("fc", c=c, k=k, bias=False)
    return b.build().with_compression(**INT8)


def conv(batch, c, hw, k, r, stride, groups):
    b = WorkloadBuilder(batch_size=batch)
    b.conv("conv", c=c, h=hw, w=hw, k=k, r=r, stride=stride, padding=r // 2, groups=groups)
    return b.build().with_compression(**INT8)


layers = st.one_of(
    st.builds(fc, st.integers(1, 64), st.integers(1, 2048), st.integers(1, 2048)),
    st.builds(lambda n, g, cg, kg, hw, r, s: conv(n, g * cg, hw, g * kg, r, s, g),
              st.integers(1, 4), st.sampled_from([1, 2, 4]), st.integers(1, 64), st.integers(1, 64),
              st.integers(4, 32), st.sampled_from([1, 3, 5]), st.sampled_from([1, 2])),
    st.builds(lambda n, c, hw, r: conv(n, c, hw, c, r, 1, c), st.integers(1, 4), st.integers(2, 256),
              st.integers(4, 32), st.sampled_from([3, 5])),
)
arrays = st.builds(
    lambda rows, cols, dataflow, buf, bw: dataclasses.replace(
        load_hardware("tpu_v1"), rows=rows, cols=cols, dataflow=dataflow, activation_buffer_bytes=buf,
        weight_buffer_bytes=buf // 8, accumulator_bytes=max(4 * cols * 64, 1 << 16), offchip_bandwidth_gb_s=bw),
    st.sampled_from([8, 16, 32, 64, 128, 256]), st.sampled_from([8, 16, 32, 64, 128, 256]),
    st.sampled_from(["weight_stationary", "output_stationary", "input_stationary"]),
    st.sampled_from([1 << 12, 1 << 16, 1 << 20, 1 << 24]), st.sampled_from([8.0, 34.0, 600.0]),
)


def test_tpu_v1_preset(tpu):
    assert tpu.family == "systolic"
    assert tpu.peak_ops_per_s == pytest.approx(92e12, rel=0.01)
    assert "Jouppi" in tpu.source
    assert tpu.process_node_nm == 28


def test_batch1_fc_is_weight_bandwidth_bound(tpu):
    cost = MODEL.evaluate(fc(1, 4096, 4096), tpu)
    assert cost.layer_bound.tolist() == ["memory"]
    assert cost.latency_s[0] == pytest.approx(4096 * 4096 / 34e9)


def test_ridge_point_near_1350_macs_per_weight_byte(tpu):
    # A FC layer's intensity is its batch (MACs per weight byte at int8).
    ridge = tpu.peak_ops_per_s / 2 / (tpu.offchip_bandwidth_gb_s * 1e9)
    assert ridge == pytest.approx(1350, rel=0.01)
    assert MODEL.evaluate(fc(256, 4096, 4096), tpu).layer_bound[0] == "memory"
    # Just below and above the ridge (Sec. 4, Fig. 5): CNN1's 1,750 is compute bound.
    assert MODEL.evaluate(fc(1024, 4096, 4096), tpu).layer_bound[0] == "memory"
    assert MODEL.evaluate(fc(1750, 4096, 4096), tpu).layer_bound[0] == "compute"
    assert MODEL.evaluate(fc(2048, 4096, 4096), tpu).layer_bound[0] == "compute"


def test_256_cube_gemm_follows_scale_sim(tpu):
    cost = MODEL.evaluate(fc(256, 256, 256), tpu)
    detail = cost.layer_detail
    # One fold: 2*rows + cols + T - 2 cycles (SCALE-Sim), at 700 MHz.
    assert detail["cycles"][0] == 2 * 256 + 256 + 256 - 2
    assert detail["utilization"][0] == pytest.approx(256 / 1022)
    assert detail["compute_s"][0] == pytest.approx(1022 / 700e6)
    # 64 KiB of weights at 34 GB/s take longer than the array: memory-bound.
    assert cost.layer_bound[0] == "memory"


def test_large_gemm_approaches_peak(tpu):
    # 8 x 8 weight tiles of a 4,096-row stream each; with the double-buffered weight FIFO the
    # next tile is shifted in while the current one computes, so only the first preload and
    # one fill/drain (2*256 + 256 - 2 cycles) are lost: 99.7 %.
    cost = MODEL.evaluate(fc(4096, 2048, 2048), tpu)
    assert cost.layer_bound[0] == "compute"
    assert cost.layer_detail["cycles"][0] == 64 * 4096 + 2 * 256 + 256 - 2
    assert 0.99 < cost.layer_detail["utilization"][0] < 1


def test_tile_aligned_gemm_runs_near_92_tops(tpu):
    # Jouppi et al. (ISCA 2017), Sec. 2: 92 TOPS peak; a 1024 x 1024 layer at batch 4096 is
    # 4 x 4 weight tiles, each serving one 4,096-row accumulator fill.
    wl = fc(4096, 1024, 1024)
    cost = MODEL.evaluate(wl, tpu)
    tops = 2 * wl.macs[0] / cost.latency_s[0] / 1e12
    assert cost.layer_bound[0] == "compute"
    assert tops == pytest.approx(92, rel=0.02)


def test_fill_drain_is_paid_per_tile_only_without_overlap(tpu):
    wl = fc(4096, 1024, 1024)  # 16 folds of 4,096 rows, one accumulator chunk each
    single = dataclasses.replace(tpu, weight_load_overlap=False, fill_drain_overlap=False)
    # SCALE-Sim: 2*rows + cols + T - 2 cycles per fold.
    assert MODEL.evaluate(wl, single).layer_detail["cycles"][0] == 16 * (2 * 256 + 256 + 4096 - 2)
    # Both overlaps (TPU v1): the folds follow each other; preload and fill/drain show once.
    assert MODEL.evaluate(wl, tpu).layer_detail["cycles"][0] == 16 * 4096 + 2 * 256 + 256 - 2
    # Streams shorter than a preload (batch 16) wait for the next tile to shift in (all but
    # the last); a single tile is SCALE-Sim's fold either way.
    short = fc(16, 1024, 1024)
    assert MODEL.evaluate(short, tpu).layer_detail["cycles"][0] == 15 * 256 + 16 + 2 * 256 + 256 - 2
    one = fc(16, 256, 256)
    assert MODEL.evaluate(one, tpu).layer_detail["cycles"][0] == \
        MODEL.evaluate(one, single).layer_detail["cycles"][0] == 2 * 256 + 256 + 16 - 2


def test_depthwise_maps_badly(tpu):
    dense = MODEL.evaluate(conv(1, 128, 28, 128, 3, 1, 1), tpu)
    depthwise = MODEL.evaluate(conv(1, 128, 28, 128, 3, 1, 128), tpu)
    assert depthwise.layer_detail["utilization"][0] < dense.layer_detail["utilization"][0] / 50


def test_unsupported_widths_and_formats(tpu):
    fp32 = fc(1, 64, 64).with_compression(weight_bits=32, act_bits=32, math=NumberFormat.FP32)
    cost = MODEL.evaluate(fp32, tpu)
    assert cost.layer_bound[0] == "unsupported"
    assert np.isnan(cost.latency_s[0]) and np.isnan(cost.energy_j[0])
    no_multipass = dataclasses.replace(tpu, multipass=False)
    assert MODEL.evaluate(fc(1, 64, 64).with_compression(weight_bits=16), no_multipass).layer_bound[0] \
        == "unsupported"


def test_narrow_bits_help_only_when_supported(tpu):
    int8 = MODEL.evaluate(fc(64, 1024, 1024), tpu)
    int4 = MODEL.evaluate(fc(64, 1024, 1024).with_compression(weight_bits=4, act_bits=4, math=NumberFormat.INT4),
                          tpu)
    assert int4.latency_s[0] == int8.latency_s[0]
    assert int4.energy_j[0] == pytest.approx(int8.energy_j[0])
    with_int4 = dataclasses.replace(tpu, operand_bits=(4, 8))
    assert MODEL.evaluate(int4.workload, with_int4).energy_j[0] < int8.energy_j[0]


def test_wide_operands_take_multiple_passes(tpu):
    wl = fc(4096, 1024, 1024)
    base = MODEL.evaluate(wl, tpu).layer_detail
    half = MODEL.evaluate(wl.with_compression(weight_bits=16), tpu).layer_detail
    quarter = MODEL.evaluate(wl.with_compression(weight_bits=16, act_bits=16), tpu).layer_detail
    assert half["passes"][0] == 2 and quarter["passes"][0] == 4
    # The passes stream back to back: the tiles' streams repeat, the first preload and the
    # fill/drain (rows + rows + cols - 2 cycles) show once.
    once = 2 * tpu.rows + tpu.cols - 2
    assert half["cycles"][0] - once == pytest.approx(2 * (base["cycles"][0] - once))
    assert quarter["cycles"][0] - once == pytest.approx(4 * (base["cycles"][0] - once))


def test_weight_free_layers_use_the_vector_unit(tpu):
    b = WorkloadBuilder(batch_size=1)
    b.pool("pool", c=64, h=32, w=32, r=2, stride=2)
    b.elementwise("relu", c=64, h=16, w=16)
    b.norm("bn", c=64, h=16, w=16)
    wl = b.build().with_compression(**INT8)
    cost = MODEL.evaluate(wl, tpu)
    assert np.all(cost.layer_latency_s > 0) and np.all(cost.layer_bound != "unsupported")
    without = MODEL.evaluate(wl, dataclasses.replace(tpu, vector_lanes=0))
    assert np.all(without.layer_bound == "unsupported") and np.all(np.isnan(without.layer_latency_s))


def test_energy_levels_and_area(tpu):
    cost = MODEL.evaluate(conv(8, 64, 32, 64, 3, 1, 1), tpu)
    assert set(cost.layer_energy_by_level_j) == {"mac", "register_file", "buffer", "dram"}
    assert all(v[0] > 0 for v in cost.layer_energy_by_level_j.values())
    assert 10 < cost.area_mm2 < 331  # MACs and SRAM only; the TPU v1 die is < 331 mm²
    assert "28 nm" in cost.energy_method


@pytest.mark.parametrize("dataflow", ["weight_stationary", "output_stationary", "input_stationary"])
def test_no_dataflow_stands_in_for_eyeriss_row_stationary(dataflow):
    """Why `nas validate` lists Eyeriss's AlexNet figures as not modelled (validation_references.toml)."""
    # Eyeriss (Chen et al., JSSC 2017): 12 x 14 16-bit PEs, a 108 KB global buffer, 24 16-bit
    # partial sums per PE (8,064 bytes), AlexNet CONV1-5 (grouped as in Caffe) at batch 4 with
    # 0.0029 DRAM accesses (16-bit words) per MAC.
    b = WorkloadBuilder(batch_size=4)
    b.conv("conv1", c=3, h=227, w=227, k=96, r=11, stride=4)
    b.conv("conv2", c=96, h=27, w=27, k=256, r=5, padding=2, groups=2)
    b.conv("conv3", c=256, h=13, w=13, k=384, r=3, padding=1)
    b.conv("conv4", c=384, h=13, w=13, k=384, r=3, padding=1, groups=2)
    b.conv("conv5", c=384, h=13, w=13, k=256, r=3, padding=1, groups=2)
    # Integer arithmetic; the 16-bit operand width comes from the bit columns.
    alexnet = b.build().with_compression(weight_bits=16, act_bits=16, math=NumberFormat.INT8)
    assert alexnet.macs.sum() / 4 == pytest.approx(666e6, rel=0.01)  # Eyeriss: 666M MACs per image
    eyeriss_sized = dataclasses.replace(load_hardware("edge_systolic"), rows=12, cols=14, operand_bits=(16,),
                                        dataflow=dataflow, unified_buffer_bytes=108 * 1024,
                                        accumulator_bytes=168 * 24 * 2)
    words_per_mac = MODEL.evaluate(alexnet, eyeriss_sized).layer_detail["dram_bytes"].sum() / 2 / alexnet.macs.sum()
    assert words_per_mac > 3 * 0.0029


@settings(max_examples=60, deadline=None)
@given(layers, arrays)
def test_tiling_conserves_macs_and_bytes(wl, hw):
    cost = MODEL.evaluate(wl, hw)
    detail = cost.layer_detail
    assert detail["macs_mapped"][0] == wl.macs[0]
    assert 0 < detail["utilization"][0] <= 1
    # int8: one byte per element; weights are read at least once, and what the activation buffer
    # cannot hold of the layer's input and output crosses DRAM at least once.
    spill = max(wl.input_elems[0] + wl.output_elems[0] - hw.activation_buffer_bytes, 0)
    assert detail["dram_weight_bytes"][0] >= wl.weights[0]
    assert detail["dram_activation_bytes"][0] >= spill
    assert detail["dram_bytes"][0] == detail["dram_weight_bytes"][0] + detail["dram_activation_bytes"][0]
    assert cost.energy_j[0] > 0
    assert all(v[0] >= 0 for v in cost.layer_energy_by_level_j.values())


@settings(max_examples=60, deadline=None)
@given(layers, arrays, st.sampled_from([2.0, 4.0]))
def test_more_bandwidth_or_buffer_is_never_slower(wl, hw, factor):
    base = MODEL.evaluate(wl, hw).latency_s[0]
    faster = dataclasses.replace(hw, offchip_bandwidth_gb_s=hw.offchip_bandwidth_gb_s * factor)
    bigger = dataclasses.replace(hw, activation_buffer_bytes=int(hw.activation_buffer_bytes * factor),
                                 weight_buffer_bytes=int(hw.weight_buffer_bytes * factor),
                                 accumulator_bytes=int(hw.accumulator_bytes * factor))
    rounding = base * 1e-12  # the same cycles summed in another order may differ in the last bit
    assert MODEL.evaluate(wl, faster).latency_s[0] <= base + rounding
    assert MODEL.evaluate(wl, bigger).latency_s[0] <= base + rounding


@settings(max_examples=60, deadline=None)
@given(layers, arrays)
def test_each_overlap_only_removes_cycles(wl, hw):
    cycles = [MODEL.evaluate(wl, dataclasses.replace(hw, weight_load_overlap=load, fill_drain_overlap=fill))
              .layer_detail["cycles"][0] for load, fill in ((False, False), (True, False), (True, True))]
    assert cycles[0] >= cycles[1] >= cycles[2]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, 8), st.sampled_from([16, 32, 64]),
       st.sampled_from(["weight_stationary", "output_stationary", "input_stationary"]))
def test_bigger_array_is_never_slower_on_layers_that_fill_it(m_folds, k_folds, n_folds, size, dataflow):
    # Every GEMM dimension at least twice the bigger array: extra fill/drain is amortised.
    # (On tiny layers a bigger array *is* slower: its skew of rows + cols - 2 cycles is longer.)
    hw = dataclasses.replace(load_hardware("tpu_v1"), rows=size, cols=size, dataflow=dataflow)
    big = dataclasses.replace(hw, rows=2 * size, cols=2 * size)
    wl = fc(4 * size * m_folds + 3, 4 * size * k_folds + 1, 4 * size * n_folds + 5)
    assert MODEL.evaluate(wl, big).layer_detail["compute_s"][0] <= MODEL.evaluate(wl, hw).layer_detail[
        "compute_s"][0]


def test_many_networks_are_costed_without_a_layer_loop(tpu):
    b = WorkloadBuilder(batch_size=1)
    b.conv("c1", c=3, h=32, w=32, k=16, r=3, padding=1)
    b.conv("c2", c=16, h=32, w=32, k=16, r=3, padding=1, groups=16)
    b.pool("p", c=16, h=32, w=32, r=2, stride=2)
    b.linear("fc", c=16 * 16 * 16, k=10)
    one = b.build()
    reps = 15_625
    stacked = dataclasses.replace(
        one, **{f.name: np.tile(getattr(one, f.name), reps) for f in dataclasses.fields(one)},
    )
    stacked = dataclasses.replace(stacked, network=np.repeat(np.arange(reps), len(one)))
    cost = MODEL.evaluate(stacked.with_compression(**INT8), tpu)
    assert cost.latency_s.shape == (reps,)
    assert np.allclose(cost.latency_s, cost.latency_s[0])


def test_presets_load_and_bad_keys_fail_in_one_line(tmp_path):
    for preset in ("tpu_v1", "edge_systolic"):
        assert isinstance(load_hardware(preset), SystolicConfig)
    data = tomllib.loads((PRESET_DIR / "tpu_v1.toml").read_text())
    for key, value, message in (
        ("rows", 0, "'rows'"),
        ("dataflow", "row_stationary", "'dataflow'"),
        ("operand_bits", [], "'operand_bits'"),
        ("process_node_nm", 3, "'process_node_nm'"),
        ("accumulator_bytes", 16, "'accumulator_bytes'"),
        ("clock_ghz", 1.0, "'clock_ghz'"),
    ):
        bad = {**data, key: value}
        path = tmp_path / "bad.toml"
        path.write_text("\n".join(f"{k} = {_toml(v)}" for k, v in bad.items()))
        with pytest.raises(HardwareSpecError, match=message) as error:
            load_hardware(path)
        assert "\n" not in str(error.value)


def test_evaluate_dispatches_on_family():
    assert evaluate(fc(1, 1024, 1024), "tpu_v1").hardware == "tpu_v1"


def _toml(value):
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def _relu(elements):
    b = WorkloadBuilder(batch_size=1)
    b.elementwise("relu", c=elements, h=1, w=1)
    return b.build().with_compression(**INT8)


def test_activations_that_exceed_the_buffer_spill_and_those_that_fit_do_not():
    edge = load_hardware("edge_systolic")  # 256 KiB scratchpad for weights and activations
    fits = conv(1, 64, 28, 64, 3, 1, 1)  # 50 KB in, 50 KB out, 37 KB of weights
    spills = conv(1, 64, 112, 64, 3, 1, 1)  # 803 KB in, 803 KB out
    small, big = MODEL.evaluate(fits, edge), MODEL.evaluate(spills, edge)
    assert small.layer_detail["dram_activation_bytes"][0] == 0
    assert small.layer_detail["dram_weight_bytes"][0] == fits.weights[0]
    # Neither the input nor the output fits alone: both cross DRAM, the input once per column fold.
    assert big.layer_detail["dram_activation_bytes"][0] >= spills.input_elems[0] + spills.output_elems[0]
    roomy = dataclasses.replace(edge, unified_buffer_bytes=4 << 20)
    assert MODEL.evaluate(spills, roomy).layer_detail["dram_activation_bytes"][0] == 0
    assert big.energy_by_level_j["dram"][0] > MODEL.evaluate(spills, roomy).energy_by_level_j["dram"][0]
    # Output fits, input does not: only the input streams (re-read per sweep), the output stays.
    tpu = load_hardware("tpu_v1")
    half = dataclasses.replace(tpu, activation_buffer_bytes=600_000)
    relu = _relu(500_000)
    assert MODEL.evaluate(relu, half).layer_detail["dram_activation_bytes"][0] == 500_000
    assert MODEL.evaluate(relu, tpu).layer_detail["dram_activation_bytes"][0] == 0


@settings(max_examples=60, deadline=None)
@given(layers, arrays, st.sampled_from([1.5, 2.0, 4.0, 64.0]))
def test_dram_traffic_energy_and_latency_never_rise_with_buffer_size(wl, hw, factor):
    base = MODEL.evaluate(wl, hw)
    roomier = dataclasses.replace(hw, activation_buffer_bytes=int(hw.activation_buffer_bytes * factor))
    bigger = MODEL.evaluate(wl, roomier)
    for key in ("dram_bytes", "dram_activation_bytes", "buffer_bytes"):
        assert bigger.layer_detail[key][0] <= base.layer_detail[key][0] * (1 + 1e-12), key
    assert bigger.latency_s[0] <= base.latency_s[0] * (1 + 1e-12)
    assert bigger.energy_by_level_j["dram"][0] <= base.energy_by_level_j["dram"][0] * (1 + 1e-12)
    # Buffer bytes never rise either, so energy never rises at a fixed SRAM access energy; a bigger
    # SRAM does cost more per access (the size rule), which is physics, not spill.
    for level in ("mac", "register_file"):
        assert bigger.energy_by_level_j[level][0] == base.energy_by_level_j[level][0]


def test_a_narrow_port_stretches_the_layer_and_a_wide_one_changes_nothing(tpu):
    wl = fc(4096, 1024, 1024)  # int8: 16 MiB of inputs swept 4 times, 4 MiB out, 1 MiB of weights
    base = MODEL.evaluate(wl, tpu).layer_detail
    assert base["port_cycles"][0] <= base["array_cycles"][0]  # the preset's ports match the array
    unlimited = dataclasses.replace(tpu, weight_read_bytes_per_cycle=0, input_read_bytes_per_cycle=0,
                                    output_write_bytes_per_cycle=0)
    assert MODEL.evaluate(wl, unlimited).layer_detail["cycles"][0] == base["cycles"][0]
    for key, traffic in (("input_read_bytes_per_cycle", 4096 * 1024 * 4),
                         ("output_write_bytes_per_cycle", 4096 * 1024),
                         ("weight_read_bytes_per_cycle", 1024 * 1024)):
        narrow = MODEL.evaluate(wl, dataclasses.replace(tpu, **{key: 8})).layer_detail
        assert narrow["port_cycles"][0] == traffic / 8, key
        assert narrow["cycles"][0] == max(base["array_cycles"][0], traffic / 8), key


def test_the_partial_sum_path_prices_accumulator_traffic_not_time(tpu):
    wl = fc(256, 4096, 256)  # 16 reduction folds: partial sums read and written 16 times
    sram = MODEL.evaluate(wl, tpu)
    register = MODEL.evaluate(wl, dataclasses.replace(tpu, partial_sum_path="register"))
    assert sram.layer_detail["accumulator_bytes"][0] == register.layer_detail["accumulator_bytes"][0] == \
        256 * 256 * 16 * 2 * 4
    assert register.latency_s[0] == sram.latency_s[0]
    assert register.energy_by_level_j["buffer"][0] < sram.energy_by_level_j["buffer"][0]
    # Output-stationary accumulates in the PEs: no partial-sum traffic on either path.
    out = MODEL.evaluate(wl, dataclasses.replace(tpu, dataflow="output_stationary"))
    assert out.layer_detail["accumulator_bytes"][0] == 0


def test_an_activation_product_reloads_its_second_operand_per_sample(tpu):
    # Attention scores of 8 heads, 256 tokens of 64 per head, per sample: (256 x 64) @ (64 x 256).
    def scores(batch):
        b = WorkloadBuilder(batch_size=batch)
        b.matmul("qk", m=256, c=64, k=256, groups=8)
        return b.build().with_compression(**INT8)

    one, four = MODEL.evaluate(scores(1), tpu), MODEL.evaluate(scores(4), tpu)
    assert one.layer_bound[0] == "compute" and one.layer_detail["macs_mapped"][0] == 8 * 256 * 64 * 256
    # No stationary tile is shared across samples: each of the 3 more samples brings 8 tiles (one
    # per head), each holding the array for its 256-row stream (TPU v1 overlaps loads and fill/drain).
    assert four.layer_detail["cycles"][0] - one.layer_detail["cycles"][0] == 3 * 8 * 256
    # Its "weights" are activations: no weight DRAM traffic, and they spill with the activations.
    assert four.layer_detail["dram_weight_bytes"][0] == 0
    tiny = dataclasses.replace(tpu, activation_buffer_bytes=1 << 16)
    assert MODEL.evaluate(scores(4), tiny).layer_detail["dram_activation_bytes"][0] >= 4 * 8 * (256 * 64 * 2)
    # One head's product with a stored (weight) operand instead shares one tile across the batch.
    b = WorkloadBuilder(batch_size=4)
    b.linear("fc", c=64, k=256, rows=256, bias=False)
    shared = MODEL.evaluate(b.build().with_compression(**INT8), tpu)
    assert shared.layer_detail["cycles"][0] == 4 * 256 + 256 + 510  # one tile streaming all 1,024 rows


def test_a_linear_layer_over_tokens_is_one_gemm_of_n_times_rows(tpu):
    b = WorkloadBuilder(batch_size=2)
    b.linear("fc", c=512, k=512, rows=128, bias=False)
    tokens = MODEL.evaluate(b.build().with_compression(**INT8), tpu)
    batch = MODEL.evaluate(fc(256, 512, 512), tpu)
    for key in ("cycles", "dram_bytes", "buffer_bytes"):
        assert tokens.layer_detail[key][0] == batch.layer_detail[key][0], key
    assert tokens.energy_j[0] == pytest.approx(batch.energy_j[0], rel=1e-12)


def test_a_copy_moves_data_on_the_vector_unit(tpu):
    b = WorkloadBuilder(batch_size=1)
    b.copy("cat", c=256, h=14, w=14)
    wl = b.build().with_compression(**INT8)
    cost = MODEL.evaluate(wl, tpu)
    assert cost.layer_detail["cycles"][0] == np.ceil(256 * 14 * 14 / tpu.vector_lanes)
    assert cost.energy_by_level_j["mac"][0] == 0 and cost.energy_by_level_j["buffer"][0] > 0
    assert cost.layer_detail["buffer_bytes"][0] == 2 * 256 * 14 * 14
    no_vector = MODEL.evaluate(wl, dataclasses.replace(tpu, vector_lanes=0))
    assert no_vector.layer_bound[0] == "unsupported" and np.isnan(no_vector.latency_s[0])


def test_overlap_keys_are_explicit_and_consistent(tmp_path):
    data = tomllib.loads((PRESET_DIR / "edge_systolic.toml").read_text())
    for preset, load, fill in (("tpu_v1", True, True), ("edge_systolic", True, False)):
        hw = load_hardware(preset)
        assert (hw.weight_load_overlap, hw.fill_drain_overlap) == (load, fill)
    for bad, message in (
        ({**data, "fill_drain_overlap": True, "weight_load_overlap": False}, "'fill_drain_overlap' is true while"),
        ({k: v for k, v in data.items() if k != "weight_load_overlap"}, "'weight_load_overlap' is missing"),
        ({**data, "stationary_double_buffer": True}, "'stationary_double_buffer' was split in two"),
        ({**data, "partial_sum_path": "dram"}, "'partial_sum_path'"),
        ({**data, "input_read_bytes_per_cycle": -1}, "'input_read_bytes_per_cycle'"),
    ):
        path = tmp_path / "bad.toml"
        path.write_text("\n".join(f"{k} = {_toml(v)}" for k, v in bad.items()))
        with pytest.raises(HardwareSpecError, match=message) as error:
            load_hardware(path)
        assert "\n" not in str(error.value)


def test_an_array_without_on_chip_operand_storage_is_refused_in_one_line():
    with pytest.raises(HardwareSpecError, match="key 'unified_buffer_bytes' .* holds 0 bytes; the array needs at least "
                                                "one 256x256 tile"):
        load_hardware("tpu_v1", {"weight_buffer_bytes": 0, "activation_buffer_bytes": 0, "unified_buffer_bytes": 0})
