"""The NAS-Bench-201 network as a torch module, with the semantics of NB201's TinyNetwork.

Module names match the layer names of :meth:`NB201Space.workload` (``stem.conv``,
``stage2.reduction.conv_a.conv``, ``stage1.cell0.edge_0_3.bn``, ``stage1.cell0.edge_1_2.zero``,
``head.classifier``), and each node's sums run in a module of its own (``stage1.cell0.node3``),
so a traced workload (:func:`~search_spaces.workload_from_module`) lines up with the analytic
one layer by layer, the zero ops and the node sums included, in either execution graph
(``graph="deployed"`` or ``"reference"``; see :mod:`search_spaces._nb201`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from search_spaces._nb201 import _EDGE_NODES, CELLS_PER_STAGE, NB201_EDGES, STAGE_CHANNELS, deployed_plan


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like its input, computed (``x.mul(0.)``) as NB201's ``Zero`` does.

    A leaf module, so that :func:`~search_spaces.workload_from_module` records it as an
    elementwise layer. It holds no parameters.

    Example:
        >>> Zero()(torch.ones(2, 3)).abs().sum().item()
        0.0
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class ZerosLike(Zero):
    """The deployed graph's zero node: ``torch.zeros_like(x)``, materialised once per cell.

    A :class:`Zero` subclass so a traced workload records it as the same elementwise layer.

    Example:
        >>> ZerosLike()(torch.ones(2, 3)).abs().sum().item()
        0.0
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class _NodeSum(nn.Module):
    """Node ``j`` of a cell: adds one incoming edge's output to the node's running sum.

    Called once per edge after the first, so a traced workload names the sums
    ``nodeJ.add``, ``nodeJ.add:2``, ... as the analytic workload does.
    """

    def forward(self, total: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return total + x


def _relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    # bias=False: the batch norm's affine shift already provides one (NB201 `bias=not affine`).
    return nn.Sequential(OrderedDict(
        relu=nn.ReLU(),
        conv=nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        bn=nn.BatchNorm2d(c_out),
    ))


def _edge_op(op: str, channels: int) -> nn.Module:
    if op == "none":
        return nn.Sequential(OrderedDict(zero=Zero()))
    if op == "skip_connect":
        return nn.Identity()
    if op == "avg_pool_3x3":
        return nn.Sequential(OrderedDict(pool=nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)))
    return _relu_conv_bn(channels, channels, kernel={"nor_conv_1x1": 1, "nor_conv_3x3": 3}[op])


class NB201Cell(nn.Module):
    """One cell: node ``j`` is the sum of the ops on the edges into it; node 3 is the output.

    With ``graph="reference"``, as NB201's ``InferCell``: every edge is computed (``none``
    included) and node ``j`` adds all its ``j`` incoming outputs, zeros too, two at a time.
    With ``graph="deployed"``: ``none`` edges are skipped, node ``j`` chains adds over its
    non-``none`` inputs only, and an all-``none`` node is one ``zeros_like`` tensor per cell,
    made (module ``zeros``, at the start of the cell) only if an edge reads it or it is the
    output. Both compute the same function.

    Args:
        ops: The op of each edge, in :data:`~search_spaces.NB201_EDGES` order.
        channels: Input and output channels (the cell keeps its resolution).
        graph: ``"deployed"`` or ``"reference"``.
    """

    def __init__(self, ops: Sequence[str], channels: int, graph: str = "deployed") -> None:
        super().__init__()
        self.graph = graph
        self.live = [op != "none" or graph == "reference" for op in ops]
        for edge, op, live in zip(NB201_EDGES, ops, self.live, strict=True):
            if live:
                self.add_module(edge, _edge_op(op, channels))
        if graph == "deployed" and deployed_plan(ops)[1]:
            self.zeros = ZerosLike()
        self.node2 = _NodeSum()
        self.node3 = _NodeSum()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        zeros = self.zeros(x) if hasattr(self, "zeros") else None
        nodes: list[torch.Tensor | None] = [x]
        for to in range(1, 4):
            # The reference sums each edge as it is computed; the deployed graph after the node's edges.
            total, pending = None, []
            for edge, (frm, into) in enumerate(_EDGE_NODES):
                if into == to and self.live[edge]:
                    output = getattr(self, NB201_EDGES[edge])(nodes[frm] if nodes[frm] is not None else zeros)
                    if total is None:
                        total = output
                    elif self.graph == "reference":
                        total = getattr(self, f"node{to}")(total, output)
                    else:
                        pending.append(output)
            for output in pending:
                total = getattr(self, f"node{to}")(total, output)
            nodes.append(total)
        return nodes[-1] if nodes[-1] is not None else zeros


class NB201ReductionBlock(nn.Module):
    """NB201's residual block with stride 2: two ReLU-conv3x3-BN and a pooled 1x1-conv shortcut.

    Args:
        c_in: Input channels.
        c_out: Output channels (height and width are halved).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = _relu_conv_bn(c_in, c_out, 3, stride=2)
        self.conv_b = _relu_conv_bn(c_out, c_out, 3)
        self.shortcut = nn.Sequential(OrderedDict(
            pool=nn.AvgPool2d(2, stride=2),
            conv=nn.Conv2d(c_in, c_out, 1, bias=False),
        ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_b(self.conv_a(x))
        return out + self.shortcut(x)


class NB201Network(nn.Module):
    """A NAS-Bench-201 network (NB201 ``TinyNetwork`` with ``C=16, N=5``) for one cell.

    Unlike NB201's module, ``forward`` returns only the logits, not ``(features, logits)``.
    Batch norms are affine and track running statistics; weights keep torch's default
    initialisation. ``stage_channels`` and ``cells_per_stage`` shrink it (NB201's ``C`` and
    ``N``) for training on a small budget; the defaults are the benchmark's network.

    Args:
        ops: The op of each edge, in :data:`~search_spaces.NB201_EDGES` order
            (see :func:`~search_spaces.parse_arch`).
        num_classes: Outputs of the classifier.
        graph: ``"deployed"`` (default) or ``"reference"`` cell execution (see :class:`NB201Cell`).
        stage_channels: Channels of the three stages (NB201: ``C, 2C, 4C`` with ``C = 16``).
        cells_per_stage: Cells stacked in each stage (NB201: ``N = 5``).

    Example:
        >>> from search_spaces import parse_arch
        >>> net = NB201Network(parse_arch("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), 10)
        >>> net(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, ops: Sequence[str], num_classes: int, graph: str = "deployed",
                 stage_channels: Sequence[int] = STAGE_CHANNELS, cells_per_stage: int = CELLS_PER_STAGE) -> None:
        super().__init__()
        self.n_stages = len(stage_channels)
        channels = stage_channels[0]
        self.stem = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(3, channels, 3, padding=1, bias=False),
            bn=nn.BatchNorm2d(channels),
        ))
        for stage, width in enumerate(stage_channels, start=1):
            blocks: OrderedDict[str, nn.Module] = OrderedDict()
            if width != channels:
                blocks["reduction"] = NB201ReductionBlock(channels, width)
                channels = width
            for cell in range(cells_per_stage):
                blocks[f"cell{cell}"] = NB201Cell(ops, channels, graph)
            self.add_module(f"stage{stage}", nn.Sequential(blocks))
        self.head = nn.Sequential(OrderedDict(
            bn=nn.BatchNorm2d(channels),
            relu=nn.ReLU(),
            pool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            classifier=nn.Linear(channels, num_classes),
        ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in range(1, self.n_stages + 1):
            x = getattr(self, f"stage{stage}")(x)
        return self.head(x)
