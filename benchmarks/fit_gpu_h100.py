"""Re-derive the fitted constants of the ``h100`` preset from the shipped measurements.

Run from the repository root: ``python -m benchmarks.fit_gpu_h100``. It prints the fitted
values as TOML lines to paste into ``cost_models/presets/h100.toml``, then the validation
table per group with the fitted and held-out rows apart.

Rows used (:data:`nas.validation.FIT_SPLIT`): only the ``fit`` rows, i.e. NB201 archs with
an even official index, the torchvision models at even positions of the sorted names, and
every gemm.csv and op_overhead.csv row. Two stages, each a least-squares fit of
``log(predicted / measured)`` with every (file, precision, batch, mode) group weighted
equally:

1. device constants (memory and L2 efficiency, conv efficiencies and channel exponent,
   window tap rates, kernel floors and the conv floor per K step, 2:4 constants) on the
   launch-free rows: NB201 and op_overhead CUDA-graph rows, every GEMM, torchvision at
   batch 256;
2. eager host issue cost per layer kind and op class (two-tensor elementwise ops, 16-bit
   batch norm) on the eager rows: NB201 eager, op_overhead's eager loop and torchvision
   below batch 256.

Measured constants (sustained clock, per-format GEMM efficiency, CUDA-graph gap) are read
from ``machine.json`` figures in the preset and are not fitted.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import least_squares

from cost_models import GPUConfig, load_hardware
from nas.validation import FIT_SPLIT, format_group_stats, group_stats, measured_cases

DEVICE = ("memory_efficiency", "l2_efficiency", "conv_efficiency", "conv_cuda_core_efficiency",
          "conv_channel_exponent", "window_taps_per_clk_sm.fp32", "window_taps_per_clk_sm.fp16",
          "depthwise_taps_per_clk_sm",
          "kernel_floor_us.gemm", "kernel_floor_us.conv", "kernel_floor_us.memory", "kernel_floor_us.window",
          "kernel_floor_us.norm_16bit", "conv_floor_us_per_k_step", "sparse_max_speedup", "sparse_overhead_us")
"""Stage-1 constants (``table.key`` for an entry of a table key)."""
EAGER = ("eager_issue_us.conv", "eager_issue_us.depthwise_conv", "eager_issue_us.linear", "eager_issue_us.pool",
         "eager_issue_us.elementwise", "eager_issue_us.elementwise_binary", "eager_issue_us.norm",
         "eager_issue_us.norm_16bit", "eager_issue_us.max_pool")
"""Stage-2 constants (the kinds the measured networks have)."""
_UPPER = {"memory_efficiency": 1.0, "l2_efficiency": 1.0, "conv_efficiency": 1.0}


def _get(config: GPUConfig, name: str) -> float:
    key, _, entry = name.partition(".")
    value = getattr(config, key)
    return value[entry] if entry else value


def _set(config: GPUConfig, values: dict[str, float]) -> GPUConfig:
    changes: dict[str, object] = {}
    for name, value in values.items():
        key, _, entry = name.partition(".")
        if entry:
            table = dict(changes.get(key, getattr(config, key)))
            table[entry] = float(value)
            changes[key] = table
        else:
            changes[key] = float(value)
    return dataclasses.replace(config, **changes)


def _residuals(config: GPUConfig, names: tuple[str, ...], cases, select) -> callable:
    def residuals(log_values: np.ndarray) -> np.ndarray:
        trial = _set(config, dict(zip(names, np.exp(log_values), strict=True)))
        rows = [r for r in cases.rows(trial) if r.split == "fit" and select(r)]
        keys = [(r.file, r.precision, r.batch, r.mode) for r in rows]
        counts = {key: keys.count(key) for key in set(keys)}
        return np.array([np.log(r.predicted_s / r.measured_s) / np.sqrt(counts[key])
                         for r, key in zip(rows, keys, strict=True)])
    return residuals


def fit(config: GPUConfig | None = None) -> GPUConfig:
    """The ``h100`` preset (or ``config``) with its fitted constants re-derived from the fit rows."""
    config = config if config is not None else load_hardware("h100")
    cases = measured_cases()
    for names, select in ((DEVICE, lambda r: r.launch_free), (EAGER, lambda r: not r.launch_free)):
        start = np.log([max(_get(config, name), 1e-3) for name in names])
        upper = np.array([np.log(_UPPER.get(name, 1e4)) for name in names])
        solution = least_squares(_residuals(config, names, cases, select), start, bounds=(np.full(len(names), -9.0),
                                 upper), diff_step=1e-3)
        config = _set(config, dict(zip(names, np.exp(solution.x), strict=True)))
    return config


def main() -> None:
    config = fit()
    print(f"# fitted: python -m benchmarks.fit_gpu_h100; {FIT_SPLIT}")
    for name in (*DEVICE, *EAGER):
        print(f"{name} = {_get(config, name):.4g}")
    print()
    print(format_group_stats(group_stats(measured_cases().rows(config))))


if __name__ == "__main__":
    main()
