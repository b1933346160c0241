"""How ``zigzag_resnet18_energy.csv`` was produced (not a test).

ZigZag 3.9.1 (Mei et al., IEEE TC 2021; ``pip install zigzag-dse six`` in a throwaway venv, never
the project's) searched the energy-optimal mapping of every convolution and the classifier of its own
ResNet-18 (``zigzag/inputs/workload/resnet18.onnx``, 224 x 224, 8-bit) on its ``tpu_like`` accelerator
(32 x 32 weight-stationary array, one SRAM for inputs and outputs, weights from DRAM) with its
``tpu_like`` mapping, once with the shipped 2 MB SRAM and once with it cut to 256 KiB (``size:
2097152`` bits in a copy of ``tpu_like.yaml``). Each layer's ``energy_total`` (pJ) is read from the
``*_complete.json`` files ZigZag dumps:

    /tmp/zzvenv/bin/python tests/data/zigzag_resnet18_energy.py OUT_2MB OUT_256KIB

Each run took about 6 minutes on this machine.
"""

from __future__ import annotations

import csv
import json
import pathlib
import sys

CSV = pathlib.Path(__file__).parent / "zigzag_resnet18_energy.csv"


def _layer(file: pathlib.Path) -> str:
    """ZigZag's ONNX node name (``/layer1/layer1.0/conv1/Conv``) as the IR names the layer."""
    parts = file.name[1:-len("_complete.json")].split("_")
    if parts == ["fc", "Gemm"]:
        return "fc"
    if parts[0] == "conv1":
        return "conv1"
    return f"{parts[1]}.downsample.0" if "downsample" in parts else f"{parts[1]}.{parts[2]}"


def main(out_2mb: str, out_256k: str) -> None:
    with CSV.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["layer", "sram_bytes", "zigzag_energy_pj"])
        for folder, sram in ((out_2mb, 2 * 1024 * 1024), (out_256k, 256 * 1024)):
            for file in sorted(pathlib.Path(folder).glob("*_complete.json")):
                energy = json.loads(file.read_text())["outputs"]["energy"]["energy_total"]
                writer.writerow([_layer(file), sram, f"{energy:.6g}"])


if __name__ == "__main__":
    main(*sys.argv[1:3])
