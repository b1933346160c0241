"""The NAS-Bench-201 cell search space (Dong & Yang, ICLR 2020, arXiv:2001.00326).

A network is a fixed macro skeleton around one searched cell, repeated 15 times:

* stem: 3x3 conv (3 -> 16 channels) and batch norm;
* three stages of 5 cells at 16, 32 and 64 channels; stages 2 and 3 open with a
  residual reduction block (ReLU-conv3x3/2-BN, ReLU-conv3x3-BN, and a shortcut of
  2x2 average pooling then a 1x1 conv, summed) that halves height and width;
* head: batch norm, ReLU, global average pooling, linear classifier.

The cell is a 4-node DAG. Node 0 is the cell input, node ``j`` is the sum of one op
applied to each earlier node, and node 3 is the output. Each of the six edges
``edge_FROM_TO`` takes one of five ops, so the space holds ``5 ** 6 = 15,625`` cells.
Cells are named by NB201's canonical arch string and numbered by its official index
(:func:`arch_to_index`), the order of every NB201-derived benchmark table.

The workload describes the network in one of two execution graphs (``graph=``):

* ``"deployed"`` (the default): what a deployed network runs, and what the measured H100
  set (``nas/data/h100``) timed. A ``none`` edge computes nothing; node ``j`` sums only its
  non-``none`` inputs, as chained two-tensor adds (``nodeJ.add``, ``nodeJ.add:2``, after the
  node's edges; no ``0 + t``); a node whose inputs are all ``none`` is zero, materialised once
  per cell by ``zeros_like`` (an elementwise layer ``stageS.cellC.zeros`` that only writes, at the start of the
  cell) only if a non-``none`` edge reads such a node or it is the cell output. Ops that
  read the zeros still run, and dead edges are not removed.
* ``"reference"``: NB201's reference implementation (``TinyNetwork`` with ``InferCell``), as
  HW-NAS-Bench and HELP timed it: every op of the cell runs, a ``none`` edge is a real
  kernel, ``x.mul(0.)`` (an elementwise layer ``...edge_FROM_TO.zero``: one op per element,
  reads and writes the tensor); node ``j`` sums the outputs of all its ``j`` incoming edges,
  zeros included, two tensors at a time as PyTorch adds them (``node2.add``; ``node3.add``
  and ``node3.add:2``), so every cell has the same three sums. (NB201's Python ``sum(...)``
  also starts each node from the scalar 0, one more copy per node that is the same in every
  cell; that one is left out.)

Only ``skip_connect`` (identity) adds no layer in either graph; MACs and parameters are the
same in both.

This module does not import torch: :meth:`NB201Space.workload` is computed
analytically, and torch is imported only by :meth:`NB201Space.build`.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import importlib.resources
import operator
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cost_models import Workload, WorkloadBuilder
from search_spaces._base import SearchSpace

if TYPE_CHECKING:
    import optuna
    import torch

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""The five candidate ops of every edge, by their NB201 names."""

NB201_EDGES: tuple[str, ...] = ("edge_0_1", "edge_0_2", "edge_1_2", "edge_0_3", "edge_1_3", "edge_2_3")
"""The six cell edges, ``edge_FROM_TO``, in the order they appear in an arch string."""

NB201_N_ARCHS = len(NB201_OPS) ** len(NB201_EDGES)
"""Number of cells in the space (15,625)."""

_EDGE_NODES: tuple[tuple[int, int], ...] = tuple(
    (int(frm), int(to)) for frm, to in (edge.split("_")[1:] for edge in NB201_EDGES)
)
_ARCH_TEMPLATE = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"


@dataclasses.dataclass(frozen=True)
class _Dataset:
    classes: int
    input_shape: tuple[int, int, int]


_DATASETS = {
    "cifar10": _Dataset(classes=10, input_shape=(3, 32, 32)),
    "cifar100": _Dataset(classes=100, input_shape=(3, 32, 32)),
    "imagenet16": _Dataset(classes=120, input_shape=(3, 16, 16)),
}
NB201_DATASETS: tuple[str, ...] = tuple(_DATASETS)
"""Datasets NB201 trained on: CIFAR-10, CIFAR-100 and ImageNet16-120 (16x16 px, 120 classes)."""

STAGE_CHANNELS = (16, 32, 64)
"""Channels of the cells of each stage (NB201 ``C = 16``, doubled at each reduction)."""
CELLS_PER_STAGE = 5
"""Cells per stage (NB201 ``N = 5``)."""


def parse_arch(arch: str) -> tuple[str, ...]:
    """Split a canonical NB201 arch string into its six ops.

    Args:
        arch: A string such as ``"|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+"
            "|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"``: the k-th ``+`` group lists
            the edges entering node k, and ``op~i`` is the edge from node i.

    Returns:
        The op of each edge, in :data:`NB201_EDGES` order.

    Raises:
        ValueError: One line naming what is malformed.

    Example:
        >>> parse_arch("|none~0|+|none~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|")
        ('none', 'none', 'skip_connect', 'none', 'none', 'nor_conv_1x1')
    """
    if not isinstance(arch, str):
        raise ValueError(f"an NB201 arch must be a string like {_ARCH_TEMPLATE!r}, got {arch!r}")
    groups = arch.split("+")
    if len(groups) != 3:
        raise ValueError(f"NB201 arch {arch!r} must have 3 '+'-separated node groups like {_ARCH_TEMPLATE!r}")
    ops = []
    for to, group in enumerate(groups, start=1):
        entries = group[1:-1].split("|")
        if len(group) < 2 or group[0] != "|" or group[-1] != "|" or len(entries) != to:
            raise ValueError(
                f"NB201 arch {arch!r}: node {to} must read like {_ARCH_TEMPLATE.split('+')[to - 1]!r}, "
                f"got {group!r}"
            )
        for frm, entry in enumerate(entries):
            op, tilde, source = entry.partition("~")
            if not tilde or source != str(frm):
                raise ValueError(f"NB201 arch {arch!r}: entry {entry!r} of node {to} must read 'OP~{frm}'")
            if op not in NB201_OPS:
                raise ValueError(
                    f"NB201 arch {arch!r}: unknown op {op!r} on edge_{frm}_{to}; "
                    f"choose from {', '.join(NB201_OPS)}"
                )
            ops.append(op)
    return tuple(ops)


def format_arch(ops: Sequence[str]) -> str:
    """Write six ops (in :data:`NB201_EDGES` order) as the canonical NB201 arch string.

    Raises:
        ValueError: Not six ops, or an unknown op.

    Example:
        >>> format_arch(["nor_conv_3x3"] * 6)
        '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|'
    """
    ops = tuple(ops)
    if len(ops) != len(NB201_EDGES):
        raise ValueError(f"an NB201 cell has {len(NB201_EDGES)} edge ops, got {len(ops)}: {ops!r}")
    for edge, op in zip(NB201_EDGES, ops, strict=True):
        if op not in NB201_OPS:
            raise ValueError(f"unknown op {op!r} on {edge}; choose from {', '.join(NB201_OPS)}")
    nodes: list[list[str]] = [[], [], []]
    for (frm, to), op in zip(_EDGE_NODES, ops, strict=True):
        nodes[to - 1].append(f"{op}~{frm}")
    return "+".join("|" + "|".join(node) + "|" for node in nodes)


def validate_arch(arch: str) -> str:
    """Return ``arch`` unchanged if it is a canonical NB201 arch string.

    Raises:
        ValueError: One line naming what is malformed (see :func:`parse_arch`).
    """
    parse_arch(arch)
    return arch


@functools.cache
def _official_archs() -> tuple[tuple[str, ...], dict[str, int]]:
    # The official order is the `meta_archs` list stored in the benchmark file; it is not an
    # enumeration of ops, so it ships as data (see search_spaces/data/README.md).
    resource = importlib.resources.files(__package__) / "data" / "nb201_archs.txt.gz"
    archs = tuple(gzip.decompress(resource.read_bytes()).decode("ascii").split())
    if len(archs) != NB201_N_ARCHS:
        raise RuntimeError(f"{resource} holds {len(archs)} archs, expected {NB201_N_ARCHS}; reinstall the package")
    return archs, {arch: index for index, arch in enumerate(archs)}


def index_to_arch(index: int) -> str:
    """The arch string of an official NB201 index (0 .. 15,624).

    Example:
        >>> index_to_arch(1651)
        '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|'
    """
    try:
        position = operator.index(index)
    except TypeError:
        position = -1
    if isinstance(index, bool) or not 0 <= position < NB201_N_ARCHS:
        raise ValueError(f"NB201 arch_index must be an integer in [0, {NB201_N_ARCHS - 1}], got {index!r}")
    return _official_archs()[0][position]


def arch_to_index(arch: str) -> int:
    """The official NB201 index of an arch string (its row in every NB201 table).

    Raises:
        ValueError: ``arch`` is not a canonical arch string.

    Example:
        >>> arch_to_index("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
        1651
    """
    parse_arch(arch)
    return _official_archs()[1][arch]


NB201_GRAPHS: tuple[str, ...] = ("deployed", "reference")
"""Execution graphs of a network (see the module docstring); the first is the default."""


class NB201Space(SearchSpace):
    """NAS-Bench-201 cells: 6 edges x 5 ops, 15,625 networks (Dong & Yang, ICLR 2020).

    The genotype is the canonical arch string; the Optuna parameters are the six
    categorical ``edge_FROM_TO`` ops. The workload and the torch module follow ``graph``
    (see the module docstring): ``"deployed"`` (default) skips ``none`` edges and sums only
    the non-``none`` inputs of a node; ``"reference"`` runs NB201's reference code, a zero
    kernel per ``none`` edge and three sums per cell. Only ``skip_connect`` (identity) adds
    no layer in either.

    Args:
        dataset: ``"cifar10"`` (10 classes), ``"cifar100"`` (100 classes), both on
            3x32x32 inputs, or ``"imagenet16"`` (ImageNet16-120: 120 classes, 3x16x16).
        graph: ``"deployed"`` or ``"reference"``.

    Example:
        >>> space = NB201Space(dataset="cifar10")
        >>> arch = index_to_arch(1462)  # every edge nor_conv_3x3
        >>> int(space.workload(arch).params.sum())  # NB201 reports 1.531546 M
        1531546
    """

    name = "nb201"

    def __init__(self, dataset: str = "cifar10", graph: str = "deployed") -> None:
        if dataset not in _DATASETS:
            raise ValueError(f"nb201: unknown dataset {dataset!r}; choose from {', '.join(_DATASETS)}")
        if graph not in NB201_GRAPHS:
            raise ValueError(f"nb201: unknown graph {graph!r}; choose from {', '.join(NB201_GRAPHS)}")
        self.dataset = dataset
        self.graph = graph
        self.num_classes = _DATASETS[dataset].classes

    def __repr__(self) -> str:
        return f"NB201Space(dataset={self.dataset!r}, graph={self.graph!r})"

    def sample(self, trial: optuna.Trial) -> str:
        """Suggest the op of each edge (parameters ``edge_0_1`` .. ``edge_2_3``); return the arch."""
        return format_arch([trial.suggest_categorical(edge, NB201_OPS) for edge in NB201_EDGES])

    def from_params(self, params: Mapping[str, Any]) -> str:
        """Rebuild the arch string from the six ``edge_FROM_TO`` parameters."""
        missing = [edge for edge in NB201_EDGES if edge not in params]
        if missing:
            raise ValueError(f"nb201: parameters lack {', '.join(missing)}; expected {', '.join(NB201_EDGES)}")
        return format_arch([params[edge] for edge in NB201_EDGES])

    def workload(self, genotype: str, *, batch_size: int = 1) -> Workload:
        """The layers of the network as a Workload, in the torch module's execution order.

        Args:
            genotype: Canonical arch string.
            batch_size: Images per forward pass (``n`` of every layer).
        """
        choose = np.zeros(NB201_N_SLOTS, dtype=bool)
        choose[list(cell_slots(parse_arch(genotype), self.graph))] = True
        every_layer, slots = _every_layer(self.dataset, int(batch_size), self.graph)
        return every_layer.select(choose[slots])

    def layer_table(self, *, batch_size: int = 1) -> tuple[Workload, np.ndarray]:
        """Every layer any NB201 network can have, and the slot each belongs to.

        Slot ``e * len(NB201_OPS) + o`` holds the layers of op ``o`` on edge ``e``; slot
        :data:`NB201_ALWAYS_SLOT` the layers every network has (stem, reductions, head, and
        the reference graph's node sums); the slots above it the deployed graph's node sums
        and zeros, which depend on the whole cell. A network's workload is the rows of the
        slots :func:`cell_slots` names, which is how many networks are stacked into one
        Workload without rebuilding each.
        """
        return _every_layer(self.dataset, int(batch_size), self.graph)

    def build(self, genotype: str) -> torch.nn.Module:
        """A freshly initialised :class:`~search_spaces._nb201_torch.NB201Network` (imports torch)."""
        from search_spaces._nb201_torch import NB201Network

        return NB201Network(parse_arch(genotype), num_classes=self.num_classes, graph=self.graph)

    def build_reduced(self, genotype: str, *, width: int, cells_per_stage: int, num_classes: int) -> torch.nn.Module:
        """The same cell in a smaller network: stage channels ``width, 2 width, 4 width`` (NB201's
        ``C``; the benchmark's is 16) and ``cells_per_stage`` cells per stage (``N``; the benchmark's 5).

        Example:
            >>> net = NB201Space().build_reduced(index_to_arch(1462), width=8, cells_per_stage=1, num_classes=10)
            >>> sum(p.numel() for p in net.parameters())
            91986
        """
        from search_spaces._nb201_torch import NB201Network

        return NB201Network(parse_arch(genotype), num_classes=num_classes, graph=self.graph,
                            stage_channels=tuple(width * 2**stage for stage in range(len(STAGE_CHANNELS))),
                            cells_per_stage=cells_per_stage)

    def input_shape(self, genotype: str | None = None) -> tuple[int, int, int]:
        """``(3, 32, 32)`` for CIFAR, ``(3, 16, 16)`` for ImageNet16-120, for every genotype."""
        return _DATASETS[self.dataset].input_shape

    def describe_genotype(self, genotype: str) -> dict[str, str | int]:
        """``{"arch": arch string, "arch_index": official NB201 index}``."""
        return {"arch": genotype, "arch_index": arch_to_index(genotype)}


# A workload is a row selection from one workload that holds, for every cell, the layers
# of all five ops on every edge. Each of those rows carries a slot: which (edge, op) choice
# puts it in the network. The layers outside the cells are in every network; in the
# deployed graph a node's sums and the cell's zeros depend on several edges, so they have
# slots of their own above NB201_ALWAYS_SLOT.
NB201_ALWAYS_SLOT = len(NB201_EDGES) * len(NB201_OPS)
"""Slot of the layers every network has (stem, reductions, head)."""
_SUM_SLOTS = {"node2.add": NB201_ALWAYS_SLOT + 1, "node3.add": NB201_ALWAYS_SLOT + 2,
              "node3.add:2": NB201_ALWAYS_SLOT + 3}
_ZEROS_SLOT = NB201_ALWAYS_SLOT + 4
NB201_N_SLOTS = _ZEROS_SLOT + 1
"""Number of slots of :meth:`NB201Space.layer_table`."""


def _edge_slot(edge: int, op: str) -> int:
    return edge * len(NB201_OPS) + NB201_OPS.index(op)


def deployed_plan(ops: Sequence[str]) -> tuple[tuple[int, ...], bool]:
    """Non-``none`` inputs of nodes 1-3 in the deployed graph, and whether the zeros are materialised.

    Returns:
        ``(live, zeros)``: ``live[j - 1]`` counts node ``j``'s non-``none`` incoming edges;
        ``zeros`` is True when a non-``none`` edge reads an all-``none`` node or the cell
        output (node 3) is all-``none``.

    Example:
        >>> deployed_plan(["none", "skip_connect", "nor_conv_3x3", "none", "none", "none"])
        ((0, 2, 0), True)
    """
    live = [0, 0, 0]
    zeros = False
    for (frm, to), op in zip(_EDGE_NODES, ops, strict=True):
        if op != "none":
            live[to - 1] += 1
            zeros |= frm > 0 and live[frm - 1] == 0
    zeros |= live[2] == 0
    return tuple(live), zeros


@functools.lru_cache(maxsize=2 * len(NB201_OPS) ** len(NB201_EDGES))
def cell_slots(ops: tuple[str, ...], graph: str = "deployed") -> tuple[int, ...]:
    """The slots (of :meth:`NB201Space.layer_table`) whose layers make up the network of ``ops``."""
    if graph == "reference":
        return (*(_edge_slot(edge, op) for edge, op in enumerate(ops)), NB201_ALWAYS_SLOT)
    live, zeros = deployed_plan(ops)
    chosen = [_edge_slot(edge, op) for edge, op in enumerate(ops) if op != "none"]
    chosen.append(NB201_ALWAYS_SLOT)
    chosen += [_SUM_SLOTS["node2.add"]] * (live[1] >= 2) + [_SUM_SLOTS["node3.add"]] * (live[2] >= 2)
    chosen += [_SUM_SLOTS["node3.add:2"]] * (live[2] >= 3) + [_ZEROS_SLOT] * zeros
    return tuple(chosen)


@functools.lru_cache(maxsize=64)
def _every_layer(dataset: str, batch_size: int, graph: str) -> tuple[Workload, np.ndarray]:
    builder = WorkloadBuilder(batch_size=batch_size)
    slots: list[int] = []

    def add(slot: int, method: str, name: str, **shape: int) -> None:
        getattr(builder, method)(name, **shape)
        slots.append(slot)

    def edge_layers(edge: int, prefix: str, shape: dict[str, int]) -> None:
        for op in NB201_OPS[1:] if graph == "deployed" else NB201_OPS:
            slot = _edge_slot(edge, op)
            if op == "none":
                add(slot, "elementwise", f"{prefix}.zero", **shape)
            elif op == "avg_pool_3x3":
                add(slot, "pool", f"{prefix}.pool", **shape, r=3, padding=1)
            elif op != "skip_connect":
                kernel = 3 if op == "nor_conv_3x3" else 1
                add(slot, "elementwise", f"{prefix}.relu", **shape)
                add(slot, "conv", f"{prefix}.conv", **shape, k=shape["c"], r=kernel, padding=kernel // 2)
                add(slot, "norm", f"{prefix}.bn", **shape)

    channels_in, size, _ = _DATASETS[dataset].input_shape
    channels = STAGE_CHANNELS[0]
    always = NB201_ALWAYS_SLOT
    add(always, "conv", "stem.conv", c=channels_in, h=size, w=size, k=channels, r=3, padding=1)
    add(always, "norm", "stem.bn", c=channels, h=size, w=size)
    for stage, stage_channels in enumerate(STAGE_CHANNELS, start=1):
        if stage_channels != channels:
            block = f"stage{stage}.reduction"
            c, h = channels, size
            size //= 2
            k, p = stage_channels, size
            add(always, "elementwise", f"{block}.conv_a.relu", c=c, h=h, w=h)
            add(always, "conv", f"{block}.conv_a.conv", c=c, h=h, w=h, k=k, r=3, stride=2, padding=1)
            add(always, "norm", f"{block}.conv_a.bn", c=k, h=p, w=p)
            add(always, "elementwise", f"{block}.conv_b.relu", c=k, h=p, w=p)
            add(always, "conv", f"{block}.conv_b.conv", c=k, h=p, w=p, k=k, r=3, padding=1)
            add(always, "norm", f"{block}.conv_b.bn", c=k, h=p, w=p)
            add(always, "pool", f"{block}.shortcut.pool", c=c, h=h, w=h, r=2, stride=2)
            add(always, "conv", f"{block}.shortcut.conv", c=c, h=p, w=p, k=k, r=1)
            add(always, "elementwise", f"{block}.add", c=k, h=p, w=p, inputs=2)
            channels = stage_channels
        for cell in range(CELLS_PER_STAGE):
            shape = {"c": channels, "h": size, "w": size}
            cell_name = f"stage{stage}.cell{cell}"
            if graph == "deployed":
                add(_ZEROS_SLOT, "elementwise", f"{cell_name}.zeros", **shape, inputs=0)
            for edge, (frm, to) in enumerate(_EDGE_NODES):
                edge_layers(edge, f"{cell_name}.{NB201_EDGES[edge]}", shape)
                if graph == "reference" and frm:  # node `to` adds this edge's output to its running sum
                    name = f"node{to}.add" + (f":{frm}" if frm > 1 else "")
                    add(always, "elementwise", f"{cell_name}.{name}", **shape, inputs=2)
                if graph == "deployed" and frm == to - 1:  # the node's edges are done: chain its sums
                    for name in (n for n in _SUM_SLOTS if n.startswith(f"node{to}.")):
                        add(_SUM_SLOTS[name], "elementwise", f"{cell_name}.{name}", **shape, inputs=2)
    add(always, "norm", "head.bn", c=channels, h=size, w=size)
    add(always, "elementwise", "head.relu", c=channels, h=size, w=size)
    add(always, "pool", "head.pool", c=channels, h=size, w=size, r=size, global_pool=True)
    add(always, "linear", "head.classifier", c=channels, k=_DATASETS[dataset].classes)
    return builder.build(), np.array(slots)
