"""Time the GPU roofline model on an NB201-sized sweep: 15,625 networks of ~100 layers.

Run from the repository root: ``python -m benchmarks.bench_gpu_model [preset ...]`` (default: h100 gtx_1080ti).
"""

from __future__ import annotations

import sys
import time

from cost_models import GPURooflineModel, Workload, WorkloadBuilder, load_hardware

N_NETWORKS = 15_625


def resnet_like(batch_size: int, width: int) -> Workload:
    """Three stages of five residual blocks (conv-bn-relu x2 + add), plus stem and head."""
    b = WorkloadBuilder(batch_size=batch_size)
    size, channels = 32, width
    b.conv("stem", c=3, h=size, w=size, k=channels, r=3, padding=1)
    for stage in range(3):
        if stage:
            size = b.conv(f"s{stage}.down", c=channels, h=size, w=size, k=2 * channels, r=3, stride=2,
                          padding=1)[0]
            channels *= 2
        for block in range(5):
            for conv in range(2):
                name = f"s{stage}.b{block}.{conv}"
                b.conv(f"{name}.conv", c=channels, h=size, w=size, k=channels, r=3, padding=1)
                b.norm(f"{name}.bn", c=channels, h=size, w=size)
                b.elementwise(f"{name}.relu", c=channels, h=size, w=size)
            b.elementwise(f"s{stage}.b{block}.add", c=channels, h=size, w=size, inputs=2)
    b.pool("head.pool", c=channels, h=size, w=size, r=size, global_pool=True)
    b.linear("head.fc", c=channels, k=10)
    return b.build()


def main(presets: list[str]) -> None:
    # Vary the width so the sweep is not one network repeated.
    workload = Workload.concat([resnet_like(256, 8 + i % 32) for i in range(N_NETWORKS)])
    model = GPURooflineModel()
    print(f"{workload.n_networks} networks, {len(workload)} layers")
    for name in presets:
        hardware = load_hardware(name)
        start = time.perf_counter()
        cost = model.evaluate(workload, hardware)
        seconds = time.perf_counter() - start
        print(f"{name}: {seconds:.2f} s, {seconds / workload.n_networks * 1e6:.0f} us per network, "
              f"first network {cost.latency_s[0] * 1e3:.3f} ms")


if __name__ == "__main__":
    main(sys.argv[1:] or ["h100", "gtx_1080ti"])
