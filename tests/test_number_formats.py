"""FP6 and FP4 in every cost model: native rates where a chip has them, the stated rule where it does not.

GPUs run a format they lack in the nearest wider one (``NumberFormat.wider``: fp4 -> fp6 -> fp8 ->
fp16), at the workload's storage bits; systolic arrays run a float format only if the preset lists
it (else NaN); EIE reads only the bits (a 4-bit codebook holds fp4 weights, not fp6 ones).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cost_models import NumberFormat, WorkloadBuilder, evaluate, load_hardware, technology
from nas import cost_network
from nas.compression import quantize_workload
from nas.study import CompressionChoice, compress_workload

NARROW = ("fp8_e4m3", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1")


def _gemm(m: int, n: int, k: int):
    b = WorkloadBuilder(batch_size=m)
    b.linear("fc", c=k, k=n, bias=False)
    return b.build()


def _small_network():
    b = WorkloadBuilder(batch_size=8)
    p, q = b.conv("conv", c=32, h=16, w=16, k=64, r=3, padding=1)
    b.norm("bn", c=64, h=p, w=q)
    b.elementwise("relu", c=64, h=p, w=q)
    b.linear("fc", c=64, k=10)
    return b.build()


def test_format_codes_are_stable_and_every_format_widens_to_fp32_without_narrowing():
    # Codes are stored in workloads and results files: a new format appends, never renumbers.
    assert {f.label: int(f) for f in NumberFormat} == {
        "fp32": 0, "tf32": 1, "fp16": 2, "bf16": 3, "fp8": 4, "int8": 5, "int4": 6, "fp6": 7, "fp4": 8}
    for fmt in NumberFormat:
        assert fmt == NumberFormat.FP32 or fmt.wider[-1] == NumberFormat.FP32
        assert all(wider.storage_bits >= fmt.storage_bits for wider in fmt.wider), fmt.label
    assert [NumberFormat.FP6.storage_bits, NumberFormat.FP4.storage_bits] == [6, 4]


def test_b200_fp4_doubles_a_large_gemm_but_not_a_memory_bound_layer():
    b200 = load_hardware("b200")
    large = {f: evaluate(quantize_workload(_gemm(8192, 8192, 8192), f, f), b200) for f in ("fp8_e4m3", "fp4_e2m1")}
    assert [large[f].layer_bound[0] for f in large] == ["compute", "compute"]
    assert [large[f].layer_detail["math_run"][0] for f in large] == ["fp8", "fp4"]
    # Datasheet dense peaks 9000 vs 4500 TFLOP/s at the same efficiency: 2x, less the fixed launch gap.
    assert large["fp8_e4m3"].latency_s[0] / large["fp4_e2m1"].latency_s[0] == pytest.approx(2.0, rel=0.01)

    # A GEMV streams its weights: the faster arithmetic gains nothing at equal bytes...
    gemv = _gemm(1, 8192, 8192).with_compression(weight_bits=8, act_bits=8)
    fp8, fp4 = (evaluate(gemv.with_compression(math=f), b200) for f in (NumberFormat.FP8, NumberFormat.FP4))
    assert fp8.layer_bound[0] == fp4.layer_bound[0] == "memory"
    assert fp4.latency_s[0] == fp8.latency_s[0]
    # ...and 4-bit storage speeds it up by its bytes alone (memory time halves; the gap does not).
    stored = evaluate(quantize_workload(_gemm(1, 8192, 8192), "fp4_e2m1", "fp4_e2m1"), b200)
    assert stored.layer_detail["memory_s"][0] == pytest.approx(fp8.layer_detail["memory_s"][0] / 2, rel=1e-9)
    assert stored.layer_detail["compute_s"][0] < stored.layer_detail["memory_s"][0]


def test_b200_runs_fp6_at_the_fp8_rate():
    b200 = load_hardware("b200")
    assert b200.sustained_tflops("fp6") == b200.sustained_tflops("fp8")
    assert b200.sustained_tflops("fp4") == 2 * b200.sustained_tflops("fp8")
    wl = _gemm(4096, 4096, 4096).with_compression(weight_bits=8, act_bits=8)
    fp6, fp8 = (evaluate(wl.with_compression(math=f), b200) for f in (NumberFormat.FP6, NumberFormat.FP8))
    assert fp6.layer_detail["math_run"][0] == "fp6"
    assert fp6.latency_s[0] == fp8.latency_s[0]


@pytest.mark.parametrize("name", ["h100", "a100", "t4", "jetson_agx_orin"])
def test_a_gpu_without_fp4_or_fp6_runs_them_exactly_as_the_format_it_widens_to(name):
    config = load_hardware(name)
    assert {"fp4", "fp6"}.isdisjoint(config.peak_tflops)
    network = _small_network().with_compression(weight_bits=4, act_bits=8)
    run = config.run_format(NumberFormat.FP4)
    assert config.run_format(NumberFormat.FP6) == run
    assert run == (NumberFormat.FP8 if "fp8" in config.peak_tflops else NumberFormat.FP16)
    widened = evaluate(network.with_compression(math=run), config)
    for fmt in (NumberFormat.FP4, NumberFormat.FP6):
        cost = evaluate(network.with_compression(math=fmt), config)
        assert cost.layer_detail["math_run"][0] == run.label
        np.testing.assert_array_equal(cost.layer_latency_s, widened.layer_latency_s)
        for level, joules in widened.layer_energy_by_level_j.items():
            np.testing.assert_array_equal(cost.layer_energy_by_level_j[level], joules)
    # Stored at 6 bits, fp6 channels still load one per byte: the arithmetic is fp8's, the bytes fewer.
    fp6, fp8 = (evaluate(quantize_workload(_small_network(), f, f), config) for f in ("fp6_e3m2", "fp8_e4m3"))
    np.testing.assert_array_equal(fp6.layer_detail["compute_s"], fp8.layer_detail["compute_s"])
    assert (fp6.layer_detail["memory_s"] < fp8.layer_detail["memory_s"]).all()


@settings(max_examples=30, deadline=None)
@given(weights=st.sampled_from(NARROW), acts=st.sampled_from(NARROW),
       preset=st.sampled_from(["b200", "h100", "a100"]), batch=st.integers(1, 64))
def test_gpu_bytes_are_the_stored_bits_and_energy_adds_up(weights, acts, preset, batch):
    b = WorkloadBuilder(batch_size=batch)
    p, q = b.conv("conv", c=24, h=12, w=12, k=48, r=3, padding=1)
    b.elementwise("relu", c=48, h=p, w=q)
    b.linear("fc", c=48, k=10)
    wl = quantize_workload(b.build(), weights, acts)
    cost = evaluate(wl, preset)
    moved = cost.layer_detail["dram_bytes"] + cost.layer_detail["l2_bytes"]
    stored = wl.params * wl.weight_bits / 8 + (wl.input_elems + wl.output_elems) * wl.act_bits / 8
    np.testing.assert_allclose(moved, stored, rtol=1e-12)
    assert set(wl.weight_bits.tolist()) == {NumberFormat.parse(weights.split("_")[0]).storage_bits}
    levels = sum(cost.layer_energy_by_level_j.values())
    np.testing.assert_allclose(levels, cost.layer_energy_j, rtol=1e-12)
    assert (cost.layer_energy_j > 0).all() and np.isfinite(cost.latency_s).all()


def test_systolic_array_stores_fp4_and_fp6_at_their_bits_and_prices_their_macs():
    array = load_hardware("edge_systolic", {"float_formats": ["fp8", "fp6", "fp4"]})
    tech = technology(array.process_node_nm)
    wl = _small_network()
    costs = {f: evaluate(quantize_workload(wl, f, f), array) for f in ("fp8_e4m3", "fp6_e3m2", "fp4_e2m1")}
    gemm = np.isin(wl.name, ["conv", "fc"])
    weights = costs["fp8_e4m3"].layer_detail["dram_weight_bytes"][gemm]
    assert (weights == wl.weights[gemm]).all()  # each 8-bit weight read from DRAM once: the layers fit on chip
    for name, bits in (("fp6_e3m2", 6), ("fp4_e2m1", 4)):
        np.testing.assert_allclose(costs[name].layer_detail["dram_weight_bytes"][gemm], weights * bits / 8)
    for name, fmt in (("fp8_e4m3", NumberFormat.FP8), ("fp6_e3m2", NumberFormat.FP6), ("fp4_e2m1", NumberFormat.FP4)):
        mac_j = costs[name].layer_energy_by_level_j["mac"][gemm]
        np.testing.assert_allclose(mac_j, wl.macs[gemm] * tech.float_mac_energy_pj(fmt) * 1e-12, rtol=1e-12)
        np.testing.assert_allclose(sum(costs[name].layer_energy_by_level_j.values()), costs[name].layer_energy_j)
    assert costs["fp4_e2m1"].energy_j[0] < costs["fp6_e3m2"].energy_j[0] < costs["fp8_e4m3"].energy_j[0]
    # One MAC per PE per cycle whatever the float format: narrower operands are cheaper, not faster.
    assert costs["fp4_e2m1"].latency_s[0] == costs["fp8_e4m3"].latency_s[0]


@pytest.mark.parametrize("preset", ["tpu_v1", "edge_systolic"])
def test_a_systolic_array_without_a_float_datapath_reports_fp4_unsupported(preset):
    cost = evaluate(quantize_workload(_small_network(), "fp4_e2m1", "fp4_e2m1"), preset)
    gemm = np.isin(cost.workload.name, ["conv", "fc"])
    assert (cost.layer_bound[gemm] == "unsupported").all() and np.isnan(cost.latency_s).all()
    only_fp8 = load_hardware(preset, {"float_formats": ["fp8"]})
    assert (evaluate(quantize_workload(_small_network(), "fp4_e2m1", "fp4_e2m1"), only_fp8)
            .layer_bound[gemm] == "unsupported").all()


def test_eie_runs_fp4_weights_from_its_4_bit_codebook_and_refuses_fp6_unless_shared():
    eie = load_hardware("eie")
    network = _gemm(1, 1024, 1024).with_compression(weight_density=0.1, act_bits=16, math=NumberFormat.INT8)
    int4 = evaluate(quantize_workload(network, "int4"), eie)
    fp4 = evaluate(quantize_workload(network, "fp4_e2m1"), eie)
    assert fp4.layer_bound[0] == int4.layer_bound[0] == "compute"
    assert fp4.latency_s[0] == int4.latency_s[0] and fp4.energy_j[0] == int4.energy_j[0]
    fp6 = evaluate(quantize_workload(network, "fp6_e3m2"), eie)
    assert fp6.layer_bound[0] == "unsupported"
    assert "weight_bits above the 4-bit shared-weight codebook index" in fp6.layer_detail["unsupported_reason"][0]
    shared = compress_workload(quantize_workload(network, "fp6_e3m2"), CompressionChoice(0.0, "unstructured",
                                                                                       None, None, 4))
    assert evaluate(shared, eie).latency_s[0] == int4.latency_s[0]


def test_nas_cost_runs_fp4_and_fp6_on_every_gpu_faster_where_the_chip_has_them():
    network = _small_network()
    for preset in ("b200", "h100", "a100"):
        cost = {p: cost_network(network, preset, p) for p in ("fp8", "fp6", "fp4")}
        latency = {p: c.latency_s[0] for p, c in cost.items()}
        assert all(np.isfinite(list(latency.values())))
        assert latency["fp4"] <= latency["fp6"] <= latency["fp8"]
    assert cost_network(network, "b200", "fp4").layer_detail["math_run"][0] == "fp4"
