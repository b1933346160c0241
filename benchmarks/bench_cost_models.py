"""Throughput of each cost model on all 15,625 NAS-Bench-201 networks stacked into one Workload.

Run from the repository root: ``python -m benchmarks.bench_cost_models``. One configuration
per model family, batch 1, CIFAR-10 network (NB201's deployed graph): the GPU kernel-class
model on ``h100`` in fp16 (its preset's ``cuda_graph`` mode), the
systolic array on ``tpu_v1`` and the sparse engine on ``eie`` in int8. Each configuration is
evaluated :data:`REPEATS` times and the fastest run is reported (the first pays for page
faults of fresh arrays). Target: under a second per configuration.
"""

from __future__ import annotations

import time

from cost_models import cost_model_for, load_hardware
from nas.cost import apply_precision
from nas.sweep import nb201_workload
from search_spaces import NB201_N_ARCHS

CONFIGS = (("h100", "fp16"), ("tpu_v1", "int8"), ("eie", "int8"))
"""``(preset, precision)`` of the one configuration timed per model family."""
REPEATS = 3
TARGET_S = 1.0


def main() -> None:
    start = time.perf_counter()
    stacked = nb201_workload(range(NB201_N_ARCHS), dataset="cifar10")
    print(f"stacked {NB201_N_ARCHS:,} NB201 networks ({len(stacked):,} layers) in "
          f"{time.perf_counter() - start:.2f} s")

    header = ["model", "preset", "precision", "seconds", "layers/s", "networks/s", f"< {TARGET_S:g} s",
              "unsupported layers"]
    rows = [header]
    for preset, precision in CONFIGS:
        hardware = load_hardware(preset)
        model = cost_model_for(hardware)
        workload = apply_precision(stacked, precision)
        seconds = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            cost = model.evaluate(workload, hardware)
            seconds.append(time.perf_counter() - start)
        best = min(seconds)
        rows.append([type(model).__name__, preset, precision, f"{best:.2f}", f"{len(workload) / best:,.0f}",
                     f"{workload.n_networks / best:,.0f}", "yes" if best < TARGET_S else "NO",
                     f"{int(cost.unsupported.sum()):,}"])
    widths = [max(len(row[j]) for row in rows) for j in range(len(header))]
    for row in rows:
        print("  ".join(cell.rjust(w) if j >= 3 else cell.ljust(w)
                        for j, (cell, w) in enumerate(zip(row, widths, strict=True))))


if __name__ == "__main__":
    main()
