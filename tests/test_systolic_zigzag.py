"""Per-layer energy of ResNet-18 on a ZigZag-like TPU: ranked as ZigZag 3.9 ranks it.

``tests/data/zigzag_resnet18_energy.csv`` holds the energy ZigZag's mapping search found for each
layer of ResNet-18 on its ``tpu_like`` accelerator (32 x 32 weight-stationary, one SRAM for inputs
and outputs, weights from DRAM), with the shipped 2 MB SRAM and with 256 KiB (how: the docstring of
``tests/data/zigzag_resnet18_energy.py``). ZigZag costs each layer on its own, so it always reads a
layer's input from DRAM and writes its output there; the model charges DRAM only for activations that
do not fit the buffer. Where the buffer is small, most of the energy is that spill in both, and the
ranks agree; where everything fits (2 MB at 8 bits), they differ by ZigZag's compulsory traffic.
"""

import csv
import dataclasses
import pathlib

import numpy as np
import pytest

from cost_models import evaluate, load_hardware
from nas.cost import apply_precision
from nas.validation import spearman_rho
from search_spaces import model_workload

ROWS = list(csv.DictReader((pathlib.Path(__file__).parent / "data" / "zigzag_resnet18_energy.csv").open()))


@pytest.fixture(scope="module")
def resnet18():
    return apply_precision(model_workload("resnet18", batch_size=1), "int8")


def _zigzag_like(sram_bytes):
    # ZigZag's tpu_like: 32 x 32 MACs, inputs and outputs in one SRAM, weights straight from DRAM
    # (64 bits a cycle; 8 GB/s at the edge preset's 1 GHz).
    return dataclasses.replace(load_hardware("edge_systolic"), rows=32, cols=32, weight_buffer_bytes=0,
                               activation_buffer_bytes=sram_bytes, unified_buffer_bytes=0, accumulator_bytes=65536,
                               offchip_bandwidth_gb_s=8.0, vector_lanes=32)


@pytest.mark.parametrize(("sram_bytes", "min_rho", "spilling"), [(256 * 1024, 0.97, 7), (2 * 1024 * 1024, 0.85, 0)])
def test_per_layer_energy_ranks_like_zigzag(resnet18, sram_bytes, min_rho, spilling):
    zigzag = {row["layer"]: float(row["zigzag_energy_pj"]) for row in ROWS if int(row["sram_bytes"]) == sram_bytes}
    cost = evaluate(resnet18, _zigzag_like(sram_bytes))
    index = {name: i for i, name in enumerate(resnet18.name)}
    assert len(zigzag) == 21 and set(zigzag) <= set(index)
    rows = np.array([index[name] for name in zigzag])
    # Before activations could spill in part (input or output alone kept on chip), rho at 256 KiB was 0.94.
    assert spearman_rho(cost.layer_energy_j[rows], np.array(list(zigzag.values()))) >= min_rho
    assert int((cost.layer_detail["dram_activation_bytes"][rows] > 0).sum()) == spilling
