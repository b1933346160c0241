"""The systolic model's cycles against SCALE-Sim 3.0, weight-stationary, on AlexNet, ResNet-18 and MobileNetV2.

``tests/data/scalesim_ws_cycles.csv`` holds cycles SCALE-Sim itself simulated (how: the docstring of
``tests/data/scalesim_ws_cycles.py``) for the distinct layers of the three networks listed in
``tests/data/scalesim_ws_layers.csv``, on square arrays of 32, 128 and 256. SCALE-Sim loads every
tile and fills and drains the array for each, so with both overlaps off the model must give its
cycles (plus the one cycle per layer SCALE-Sim does not count); each overlap then removes a known
number of cycles.
"""

import csv
import dataclasses
import pathlib

import numpy as np
import pytest

from cost_models import NumberFormat, SystolicArrayModel, WorkloadBuilder, load_hardware

DATA = pathlib.Path(__file__).parent / "data"
MODEL = SystolicArrayModel()
ARRAYS = (32, 128, 256)


def _read(name):
    with (DATA / name).open() as f:
        return list(csv.DictReader(f))


LAYERS = {(row["network"], row["layer"]): row for row in _read("scalesim_ws_layers.csv")}
SIMULATED = _read("scalesim_ws_cycles.csv")


def _layer(row):
    """One SCALE-Sim layer as the IR sees it: a valid (unpadded) convolution, depthwise when marked."""
    b = WorkloadBuilder(batch_size=1)
    c = int(row["channels"])
    depthwise = row["depthwise"] == "1"
    b.conv("layer", c=c, h=int(row["ifmap_h"]), w=int(row["ifmap_w"]), k=c if depthwise else int(row["filters"]),
           r=int(row["filter_h"]), s=int(row["filter_w"]), stride=int(row["stride"]), groups=c if depthwise else 1)
    return b.build().with_compression(weight_bits=8, act_bits=8, math=NumberFormat.INT8)


def _array(size, *, load, fill):
    # Accumulators deep enough for any layer here (SCALE-Sim does not cut the stream), ports as
    # wide as the array needs, weight-stationary.
    return dataclasses.replace(load_hardware("tpu_v1"), rows=size, cols=size, dataflow="weight_stationary",
                               accumulator_bytes=size * 4 * 200_000, weight_load_overlap=load,
                               fill_drain_overlap=fill)


def _closed_form(row, size):
    """SCALE-Sim's ``ceil(R*S*C/rows) * ceil(K/cols) * (2*rows + cols + T - 2) - 1``, per channel if depthwise."""
    p = (int(row["ifmap_h"]) - int(row["filter_h"])) // int(row["stride"]) + 1
    q = (int(row["ifmap_w"]) - int(row["filter_w"])) // int(row["stride"]) + 1
    depthwise = row["depthwise"] == "1"
    channels = 1 if depthwise else int(row["channels"])
    folds = -(-int(row["filter_h"]) * int(row["filter_w"]) * channels // size) * -(-int(row["filters"]) // size)
    return (int(row["channels"]) if depthwise else 1) * (folds * (3 * size + p * q - 2) - 1)


def test_the_fixture_covers_the_three_networks_at_three_array_sizes():
    assert {row["network"] for row in SIMULATED} == {"alexnet", "resnet18", "mobilenet_v2"}
    assert {int(row["array"]) for row in SIMULATED} == set(ARRAYS)
    assert len(SIMULATED) >= 40
    # SCALE-Sim's cycles are its closed form: the simulator and the formula agree on every row.
    for row in SIMULATED:
        assert int(row["scalesim_cycles"]) == _closed_form(LAYERS[row["network"], row["layer"]], int(row["array"]))


def test_without_overlap_the_model_gives_scale_sims_cycles():
    for row in SIMULATED:
        layer = _layer(LAYERS[row["network"], row["layer"]])
        cycles = MODEL.evaluate(layer, _array(int(row["array"]), load=False, fill=False)).layer_detail["cycles"][0]
        assert cycles == int(row["scalesim_cycles"]) + int(row["scalesim_layers"]), row


@pytest.mark.parametrize("size", ARRAYS)
def test_every_layer_of_the_three_networks_follows_the_closed_form(size):
    hw = _array(size, load=False, fill=False)
    for row in LAYERS.values():
        copies = int(row["channels"]) if row["depthwise"] == "1" else 1
        cycles = MODEL.evaluate(_layer(row), hw).layer_detail["cycles"][0]
        assert cycles == _closed_form(row, size) + copies, row


def _tiles(row, size):
    depthwise = row["depthwise"] == "1"
    channels = 1 if depthwise else int(row["channels"])
    folds = -(-int(row["filter_h"]) * int(row["filter_w"]) * channels // size) * -(-int(row["filters"]) // size)
    return (int(row["channels"]) if depthwise else 1) * folds


def test_each_overlap_removes_what_it_claims():
    for row in SIMULATED:
        size = int(row["array"])
        shape = LAYERS[row["network"], row["layer"]]
        layer = _layer(shape)
        scalesim = int(row["scalesim_cycles"]) + int(row["scalesim_layers"])
        tiles, stream = _tiles(shape, size), layer.p[0] * layer.q[0]
        assert scalesim == tiles * (stream + 3 * size - 2)
        # Weight loads hidden: only the first tile's preload shows (every tile streams and drains
        # for at least ``2*size - 2`` cycles, longer than a preload).
        load = MODEL.evaluate(layer, _array(size, load=True, fill=False)).layer_detail["cycles"][0]
        assert load == scalesim - (tiles - 1) * size
        # Fill/drain overlapped too: one fill/drain per layer, a tile held for max(stream, preload).
        both = MODEL.evaluate(layer, _array(size, load=True, fill=True)).layer_detail["cycles"][0]
        assert both == (tiles - 1) * max(stream, size) + stream + 3 * size - 2


def test_network_totals_against_scale_sim():
    """With overlaps on, the model is faster than SCALE-Sim by the cycles the overlaps hide; the totals
    per network and array stay within the factors measured here (1 at no overlap)."""
    ratios = {}
    for row in SIMULATED:
        layer = _layer(LAYERS[row["network"], row["layer"]])
        size = int(row["array"])
        key = (row["network"], size)
        total = ratios.setdefault(key, np.zeros(4))
        total[0] += int(row["scalesim_cycles"])
        for i, (load, fill) in enumerate(((False, False), (True, False), (True, True)), start=1):
            total[i] += MODEL.evaluate(layer, _array(size, load=load, fill=fill)).layer_detail["cycles"][0]
    for (network, size), (scalesim, neither, load, both) in ratios.items():
        assert neither / scalesim == pytest.approx(1.0, abs=1e-3), (network, size)
        assert 1.0 < scalesim / load <= scalesim / both < 4.0, (network, size)
