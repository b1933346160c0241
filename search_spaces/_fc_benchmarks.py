"""Published compressed fully connected layers: the EIE benchmark and Deep Compression's AlexNet.

The EIE benchmark (Han et al., "EIE: Efficient Inference Engine on Compressed Deep Neural
Network", ISCA 2016, arXiv:1602.01528) is nine pruned, weight-shared layers: fc6-fc8 of
AlexNet and of VGG-16, and three layers of NeuralTalk. Table III gives each layer's size,
weight density and input-activation density; Table IV gives the time EIE (64 PEs at
800 MHz) takes for one input vector. A sparse-engine cost model is checked against them.

Deep Compression (Han, Mao & Dally, ICLR 2016, arXiv:1510.00149, Table 4) gives the density
and bit-width it left in each layer of AlexNet, a ready-made compression recipe.

The numbers live in ``search_spaces/data/fc_benchmarks.toml``, with the table each comes
from; they are read once and validated, so a typo there fails loudly on first use.
This module does not import torch.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import tomllib
from collections.abc import Mapping
from typing import Any

from cost_models import SparsityPattern, Workload, WorkloadBuilder

_DATA_FILE = "fc_benchmarks.toml"


@dataclasses.dataclass(frozen=True)
class LayerCompression:
    """How far one published layer was compressed.

    Args:
        weight_density: Fraction of weights left after pruning, in (0, 1].
        weight_bits: Bits per stored non-zero weight (an index into the shared weights).
    """

    weight_density: float
    weight_bits: int


@dataclasses.dataclass(frozen=True)
class _EIELayer:
    inputs: int
    outputs: int
    weight_density: float
    activation_density: float
    joint_density: float


_PRINTED_PERCENT = 0.01
"""How far a printed FLOP % may sit outside the bounds the other two densities allow (its own
rounding to a whole percent plus that of the weight %), as a fraction."""


@dataclasses.dataclass(frozen=True)
class _Tables:
    eie_layers: dict[str, _EIELayer]
    eie_weight_bits: int
    eie_activation_bits: int
    eie_actual_us: dict[str, float]
    eie_theoretical_us: dict[str, float]
    deep_compression_alexnet: dict[str, LayerCompression]


def eie_benchmark_layers(batch_size: int = 1) -> dict[str, Workload]:
    """The nine layers of EIE's benchmark (Table III), one single-layer Workload each.

    Each layer is the product ``W a`` of an ``outputs x inputs`` weight matrix with an input
    vector, built as a linear layer without bias (the benchmark is the weight matrix) and
    compressed as in the paper: weight density from Table III with an
    :attr:`~cost_models.SparsityPattern.UNSTRUCTURED` pattern, 4-bit weights (indices into 16
    shared values), 16-bit fixed-point activations, Table III's input-activation
    density, and its FLOP % as the measured joint density (clipped into the bounds the two
    densities allow, which only NT-LSTM's rounding needs). ``math`` keeps the builder's default.

    Args:
        batch_size: Input vectors per pass (EIE's Table IV times are for 1).

    Returns:
        ``{"Alex-6": ..., "Alex-7": ..., ..., "NT-LSTM": ...}`` in the paper's order.

    Example:
        >>> layer = eie_benchmark_layers()["Alex-6"]
        >>> int(layer.macs[0]), float(layer.weight_density[0]), float(layer.act_density[0])
        (37748736, 0.09, 0.351)
        >>> float(eie_benchmark_layers()["VGG-6"].joint_density[0])
        0.01
    """
    return dict(_eie_workloads(int(batch_size)))


def eie_published_latency_us(*, theoretical: bool = False) -> dict[str, float]:
    """EIE's time per layer for one input vector, in microseconds (Table IV, batch size 1).

    Args:
        theoretical: Return the "Theoretical Time" row (the work perfectly balanced over
            the 64 PEs) instead of the "Actual Time" row (EIE's simulated time, load
            imbalance included).

    Returns:
        Microseconds per layer, keyed like :func:`eie_benchmark_layers`.

    Example:
        >>> eie_published_latency_us()["Alex-6"]
        30.3
    """
    tables = _tables()
    return dict(tables.eie_theoretical_us if theoretical else tables.eie_actual_us)


def deep_compression_alexnet() -> dict[str, LayerCompression]:
    """Deep Compression's pruning and quantization of each AlexNet layer (Table 4, P+Q).

    The layers are those of the Caffe reference AlexNet (``conv1`` .. ``conv5``, ``fc6`` ..
    ``fc8``); in :func:`~search_spaces.build_model` ``("alexnet")`` they are ``features.0``,
    ``.3``, ``.6``, ``.8``, ``.10`` and ``classifier.1``, ``.4``, ``.6``, whose shapes differ
    (single tower, 64 first-layer filters). Sparse indices take 4 bits on top of the weight
    bits; Huffman coding is not modelled.

    Example:
        >>> deep_compression_alexnet()["fc8"]
        LayerCompression(weight_density=0.25, weight_bits=5)
    """
    return dict(_tables().deep_compression_alexnet)


@functools.lru_cache(maxsize=8)
def _eie_workloads(batch_size: int) -> tuple[tuple[str, Workload], ...]:
    tables = _tables()
    layers = []
    for name, layer in tables.eie_layers.items():
        builder = WorkloadBuilder(batch_size=batch_size)
        builder.linear(name, c=layer.inputs, k=layer.outputs, bias=False)
        layers.append((name, builder.build().with_compression(
            weight_density=layer.weight_density,
            pattern=SparsityPattern.UNSTRUCTURED,
            weight_bits=tables.eie_weight_bits,
            act_bits=tables.eie_activation_bits,
            act_density=layer.activation_density,
        ).with_joint_density(layer.joint_density)))
    return tuple(layers)


@functools.cache
def _tables() -> _Tables:
    resource = importlib.resources.files(__package__) / "data" / _DATA_FILE
    return _parse(tomllib.loads(resource.read_text(encoding="utf-8")))


def _parse(data: Mapping[str, Any]) -> _Tables:
    """Validate the data file's tables; every error names the file, the key and the value."""
    eie = _table(data, "eie_layers", {"source", "weight_bits", "activation_bits", "layers"})
    layers = {
        name: _eie_layer(row, f"eie_layers.layers.{name}")
        for name, row in _rows(eie, "eie_layers", {"inputs", "outputs", "weight_percent", "activation_percent",
                                                   "flop_percent", "description"}).items()
    }
    latency = _table(data, "eie_latency", {"source", "actual_us", "theoretical_us"})
    actual = _latencies(latency, "actual_us", layers)
    theoretical = _latencies(latency, "theoretical_us", layers)
    for name in layers:
        # Perfect balance is a lower bound on the simulated time.
        if theoretical[name] > actual[name]:
            raise ValueError(
                f"{_DATA_FILE}: eie_latency: layer {name!r} has theoretical_us {theoretical[name]} above "
                f"actual_us {actual[name]}; the theoretical time is a lower bound"
            )
    alexnet = _table(data, "deep_compression_alexnet", {"source", "index_bits", "layers"})
    _integer(alexnet, "deep_compression_alexnet", "index_bits")
    compression = {
        name: LayerCompression(
            weight_density=_fraction(row, f"deep_compression_alexnet.layers.{name}", "weight_percent"),
            weight_bits=_integer(row, f"deep_compression_alexnet.layers.{name}", "weight_bits"),
        )
        for name, row in _rows(alexnet, "deep_compression_alexnet", {"weight_percent", "weight_bits"}).items()
    }
    return _Tables(
        eie_layers=layers,
        eie_weight_bits=_integer(eie, "eie_layers", "weight_bits"),
        eie_activation_bits=_integer(eie, "eie_layers", "activation_bits"),
        eie_actual_us=actual,
        eie_theoretical_us=theoretical,
        deep_compression_alexnet=compression,
    )


def _eie_layer(row: Mapping[str, Any], path: str) -> _EIELayer:
    weight = _fraction(row, path, "weight_percent")
    activation = _fraction(row, path, "activation_percent")
    flop = _fraction(row, path, "flop_percent")
    # Printed percentages: a FLOP % a rounding away from the bounds of the other two is clipped.
    low, high = max(weight + activation - 1.0, 0.0), min(weight, activation)
    if not low - _PRINTED_PERCENT <= flop <= high + _PRINTED_PERCENT:
        raise ValueError(f"{_DATA_FILE}: {path}.flop_percent is {row['flop_percent']!r}; with weight_percent "
                         f"{row['weight_percent']!r} and activation_percent {row['activation_percent']!r} it must "
                         f"lie in [{100 * low:g}, {100 * high:g}] (one point of rounding allowed)")
    return _EIELayer(inputs=_integer(row, path, "inputs"), outputs=_integer(row, path, "outputs"),
                     weight_density=weight, activation_density=activation, joint_density=min(max(flop, low), high))


def _table(data: Mapping[str, Any], path: str, keys: set[str]) -> Mapping[str, Any]:
    """The table at ``path`` with exactly ``keys``, including a non-empty ``source`` citation."""
    table = data.get(path)
    if not isinstance(table, Mapping):
        raise ValueError(f"{_DATA_FILE}: missing table [{path}]")
    if set(table) != keys:
        raise ValueError(f"{_DATA_FILE}: [{path}] has keys {', '.join(sorted(table))}; "
                         f"expected {', '.join(sorted(keys))}")
    if not isinstance(table["source"], str) or not table["source"].strip():
        raise ValueError(f"{_DATA_FILE}: [{path}] key 'source' must cite the paper and table")
    return table


def _rows(table: Mapping[str, Any], path: str, keys: set[str]) -> dict[str, Mapping[str, Any]]:
    rows = table["layers"]
    if not isinstance(rows, Mapping) or not rows:
        raise ValueError(f"{_DATA_FILE}: [{path}.layers] must map layer names to inline tables")
    for name, row in rows.items():
        if not isinstance(row, Mapping) or set(row) != keys:
            found = ", ".join(sorted(row)) if isinstance(row, Mapping) else repr(row)
            raise ValueError(f"{_DATA_FILE}: {path}.layers.{name} has {found}; expected keys {', '.join(sorted(keys))}")
    return dict(rows)


def _integer(table: Mapping[str, Any], path: str, key: str) -> int:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{_DATA_FILE}: {path}.{key} is {value!r}; expected a positive integer")
    return value


def _fraction(table: Mapping[str, Any], path: str, key: str) -> float:
    """A percentage in (0, 100], as written in the papers, returned as a fraction."""
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
        raise ValueError(f"{_DATA_FILE}: {path}.{key} is {value!r}; expected a percentage in (0, 100]")
    return round(value / 100, 6)  # 35.1 / 100 is 0.35100000000000003 in binary floating point


def _latencies(table: Mapping[str, Any], key: str, layers: Mapping[str, _EIELayer]) -> dict[str, float]:
    row = table[key]
    if not isinstance(row, Mapping) or set(row) != set(layers):
        found = ", ".join(row) if isinstance(row, Mapping) else repr(row)
        raise ValueError(f"{_DATA_FILE}: eie_latency.{key} lists {found}; expected the layers of "
                         f"[eie_layers.layers]: {', '.join(layers)}")
    for name, value in row.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"{_DATA_FILE}: eie_latency.{key}.{name} is {value!r}; expected microseconds > 0")
    return {name: float(row[name]) for name in layers}
