"""Many NAS-Bench-201 networks as one stacked Workload, built by array indexing.

:meth:`search_spaces.NB201Space.workload` selects one network's rows from a table that
holds, for every cell, the layers of all five ops on every edge. Selecting the rows of
thousands of networks at once (a boolean matrix of networks x rows, then ``nonzero``)
builds the stacked Workload that the vectorised cost models evaluate in one call: all
15,625 networks (3.3 million layers) in well under a second, where building each network
and concatenating them takes about five.

Precision and compression are applied to that one table, before the selection: every
transform of a :class:`~nas.study._compression_choice.CompressionChoice` with uniform settings
acts row by row (arithmetic, bits, a pruning density or the 2:4 pattern by layer shape)
or by channel width (channel pruning, whose width plan is the same in every NB201
network: the stem and classifier are the first and last weight layers of all of them),
so compressing the table and then selecting equals selecting and then compressing each
network. ``tests/test_sweep.py`` checks it network by network.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import numpy as np

from cost_models import Workload
from nas._errors import InputError
from nas.cost._cost_report import apply_precision
from nas.study._compression_choice import CompressionChoice, compress_workload
from search_spaces import NB201_N_ARCHS, NB201_N_SLOTS, NB201Space, cell_slots, index_to_arch, parse_arch

# The row table and slot numbering are NB201Space's own (search_spaces/_nb201.py), so a network
# built here is row for row the one NB201Space.workload returns.


def nb201_workload(
    arch_indices: Sequence[int] | np.ndarray,
    *,
    dataset: str = "cifar10",
    batch_size: int = 1,
    precision: str | None = None,
    choice: CompressionChoice | None = None,
    graph: str = "deployed",
) -> Workload:
    """The networks of ``arch_indices`` stacked into one Workload (network ``i`` is ``arch_indices[i]``).

    Network ``i`` equals ``compress_workload(apply_precision(NB201Space(dataset, graph).workload(arch,
    batch_size=batch_size), precision), choice)`` row for row, with the analytic pruning
    densities (``1 - prune_ratio``; a trial that prunes a torch module reads the mask's exact
    kept fraction instead, which differs when ``prune_ratio`` x a layer's weights is not whole).

    Args:
        arch_indices: Official NB201 indices (0 .. 15,624), in the order the networks are stacked.
        dataset: ``"cifar10"``, ``"cifar100"`` or ``"imagenet16"``.
        batch_size: Images per forward pass.
        precision: Arithmetic of every layer (``"fp16"``, ``"int8"``, ...); None keeps fp32.
        choice: Uniform compression of every network (no per-layer settings), or None.
        graph: NB201 execution graph, ``"deployed"`` or ``"reference"`` (see :class:`NB201Space`).

    Raises:
        ValueError: An index out of range, or a choice with per-layer settings (one line).

    Example:
        >>> from search_spaces import get_space
        >>> stacked = nb201_workload([6111, 1651], precision="int8")
        >>> alone = get_space("nb201").workload(index_to_arch(1651))  # every edge 'none'
        >>> stacked.n_networks, int(stacked.per_network(stacked.macs)[1]) == int(alone.macs.sum())
        (2, True)
    """
    indices = np.asarray(arch_indices, dtype=np.int64).reshape(-1)
    if indices.size == 0:
        raise InputError("nb201_workload: give at least one arch index")
    if indices.min() < 0 or indices.max() >= NB201_N_ARCHS:
        raise InputError(f"nb201_workload: arch indices must lie in [0, {NB201_N_ARCHS - 1}], "
                         f"got {int(indices.min())} .. {int(indices.max())}")
    if choice is not None and (choice.layer_ratios or choice.layer_weight_formats or choice.layer_act_formats):
        raise InputError("nb201_workload: per-layer compression settings cannot be stacked; give uniform ones")
    table, slots = _compressed_table(dataset, int(batch_size), precision, _choice_key(choice), graph)
    network, row = np.nonzero(_arch_slots(graph)[indices][:, slots])
    columns = {field.name: getattr(table, field.name)[row] for field in dataclasses.fields(table)}
    columns["network"] = network.astype(np.int64)
    return Workload(**columns)


@functools.cache
def _arch_slots(graph: str) -> np.ndarray:
    """Which of NB201Space's slots each of the 15,625 networks has, ``(15,625, NB201_N_SLOTS)`` booleans."""
    chosen = np.zeros((NB201_N_ARCHS, NB201_N_SLOTS), dtype=bool)
    for i in range(NB201_N_ARCHS):
        chosen[i, list(cell_slots(parse_arch(index_to_arch(i)), graph))] = True
    chosen.flags.writeable = False
    return chosen


def _choice_key(choice: CompressionChoice | None) -> tuple | None:
    if choice is None:
        return None
    return (choice.prune_ratio, choice.pattern, choice.weight_format, choice.act_format, choice.share_bits)


@functools.lru_cache(maxsize=16)
def _compressed_table(dataset: str, batch_size: int, precision: str | None,
                      choice_key: tuple | None, graph: str) -> tuple[Workload, np.ndarray]:
    table, slots = NB201Space(dataset, graph).layer_table(batch_size=batch_size)
    if precision is not None:
        table = apply_precision(table, precision)
    if choice_key is not None:
        table = compress_workload(table, CompressionChoice(*choice_key))
    return table, slots
