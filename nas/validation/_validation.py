"""Every cost model beside the published or measured number it must reproduce (``nas validate``).

The references live in ``nas/data/validation_references.toml``: each names its source (paper
or datasheet, with the table or figure), the tolerance and why that tolerance. The checks:

- **EIE** (Han et al., ISCA 2016) on the ``eie`` preset: the time of each of the nine FC
  benchmark layers (Tables III-IV, read from :func:`search_spaces.eie_benchmark_layers`; the
  note sets the model's perfectly balanced time beside the paper's theoretical time, and a
  known miss carries its diagnosis from the references), the 102 GOP/s peak, the effective
  rate over the benchmark and the ~600 mW power.
- **TPU v1** (Jouppi et al., ISCA 2017) on ``tpu_v1``: the 92 TOPS peak and the ~1,350 MAC per
  weight byte ridge point, both measured through the model, and the roofline side (memory or
  compute bound) of FC layers on either side of the ridge.
- **GPU ridge points** (H100, A100 datasheets) from
  :meth:`~cost_models.GPURooflineModel.ridge_point_flop_per_byte`.
- **Rank correlation** (Spearman rho) over the NAS-Bench-201 cells, CIFAR-10 network, between
  model latency and the latencies HW-NAS-Bench simulated (Eyeriss, FPGA) and HELP measured
  (five desktop GPUs at batch 1, 32 and 256), shipped in ``nas/data/nb201_hw_latency.csv.gz``.
  All cells of one batch size are built once and costed as one stacked
  :class:`~cost_models.Workload` per hardware, not network by network.
- Numbers no model here can reproduce honestly (Eyeriss's AlexNet power) are listed as
  *not modelled*, never faked.

Example:
    >>> results = run_validation(quick=True)
    >>> sorted({r.metric for r in results})  # doctest: +NORMALIZE_WHITESPACE
    ['Spearman rho', 'bias', 'bounds matched', 'median |error|', 'not modelled', 'relative error',
     'report', 'share within ±25%']
"""

from __future__ import annotations

import importlib.resources
import math
import time
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cost_models import (
    Cost,
    GPURooflineModel,
    HardwareConfig,
    Workload,
    WorkloadBuilder,
    evaluate,
    load_hardware,
)
from nas.benchmarks._nb201_table import read_nb201_table
from nas.cost._cost_report import apply_precision
from nas.validation._gpu_validation import gpu_checks
from nas.validation._result import ValidationResult, spearman_rho
from search_spaces import (
    NB201_EDGES,
    NB201_N_ARCHS,
    eie_benchmark_layers,
    eie_published_latency_us,
    get_space,
    index_to_arch,
    parse_arch,
)

QUICK_CELLS = 1000
"""NB201 cells the ``quick`` run draws (before removing unreachable ones)."""
QUICK_SEED = 0
"""Seed of the ``quick`` subsample, so every quick run sees the same cells."""

_REFERENCES = "validation_references.toml"
_LATENCY_TABLE = "nb201_hw_latency.csv.gz"
_EDGE_NODES = tuple(tuple(int(node) for node in edge.split("_")[1:]) for edge in NB201_EDGES)


def run_validation(
    *,
    quick: bool = False,
    references: str | Path | None = None,
    hardware: Mapping[str, str | Path] | None = None,
) -> list[ValidationResult]:
    """Run every check of the reference file and return one result per reference.

    Args:
        quick: Correlate over :data:`QUICK_CELLS` NB201 cells drawn with :data:`QUICK_SEED`
            instead of all 15,625 (for tests; the published checks are unchanged).
        references: A references TOML other than the shipped one (same layout).
        hardware: Replace a preset the references name by another preset or a hardware
            TOML path, e.g. ``{"tpu_v1": "my_tpu.toml"}``: checks the same numbers on a
            modified design.

    Returns:
        EIE, TPU v1, GPU ridge, NB201 rank, measured-H100 (:func:`~nas.validation._gpu_validation.gpu_checks`)
        and not-modelled results, in that order.
    """
    refs = _load_references(references)
    load = _HardwareLoader(hardware or {})
    cells = _nb201_cells(quick)
    return [
        *_eie_checks(refs, load),
        *_tpu_checks(refs, load),
        *_gpu_ridge_checks(refs, load),
        *_nb201_rank_checks(refs, load, cells),
        *gpu_checks(refs, load),
        *_not_modelled(refs),
    ]


def format_validation(results: Sequence[ValidationResult]) -> str:
    """The results as a text table, then a tally, where each number comes from, and the sources.

    Example:
        >>> row = ValidationResult("demo", "a paper", "Table 1", "gpu/h100", 2.0, 2.1, "ms",
        ...                        "relative error", 2.0 / 2.1 - 1, 0.1, True)
        >>> print(format_validation([row]).splitlines()[1])
        demo   gpu/h100      2        2.1  ms        -4.8%       ±10%  pass    [1]
    """
    citations = list(dict.fromkeys(r.citation for r in results))
    header = ["check", "model", "model", "published", "unit", "error/rho", "tolerance", "result", "source"]
    rows = [header]
    for r in results:
        rows.append([
            r.reference, r.model, _number(r.model_value), _number(r.published_value), r.unit,
            *_score_and_tolerance(r), _verdict(r), f"[{citations.index(r.citation) + 1}]",
        ])
    widths = [max(len(row[j]) for row in rows) for j in range(len(header))]
    right = {2, 3, 5, 6}
    lines = ["  ".join(cell.rjust(w) if j in right else cell.ljust(w)
                       for j, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in rows]
    failed = sum(r.passed is False for r in results)
    lines += ["", f"{len(results)} checks: {sum(r.passed is True for r in results)} passed, {failed} failed, "
                  f"{sum(r.metric == 'not modelled' for r in results)} not modelled"
                  + "".join(f", {n} reported" for n in [sum(r.metric == "report" for r in results)] if n)]
    details = (f"  {_verdict(r):>4s}  {r.reference}: {'; '.join(filter(None, (r.where, r.note)))}"
               for r in results)
    lines += ["", "Details:", *details]
    lines += ["", "Sources:", *(f"  [{i}] {c}" for i, c in enumerate(citations, start=1))]
    return "\n".join(lines)


def output_reachable(arch: str) -> bool:
    """Whether an NB201 cell has a path of non-``none`` edges from its input to its output.

    The 341 cells without one compute a constant: their networks score chance accuracy.

    Example:
        >>> output_reachable("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
        False
    """
    reached = {0}
    # Edges come ordered by the node they enter, so each node is final before it is read.
    for (frm, to), op in zip(_EDGE_NODES, parse_arch(arch), strict=True):
        if op != "none" and frm in reached:
            reached.add(to)
    return 3 in reached


class _HardwareLoader:
    """Loads each preset the references name once, swapping in the caller's replacements."""

    def __init__(self, replacements: Mapping[str, str | Path]) -> None:
        self._replacements = dict(replacements)
        self._loaded: dict[str, HardwareConfig] = {}

    def __call__(self, name: str) -> HardwareConfig:
        if name not in self._loaded:
            self._loaded[name] = load_hardware(self._replacements.get(name, name))
        return self._loaded[name]


def _load_references(path: str | Path | None) -> dict[str, Any]:
    if path is None:
        text = (importlib.resources.files("nas") / "data" / _REFERENCES).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    refs = tomllib.loads(text)
    expected = {"sources", "eie_layer_latency", "eie_peak", "eie_effective_rate", "eie_power", "tpu_peak",
                "tpu_ridge", "tpu_bounds", "gpu_ridge", "not_modelled", "nb201_rank"}
    missing = sorted(expected - set(refs))
    if missing:
        raise ValueError(f"{path or _REFERENCES}: missing table(s) {', '.join(missing)}")
    return refs


def _citation(refs: Mapping[str, Any], spec: Mapping[str, Any]) -> tuple[str, str]:
    """``(citation, where)`` of a reference table."""
    return refs["sources"][spec["source"]], spec["where"]


def _label(config: HardwareConfig, precision: str | None = None, batch_size: int | None = None) -> str:
    parts = [f"{config.family}/{config.name}"]
    if precision:
        parts.append(precision)
    if batch_size:
        parts.append(f"batch {batch_size}")
    return " ".join(parts)


def _relative(reference: str, citation: tuple[str, str], model: str, value: float, published: float, unit: str,
              tolerance: float, note: str = "") -> ValidationResult:
    error = value / published - 1.0
    return ValidationResult(reference, *citation, model, value, published, unit, "relative error", error,
                            tolerance, bool(abs(error) <= tolerance), note)


def _bound_note(cost: Cost, layer: int) -> str:
    """What set a layer's time, with the DRAM traffic when memory set it."""
    bound = cost.layer_bound[layer]
    if bound == "memory":
        return f"memory-bound: {cost.layer_detail['dram_bytes'][layer] / 1e6:.3g} MB from DRAM"
    return f"{bound}-bound"


def _linear(c: int, k: int, batch_size: int, precision: str) -> Workload:
    builder = WorkloadBuilder(batch_size=batch_size)
    builder.linear("fc", c=c, k=k, bias=False)
    return apply_precision(builder.build(), precision)


# --- EIE ------------------------------------------------------------------------------------

def _eie_checks(refs: Mapping[str, Any], load: _HardwareLoader) -> list[ValidationResult]:
    spec = refs["eie_layer_latency"]
    eie = load(spec["hardware"])
    layers = eie_benchmark_layers()
    published_us = eie_published_latency_us()
    theoretical_us = eie_published_latency_us(theoretical=True)
    # The nine layers as nine networks of one workload: one evaluation.
    workload = Workload.concat(list(layers.values()))
    cost = evaluate(workload, eie)
    # Table IV's theoretical time is the work (fillers included) over the peak: the model's
    # mean PE load, which sets apart a miss in the work from one in the load imbalance.
    balanced_us = cost.layer_detail["mean_pe_cycles"] / eie.clock_mhz
    diagnosis = spec.get("diagnosis", {})
    model = _label(eie)
    results = [
        _relative(f"EIE {name} latency", _citation(refs, spec), model, cost.latency_s[i] * 1e6,
                  published_us[name], "us", spec["max_rel_error"],
                  "; ".join(filter(None, (
                      f"{_bound_note(cost, i)}, perfectly balanced {balanced_us[i]:.1f} us against Table IV's "
                      f"theoretical {theoretical_us[name]:g} us", diagnosis.get(name)))))
        for i, name in enumerate(layers)
    ]

    # EIE counts 2 operations per MAC on a non-zero weight and a non-zero activation (Table III's FLOP %).
    useful_ops = 2.0 * workload.macs * workload.mac_density
    spec = refs["eie_effective_rate"]
    published_rate = useful_ops.sum() / (sum(published_us.values()) * 1e-6) / 1e9
    model_rate = useful_ops.sum() / cost.latency_s.sum() / 1e9
    results.append(_relative("EIE effective rate, 9 layers", _citation(refs, spec), model, model_rate,
                             published_rate, spec["unit"], spec["max_rel_error"]))

    spec = refs["eie_power"]
    levels = cost.energy_by_level_j
    shares = ", ".join(f"{level} {joules.sum() / cost.energy_j.sum():.0%}" for level, joules in levels.items())
    results.append(_relative("EIE power, 9 layers", _citation(refs, spec), model,
                             cost.energy_j.sum() / cost.latency_s.sum(), spec["published"], spec["unit"],
                             spec["max_rel_error"], f"energy split {shares}"))

    spec = refs["eie_peak"]
    square = WorkloadBuilder(batch_size=1)
    square.linear("fc", c=2048, k=2048, bias=False)
    # Dense, in the benchmark's formats (4-bit weight indices, 16-bit activations).
    formats = next(iter(layers.values()))
    dense = square.build().with_compression(weight_bits=formats.weight_bits[0], act_bits=formats.act_bits[0])
    peak = evaluate(dense, load(spec["hardware"]))
    results.append(_relative("EIE peak, compressed model", _citation(refs, spec), _label(load(spec["hardware"])),
                             2.0 * dense.macs.sum() / peak.latency_s[0] / 1e9, spec["published"], spec["unit"],
                             spec["max_rel_error"], _bound_note(peak, 0)))
    return results


# --- TPU v1 ---------------------------------------------------------------------------------

def _tpu_checks(refs: Mapping[str, Any], load: _HardwareLoader) -> list[ValidationResult]:
    spec = refs["tpu_peak"]
    tpu = load(spec["hardware"])
    model = _label(tpu, "int8")
    # 4x4 tiles of 256x256 weights, each serving a 4,096-row stream (one accumulator fill).
    gemm = _linear(c=1024, k=1024, batch_size=4096, precision="int8")
    gemm_cost = evaluate(gemm, tpu)
    peak_ops = 2.0 * gemm.macs.sum() / gemm_cost.latency_s[0]
    utilization = gemm_cost.layer_detail["utilization"][0]
    results = [_relative("TPU v1 peak, int8 GEMM", _citation(refs, spec), model, peak_ops / 1e12,
                         spec["published"], spec["unit"], spec["max_rel_error"],
                         f"{_bound_note(gemm_cost, 0)}, array utilisation {utilization:.1%}")]

    spec = refs["tpu_ridge"]
    stream = _linear(c=4096, k=4096, batch_size=1, precision="int8")
    stream_cost = evaluate(stream, tpu)
    weight_bandwidth = stream.weight_bytes.sum() / stream_cost.latency_s[0]
    results.append(_relative("TPU v1 ridge point", _citation(refs, spec), model,
                             peak_ops / 2.0 / weight_bandwidth, spec["published"], spec["unit"],
                             spec["max_rel_error"], f"peak {peak_ops / 2e12:.1f} TMAC/s over weight bandwidth "
                             f"{weight_bandwidth / 1e9:.1f} GB/s"))

    spec = refs["tpu_bounds"]
    batches = [int(b) for b in spec["batch_sizes"]]
    layers = Workload.concat([_linear(c=4096, k=4096, batch_size=b, precision="int8") for b in batches])
    bounds = evaluate(layers, load(spec["hardware"])).layer_bound
    ridge = refs["tpu_ridge"]["published"]
    expected = ["memory" if b < ridge else "compute" for b in batches]
    wrong = [f"batch {b}: {got} (expected {want})"
             for b, got, want in zip(batches, bounds, expected, strict=True) if got != want]
    matched = len(batches) - len(wrong)
    results.append(ValidationResult(
        "TPU v1 roofline side, FC 4096x4096", *_citation(refs, spec), model, float(matched), float(len(batches)),
        "layers", "bounds matched", matched / len(batches), 1.0, not wrong,
        "wrong side: " + "; ".join(wrong) if wrong else f"batches {batches[0]}..{batches[-1]} all on the right side",
    ))
    return results


# --- GPU ridge points -----------------------------------------------------------------------

def _gpu_ridge_checks(refs: Mapping[str, Any], load: _HardwareLoader) -> list[ValidationResult]:
    results = []
    for spec in refs["gpu_ridge"]:
        gpu = load(spec["hardware"])
        ridge = GPURooflineModel.ridge_point_flop_per_byte(gpu, spec["precision"])
        results.append(_relative(f"{gpu.name} ridge point, {spec['precision']}", _citation(refs, spec),
                                 _label(gpu, spec["precision"]), ridge, spec["published"], spec["unit"],
                                 spec["max_rel_error"]))
    return results


# --- NB201 rank correlation -----------------------------------------------------------------

def _nb201_cells(quick: bool) -> np.ndarray:
    if not quick:
        return np.arange(NB201_N_ARCHS)
    return np.sort(np.random.default_rng(QUICK_SEED).choice(NB201_N_ARCHS, QUICK_CELLS, replace=False))


def _nb201_rank_checks(refs: Mapping[str, Any], load: _HardwareLoader,
                       cells: np.ndarray) -> list[ValidationResult]:
    spec = refs["nb201_rank"]
    checks = spec["check"]
    table = read_nb201_table(_LATENCY_TABLE)
    archs = [index_to_arch(int(i)) for i in cells]
    reachable = np.array([output_reachable(arch) for arch in archs])
    space = get_space("nb201", dataset="cifar10", graph="reference")  # the code HW-NAS-Bench and HELP ran
    results: dict[int, ValidationResult] = {}
    for batch_size in sorted({check["batch_size"] for check in checks}):
        start = time.perf_counter()
        workload = Workload.concat([space.workload(arch, batch_size=batch_size) for arch in archs])
        build_s = time.perf_counter() - start
        macs = workload.per_network(workload.macs)[reachable]
        # One evaluation per (hardware, precision), shared by the checks that use it.
        todo = [(i, check) for i, check in enumerate(checks) if check["batch_size"] == batch_size]
        for hardware, precision in dict.fromkeys((c["hardware"], c["precision"]) for _, c in todo):
            config = load(hardware)
            start = time.perf_counter()
            latency_ms = evaluate(apply_precision(workload, precision), config).latency_s[reachable] * 1e3
            evaluate_s = time.perf_counter() - start
            for i, check in todo:
                if (check["hardware"], check["precision"]) != (hardware, precision):
                    continue
                measured = table[check["column"]][cells][reachable]
                results[i] = _rank_result(refs, spec, check, _label(config, precision, batch_size), latency_ms,
                                          measured, macs, len(workload), build_s, evaluate_s)
    return [results[i] for i in range(len(checks))]


def _rank_result(refs: Mapping[str, Any], spec: Mapping[str, Any], check: Mapping[str, Any], model: str,
                 latency_ms: np.ndarray, measured_ms: np.ndarray, macs: np.ndarray, layers: int,
                 build_s: float, evaluate_s: float) -> ValidationResult:
    rho = spearman_rho(latency_ms, measured_ms)
    baseline = spearman_rho(macs, measured_ms)
    minimum = max(float(spec["min_rho"]), baseline)
    note = (f"MAC-count rho {baseline:.3f}; {len(latency_ms):,} reachable cells; "
            f"built {layers:,} layers in {build_s:.2f} s, costed them in {evaluate_s:.2f} s")
    if "hardware_note" in check:
        note = f"{check['hardware_note']}; {note}"
    where = f"column {check['column']} (CIFAR-10 network, latency per batch in ms)"
    return ValidationResult(
        f"NB201 rho: {check['label']}", refs["sources"][check["source"]], where, model,
        float(np.median(latency_ms)), float(np.median(measured_ms)), "ms (median)", "Spearman rho", rho,
        minimum, bool(rho >= minimum), note,
    )


# --- not modelled ---------------------------------------------------------------------------

def _not_modelled(refs: Mapping[str, Any]) -> list[ValidationResult]:
    nan = math.nan
    return [ValidationResult(spec["label"], *_citation(refs, spec), "-", nan, spec["published"], spec["unit"],
                             "not modelled", nan, nan, None, spec["reason"])
            for spec in refs["not_modelled"]]


# --- formatting -----------------------------------------------------------------------------

def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4g}"


def _score_and_tolerance(result: ValidationResult) -> tuple[str, str]:
    if result.metric == "relative error":
        return f"{result.score:+.1%}", f"±{result.tolerance:.0%}"
    if result.metric == "Spearman rho":
        return f"{result.score:.3f}", f">={result.tolerance:.3f}"
    if result.metric == "bounds matched":
        return f"{result.score:.0%}", f"{result.tolerance:.0%}"
    if result.metric in ("median |error|", "bias"):
        return f"{result.score:+.1%}", f"{'<=' if result.metric == 'median |error|' else '±'}{result.tolerance:.0%}"
    if result.metric == "report":
        return ("-" if math.isnan(result.score) else f"{result.score:.3f}"), "-"
    if result.metric == "error, points":
        return f"{result.score:+.2f} pt", f"±{result.tolerance:g} pt"
    if result.metric == "share within ±25%":
        return f"{result.score:.0%}", f">={result.tolerance:.0%}"
    return "-", "-"


def _verdict(result: ValidationResult) -> str:
    if result.metric == "report":  # a number shown beside its reference, with no target
        return "info"
    return {True: "pass", False: "FAIL", None: "not modelled"}[result.passed]

