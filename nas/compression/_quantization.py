"""Quantization: number formats as data, fake quantization of tensors and modules, and the IR bits.

Fake quantization keeps tensors in floating point but rounds every value onto the grid
of the target format (times a scale), so a torch module computes what the quantized
network would, up to the accumulator's wider precision. The same choice of formats sets
``weight_bits``, ``act_bits`` and ``math`` of a :class:`~cost_models.Workload` through
:func:`quantize_workload`, so the accuracy proxies and the cost models see one network.

References:
    OCP Microscaling Formats (MX) Specification v1.0, Open Compute Project, 2023:
    the fp6 (e3m2, e2m3) and fp4 (e2m1) element formats, all codes finite.
    P. Micikevicius et al., "FP8 Formats for Deep Learning", arXiv:2209.05433, 2022:
    fp8 e4m3 (no infinities, one NaN code, max 448) and e5m2 (IEEE-like, max 57344),
    with a per-tensor scale that maps the tensor's absolute maximum to the format's max.
    B. Jacob et al., "Quantization and Training of Neural Networks for Efficient
    Integer-Arithmetic-Only Inference", CVPR 2018: asymmetric (affine) integers.
    H. Wu et al., "Integer Quantization for Deep Learning Inference: Principles and
    Empirical Evaluation", arXiv:2004.09602, 2020: symmetric restricted-range integers,
    per-channel weight scales.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from typing import Literal

import numpy as np
import torch
from torch import nn

from cost_models import NumberFormat, Workload
from nas._errors import InputError


@dataclasses.dataclass(frozen=True)
class QuantFormat:
    """A number format that tensors are fake-quantized to.

    Symmetric or asymmetric grids and per-tensor or per-channel scales are choices of
    :func:`fake_quantize`, not separate formats.

    Args:
        name: Registry name, e.g. ``"int8"``, ``"fp8_e4m3"``.
        bits: Storage bits per value, sign included.
        kind: ``"int"`` (a signed or offset integer times a scale) or ``"float"``
            (sign, exponent and mantissa fields).
        exponent_bits: Width of the exponent field (0 for integers).
        mantissa_bits: Width of the stored mantissa field, without the hidden bit (0 for integers).
        bias: Exponent bias: a normal value is ``(1 + mantissa / 2**mantissa_bits) * 2**(exponent - bias)``
            and a subnormal one (exponent field 0) ``mantissa / 2**mantissa_bits * 2**(1 - bias)``
            (0 for integers).
        max_value: Largest finite magnitude: of the format for floats, of the symmetric
            integer grid ``2**(bits - 1) - 1`` for integers.
        has_inf: Whether some code means infinity.
        has_nan: Whether some code means NaN.

    Example:
        >>> fmt = quant_format("fp8_e4m3")
        >>> fmt.max_value, fmt.min_normal, fmt.min_subnormal
        (448.0, 0.015625, 0.001953125)
    """

    name: str
    bits: int
    kind: Literal["int", "float"]
    exponent_bits: int
    mantissa_bits: int
    bias: int
    max_value: float
    has_inf: bool
    has_nan: bool

    @property
    def min_normal(self) -> float:
        """Smallest positive normal value of a float format, ``2**(1 - bias)``."""
        return 2.0 ** (1 - self.bias)

    @property
    def min_subnormal(self) -> float:
        """Smallest positive value of a float format, ``2**(1 - bias - mantissa_bits)``."""
        return 2.0 ** (1 - self.bias - self.mantissa_bits)


def _int(bits: int) -> QuantFormat:
    return QuantFormat(f"int{bits}", bits, "int", 0, 0, 0, float(2 ** (bits - 1) - 1), False, False)


def _float(name: str, e: int, m: int, bias: int, max_value: float, has_inf: bool, has_nan: bool) -> QuantFormat:
    return QuantFormat(name, 1 + e + m, "float", e, m, bias, max_value, has_inf, has_nan)


FORMATS: dict[str, QuantFormat] = {
    **{f"int{b}": _int(b) for b in range(2, 9)},
    # IEEE 754 binary16 and bfloat16 (the top 16 bits of binary32).
    "fp16": _float("fp16", 5, 10, 15, 65504.0, True, True),
    "bf16": _float("bf16", 8, 7, 127, float(torch.finfo(torch.bfloat16).max), True, True),
    # Micikevicius et al. 2022 / OCP 8-bit FP: e4m3 gives up infinities and keeps one
    # NaN mantissa (S.1111.111), so its top binade reaches 1.75 * 2**8 = 448.
    "fp8_e4m3": _float("fp8_e4m3", 4, 3, 7, 448.0, False, True),
    "fp8_e5m2": _float("fp8_e5m2", 5, 2, 15, 57344.0, True, True),
    # OCP MX v1.0 element data types: no inf, no NaN; every code is a finite number.
    "fp6_e3m2": _float("fp6_e3m2", 3, 2, 3, 28.0, False, False),
    "fp6_e2m3": _float("fp6_e2m3", 2, 3, 1, 7.5, False, False),
    "fp4_e2m1": _float("fp4_e2m1", 2, 1, 1, 6.0, False, False),
}
"""Every :class:`QuantFormat` by name."""

_IR_FORMAT = {
    **{f"int{b}": NumberFormat.INT8 for b in range(5, 9)},
    **{f"int{b}": NumberFormat.INT4 for b in range(2, 5)},
    "fp16": NumberFormat.FP16,
    "bf16": NumberFormat.BF16,
    "fp8_e4m3": NumberFormat.FP8,
    "fp8_e5m2": NumberFormat.FP8,
    "fp6_e3m2": NumberFormat.FP6,
    "fp6_e2m3": NumberFormat.FP6,
    "fp4_e2m1": NumberFormat.FP4,
}


def _join(a: NumberFormat, b: NumberFormat) -> NumberFormat:
    """Where a MAC of an ``a`` and a ``b`` operand runs: the first format holding both (``NumberFormat.wider``)."""
    holds_b = (b, *b.wider)
    return next(f for f in (a, *a.wider) if f in holds_b)


_JOIN = np.array([[_join(a, b) for b in NumberFormat] for a in NumberFormat], dtype=np.int8)
"""``_JOIN[a, b]``: the narrowest format holding both ``a`` and ``b`` (indexed by code)."""

_QUANTIZED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
"""Layers whose weights :func:`quantize_module` quantizes; all keep out channels on axis 0."""


def quant_format(fmt: QuantFormat | str) -> QuantFormat:
    """Look a format up by name (a :class:`QuantFormat` passes through).

    Raises:
        ValueError: Unknown name, with the choices.
    """
    if isinstance(fmt, QuantFormat):
        return fmt
    try:
        return FORMATS[fmt]
    except KeyError:
        raise InputError(f"unknown quantization format {fmt!r}; choose from {', '.join(FORMATS)}") from None


def ir_format(fmt: QuantFormat | str) -> NumberFormat:
    """The :class:`~cost_models.NumberFormat` whose arithmetic runs ``fmt``; see :func:`quantize_workload`."""
    return _IR_FORMAT[quant_format(fmt).name]


def round_to_format(tensor: torch.Tensor, fmt: QuantFormat | str) -> torch.Tensor:
    """Round every value to the nearest finite value of the float format ``fmt``, unscaled.

    Ties go to the value with an even mantissa; values past ``max_value`` (and infinities)
    saturate to ``+-max_value``; values below the smallest normal land on the subnormal
    grid; NaN stays NaN. The rounding is exact for every format, fp16 and bf16 included
    (it agrees with torch's casts of float32 wherever those do not overflow).

    Args:
        tensor: Floating-point tensor; the result has its dtype and shape (a bf16 or fp16
            tensor holds every value of the narrower formats exactly).
        fmt: A float format.

    Example:
        >>> round_to_format(torch.tensor([0.3, 2.5, 3.5, 1000.0]), "fp4_e2m1").tolist()
        [0.5, 2.0, 4.0, 6.0]
    """
    fmt = quant_format(fmt)
    if fmt.kind != "float":
        raise InputError(f"fmt: {fmt.name!r} is not a float format; round_to_format needs one")
    # Every format here fits in float32 exactly; float64 inputs stay float64 so that no
    # value is rounded twice (to float32, then to the format).
    x = tensor if tensor.dtype == torch.float64 else tensor.float()
    x = x.clamp(-fmt.max_value, fmt.max_value)
    # frexp gives the binade exactly (log2 would misjudge values next to a power of two);
    # below the smallest normal the grid stays that of the subnormals.
    _, exponent = torch.frexp(x)
    binade = torch.clamp(exponent - 1, min=1 - fmt.bias)
    quantum = torch.ldexp(torch.ones_like(x), binade - fmt.mantissa_bits)
    # Division and multiplication by a power of two are exact; torch.round ties to even,
    # and an even multiple of the quantum has an even mantissa (a carry into the next
    # binade gives mantissa 0). Clamping first makes every result <= max_value.
    return (torch.round(x / quantum) * quantum).to(tensor.dtype)


def fake_quantize(
    tensor: torch.Tensor,
    fmt: QuantFormat | str,
    *,
    per_channel_axis: int | None = None,
    symmetric: bool = True,
) -> torch.Tensor:
    """Round ``tensor`` onto the grid of ``fmt`` times a scale taken from its range; return it in float.

    Integers (``int2``..``int8``, *b* bits):

    - symmetric: restricted range ``[-(2**(b-1) - 1), 2**(b-1) - 1]``, scale
      ``absmax / (2**(b-1) - 1)`` (Wu et al. 2020), so int2 is ternary;
    - asymmetric: levels ``0 .. 2**b - 1``, scale ``(max - min) / (2**b - 1)`` over a range
      widened to hold 0, zero point ``round(-min / scale)`` (Jacob et al. 2018), so zero
      (padding, ReLU) is exact.

    Values round to nearest, ties to even, and clamp to the levels; the error of a value
    inside the range is at most ``scale / 2``.

    Floats of 8 bits or fewer: one scale ``absmax / max_value`` per tensor (or per channel),
    as in the per-tensor FP8 recipe of Micikevicius et al. 2022 (not the MX recipe's
    power-of-two scale per block of 32), then :func:`round_to_format`. fp16 and bf16 are
    cast unscaled, as mixed-precision inference runs them.

    Scales come from this tensor (dynamic quantization; no calibration). A tensor of
    zeros keeps scale 1. The gradient is the identity (straight-through estimator,
    Bengio et al. 2013, arXiv:1308.3432), so gradient-based proxies still see a signal.

    Args:
        tensor: Floating-point tensor; the result has its dtype and shape.
        fmt: Format name or :class:`QuantFormat`.
        per_channel_axis: Axis with one scale per index (0 for the output channels of a
            conv or linear weight); None for one scale per tensor.
        symmetric: Integer grid symmetric about 0 (True) or offset by a zero point; float
            formats are sign-magnitude and accept only True.

    Example:
        >>> fake_quantize(torch.tensor([-1.0, 0.1, 0.4, 1.0]), "int2").tolist()
        [-1.0, 0.0, 0.0, 1.0]
    """
    fmt = quant_format(fmt)
    if fmt.kind == "float" and not symmetric:
        raise InputError(f"symmetric=False: {fmt.name!r} is a float format; only integer formats take a zero point")
    if per_channel_axis is not None and not -tensor.ndim <= per_channel_axis < tensor.ndim:
        raise InputError(f"per_channel_axis={per_channel_axis} is out of range for a {tensor.ndim}-D tensor")
    x = tensor.detach()
    if fmt.kind == "float" and fmt.bits >= 16:
        q = round_to_format(x, fmt)
    elif fmt.kind == "float":
        scale = _scale(_channel_reduce(x.abs(), torch.amax, per_channel_axis) / fmt.max_value)
        q = round_to_format(x / scale, fmt) * scale
    elif symmetric:
        scale = _scale(_channel_reduce(x.abs(), torch.amax, per_channel_axis) / fmt.max_value)
        q = torch.clamp(torch.round(x / scale), -fmt.max_value, fmt.max_value) * scale
    else:
        levels = 2.0**fmt.bits - 1
        low = torch.clamp(_channel_reduce(x, torch.amin, per_channel_axis), max=0.0)
        high = torch.clamp(_channel_reduce(x, torch.amax, per_channel_axis), min=0.0)
        scale = _scale((high - low) / levels)
        zero_point = torch.clamp(torch.round(-low / scale), 0.0, levels)
        q = (torch.clamp(torch.round(x / scale) + zero_point, 0.0, levels) - zero_point) * scale
    if tensor.requires_grad:
        # q + (x - x) carries q's value exactly and x's gradient unchanged.
        return q + (tensor - x)
    return q


def _channel_reduce(x: torch.Tensor, reduce: Callable[..., torch.Tensor], axis: int | None) -> torch.Tensor:
    """``reduce`` (amax/amin) over all of ``x``, or over all axes but ``axis`` (kept for broadcasting)."""
    if axis is None:
        return reduce(x)
    moved = x.movedim(axis, 0)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    return reduce(moved.reshape(moved.shape[0], -1), dim=1).reshape(shape)


def _scale(scale: torch.Tensor) -> torch.Tensor:
    # An all-zero tensor or channel quantizes to zero whatever the scale; 1 avoids 0/0.
    return torch.where(scale > 0, scale, torch.ones_like(scale))


class ActivationFakeQuant:
    """Forward pre-hook that fake-quantizes a layer's input, per tensor, each call.

    A module-level class (not a closure) so a module carrying it pickles and deep-copies.

    Args:
        fmt: Activation format.
        symmetric: Symmetric integer grid (ignored by float formats).
    """

    def __init__(self, fmt: QuantFormat | str, *, symmetric: bool = False) -> None:
        self.fmt = quant_format(fmt)
        self.symmetric = symmetric or self.fmt.kind == "float"

    def __call__(self, module: nn.Module, args: tuple) -> tuple:
        return (fake_quantize(args[0], self.fmt, symmetric=self.symmetric), *args[1:])

    def __repr__(self) -> str:
        return f"ActivationFakeQuant({self.fmt.name!r}, symmetric={self.symmetric})"


def quantize_module(
    module: nn.Module,
    weight_format: QuantFormat | str,
    act_format: QuantFormat | str | None = None,
    *,
    per_channel: bool = True,
    symmetric_activations: bool = False,
    layers: Collection[str] | None = None,
) -> nn.Module:
    """Fake-quantize the weights of every conv and linear layer of ``module`` in place.

    Side effects, on every ``nn.Linear``, ``nn.Conv1d``, ``nn.Conv2d`` and ``nn.Conv3d``
    in ``module`` (itself included):

    - ``weight`` is overwritten (under ``no_grad``, same Parameter object) by
      :func:`fake_quantize` of it: symmetric, one scale per output channel (axis 0) or
      per tensor. Biases stay in float: integer kernels keep them in the 32-bit
      accumulator's format (Jacob et al. 2018).
    - With ``act_format``, an :class:`ActivationFakeQuant` forward pre-hook quantizes the
      layer's input per tensor at every call (int: asymmetric by default, since
      post-ReLU activations are one-signed). A hook an earlier call added is replaced,
      never stacked.

    Other layers (transposed convs, norms, attention) are left as they are. The module
    stays picklable: the hooks are instances of a module-level class.

    Args:
        module: Network to change.
        weight_format: Weight format name or :class:`QuantFormat`.
        act_format: Activation format; None adds no hook (and leaves any earlier one).
        per_channel: One weight scale per output channel (True) or per tensor.
        symmetric_activations: Symmetric integer grid for activations.
        layers: Qualified names (``module.named_modules()``) of the layers to quantize,
            for per-layer formats; default every conv and linear layer. An unknown name
            raises ``ValueError``.

    Returns:
        ``module`` itself, for chaining.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> layer = quantize_module(nn.Linear(16, 2), "int2", "int8")  # int2 is ternary
        >>> (layer.weight.abs() / layer.weight.abs().amax(dim=1, keepdim=True)).unique().tolist()
        [0.0, 1.0]
    """
    weight_format = quant_format(weight_format)
    act_hook = None if act_format is None else ActivationFakeQuant(act_format, symmetric=symmetric_activations)
    named = dict(module.named_modules())
    if layers is not None:
        unknown = sorted(set(layers) - {name for name, layer in named.items() if isinstance(layer, _QUANTIZED_LAYERS)})
        if unknown:
            raise InputError(f"layers: {unknown[:3]} are not conv or linear layers of the module; check the names")
    for name, layer in named.items():
        if not isinstance(layer, _QUANTIZED_LAYERS) or (layers is not None and name not in layers):
            continue
        with torch.no_grad():
            layer.weight.copy_(fake_quantize(layer.weight, weight_format, per_channel_axis=0 if per_channel else None))
        if act_hook is not None:
            # torch offers no public lookup of hooks by type; drop our earlier ones by key.
            for key, hook in list(layer._forward_pre_hooks.items()):
                if isinstance(hook, ActivationFakeQuant):
                    del layer._forward_pre_hooks[key]
            layer.register_forward_pre_hook(act_hook)
    return module


def quantize_workload(
    workload: Workload,
    weight_format: QuantFormat | str,
    act_format: QuantFormat | str | None = None,
    *,
    layers: np.ndarray | None = None,
) -> Workload:
    """Set the bits and arithmetic that quantizing to these formats gives, on every layer.

    ``weight_bits`` and ``act_bits`` become the formats' storage bits (so bytes and the
    per-bit memory and MAC energies follow them); ``math`` becomes the narrowest IR format
    that holds both operands: each format maps to

    ======================  ==========
    int5 .. int8            INT8
    int2 .. int4            INT4
    fp8_e4m3, fp8_e5m2      FP8
    fp6_e3m2, fp6_e2m3      FP6
    fp4_e2m1                FP4
    fp16 / bf16             FP16 / BF16
    ======================  ==========

    and two different ones meet in the first format that holds both (int4 x int8 -> INT8,
    int8 x fp8 -> FP16, fp4 x fp8 -> FP8). A cost model then runs ``math`` natively or widens it
    to what the hardware has (an A100 or T4 runs FP8 as FP16, an H100 FP4 as FP8), with the bits
    unchanged.

    Args:
        workload: The network(s); all layers change (the weight-free ones read and write
            activations at ``act_bits`` too).
        weight_format: Weight format.
        act_format: Activation format; None keeps each layer's ``act_bits`` and lets the
            math hold the weight format and the layer's current ``math`` (weight-only
            quantization: int4 weights on an fp16 network compute in FP16).
        layers: Boolean mask of the layers to change, for per-layer formats; default all.

    Example:
        >>> from cost_models import WorkloadBuilder
        >>> b = WorkloadBuilder()
        >>> b.linear("fc", c=64, k=10)
        >>> wl = quantize_workload(b.build(), "int4", "int8")
        >>> wl.weight_bits.tolist(), wl.act_bits.tolist(), wl.to_dict()["math"].tolist()
        ([4], [8], ['int8'])
    """
    weight_format = quant_format(weight_format)
    if act_format is None:
        act_bits = workload.act_bits
        act_math = workload.math
    else:
        act_format = quant_format(act_format)
        act_bits = act_format.bits
        act_math = np.full(len(workload), ir_format(act_format))
    math = _JOIN[ir_format(weight_format), act_math]
    return workload.with_compression(weight_bits=weight_format.bits, act_bits=act_bits, math=math, layers=layers)
