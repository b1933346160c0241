"""How ``scalesim_ws_layers.csv`` and ``scalesim_ws_cycles.csv`` were produced (not a test).

SCALE-Sim 3.0 (Samajdar et al., ISPASS 2020; ``pip install scalesim==3.0.0 "numpy<2.3"`` in a
throwaway venv, never the project's) simulates the convolution and linear layers of AlexNet,
ResNet-18 and MobileNetV2 (batch 1, distinct GEMM shapes) on weight-stationary arrays of 32, 128 and
256 square, with SRAMs and DRAM bandwidth large enough that no layer stalls (the cycles are the
array's own). Two steps, in two environments:

    .venv/bin/python tests/data/scalesim_ws_cycles.py layers        # the project's venv
    /tmp/ssvenv/bin/python tests/data/scalesim_ws_cycles.py simulate   # the venv with scalesim

``layers`` writes each distinct layer as SCALE-Sim sees it (a valid convolution on the padded input:
``ifmap = (p - 1) * stride + r``; a linear layer is a 1x1 convolution on a 1x1 input; a depthwise
layer is SCALE-Sim's ``DP`` kind, one single-channel layer per channel). ``simulate`` runs each
(layer, array) with the fewest cycles first, one SCALE-Sim run each, and appends the cycles (total
minus stalls, summed over a depthwise layer's channels) and the number of SCALE-Sim layers; it
stops starting runs after ``BUDGET_S`` seconds (SCALE-Sim simulates every cycle in Python: AlexNet's
conv1 on a 32 x 32 array takes about 45 s), so the slowest combinations are left out. One
depthwise layer was appended afterwards with ``simulate features.7.conv.1.0 32`` (SCALE-Sim runs
a depthwise layer as one single-channel layer per channel, so even small ones are slow).
"""

from __future__ import annotations

import csv
import pathlib
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).parent
LAYERS = HERE / "scalesim_ws_layers.csv"
CYCLES = HERE / "scalesim_ws_cycles.csv"
ARRAYS = (32, 128, 256)
BUDGET_S = 1500.0
NETWORKS = ("alexnet", "resnet18", "mobilenet_v2")
FIELDS = ["network", "layer", "ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "filters", "stride",
          "depthwise"]

_CONFIG = """[general]
run_name = layer

[architecture_presets]
ArrayHeight = {size}
ArrayWidth = {size}
IfmapSramSzkB = 262144
FilterSramSzkB = 262144
OfmapSramSzkB = 262144
IfmapOffset = 0
FilterOffset = 100000000
OfmapOffset = 200000000
Bandwidth = 4096
Dataflow = ws
MemoryBanks = 1
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40

[run_presets]
InterfaceBandwidth = USER
UseRamulatorTrace = False
"""


def write_layers() -> None:
    import numpy as np

    from cost_models import LayerKind
    from search_spaces import model_workload

    rows, seen = [], set()
    for network in NETWORKS:
        wl = model_workload(network, batch_size=1)
        for i in np.flatnonzero(np.isin(wl.kind, (LayerKind.CONV, LayerKind.DEPTHWISE_CONV, LayerKind.LINEAR))):
            depthwise = int(wl.kind[i] == LayerKind.DEPTHWISE_CONV)
            if wl.groups[i] > 1 and not depthwise:
                continue  # grouped, not depthwise: SCALE-Sim has no such layer
            stride = int(wl.stride[i])
            shape = ((int(wl.p[i]) - 1) * stride + int(wl.r[i]), (int(wl.q[i]) - 1) * stride + int(wl.s[i]),
                     int(wl.r[i]), int(wl.s[i]), int(wl.c[i]), 1 if depthwise else int(wl.k[i]), stride, depthwise)
            if (network, shape) not in seen:
                seen.add((network, shape))
                rows.append([network, str(wl.name[i]), *shape])
    with LAYERS.open("w", newline="") as f:
        csv.writer(f).writerows([FIELDS, *rows])


def _closed_form(row: dict[str, str], size: int) -> int:
    p = (int(row["ifmap_h"]) - int(row["filter_h"])) // int(row["stride"]) + 1
    q = (int(row["ifmap_w"]) - int(row["filter_w"])) // int(row["stride"]) + 1
    channels = 1 if int(row["depthwise"]) else int(row["channels"])
    copies = int(row["channels"]) if int(row["depthwise"]) else 1
    folds = -(-int(row["filter_h"]) * int(row["filter_w"]) * channels // size) * -(-int(row["filters"]) // size)
    return copies * (folds * (2 * size + size + p * q - 2) - 1)


def simulate(only: tuple[str, int] | None = None) -> None:
    """Simulate every (layer, array), fewest cycles first, or append the one ``only = (layer, array)``."""
    from scalesim.scale_sim import scalesim

    with LAYERS.open() as f:
        layers = list(csv.DictReader(f))
    jobs = sorted(((_closed_form(row, size), size, row) for row in layers for size in ARRAYS),
                  key=lambda job: job[0])
    if only is not None:
        jobs = [job for job in jobs if (job[2]["layer"], job[1]) == only]
    start = time.monotonic()
    with CYCLES.open("a" if only else "w", newline="") as out:
        writer = csv.writer(out)
        if only is None:
            writer.writerow(["network", "layer", "array", "scalesim_cycles", "scalesim_layers"])
        for _, size, row in jobs:
            if time.monotonic() - start > BUDGET_S:
                break
            with tempfile.TemporaryDirectory() as tmp:
                tmp_path = pathlib.Path(tmp)
                name = ("DP_" if int(row["depthwise"]) else "L_") + row["layer"].replace(".", "_")
                shape = [row[k] for k in FIELDS[2:9]]
                (tmp_path / "topo.csv").write_text(
                    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                    f"Strides,\n{name}, {', '.join(shape)},\n")
                copies = int(row["channels"]) if int(row["depthwise"]) else 1
                (tmp_path / "layout.csv").write_text(
                    "Layer name," + ",".join(["x"] * 20) + ",\n" + f"{name}, {', '.join(shape)}," + ",".join(["1"] * 13)
                    + ",\n")  # only read for its row count here (custom layouts off)
                (tmp_path / "config.cfg").write_text(_CONFIG.format(size=size))
                sim = scalesim(save_disk_space=True, verbose=False, config=str(tmp_path / "config.cfg"),
                               topology=str(tmp_path / "topo.csv"), layout=str(tmp_path / "layout.csv"))
                sim.run_scale(top_path=str(tmp_path / "out"))
                report = next((tmp_path / "out").rglob("COMPUTE_REPORT.csv"))
                with report.open() as f:
                    lines = [line.split(",") for line in f.read().splitlines()[1:] if line.strip()]
                cycles = sum(int(line[2]) - int(line[3]) for line in lines)
                writer.writerow([row["network"], row["layer"], size, cycles, len(lines)])
                out.flush()
                assert len(lines) == copies


if __name__ == "__main__":
    if sys.argv[1] == "layers":
        write_layers()
    else:
        simulate((sys.argv[2], int(sys.argv[3])) if len(sys.argv) > 3 else None)
