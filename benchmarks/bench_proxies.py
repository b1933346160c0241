"""Seconds per candidate of every zero-cost proxy on one CPU thread, for an NB201 network and MobileNetV2.

Run from the repository root: ``python -m benchmarks.bench_proxies [repeats]`` (default 2).

Each proxy runs alone (its own copy of the network and its own forward pass), then all
together through ``score_proxies``, where the data-dependent ones share one forward pass.
The NB201 network is the CIFAR-10 one (3x32x32) at the batch size of the fidelity report
(32) and at NASLib's (64); MobileNetV2 runs at 224x224 with a batch of 8 (301 M MACs per
image, twice this NB201 network's 153 M, at 49x the pixels). Times are the best of ``repeats``
runs, after one warm-up; the load average is printed because the machine may be shared.
"""

from __future__ import annotations

import os
import sys
import time

import torch

from nas.proxies import SyntheticBatches, get_proxy, list_proxies, score_proxies
from search_spaces import build_model, get_space, index_to_arch, model_input_shape

NB201_CELL = 2581
"""A convolution-heavy NB201 cell (five of its six edges are convolutions)."""

def _nb201() -> torch.nn.Module:
    return get_space("nb201", dataset="cifar10").build(index_to_arch(NB201_CELL))


CASES = {
    "nb201 (cifar10, batch 32)": (_nb201, (3, 32, 32), 10, 32),
    "nb201 (cifar10, batch 64)": (_nb201, (3, 32, 32), 10, 64),
    "mobilenet_v2 (224, batch 8)": (lambda: build_model("mobilenet_v2"), model_input_shape("mobilenet_v2"), 1000, 8),
}


def best_of(repeats: int, run) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def time_proxies(module: torch.nn.Module, batch, repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` seconds of each proxy alone, and of all of them sharing one pass."""
    times = {name: best_of(repeats, lambda name=name: get_proxy(name).score(module, batch.inputs, batch.targets))
             for name in list_proxies()}
    times["all (shared pass)"] = best_of(repeats, lambda: score_proxies(module, batch.inputs, batch.targets))
    return times


def main(repeats: int = 2) -> None:
    torch.set_num_threads(1)
    columns = {}
    for case, (build, shape, classes, batch_size) in CASES.items():
        torch.manual_seed(0)
        batch = SyntheticBatches().batch(batch_size, tuple(shape), classes, seed=0)
        columns[case] = time_proxies(build(), batch, repeats)
        print(f"{case}: done (load average {os.getloadavg()[0]:.1f})", file=sys.stderr)
    print(f"seconds per candidate, 1 thread, best of {repeats} (torch {torch.__version__})")
    print(f"{'proxy':18s} | " + " | ".join(f"{case:>27s}" for case in columns))
    for name in [*list_proxies(), "all (shared pass)"]:
        print(f"{name:18s} | " + " | ".join(f"{columns[case][name]:>27.3f}" for case in columns))
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:]))
