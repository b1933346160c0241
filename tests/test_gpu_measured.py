"""The GPU model against the measured H100 set (nas/data/h100): one test per finding of issue 12.

Each test compares the ``h100`` preset with a measured number (op_overhead.csv, gemm.csv,
machine.json, nb201_calibration.csv); the last ones check the issue's targets on the rows the
preset was not fitted on (``nas.validation.FIT_SPLIT``).
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.resources
import json

import numpy as np
import pytest

from cost_models import GPURooflineModel, NumberFormat, WorkloadBuilder, evaluate, load_hardware
from nas.cost import apply_precision
from nas.validation import gemm_workload, group_stats, h100_rows, op_workload, pooled_stats

DATA = importlib.resources.files("nas") / "data" / "h100"
H100 = load_hardware("h100")
GRAPH = dataclasses.replace(H100, execution_mode="cuda_graph")
EAGER = dataclasses.replace(H100, execution_mode="eager")


def _csv(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader((DATA / f"{name}.csv").read_text().splitlines()))


def _op_measured(op: str, dtype: str, batch: int, channels: int, mode: str) -> float:
    (row,) = [r for r in _csv("op_overhead") if (r["op"], r["dtype"], r["batch"], r["C"], r["mode"])
              == (op, dtype, str(batch), str(channels), mode)]
    return float(row["us_per_op_median"]) * 1e-6


def _op_model(op: str, precision: str, batch: int, channels: int, config=GRAPH) -> float:
    size = {16: 32, 64: 8}[channels]
    return float(evaluate(op_workload(op, batch=batch, channels=channels, size=size, precision=precision),
                          config).latency_s[0])


def _gemm_measured() -> dict[tuple[int, int, int, str], float]:
    return {(int(r["M"]), int(r["N"]), int(r["K"]), r["kind"]): float(r["latency_us_graph"]) * 1e-6
            for r in _csv("gemm") if r["latency_us_graph"]}


def _gemm_model(m: int, n: int, k: int, kind: str) -> float:
    return float(evaluate(gemm_workload(m, n, k, kind), GRAPH).latency_s[0])


# 1. Direct-window pooling -------------------------------------------------------------------

def test_3x3_avg_pool_runs_at_the_measured_window_rate():
    measured = _op_measured("avg_pool_3x3", "float16", 256, 16, "graph")
    assert measured == pytest.approx(79.6e-6, rel=0.01)
    assert _op_model("avg_pool_3x3", "fp16", 256, 16) == pytest.approx(measured, rel=0.25)
    # ~8x what a memory-bound kernel on the same bytes would take (the old model's 5.6 us).
    relu = _op_model("relu", "fp16", 256, 16)
    assert _op_model("avg_pool_3x3", "fp16", 256, 16) > 8 * relu
    cost = evaluate(op_workload("avg_pool_3x3", batch=256, channels=16, size=32, precision="fp16"), GRAPH)
    assert cost.layer_detail["kernel_class"][0] == "window" and cost.layer_bound[0] == "compute"


# 2. Convolutions below GEMM peak ------------------------------------------------------------

def _conv_tflops(c: int, k: int, size: int, r: int, batch: int = 256, stride: int = 1) -> float:
    b = WorkloadBuilder(batch_size=batch)
    b.conv("conv", c=c, h=size, w=size, k=k, r=r, stride=stride, padding=r // 2)
    cost = evaluate(apply_precision(b.build(), "fp16"), GRAPH)
    return float(cost.layer_detail["flop"][0] / cost.layer_detail["device_s"][0] / 1e12)


@pytest.mark.parametrize(("op", "channels"), [("conv3x3", 16), ("conv3x3", 64), ("conv1x1", 16), ("conv1x1", 64)])
def test_nb201_convolutions_match_their_measured_device_time(op, channels):
    measured = _op_measured(op, "float16", 256, channels, "graph")
    # Single kernels carry more spread than networks (op_overhead fp16 batch-256 rows: median |error| ~17 %).
    assert _op_model(op, "fp16", 256, channels) == pytest.approx(measured, rel=0.4)


def test_small_channel_convs_and_3_channel_stems_run_far_below_large_ones():
    large = _conv_tflops(256, 256, 28, 3)
    assert _conv_tflops(16, 16, 32, 3) < large / 2.5  # C = K = 16: 2-2.8x below
    assert _conv_tflops(64, 64, 56, 3) < large
    assert _conv_tflops(3, 64, 224, 7, stride=2) < _conv_tflops(64, 64, 56, 3)  # the stem: slower still
    # A large conv reaches well below the matmul rate of the same GEMM (cuDNN implicit GEMM).
    gemm = 2 * 8192**3 / _gemm_model(8192, 8192, 8192, "fp16") / 1e12
    assert large < 0.65 * gemm


# 3. Memory-bound layers ---------------------------------------------------------------------

def test_memory_bound_layers_reach_the_measured_dram_and_l2_rates():
    # A large fp16 ReLU streams from DRAM at 1.6-2.4 TB/s (read plus write): memory_efficiency is fitted on
    # whole networks (0.69 of 3.35 TB/s since depthwise convs are window kernels), not on a measured stream.
    b = WorkloadBuilder(batch_size=256)
    b.elementwise("relu", c=256, h=128, w=128)  # 2 GiB in, 2 GiB out: the 50 MB of L2 is negligible
    cost = evaluate(apply_precision(b.build(), "fp16"), GRAPH)
    rate = (cost.layer_detail["dram_bytes"][0] + cost.layer_detail["l2_bytes"][0]) / cost.layer_detail["device_s"][0]
    assert 1.6e12 <= rate <= 2.4e12
    # Tiny elementwise kernels stay in L2 and cost 1.1-1.4 us in a CUDA graph (measured, batch 1).
    for op in ("relu", "add", "zeros_like"):
        assert 1.1e-6 <= _op_model(op, "fp16", 1, 16) <= 1.5e-6, op
    # An 8.4 MB tensor fits in the 50 MB L2 and moves faster than DRAM allows (the measured ReLU).
    relu = _op_model("relu", "fp16", 256, 16)
    # l2_efficiency is one constant fitted on whole networks; this single kernel sits at +36 %.
    assert relu == pytest.approx(_op_measured("relu", "float16", 256, 16, "graph"), rel=0.4)
    assert 2 * 256 * 16 * 32 * 32 * 2 / (relu - H100.graph_launch_us * 1e-6) > rate
    # fp16 channels-last eval batch norm costs ~6 us even at batch 1; fp32 does not.
    assert _op_model("batchnorm_eval", "fp16", 1, 16) == pytest.approx(6.12e-6, rel=0.25)
    assert _op_model("batchnorm_eval", "fp32", 1, 16) < 0.5 * _op_model("batchnorm_eval", "fp16", 1, 16)


# 4. Launch: eager versus CUDA graph ---------------------------------------------------------

@pytest.mark.parametrize("op", ["relu", "add", "conv3x3", "conv1x1", "batchnorm_eval", "avg_pool_3x3", "zeros_like",
                                "relu_conv3x3_bn"])
def test_eager_ops_cost_their_host_issue_and_graph_ops_their_device_time(op):
    for dtype, precision in (("float32", "fp32"), ("float16", "fp16")):
        eager = _op_model(op, precision, 1, 16, EAGER)
        graph = _op_model(op, precision, 1, 16, GRAPH)
        assert eager == pytest.approx(_op_measured(op, dtype, 1, 16, "eager_loop"), rel=0.35)
        assert graph == pytest.approx(_op_measured(op, dtype, 1, 16, "graph"), rel=0.5)
        assert eager > 2.5 * graph


def test_two_tensor_ops_and_16_bit_batch_norm_cost_their_own_host_issue():
    # An add is a tensor operator (no nn.Module call): cheaper to issue than a ReLU module; cuDNN's
    # channels-last half batch norm costs more host time than the fp32 one (op_overhead.csv, batch 1).
    for dtype, precision in (("float32", "fp32"), ("float16", "fp16")):
        assert _op_model("add", precision, 1, 64, EAGER) < _op_model("relu", precision, 1, 64, EAGER)
        assert _op_measured("add", dtype, 1, 64, "host_issue") < _op_measured("relu", dtype, 1, 64, "host_issue")
    assert _op_model("batchnorm_eval", "fp16", 1, 64, EAGER) > 1.15 * _op_model("batchnorm_eval", "fp32", 1, 64, EAGER)
    assert (_op_measured("batchnorm_eval", "float16", 1, 64, "host_issue")
            > 1.15 * _op_measured("batchnorm_eval", "float32", 1, 64, "host_issue"))


def test_a_1x1_conv_is_a_shorter_kernel_than_a_3x3_one():
    # The conv floor grows with the K loop: measured 2.8-2.9 us (1x1) against 4.1-5.5 us (3x3) at batch 1, fp16.
    for channels in (16, 64):
        one, three = _op_model("conv1x1", "fp16", 1, channels), _op_model("conv3x3", "fp16", 1, channels)
        assert one < three
        # The floor is fitted on whole networks: the lone 1x1 kernels come out ~30 % long, the 3x3 ones ~3 %.
        assert one == pytest.approx(_op_measured("conv1x1", "float16", 1, channels, "graph"), rel=0.35)
        assert three == pytest.approx(_op_measured("conv3x3", "float16", 1, channels, "graph"), rel=0.1)


def test_cuda_graph_gap_and_minimum_kernel_are_the_measured_ones():
    machine = json.loads((DATA / "machine.json").read_text())
    gap_us = machine["launch_overhead"]["cuda_graph_1000x_add_, us per op"]["median"]
    assert H100.graph_launch_us == pytest.approx(gap_us, rel=0.01)
    b = WorkloadBuilder(batch_size=1)
    for i in range(10):
        b.elementwise(f"add{i}", c=16, h=4, w=4, inputs=2)
    graph = evaluate(apply_precision(b.build(), "fp16"), GRAPH)
    assert graph.latency_s[0] == pytest.approx(10 * (1.19e-6 + H100.kernel_floor_us["memory"] * 1e-6), rel=0.01)
    assert set(graph.layer_bound) == {"launch"}
    eager = evaluate(apply_precision(b.build(), "fp16"), EAGER)
    assert 8e-6 <= eager.layer_latency_s[0] <= 17e-6  # eager add: 8-12 us, out of place 12.4 us


# 5. Precision ratios and 2:4 sparsity -------------------------------------------------------

def test_fp8_and_int8_speedups_follow_the_measured_ratios():
    measured = _gemm_measured()
    shapes = sorted({key[:3] for key in measured})
    model_fp8 = np.array([_gemm_model(*s, "fp16") / _gemm_model(*s, "fp8_e4m3") for s in shapes])
    data_fp8 = np.array([measured[(*s, "fp16")] / measured[(*s, "fp8_e4m3")] for s in shapes])
    assert model_fp8.max() < 2.0  # never the datasheet's exact 2x
    assert np.median(model_fp8) == pytest.approx(np.median(data_fp8), rel=0.12)  # measured median 1.71
    assert model_fp8.min() < 1.5  # small GEMMs gain little
    large = (8192, 8192, 8192)
    int8 = _gemm_model(*large, "fp16") / _gemm_model(*large, "int8")
    assert int8 == pytest.approx(measured[(*large, "fp16")] / measured[(*large, "int8")], rel=0.1)  # ~1.3x, not 2x


def test_2_4_sparsity_loses_at_small_m_and_wins_only_on_large_gemms():
    measured = _gemm_measured()
    shapes = sorted({key[:3] for key in measured})
    for m, n, k in shapes:
        speedup = _gemm_model(m, n, k, "fp16") / _gemm_model(m, n, k, "sparse24_fp16")
        if m <= 64:
            assert speedup < 1.0, (m, n, k)
        if (m, n, k) in ((1024, 8192, 8192), (8192, 4096, 4096), (8192, 8192, 8192)):
            assert 1.2 < speedup < 1.7, (m, n, k)


def test_strict_fp32_gemv_is_not_tiled_like_tensor_cores():
    measured = _gemm_measured()
    rows = [key for key in measured if key[3] == "fp32" and key[0] <= 16]
    ratios = np.array([_gemm_model(*key) / measured[key] for key in rows])
    assert np.median(np.abs(ratios - 1)) < 0.3
    assert ratios.max() < 1.8  # the tensor-core tiling on CUDA cores made these 2-2.5x too slow
    cost = evaluate(gemm_workload(16, 4096, 4096, "fp32"), GRAPH)
    assert cost.layer_detail["math_run"][0] == "fp32"


# 8. The power-capped clock ------------------------------------------------------------------

def test_dense_tensor_core_peaks_run_at_the_measured_power_capped_clock():
    machine = json.loads((DATA / "machine.json").read_text())
    under_load = machine["nvidia_smi_query_under_bf16_matmul_load"].splitlines()[1].split(", ")
    assert under_load[3] == "1410 MHz" and under_load[-1] == "0x0000000000000004"  # SW power cap
    assert H100.sustained_clock_mhz == 1410.0 < H100.boost_clock_mhz
    for fmt, key in (("fp16", "fp16"), ("bf16", "bf16"), ("fp8_e4m3", "fp8_e4m3"), ("int8", "int8")):
        achieved = 2 * 8192**3 / _gemm_model(8192, 8192, 8192, fmt) / 1e12
        assert achieved == pytest.approx(machine["matmul_8192_cubed"][key]["TFLOPs_median"], rel=0.08), fmt
    # Below the datasheet peak run at the capped clock: no hidden factor lifts it.
    achieved = 2 * 8192**3 / _gemm_model(8192, 8192, 8192, "fp16") / 1e12
    assert achieved < H100.peak_tflops["fp16"] * H100.sustained_clock_mhz / H100.boost_clock_mhz
    assert GPURooflineModel.ridge_point_flop_per_byte(H100, NumberFormat.FP16) == pytest.approx(295, abs=1)


# 6. The NB201 deployment graph, and the held-out rows ---------------------------------------

@pytest.fixture(scope="module")
def nb201_rows():
    return h100_rows(files=("nb201_calibration",))


def test_deployed_nb201_graph_runs_fewer_kernels_than_the_reference(nb201_rows):
    from nas.sweep import nb201_workload

    deployed = nb201_workload([1651], batch_size=1, precision="fp16")
    reference = nb201_workload([1651], batch_size=1, precision="fp16", graph="reference")
    assert len(deployed) < len(reference)
    assert evaluate(deployed, GRAPH).latency_s[0] < evaluate(reference, GRAPH).latency_s[0]


def test_nb201_held_out_cuda_graph_rows_meet_the_issue_targets(nb201_rows):
    stats = pooled_stats(nb201_rows, "held-out")["nb201 cuda_graph"]
    assert stats.n == 152
    assert stats.spearman >= 0.95
    assert stats.median_abs_error <= 0.15
    assert abs(stats.bias) <= 0.10
    assert stats.within_25 >= 0.85
    for group in group_stats([r for r in nb201_rows if r.split == "held-out" and r.mode == "cuda_graph"]):
        assert group.spearman >= 0.95, group.label


def test_nb201_eager_rows_rank_at_least_as_well_as_on_the_fit_rows(nb201_rows):
    fit, held_out = (pooled_stats(nb201_rows, split)["nb201 eager"] for split in ("fit", "held-out"))
    # The issue asks rho >= 0.9; eager NB201 is host-bound and moves 30-60 % between days
    # (README); per-op host costs reach 0.82 / 0.76 against a ceiling of 0.84 / 0.79 for any additive cost of
    # the cell's ops (tests/test_validation.py, KNOWN_MISSES). Pinned so it cannot get worse unnoticed.
    assert held_out.spearman >= 0.75 and fit.spearman >= 0.8



def test_no_additive_cost_of_the_cells_ops_ranks_the_eager_rows_at_0_9():
    """Why the eager NB201 rank is a known miss: the best cost that adds up per op falls short on the data itself.

    Per (dtype, batch, mode) case, a non-negative least-squares fit of the latency on the deployed cell's op
    counts (convs, pools, skips, adds, zeros, and a constant for the fixed layers), on all 152 cells at once
    (in-sample), explains the CUDA-graph rows to ~1 % but ranks the eager rows, pooled per half, below 0.9.
    """
    from scipy.optimize import nnls

    from nas.validation import spearman_rho
    from search_spaces import arch_to_index, deployed_plan, parse_arch

    rows = [r for r in _csv("nb201_calibration") if not r["error"]]
    archs = sorted({r["arch"] for r in rows})
    features = []
    for arch in archs:
        ops = parse_arch(arch)
        live, zeros = deployed_plan(ops)
        features.append([1.0, *(ops.count(op) for op in ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3",
                                                          "skip_connect")),
                         sum(max(0, n - 1) for n in live), float(zeros)])
    features = np.array(features)
    fit_half = np.array([arch_to_index(arch) % 2 == 0 for arch in archs])
    best, measured = {}, {}
    for case in sorted({(r["dtype"], r["batch"], r["mode"]) for r in rows}):
        latency = {r["arch"]: float(r["latency_ms_median"]) for r in rows
                   if (r["dtype"], r["batch"], r["mode"]) == case}
        y = np.array([latency[arch] for arch in archs])
        coef, _ = nnls(features / y[:, None], np.ones(len(y)))  # least relative error
        best[case], measured[case] = features @ coef, y
        if case[2] == "graph":
            assert np.std(np.log(y / best[case])) < 0.02
    eager = [case for case in best if case[2] == "eager"]
    for half in (fit_half, ~fit_half):
        rho = spearman_rho(np.concatenate([best[c][half] for c in eager]),
                           np.concatenate([measured[c][half] for c in eager]))
        assert 0.75 < rho < 0.87
