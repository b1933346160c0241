"""Throughput of each cost model on all 15,625 NAS-Bench-201 networks stacked into one Workload.

Run from the repository root: ``python -m benchmarks.bench_cost_models``. One configuration
per model family, batch 1, CIFAR-10 network (NB201's deployed graph): the GPU kernel-class
model on ``h100`` in fp16 (its preset's ``cuda_graph`` mode), the
systolic array on ``tpu_v1`` and the sparse engine on ``eie`` in int8. Each configuration is
evaluated :data:`REPEATS` times, each time on a new Workload object, so every timed run also
finds the workload's distinct rows (a model costs each distinct layer once, then gathers); the
fastest and the median run are reported (the machine may be shared). ``warm s`` is one more
run on the same Workload object, whose distinct rows are then known, as for the second and later
hardware points of a sweep. Target: under a second per configuration.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

from cost_models import cost_model_for, load_hardware
from nas.cost import apply_precision
from nas.sweep import nb201_workload
from search_spaces import NB201_N_ARCHS

CONFIGS = (("h100", "fp16"), ("tpu_v1", "int8"), ("eie", "int8"))
"""``(preset, precision)`` of the one configuration timed per model family."""
REPEATS = 5
TARGET_S = 1.0


def main() -> None:
    start = time.perf_counter()
    stacked = nb201_workload(range(NB201_N_ARCHS), dataset="cifar10")
    print(f"stacked {NB201_N_ARCHS:,} NB201 networks ({len(stacked):,} layers) in "
          f"{time.perf_counter() - start:.2f} s")

    header = ["model", "preset", "precision", "best s", "median s", "layers/s", "networks/s", f"< {TARGET_S:g} s",
              "warm s", "unsupported layers"]
    rows = [header]
    for preset, precision in CONFIGS:
        hardware = load_hardware(preset)
        model = cost_model_for(hardware)
        workload = apply_precision(stacked, precision)
        seconds = []
        for _ in range(REPEATS):
            fresh = dataclasses.replace(workload)  # same columns, a new object: its rows are found again
            start = time.perf_counter()
            cost = model.evaluate(fresh, hardware)
            seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        model.evaluate(fresh, hardware)
        warm = time.perf_counter() - start
        best = min(seconds)
        rows.append([type(model).__name__, preset, precision, f"{best:.2f}", f"{statistics.median(seconds):.2f}",
                     f"{len(workload) / best:,.0f}", f"{workload.n_networks / best:,.0f}",
                     "yes" if best < TARGET_S else "NO", f"{warm:.2f}", f"{int(cost.unsupported.sum()):,}"])
    widths = [max(len(row[j]) for row in rows) for j in range(len(header))]
    for row in rows:
        print("  ".join(cell.rjust(w) if j >= 3 else cell.ljust(w)
                        for j, (cell, w) in enumerate(zip(row, widths, strict=True))))


if __name__ == "__main__":
    main()
