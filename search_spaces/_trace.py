"""Turn a torch module into a :class:`~cost_models.Workload` by running it once.

Forward hooks on the module's layers record each call with the shapes it saw; tensor
sums written as Python code in a ``forward`` (residual and branch adds, ``a + b`` or
``out += identity``) are recorded too, through a torch function mode. That covers
torchvision-style CNNs: ``workload_from_module(torchvision.models.resnet18(), (3, 224, 224))``.

NB201's zero op (:class:`~search_spaces._nb201_torch.Zero`, the ``none`` edge: ``x.mul(0.)``)
is recorded as the elementwise layer it runs as, so an NB201 network traces to exactly its
analytic workload. What is not recorded: functional calls other than tensor sums (``F.relu``,
``torch.matmul``, ``F.interpolate`` in a ``forward``), and parameter-free modules of other
kinds (dropout, flatten, identity, upsampling). A module that owns parameters but is not a
supported layer raises an error, so no weights are ever silently left out.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from cost_models import Workload, WorkloadBuilder
from search_spaces._nb201_torch import Zero

_ACTIVATIONS = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus,
)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)
_POOLS = (nn.AvgPool2d, nn.MaxPool2d)
_ADAPTIVE_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_ELEMENTWISE = (*_ACTIVATIONS, Zero)
"""One op per element, one input: activations and NB201's zero op (a multiply by 0)."""
_LAYERS = (nn.Conv2d, nn.Linear, *_NORMS, *_POOLS, *_ADAPTIVE_POOLS, *_ELEMENTWISE)
"""Module types that become a workload row; the ones with parameters are conv, linear and norms."""
_WITH_PARAMETERS = "Conv2d, Linear, BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm"
_ADD_FUNCTIONS = frozenset({torch.add, torch.Tensor.add, torch.Tensor.add_})
"""What ``a + b``, ``a += b``, ``torch.add`` and ``a.add(b)`` reach in a function mode."""


def workload_from_module(
    module: nn.Module, input_shape: Sequence[int], batch_size: int = 1
) -> Workload:
    """Run ``module`` once on one zero sample and list the layers it called as a Workload.

    Rows follow execution order. A layer is named by its module path (``layer1.0.conv1``);
    a module called more than once gets ``:2``, ``:3``, ... on its later calls, whose
    parameters are counted only on the first call. A tensor sum is named after the module
    whose ``forward`` computes it (``layer1.0.add``; ``add`` in the root's). The module runs in eval mode without
    gradients; its training flags are restored afterwards.

    Supported layers: ``Conv2d`` (grouped and depthwise too); ``Linear`` (on extra leading
    dimensions, e.g. tokens, it is recorded as the equivalent 1x1 convolution);
    ``BatchNorm1d``, ``BatchNorm2d``, ``GroupNorm`` and ``LayerNorm``, all as the norm kind (its
    2 ops per element understate the statistics that group and layer norms compute at run time);
    ``AvgPool2d`` and ``MaxPool2d`` with square windows; ``AdaptiveAvgPool2d`` and
    ``AdaptiveMaxPool2d`` (global, or an integer window); and the usual activations (ReLU,
    ReLU6, GELU, SiLU, Hardswish, sigmoid, ...) and NB201's ``Zero`` as elementwise ops.

    Args:
        module: The network.
        input_shape: Shape of one input sample without the batch dimension, e.g. ``(3, 224, 224)``.
        batch_size: ``n`` of every layer. Work and activations scale linearly with it, so the
            module itself runs on a single sample.

    Returns:
        One network; its MACs and parameters equal what the module computes and holds.

    Raises:
        ValueError: A module holds parameters but is not a supported layer (the message
            names it), or a layer's geometry has no Workload equivalent (unequal strides,
            non-square pooling windows, a padding that differs between the axes).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        >>> wl = workload_from_module(net, (3, 32, 32), batch_size=4)
        >>> wl.name.tolist(), int(wl.macs.sum()), int(wl.params.sum())
        (['0', '1', '2'], 884736, 224)
    """
    shape = tuple(int(size) for size in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"input_shape must be positive sizes without the batch dimension, got {input_shape!r}")
    _check_supported(module)
    tracer = _Tracer(module)
    first = next(module.parameters(), None)
    placement = {} if first is None else {"dtype": first.dtype, "device": first.device}
    sample = torch.zeros((1, *shape), **placement)
    training = {submodule: submodule.training for submodule in module.modules()}
    handles = []
    for submodule in tracer.names:
        handles.append(submodule.register_forward_pre_hook(tracer.enter))
        handles.append(submodule.register_forward_hook(tracer.leave))
    try:
        module.eval()
        with torch.no_grad(), _SumRecorder(tracer):
            module(sample)
    finally:
        for handle in handles:
            handle.remove()
        for submodule, mode in training.items():
            submodule.training = mode
    return tracer.build(batch_size)


def _check_supported(module: nn.Module) -> None:
    for name, submodule in module.named_modules():
        own = [label for label, _ in submodule.named_parameters(recurse=False)]
        if own and not isinstance(submodule, _LAYERS):
            raise ValueError(
                f"cannot trace module {name or '<root>'!r} ({type(submodule).__name__}): it holds "
                f"parameters ({', '.join(own)}) but is not a supported layer; supported layers with "
                f"parameters: {_WITH_PARAMETERS}"
            )


@dataclasses.dataclass
class _Row:
    method: str
    name: str
    shape: dict[str, Any]
    module: nn.Module | None
    """The layer that holds this row's parameters (None for a tensor sum)."""
    first_call: bool


class _Tracer:
    """Collects rows from module hooks and the sum recorder, then builds the workload."""

    def __init__(self, module: nn.Module) -> None:
        self.names = {submodule: name for name, submodule in module.named_modules()}
        self.stack: list[nn.Module] = []
        self.rows: list[_Row] = []
        self._calls: collections.Counter[str] = collections.Counter()
        self._called: set[nn.Module] = set()

    def enter(self, module: nn.Module, args: tuple) -> None:
        self.stack.append(module)

    def leave(self, module: nn.Module, args: tuple, output: Any) -> None:
        self.stack.pop()
        if isinstance(module, _LAYERS):
            name = self.names[module] or type(module).__name__.lower()  # the root is a single layer
            method, shape = _layer_shape(module, name, args[0], output)
            self._append(method, name, shape, module)

    def inside_layer(self) -> bool:
        return bool(self.stack) and isinstance(self.stack[-1], _LAYERS)

    def record_sum(self, output: torch.Tensor) -> None:
        owner = self.names[self.stack[-1]]
        c, h, w = _chw(output.shape)
        self._append("elementwise", f"{owner}.add" if owner else "add", {"c": c, "h": h, "w": w, "inputs": 2}, None)

    def _append(self, method: str, name: str, shape: dict[str, Any], module: nn.Module | None) -> None:
        self._calls[name] += 1
        calls = self._calls[name]
        first_call = module not in self._called
        self._called.add(module)
        self.rows.append(_Row(method, name if calls == 1 else f"{name}:{calls}", shape, module, first_call))

    def build(self, batch_size: int) -> Workload:
        builder = WorkloadBuilder(batch_size=batch_size)
        for row in self.rows:
            getattr(builder, row.method)(row.name, **row.shape)
        workload = builder.build()
        params = workload.params.copy()
        for index, row in enumerate(self.rows):
            if row.module is None:
                continue
            if not row.first_call:
                params[index] = 0  # shared weights are held once
                continue
            held = sum(parameter.numel() for parameter in row.module.parameters())
            if params[index] != held:
                raise ValueError(
                    f"cannot trace module {row.name!r} ({type(row.module).__name__}): it holds {held} "
                    f"parameters, but its workload row would count {params[index]}"
                )
        return dataclasses.replace(workload, params=params)


class _SumRecorder(TorchFunctionMode):
    """Records ``a + b`` of two same-shaped tensors computed outside any supported layer."""

    def __init__(self, tracer: _Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_function__(
        self, func: Any, types: tuple, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        if func in _ADD_FUNCTIONS and not self.tracer.inside_layer():
            other = args[1] if len(args) > 1 else kwargs.get("other")
            # A scalar or broadcast add (bias, `0 + x`) is not a branch sum.
            if isinstance(other, torch.Tensor) and other.shape == args[0].shape:
                self.tracer.record_sum(output)
        return output


def _layer_shape(module: nn.Module, name: str, x: torch.Tensor, y: torch.Tensor) -> tuple[str, dict[str, Any]]:
    """The WorkloadBuilder method and keyword arguments for one call of a supported layer."""
    if isinstance(module, nn.Conv2d):
        _, c, h, w = x.shape
        _, k, p, q = y.shape
        r, s = module.kernel_size
        stride = _single(module.stride, name, "stride")
        padding = _equivalent_padding(name, (h, w), (p, q), (r, s), stride)
        return "conv", {"c": c, "h": h, "w": w, "k": k, "r": r, "s": s, "stride": stride, "padding": padding,
                        "groups": module.groups, "bias": module.bias is not None}
    if isinstance(module, nn.Linear):
        c, k = module.in_features, module.out_features
        tokens = x.numel() // c
        if tokens == 1:
            return "linear", {"c": c, "k": k, "bias": module.bias is not None}
        # Same MACs and weights as a 1x1 convolution over a (tokens x 1) feature map.
        return "conv", {"c": c, "h": tokens, "w": 1, "k": k, "r": 1, "bias": module.bias is not None}
    if isinstance(module, nn.LayerNorm):
        c = math.prod(module.normalized_shape)
        return "norm", {"c": c, "h": y.numel() // (y.shape[0] * c), "w": 1, "affine": module.elementwise_affine}
    c, h, w = _chw(y.shape)
    mode = "max" if isinstance(module, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)) else "avg"
    if isinstance(module, _NORMS):
        return "norm", {"c": c, "h": h, "w": w, "affine": module.affine}
    if isinstance(module, _ELEMENTWISE):
        return "elementwise", {"c": c, "h": h, "w": w}
    _, _, in_h, in_w = x.shape
    if isinstance(module, _ADAPTIVE_POOLS):
        if (h, w) == (1, 1):
            return "pool", {"c": c, "h": in_h, "w": in_w, "r": in_h, "global_pool": True, "mode": mode}
        if in_h % h or in_w % w or in_h // h != in_w // w:
            raise ValueError(
                f"cannot trace module {name!r} ({type(module).__name__}): adaptive pooling "
                f"{in_h}x{in_w} -> {h}x{w} has no fixed square window"
            )
        return "pool", {"c": c, "h": in_h, "w": in_w, "r": in_h // h, "stride": in_h // h, "mode": mode}
    r = _single(module.kernel_size, name, "kernel_size")
    stride = _single(module.stride, name, "stride")
    padding = _equivalent_padding(name, (in_h, in_w), (h, w), (r, r), stride)
    return "pool", {"c": c, "h": in_h, "w": in_w, "r": r, "stride": stride, "padding": padding, "mode": mode}


def _single(value: int | Sequence[int], name: str, label: str) -> int:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if pair[0] != pair[1]:
        raise ValueError(f"cannot trace module {name!r}: unequal {label} {pair} has no Workload equivalent")
    return int(pair[0])


def _equivalent_padding(
    name: str, size: tuple[int, int], out: tuple[int, int], kernel: tuple[int, int], stride: int
) -> int:
    """A padding for which ``WorkloadBuilder``'s output-size formula gives the observed output.

    The Workload stores no padding, only sizes; this also absorbs dilation and ``ceil_mode``.
    """
    low, high = -math.inf, math.inf
    for size_in, size_out, extent in zip(size, out, kernel, strict=True):
        # (size_in + 2 * padding - extent) // stride + 1 == size_out
        low = max(low, -(-((size_out - 1) * stride - size_in + extent) // 2))
        high = min(high, (size_out * stride - 1 - size_in + extent) // 2)
    if low > high:
        raise ValueError(
            f"cannot trace module {name!r}: no single padding maps {size} to {out} with a "
            f"{kernel[0]}x{kernel[1]} window and stride {stride} (a Workload row has one padding for "
            f"both axes and no dilation)"
        )
    return int(low)


def _chw(shape: torch.Size) -> tuple[int, int, int]:
    """``(channels, height, width)`` of a batched activation, for the elementwise layer kinds."""
    dims = tuple(shape[1:])
    if len(dims) == 3:
        return dims
    if len(dims) == 2:
        return dims[0], dims[1], 1
    return math.prod(dims), 1, 1
