"""Tests of the GPU roofline model and the GPU presets."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cost_models import (
    PRESET_DIR,
    GPUConfig,
    GPURooflineModel,
    HardwareSpecError,
    NumberFormat,
    SparsityPattern,
    Workload,
    WorkloadBuilder,
    list_presets,
    load_hardware,
)

GPU_PRESETS = (
    "h100", "a100", "v100", "t4", "jetson_agx_orin", "b200",
    "gtx_1080ti", "rtx_2080ti", "titan_x", "titan_xp", "titan_rtx",
)
MODEL = GPURooflineModel()
BITS = {NumberFormat.FP32: 32, NumberFormat.TF32: 32, NumberFormat.FP16: 16, NumberFormat.BF16: 16,
        NumberFormat.FP8: 8, NumberFormat.INT8: 8, NumberFormat.INT4: 4}


def hardware(name: str) -> GPUConfig:
    config = load_hardware(name)
    assert isinstance(config, GPUConfig)
    return config


def quantized(workload: Workload, fmt: NumberFormat) -> Workload:
    return workload.with_compression(math=fmt, weight_bits=BITS[fmt], act_bits=BITS[fmt])


def gemm(m: int, n: int, k: int, fmt: NumberFormat = NumberFormat.FP16) -> Workload:
    """One linear layer: an (m x k) @ (k x n) GEMM."""
    b = WorkloadBuilder(batch_size=m)
    b.linear("fc", c=k, k=n, bias=False)
    return quantized(b.build(), fmt)


# A layer spec: (kind, channels in, channels out, spatial size, kernel, stride).
layer_specs = st.tuples(
    st.sampled_from(["conv", "depthwise", "linear", "pool", "elementwise", "norm"]),
    st.integers(1, 256), st.integers(1, 256), st.integers(1, 64),
    st.sampled_from([1, 3, 5]), st.sampled_from([1, 2]),
)
networks = st.lists(layer_specs, min_size=1, max_size=6)
formats = st.sampled_from(list(NumberFormat))
compressions = st.sampled_from([
    (SparsityPattern.DENSE, 1.0), (SparsityPattern.UNSTRUCTURED, 0.3),
    (SparsityPattern.N_M, 0.5), (SparsityPattern.N_M, 0.25), (SparsityPattern.N_M, 0.75),
])


def network(specs: list, batch: int, fmt: NumberFormat = NumberFormat.FP32,
            compression: tuple[SparsityPattern, float] = (SparsityPattern.DENSE, 1.0)) -> Workload:
    b = WorkloadBuilder(batch_size=batch)
    for i, (kind, c, k, size, r, stride) in enumerate(specs):
        name = f"layer{i}"
        if kind == "conv":
            b.conv(name, c=c, h=size, w=size, k=k, r=r, stride=stride, padding=r // 2, bias=i % 2 == 0)
        elif kind == "depthwise":
            b.conv(name, c=c + 1, h=size, w=size, k=c + 1, r=r, stride=stride, padding=r // 2, groups=c + 1)
        elif kind == "linear":
            b.linear(name, c=c, k=k)
        elif kind == "pool":
            b.pool(name, c=c, h=size, w=size, r=min(r, size), stride=stride)
        elif kind == "elementwise":
            b.elementwise(name, c=c, h=size, w=size, inputs=1 + i % 2)
        else:
            b.norm(name, c=c, h=size, w=size)
    pattern, density = compression
    return quantized(b.build(), fmt).with_compression(pattern=pattern, weight_density=density)


# ---------------------------------------------------------------- presets


def test_every_gpu_preset_is_shipped_and_loads() -> None:
    assert set(GPU_PRESETS) <= set(list_presets())
    for name in GPU_PRESETS:
        config = hardware(name)
        assert config.family == "gpu"
        assert config.name == name
        assert len(config.source) > 40
        assert "fp32" in config.peak_tflops
        assert config.idle_power_w < config.tdp_w


def test_h100_preset_matches_the_datasheet() -> None:
    h100 = hardware("h100")
    for label, tflops in {"fp16": 989, "bf16": 989, "fp8": 1979, "int8": 1979, "tf32": 494, "fp32": 67}.items():
        assert h100.peak_tflops[label] == pytest.approx(tflops, rel=0.01)
    assert (h100.memory_bandwidth_gbs, h100.tdp_w, h100.sm_count) == (3350.0, 700.0, 132)
    assert h100.sparse_2_4


@pytest.mark.parametrize(("name", "fp32_tflops", "bandwidth_gbs", "sms", "tdp_w"), [
    ("gtx_1080ti", 11.34, 484.0, 28, 250.0),
    ("titan_x", 10.97, 480.0, 28, 250.0),
    ("titan_xp", 12.15, 547.7, 30, 250.0),
    ("rtx_2080ti", 13.45, 616.0, 68, 250.0),
    ("titan_rtx", 16.3, 672.0, 72, 280.0),
    ("v100", 15.7, 900.0, 80, 300.0),
    ("a100", 19.5, 2039.0, 108, 400.0),
    ("t4", 8.1, 320.0, 40, 70.0),
    ("jetson_agx_orin", 5.3, 204.8, 16, 60.0),
])
def test_presets_match_their_datasheets(name: str, fp32_tflops: float, bandwidth_gbs: float, sms: int,
                                        tdp_w: float) -> None:
    config = hardware(name)
    assert config.peak_tflops["fp32"] == config.vector_fp32_tflops == pytest.approx(fp32_tflops)
    assert (config.memory_bandwidth_gbs, config.sm_count, config.tdp_w) == (bandwidth_gbs, sms, tdp_w)


@pytest.mark.parametrize("name", ["gtx_1080ti", "titan_x", "titan_xp"])
def test_pre_volta_parts_have_no_tensor_cores(name: str) -> None:
    config = hardware(name)
    # int8 is the DP4A CUDA-core rate, 4x fp32.
    assert set(config.peak_tflops) == {"fp32", "int8"}
    assert config.peak_tflops["int8"] == pytest.approx(4 * config.peak_tflops["fp32"])
    assert not config.sparse_2_4


def _write_variant(tmp_path, change: dict, drop: str | None = None):
    """Write the H100 preset with ``change`` applied (TOML values) and ``drop`` removed."""
    lines = [
        line for line in (PRESET_DIR / "h100.toml").read_text().splitlines()
        if not (drop and line.startswith(f"{drop} "))
    ]
    for key, value in change.items():
        lines = [line for line in lines if not line.startswith(f"{key} ")] + [f"{key} = {value}"]
    path = tmp_path / "variant.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("change", "drop", "key", "says"), [
    ({"memory_bandwith_gbs": "3350.0"}, None, "memory_bandwith_gbs",
     ("is not a known key; allowed: ", " memory_bandwidth_gbs,")),
    ({}, "sm_count", "sm_count", ("is missing",)),
    ({"sm_count": '"132"'}, None, "sm_count", ("is '132'; give an integer >= 1",)),
    ({"sm_count": "13.2"}, None, "sm_count", ("is 13.2; give an integer >= 1",)),
    ({"tdp_w": "true"}, None, "tdp_w", ("is True; give a number > 0",)),
    ({"memory_bandwidth_gbs": "-1.0"}, None, "memory_bandwidth_gbs", ("is -1.0; give a number > 0",)),
    ({"memory_bandwidth_gbs": "inf"}, None, "memory_bandwidth_gbs", ("is inf; give a number > 0",)),
    ({"gemm_efficiency": "0.9"}, None, "gemm_efficiency", ("is 0.9; give a table {name = number > 0}",)),
    ({"gemm_efficiency": "{ fp32 = 1.0 }"}, None, "gemm_efficiency.tf32", ("is missing",)),
    ({"gemm_efficiency": "{ fp32 = 1.5, tf32 = 1, fp16 = 1, bf16 = 1, fp8 = 1, int8 = 1 }"}, None,
     "gemm_efficiency.fp32", ("is 1.5; give a number in (0, 1]",)),
    ({"sustained_clock_mhz": "1990.0"}, None, "sustained_clock_mhz",
     ("is 1990.0; give a clock at most boost_clock_mhz = 1830.0",)),
    ({"execution_mode": '"graph"'}, None, "execution_mode", ("is 'graph'; choose from cuda_graph, eager",)),
    ({"kernel_floor_us": "{ gemm = 1.0 }"}, None, "kernel_floor_us.conv", ("is missing",)),
    ({"eager_issue_us": "{ conv = 1.0, lstm = 2.0 }"}, None, "eager_issue_us.lstm", ("is not a known key",)),
    ({"window_taps_per_clk_sm": "{ fp32 = 4.0 }"}, None, "window_taps_per_clk_sm.fp16", ("is missing",)),
    ({"gemm_tile_m": "96"}, None, "gemm_tile_m", ("is 96; give a power of two >= 16",)),
    ({"gemm_tile_n": "8"}, None, "gemm_tile_n", ("is 8; give a power of two >= 16",)),
    ({"sparse_2_4": "1"}, None, "sparse_2_4", ("is 1; give true or false",)),
    ({"l2_bandwidth_gbs": "0"}, None, "l2_bandwidth_gbs", ("is 0; give a number > 0",)),
    ({}, "graph_launch_us", "graph_launch_us", ("is missing",)),
    ({"peak_tflops": "66.9"}, None, "peak_tflops", ("is 66.9; give a table {name = number > 0} keyed by fp32,",)),
    ({"peak_tflops": "{ fp16 = 989.4 }"}, None, "peak_tflops.fp32", ("is missing",)),
    ({"peak_tflops": "{ fp32 = 66.9, fp4 = 4000.0 }"}, None, "peak_tflops.fp4",
     ("is not a known key; allowed: fp32, tf32, fp16, bf16, fp8, int8, int4",)),
    ({"peak_tflops": "{ fp32 = 0 }"}, None, "peak_tflops.fp32", ("is 0; give a number > 0",)),
    ({"idle_power_w": "800.0"}, None, "idle_power_w", ("is 800.0; give a number below tdp_w = 700.0",)),
])
def test_bad_keys_give_one_line_errors_naming_file_key_and_fix(tmp_path, change, drop, key, says) -> None:
    path = _write_variant(tmp_path, change, drop)
    with pytest.raises(HardwareSpecError) as error:
        load_hardware(path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: key {key!r} ")
    for fragment in says:
        assert fragment in message


def test_from_mapping_rejects_another_family() -> None:
    with pytest.raises(HardwareSpecError, match="'family' is 'systolic'"):
        GPUConfig.from_mapping({"family": "systolic"}, origin="x.toml")


# ---------------------------------------------------------------- roofline basics


def test_h100_fp16_ridge_point() -> None:
    assert MODEL.ridge_point_flop_per_byte(hardware("h100"), "fp16") == pytest.approx(989e12 / 3.35e12, rel=0.01)
    assert MODEL.ridge_point_flop_per_byte(hardware("h100"), NumberFormat.FP16) == pytest.approx(295, abs=1)


def test_large_compute_bound_gemm_on_h100_runs_close_to_but_below_peak() -> None:
    h100 = hardware("h100")
    cost = MODEL.evaluate(gemm(8192, 8192, 8192), h100)
    achieved = cost.layer_detail["flop"][0] / cost.latency_s[0]
    assert cost.layer_bound[0] == "compute"
    assert 0.7 * 989.4e12 < achieved <= 989.4e12
    assert 0.7 < cost.layer_detail["utilization"][0] <= 1.0


def test_lower_precision_is_faster_on_a_large_gemm_on_h100() -> None:
    h100 = hardware("h100")
    latency = {f: MODEL.evaluate(gemm(8192, 8192, 8192, f), h100).latency_s[0] for f in NumberFormat}
    assert latency[NumberFormat.INT8] < latency[NumberFormat.FP16] < latency[NumberFormat.FP32]
    assert latency[NumberFormat.FP8] < latency[NumberFormat.FP16] < latency[NumberFormat.TF32]
    assert latency[NumberFormat.TF32] < latency[NumberFormat.FP32]


def test_format_fallback_and_engines() -> None:
    b = WorkloadBuilder(batch_size=4)
    b.conv("conv", c=32, h=16, w=16, k=32, r=3, padding=1)
    b.conv("dw", c=32, h=16, w=16, k=32, r=3, padding=1, groups=32)
    b.pool("pool", c=32, h=16, w=16, r=2, stride=2)
    runs = {}
    for name, fmt in [("h100", NumberFormat.INT4), ("v100", NumberFormat.BF16), ("v100", NumberFormat.INT8),
                      ("gtx_1080ti", NumberFormat.FP16), ("a100", NumberFormat.FP8), ("t4", NumberFormat.INT4)]:
        cost = MODEL.evaluate(quantized(b.build(), fmt), hardware(name))
        runs[name, fmt.label] = cost.layer_detail["math_run"].tolist()
        assert cost.layer_detail["engine"].tolist() == ["gemm", "vector", "vector"]
        assert cost.layer_detail["kernel_class"].tolist() == ["conv", "window", "window"]  # depthwise: direct window
    assert runs == {
        ("h100", "int4"): ["int8", "fp32", "fp32"],
        ("v100", "bf16"): ["fp32", "fp32", "fp32"],
        ("v100", "int8"): ["fp16", "fp32", "fp32"],
        ("gtx_1080ti", "fp16"): ["fp32", "fp32", "fp32"],
        ("a100", "fp8"): ["fp16", "fp32", "fp32"],
        ("t4", "int4"): ["int4", "fp32", "fp32"],
    }


# ---------------------------------------------------------------- sparsity


def sparse_speedup(workload: Workload, name: str, pattern=SparsityPattern.N_M, density=0.5) -> float:
    cost = MODEL.evaluate(workload.with_compression(pattern=pattern, weight_density=density), hardware(name))
    return float(cost.layer_detail["sparse_speedup"][0])


@pytest.mark.parametrize("name", ["h100", "a100", "jetson_agx_orin", "b200"])
def test_2_4_gain_is_below_2x_and_grows_with_layer_size(name: str) -> None:
    small, large = sparse_speedup(gemm(512, 512, 512), name), sparse_speedup(gemm(8192, 8192, 8192), name)
    assert small < 1.0 < large < 2.0  # a small 2:4 GEMM pays the setup and loses
    assert large == pytest.approx(hardware(name).sparse_max_speedup, rel=0.05)


def test_no_sparse_speedup_without_sparse_tensor_cores_or_2_4_structure() -> None:
    big = gemm(8192, 8192, 8192)
    assert sparse_speedup(big, "v100") == 1.0
    assert sparse_speedup(big, "t4") == 1.0
    assert sparse_speedup(big, "h100", SparsityPattern.UNSTRUCTURED, 0.5) == 1.0
    assert sparse_speedup(big, "h100", SparsityPattern.UNSTRUCTURED, 0.1) == 1.0
    assert sparse_speedup(big, "h100", SparsityPattern.N_M, 0.75) == 1.0
    assert sparse_speedup(gemm(8192, 8192, 8192, NumberFormat.FP32), "h100") == 1.0


def test_weight_bytes_are_dense_unless_2_4_on_sparse_tensor_cores() -> None:
    b = WorkloadBuilder(batch_size=1)
    b.linear("fc", c=1024, k=1024, bias=False)
    wl = quantized(b.build(), NumberFormat.FP16)
    activations = (1024 + 1024) * 2

    def weight_bytes(name: str, pattern: SparsityPattern, density: float) -> float:
        cost = MODEL.evaluate(wl.with_compression(pattern=pattern, weight_density=density), hardware(name))
        return float(cost.layer_detail["dram_bytes"][0] + cost.layer_detail["l2_bytes"][0]) - activations

    dense = 1024 * 1024 * 2
    assert weight_bytes("h100", SparsityPattern.DENSE, 1.0) == dense
    assert weight_bytes("h100", SparsityPattern.UNSTRUCTURED, 0.5) == dense
    assert weight_bytes("v100", SparsityPattern.N_M, 0.5) == dense
    # half the fp16 weights plus a 2-bit index per kept weight
    assert weight_bytes("h100", SparsityPattern.N_M, 0.5) == 1024 * 1024 / 2 * (16 + 2) / 8


# ---------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(specs=networks, batch=st.integers(1, 64), fmt=formats, compression=compressions,
       name=st.sampled_from(GPU_PRESETS), factor=st.floats(1.0, 8.0), scale_peak=st.booleans())
def test_more_bandwidth_or_peak_never_slows_a_layer(specs, batch, fmt, compression, name, factor,
                                                    scale_peak) -> None:
    config = hardware(name)
    if scale_peak:
        faster = dataclasses.replace(
            config, peak_tflops={label: v * factor for label, v in config.peak_tflops.items()},
            vector_fp32_tflops=config.vector_fp32_tflops * factor)
    else:
        faster = dataclasses.replace(config, memory_bandwidth_gbs=config.memory_bandwidth_gbs * factor)
    wl = network(specs, batch, fmt, compression)
    before, after = MODEL.evaluate(wl, config), MODEL.evaluate(wl, faster)
    assert np.all(after.layer_latency_s <= before.layer_latency_s * (1 + 1e-12))


@settings(max_examples=60, deadline=None)
@given(specs=networks, batch=st.integers(1, 64), extra=st.integers(1, 256), fmt=formats,
       compression=compressions, name=st.sampled_from(GPU_PRESETS))
def test_larger_batch_is_never_faster_and_keeps_throughput(specs, batch, extra, fmt, compression, name) -> None:
    config = hardware(name)
    small = MODEL.evaluate(network(specs, batch, fmt, compression), config).latency_s[0]
    large = MODEL.evaluate(network(specs, batch + extra, fmt, compression), config).latency_s[0]
    assert large >= small * (1 - 1e-12)
    assert (batch + extra) / large >= 0.5 * batch / small


@settings(max_examples=60, deadline=None)
@given(specs=networks, batch=st.integers(1, 128), fmt=formats, compression=compressions,
       name=st.sampled_from(GPU_PRESETS), mode=st.sampled_from(["eager", "cuda_graph"]))
def test_energy_positive_finite_and_work_conserved(specs, batch, fmt, compression, name, mode) -> None:
    wl = network(specs, batch, fmt, compression)
    config = dataclasses.replace(hardware(name), execution_mode=mode)
    cost = MODEL.evaluate(wl, config)
    for level in cost.layer_energy_by_level_j.values():
        assert np.all(np.isfinite(level)) and np.all(level >= 0)
    assert np.all(cost.layer_energy_j > 0)
    assert np.all(np.isfinite(cost.layer_latency_s)) and np.all(cost.layer_latency_s > 0)
    # Board power stays between idle and TDP.
    power = cost.layer_energy_j / cost.layer_latency_s
    assert np.all(power >= config.idle_power_w * (1 - 1e-9)) and np.all(power <= config.tdp_w * (1 + 1e-9))
    assert np.all((cost.layer_detail["utilization"] > 0) & (cost.layer_detail["utilization"] <= 1))
    detail = cost.layer_detail
    np.testing.assert_allclose(detail["flop"], 2 * wl.macs + wl.ops)
    # Device time is the largest of compute, memory and the kernel floor; the mode adds issue cost.
    # (a 2:4 kernel adds its setup_s on top).
    device = np.maximum.reduce([detail["compute_s"], detail["memory_s"], detail["floor_s"]]) + detail["setup_s"]
    np.testing.assert_allclose(detail["device_s"], device)
    fixed = detail["floor_s"] + detail["setup_s"]
    if config.execution_mode == "cuda_graph":
        np.testing.assert_allclose(cost.layer_latency_s, device + detail["launch_s"])
        overhead = fixed + detail["launch_s"]
    else:
        np.testing.assert_allclose(cost.layer_latency_s, np.maximum(device, detail["launch_s"]))
        overhead = np.maximum(fixed, detail["launch_s"])
    # The bound names the largest term.
    terms = np.stack([detail["compute_s"], detail["memory_s"], overhead])
    assert cost.layer_bound.tolist() == [["compute", "memory", "launch"][i] for i in terms.argmax(axis=0)]
    # Every byte moved goes through L2 or DRAM, none is lost or counted twice.
    weights = wl.params * wl.weight_bits / 8.0
    moved = (wl.input_elems + wl.output_elems) * wl.act_bits / 8.0 + weights
    sparse_saving = moved - (detail["dram_bytes"] + detail["l2_bytes"])
    assert np.all(sparse_saving >= -1e-6) and np.all(sparse_saving <= weights / 2 + 1e-6)


@settings(max_examples=40, deadline=None)
@given(specs=networks, batch=st.integers(1, 64), fmt=formats)
def test_flop_count_is_twice_the_macs_and_bytes_are_tensor_sizes(specs, batch, fmt) -> None:
    wl = network(specs, batch, fmt)
    mac_layers = wl.select((wl.macs > 0) & (wl.ops == 0))
    if len(mac_layers):
        cost = MODEL.evaluate(mac_layers, hardware("h100"))
        assert cost.layer_detail["flop"].sum() == 2 * mac_layers.macs.sum()
    cost = MODEL.evaluate(wl, hardware("a100"))
    expected = wl.input_bytes + wl.output_bytes + wl.params * wl.weight_bits / 8
    moved = cost.layer_detail["dram_bytes"] + cost.layer_detail["l2_bytes"]
    np.testing.assert_allclose(moved, expected)
    np.testing.assert_allclose(
        cost.layer_detail["arithmetic_intensity_flop_per_byte"], (2 * wl.macs + wl.ops) / expected)
    # Activations that fit in L2 stay there; weights always come from DRAM.
    fits = wl.input_bytes + wl.output_bytes <= hardware("a100").l2_cache_bytes
    np.testing.assert_allclose(cost.layer_detail["l2_bytes"][fits], (wl.input_bytes + wl.output_bytes)[fits])


@settings(max_examples=30, deadline=None)
@given(first=networks, second=networks, batch=st.integers(1, 32), fmt=formats, compression=compressions,
       name=st.sampled_from(GPU_PRESETS))
def test_stacked_networks_cost_the_same_as_separately(first, second, batch, fmt, compression, name) -> None:
    config = hardware(name)
    a, b = network(first, batch, fmt, compression), network(second, batch + 1, fmt)
    stacked = MODEL.evaluate(Workload.concat([a, b]), config)
    for i, alone in enumerate((MODEL.evaluate(a, config), MODEL.evaluate(b, config))):
        assert stacked.latency_s[i] == pytest.approx(alone.latency_s[0], rel=1e-12)
        assert stacked.energy_j[i] == pytest.approx(alone.energy_j[0], rel=1e-12)


def test_evaluate_rejects_other_hardware_families() -> None:
    class NotAGPU:
        family = "systolic"

    with pytest.raises(TypeError, match="GPUConfig"):
        MODEL.evaluate(gemm(16, 16, 16), NotAGPU())  # type: ignore[arg-type]


def test_resnet_conv_on_h100_is_launch_bound_at_batch_1_and_compute_bound_at_256() -> None:
    h100 = hardware("h100")
    bounds = []
    for batch in (1, 256):
        b = WorkloadBuilder(batch_size=batch)
        b.conv("conv", c=64, h=56, w=56, k=64, r=3, padding=1)
        cost = MODEL.evaluate(quantized(b.build(), NumberFormat.FP16), h100)
        bounds.append(cost.layer_bound[0])
        assert math.isfinite(cost.energy_j[0])
    assert bounds == ["launch", "compute"]


# ---------------------------------------------------------------- window reads through the cache

PASCAL = ("gtx_1080ti", "titan_x", "titan_xp")


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 512), k=st.integers(1, 512), extra=st.integers(1, 64), size=st.integers(1, 64),
       r=st.sampled_from([1, 3, 7]), batch=st.integers(1, 256), fmt=formats, name=st.sampled_from(GPU_PRESETS),
       mode=st.sampled_from(["eager", "cuda_graph"]), grow=st.sampled_from(["c", "size"]))
def test_more_macs_are_never_faster(c, k, extra, size, r, batch, fmt, name, mode, grow) -> None:
    """A conv with more input channels or pixels (more MACs, same shape otherwise) is never faster.

    Not output channels: below ``conv_channel_knee`` the narrow-conv factor grows with the raw
    output channels while the tile work grows in tile steps, so one more output channel can be
    up to ``(17/16) ** conv_channel_exponent`` faster (a known limit of the fitted factor).
    """
    config = dataclasses.replace(hardware(name), execution_mode=mode)
    bigger = {"c": c, "k": k, "size": size, grow: {"c": c, "k": k, "size": size}[grow] + extra}
    latency = []
    for shape in ({"c": c, "k": k, "size": size}, bigger):
        b = WorkloadBuilder(batch_size=batch)
        b.conv("conv", c=shape["c"], h=shape["size"], w=shape["size"], k=shape["k"], r=r, padding=r // 2)
        latency.append(MODEL.evaluate(quantized(b.build(), fmt), config).latency_s[0])
    assert latency[1] >= latency[0] * (1 - 1e-9)
