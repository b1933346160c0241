"""Which Workload row one ATen operator call is: the operator-to-layer-kind table of the tracer.

:func:`operator_row` looks at one operator call (what ``torch.utils.flop_counter`` sees: the
op, its argument tensors' shapes and the output's) and returns the
:class:`~cost_models.WorkloadBuilder` call that describes the kernel it launches, ``None`` for
an op that moves no data, or raises for an op the IR cannot express. Shapes are those of a
batch of one sample, so every count is per sample and the builder's ``n`` scales it.

| ATen operators | row |
| --- | --- |
| ``convolution`` (2-D) | ``CONV``, or ``DEPTHWISE_CONV`` when ``groups == c == k`` |
| ``addmm``, ``mm``, ``bmm`` with a weight operand | ``LINEAR`` with ``rows`` = vectors per sample (tokens) |
| ``mm``, ``bmm``, ``baddbmm`` of two activations | ``MATMUL`` (``groups`` = batched products, e.g. heads) |
| fused attention (``_scaled_dot_product_*_attention*``) | ``MATMUL`` QK^T, ``ELEMENTWISE`` softmax, ``MATMUL`` AV |
| ``native_batch_norm``, ``native_layer_norm``, ``native_group_norm`` | ``NORM`` |
| ``avg_pool2d``, ``_adaptive_avg_pool2d``, ``mean``/``sum`` reductions | ``POOL`` (global for reductions) |
| ``max_pool2d_with_indices``, ``adaptive_max_pool2d``, ``amax`` | ``MAX_POOL`` |
| ``cat``, ``constant_pad_nd``, ``clone``, ``copy_``, ``_to_copy``, gathers, upsampling | ``COPY`` |
| pointwise ops (tagged ``torch.Tag.pointwise``), hardswish, softmax | ``ELEMENTWISE`` |
| views, ``expand``, ``empty``, device queries | no row (no data moves) |
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

aten = torch.ops.aten


@dataclasses.dataclass
class OperatorRow:
    """One Workload row: the :class:`~cost_models.WorkloadBuilder` method and its arguments.

    Args:
        method: Builder method (``conv``, ``linear``, ``matmul``, ``copy``, ``pool``,
            ``elementwise``, ``norm``).
        shape: Its keyword arguments (sizes of one sample).
        label: Short name of the operation (``add``, ``cat``, ``qk``), used in row names.
        weight: The tensor argument that holds the layer's weights (conv, linear, norm), if any
            (in an ONNX graph, the name of its initializer).
    """

    method: str
    shape: dict[str, Any]
    label: str
    weight: torch.Tensor | str | None = None


class UnsupportedOperator(ValueError):
    """An operator the Workload IR has no layer kind for (the message names it)."""


_NO_DATA = frozenset({
    aten.empty.memory_format, aten.empty_strided.default, aten.empty_like.default,
    aten.lift_fresh.default, aten.detach.default, aten.alias.default, aten.sym_size.int,
    aten.sym_stride.int, aten.sym_numel.default, aten.sym_storage_offset.default,
    aten._assert_tensor_metadata.default, aten._unsafe_view.default,
})
"""Ops that allocate or describe a tensor but launch no kernel that reads or writes one."""

_ELEMENTWISE_EXTRA = frozenset({
    aten.hardswish.default, aten.hardswish_.default, aten._softmax.default, aten._log_softmax.default,
    aten._safe_softmax.default, aten.softmax.int, aten.log_softmax.int, aten._prelu_kernel.default,
})
"""Elementwise ops that carry no ``pointwise`` tag (softmax rows are normalised per row, in one pass)."""

_FILLS = frozenset({
    aten.zeros_like.default, aten.ones_like.default, aten.full_like.default, aten.fill_.Scalar, aten.zero_.default,
})
"""Kernels that write a constant into a tensor shaped like their input: they read none of its values."""

_COPIES = frozenset({
    aten.cat.default, aten.constant_pad_nd.default, aten.clone.default, aten.copy_.default,
    aten._to_copy.default, aten.embedding.default, aten.index_select.default, aten.gather.default,
    aten.index.Tensor, aten.upsample_nearest2d.default, aten.upsample_bilinear2d.default,
    aten.reflection_pad2d.default, aten.replication_pad2d.default,
})
"""Data movement without arithmetic worth counting: concatenation, padding, layout copies,
gathers and resampling (a bilinear blend's 4 multiply-adds per output are far below its traffic)."""


def moves_no_data(func: torch._ops.OpOverload) -> bool:
    """Whether ``func`` returns a view of its input, changes only metadata, or allocates."""
    if func in _NO_DATA or torch.Tag.inplace_view in func.tags:
        return True
    returns = func._schema.returns
    return bool(returns) and all(r.alias_info is not None and not r.alias_info.is_write for r in returns)


def operator_row(
    func: torch._ops.OpOverload, args: Sequence[Any], kwargs: dict[str, Any], out: Any,
    is_weight: Callable[[torch.Tensor], bool],
) -> OperatorRow | list[OperatorRow] | None:
    """The row of one operator call (three for fused attention), or ``None`` for one that moves no data.

    Args:
        func: The ATen operator overload, e.g. ``aten.convolution.default``.
        args: Its positional arguments (tensors of a batch of one sample).
        kwargs: Its keyword arguments.
        out: What it returned.
        is_weight: Whether a tensor is a parameter of the network (or a view of one), which
            tells a linear layer (activation x weight) from an activation product.

    Raises:
        UnsupportedOperator: The IR has no layer kind for ``func`` or for this use of it.
    """
    if moves_no_data(func):
        return None
    tensors = tensor_arguments(args, kwargs)
    if not tensors or not tensor_arguments([out], {}):
        return None  # a factory (zeros, arange) reads nothing; a query (device, size) writes nothing
    packet = func.overloadpacket
    if packet in _ATTENTION:
        return attention_rows(*args[:3])
    handler = _HANDLERS.get(packet)
    if handler is not None:
        return handler(args, kwargs, out, is_weight)
    if func in _COPIES:
        return OperatorRow("copy", _chw(_first_tensor(out).shape), _label(func))
    if func in _FILLS:
        return OperatorRow("elementwise", {**_chw(_first_tensor(out).shape), "inputs": 0}, _label(func))
    if torch.Tag.pointwise in func.tags or func in _ELEMENTWISE_EXTRA:
        result = _first_tensor(out)
        inputs = sum(1 for t in tensors if t.numel() == result.numel() and t.numel() > 1)
        return OperatorRow("elementwise", {**_chw(result.shape), "inputs": max(inputs, 1)}, _label(func))
    raise UnsupportedOperator("the Workload IR has no layer kind for this operator")


def tensor_arguments(args: Sequence[Any], kwargs: dict[str, Any]) -> list[torch.Tensor]:
    """The tensors among an operator's arguments (or results), lists of tensors opened."""
    return [a for a in _flat(args) + _flat(list(kwargs.values())) if isinstance(a, torch.Tensor)]


def _label(func: torch._ops.OpOverload) -> str:
    return func.overloadpacket.__name__.strip("_")


def _flat(values: Sequence[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        if isinstance(value, (list, tuple)):
            flat.extend(_flat(value))
        else:
            flat.append(value)
    return flat


def _first_tensor(out: Any) -> torch.Tensor:
    return next(t for t in _flat([out]) if isinstance(t, torch.Tensor))


def _chw(shape: Sequence[int]) -> dict[str, int]:
    """``c, h, w`` of one sample of an activation, for the kinds that only count elements."""
    dims = [int(size) for size in shape[1:]]
    if len(dims) == 3:
        c, h, w = dims
    elif len(dims) == 2:
        (c, h), w = dims, 1
    else:
        c, h, w = math.prod(dims), 1, 1
    return {"c": c, "h": h, "w": w}


def _square(values: Sequence[int], what: str) -> int:
    pair = [int(v) for v in values]
    if len(pair) == 1:
        pair *= 2
    if len(pair) != 2 or pair[0] != pair[1]:
        raise UnsupportedOperator(f"unequal {what} {tuple(pair)} has no Workload equivalent")
    return pair[0]


def equivalent_padding(size: Sequence[int], out: Sequence[int], kernel: Sequence[int], stride: int) -> int:
    """A padding for which ``WorkloadBuilder``'s output-size formula gives the observed output.

    The Workload stores no padding, only sizes; this also absorbs dilation and ``ceil_mode``.

    Raises:
        UnsupportedOperator: No single padding reproduces both axes.
    """
    low, high = -math.inf, math.inf
    for size_in, size_out, extent in zip(size, out, kernel, strict=True):
        # (size_in + 2 * padding - extent) // stride + 1 == size_out
        low = max(low, -(-((size_out - 1) * stride - size_in + extent) // 2))
        high = min(high, (size_out * stride - 1 - size_in + extent) // 2)
    if low > high:
        raise UnsupportedOperator(
            f"no single padding maps {tuple(size)} to {tuple(out)} with a {kernel[0]}x{kernel[1]} window "
            f"and stride {stride} (a Workload row has one padding for both axes and no dilation)"
        )
    return int(low)


def _convolution(args, kwargs, out, is_weight) -> OperatorRow:
    x, weight, bias, stride, _, _, transposed = args[:7]
    groups = int(args[8])
    if transposed:
        raise UnsupportedOperator("a transposed convolution has no Workload layer kind")
    if x.dim() != 4:
        raise UnsupportedOperator(f"a {x.dim() - 2}-D convolution has no Workload layer kind (2-D only)")
    _, c, h, w = x.shape
    k, _, r, s = weight.shape
    stride = _square(stride, "stride")
    padding = equivalent_padding((h, w), out.shape[2:], (r, s), stride)
    return OperatorRow("conv", {"c": c, "h": h, "w": w, "k": k, "r": r, "s": s, "stride": stride,
                                "padding": padding, "groups": groups, "bias": bias is not None}, "conv", weight)


def _product(a: torch.Tensor, b: torch.Tensor, bias: bool, is_weight, label: str) -> OperatorRow:
    """``a @ b`` (2-D, or batched 3-D): a linear layer when one side holds weights."""
    groups = a.shape[0] if a.dim() == 3 else 1
    m, c = a.shape[-2:]
    k = b.shape[-1]
    if is_weight(b):
        return OperatorRow("linear", {"c": c, "k": k, "bias": bias, "rows": groups * m}, "linear", b)
    if is_weight(a):  # W @ x: the columns of x are the vectors
        return OperatorRow("linear", {"c": c, "k": m, "bias": bias, "rows": groups * k}, "linear", a)
    return OperatorRow("matmul", {"m": m, "c": c, "k": k, "groups": groups}, label)


def _addmm(args, kwargs, out, is_weight) -> OperatorRow:
    return _product(args[1], args[2], True, is_weight, "matmul")


def _mm(args, kwargs, out, is_weight) -> OperatorRow:
    return _product(args[0], args[1], False, is_weight, "matmul")


def _baddbmm(args, kwargs, out, is_weight) -> OperatorRow:
    return _product(args[1], args[2], False, is_weight, "matmul")


def _batch_norm(args, kwargs, out, is_weight) -> OperatorRow:
    x, weight = args[0], args[1]
    return OperatorRow("norm", {**_chw(x.shape), "affine": weight is not None}, "batch_norm", weight)


def _group_norm(args, kwargs, out, is_weight) -> OperatorRow:
    x, weight = args[0], args[1]
    return OperatorRow("norm", {**_chw(x.shape), "affine": weight is not None}, "group_norm", weight)


def _layer_norm(args, kwargs, out, is_weight) -> OperatorRow:
    x, normalized, weight = args[0], args[1], args[2] if len(args) > 2 else None
    c = math.prod(normalized)
    return OperatorRow("norm", {"c": c, "h": x.numel() // c, "w": 1, "affine": weight is not None},
                       "layer_norm", weight)


def _window_pool(mode: str) -> Callable[..., OperatorRow]:
    def pool(args, kwargs, out, is_weight) -> OperatorRow:
        x, kernel = args[0], args[1]
        r = _square(kernel, "pooling window")
        stride = _square(args[2], "stride") if len(args) > 2 and len(args[2]) else r
        _, c, h, w = x.shape
        padding = equivalent_padding((h, w), _first_tensor(out).shape[2:], (r, r), stride)
        return OperatorRow("pool", {"c": c, "h": h, "w": w, "r": r, "stride": stride, "padding": padding,
                                    "mode": mode}, f"{mode}_pool")
    return pool


def _adaptive_pool(mode: str) -> Callable[..., OperatorRow]:
    def pool(args, kwargs, out, is_weight) -> OperatorRow:
        x = args[0]
        _, c, h, w = x.shape
        p, q = _first_tensor(out).shape[2:]
        if (p, q) == (1, 1):
            return OperatorRow("pool", {"c": c, "h": h, "w": w, "r": h, "global_pool": True, "mode": mode},
                               f"{mode}_pool")
        if h % p or w % q or h // p != w // q:
            raise UnsupportedOperator(f"adaptive pooling {h}x{w} -> {p}x{q} has no fixed square window")
        return OperatorRow("pool", {"c": c, "h": h, "w": w, "r": h // p, "stride": h // p, "mode": mode},
                           f"{mode}_pool")
    return pool


def _reduction(mode: str, name: str) -> Callable[..., OperatorRow]:
    """A reduction as a global pool; over a feature map's height and width it is labelled one
    (``avgpool``: ``F.adaptive_avg_pool2d(x, 1)`` runs as a mean over them)."""
    def reduce(args, kwargs, out, is_weight) -> OperatorRow:
        x = args[0]
        dims = args[1] if len(args) > 1 else kwargs.get("dim")
        reduced = range(x.dim()) if dims is None or dims == [] else [d % x.dim() for d in _flat([dims])]
        if x.dim() == 4 and sorted(reduced) == [2, 3]:  # global pooling of a feature map
            _, c, h, w = x.shape
            label = f"{mode}pool"
        else:
            h = math.prod(x.shape[d] for d in reduced)
            c, w = x.numel() // h, 1
            label = name
        return OperatorRow("pool", {"c": c, "h": h, "w": w, "r": h, "global_pool": True, "mode": mode}, label)
    return reduce


_HANDLERS: dict[Any, Callable[..., OperatorRow]] = {
    aten.convolution: _convolution,
    aten._convolution: _convolution,
    aten.addmm: _addmm,
    aten.mm: _mm,
    aten.bmm: _mm,
    aten.baddbmm: _baddbmm,
    aten.native_batch_norm: _batch_norm,
    aten._native_batch_norm_legit_no_training: _batch_norm,
    aten._native_batch_norm_legit: _batch_norm,
    aten.native_group_norm: _group_norm,
    aten.native_layer_norm: _layer_norm,
    aten.max_pool2d_with_indices: _window_pool("max"),
    aten.max_pool2d: _window_pool("max"),
    aten.avg_pool2d: _window_pool("avg"),
    aten._adaptive_avg_pool2d: _adaptive_pool("avg"),
    aten.adaptive_max_pool2d: _adaptive_pool("max"),
    aten.mean: _reduction("avg", "mean"),
    aten.sum: _reduction("avg", "sum"),
    aten.amax: _reduction("max", "amax"),
}


_ATTENTION = frozenset({
    aten._scaled_dot_product_flash_attention_for_cpu, aten._scaled_dot_product_flash_attention,
    aten._scaled_dot_product_efficient_attention, aten._scaled_dot_product_cudnn_attention,
})
"""Fused attention kernels; ``scaled_dot_product_attention`` picks one (the CPU flash kernel on fake
CPU tensors) or, where none applies, runs as its math decomposition (matrix products and softmax)."""


def attention_rows(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> list[OperatorRow]:
    """Scaled dot-product attention (a fused ATen kernel) as the three steps of its computation.

    ``softmax(Q K^T / sqrt(E)) V`` for ``query`` ``(..., L, E)``, ``key`` ``(..., S, E)`` and
    ``value`` ``(..., S, Ev)``; the leading dimensions (batch of one, heads) are the groups.
    A fused kernel (FlashAttention) runs the same multiply-accumulates in one launch; the rows
    keep them apart so each product is costed as the GEMM it is.
    """
    groups = math.prod(query.shape[:-2])
    (length, embed), source, value_embed = query.shape[-2:], key.shape[-2], value.shape[-1]
    return [
        OperatorRow("matmul", {"m": length, "c": embed, "k": source, "groups": groups}, "qk"),
        OperatorRow("elementwise", {"c": groups, "h": length, "w": source}, "softmax"),
        OperatorRow("matmul", {"m": length, "c": source, "k": value_embed, "groups": groups}, "av"),
    ]
