"""The compression of one candidate: suggested on a trial, applied to its workload and its module."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cost_models import MAC_KINDS, Workload
from nas.study._spec import CompressionSection

if TYPE_CHECKING:
    import optuna
    import torch

LAYER_RATIO_PREFIX = "prune_ratio:"
"""Trial parameter of one layer's pruning ratio with ``per_layer``, e.g. ``prune_ratio:stem.conv``."""
LAYER_WEIGHT_FORMAT_PREFIX = "weight_format:"
"""Trial parameter of one layer's weight format with ``per_layer_bits``, e.g. ``weight_format:stem.conv``."""
LAYER_ACT_FORMAT_PREFIX = "act_format:"
"""Trial parameter of one layer's input activation format with ``per_layer_bits``."""


@dataclasses.dataclass(frozen=True)
class CompressionChoice:
    """Concrete compression settings of one candidate.

    Args:
        prune_ratio: Fraction of prunable weights removed (0.5 for ``2:4``).
        pattern: ``"unstructured"``, ``"2:4"`` or ``"channel"``.
        weight_format: Quantization format of the weights, or None to keep the study's precision.
        act_format: Quantization format of the activations, or None.
        share_bits: Bits of the weight-sharing codebook index (Deep Compression), or None.
            Shared weights are stored as indices of this width; arithmetic stays in
            ``weight_format``.
        layer_ratios: Per-layer ratios overriding ``prune_ratio`` (``{layer name: ratio}``).
        layer_weight_formats: Per-layer weight formats overriding ``weight_format``.
        layer_act_formats: Per-layer input activation formats overriding ``act_format``.
    """

    prune_ratio: float
    pattern: str
    weight_format: str | None
    act_format: str | None
    share_bits: int | None
    layer_ratios: Mapping[str, float] = dataclasses.field(default_factory=dict)
    layer_weight_formats: Mapping[str, str] = dataclasses.field(default_factory=dict)
    layer_act_formats: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def policy(self):
        """The :class:`~nas.compression.PruningPolicy`, or None when nothing is pruned."""
        from nas.compression import PruningPolicy

        if self.prune_ratio == 0 and not any(self.layer_ratios.values()):
            return None
        return PruningPolicy(ratio=self.prune_ratio, pattern=self.pattern, layer_ratios=self.layer_ratios)


def suggest_compression(trial: optuna.Trial, section: CompressionSection, prunable: Sequence[str]) -> None:
    """Suggest the searched settings of ``section`` on ``trial`` (fixed ones suggest nothing).

    Args:
        trial: The Optuna trial.
        section: The study's ``[compression]`` section.
        prunable: Names of the candidate's prunable layers (used with ``per_layer``).
    """
    pattern = _suggest(trial, "prune_pattern", section.pattern)
    if section.per_layer:
        for layer in prunable:
            trial.suggest_float(f"{LAYER_RATIO_PREFIX}{layer}", *section.prune_ratio)
    elif pattern != "2:4" and isinstance(section.prune_ratio, list) and len(section.prune_ratio) == 2:
        trial.suggest_float("prune_ratio", *section.prune_ratio)
    if section.per_layer_bits:
        for layer in prunable:
            trial.suggest_categorical(f"{LAYER_WEIGHT_FORMAT_PREFIX}{layer}", section.weight_format)
            if isinstance(section.act_format, list) and len(section.act_format) > 1:
                trial.suggest_categorical(f"{LAYER_ACT_FORMAT_PREFIX}{layer}", section.act_format)
    else:
        for name in ("weight_format", "act_format"):
            _suggest(trial, name, getattr(section, name))
    _suggest(trial, "share_bits", section.share_bits)


def choice_from_params(section: CompressionSection, params: Mapping[str, Any]) -> CompressionChoice:
    """The settings of a candidate: searched ones from ``params``, fixed ones from ``section``."""

    def pick(name: str, value: Any) -> Any:
        return params[name] if name in params else (value[0] if isinstance(value, list) else value)

    pattern = pick("prune_pattern", section.pattern)
    layer_ratios = {name.removeprefix(LAYER_RATIO_PREFIX): float(value) for name, value in params.items()
                    if name.startswith(LAYER_RATIO_PREFIX)}
    weight_format, act_format = pick("weight_format", section.weight_format), pick("act_format", section.act_format)
    if section.per_layer_bits:
        # The weight-free layers between the searched ones carry the widest activation choice.
        weight_format = max(section.weight_format, key=_format_bits)
        if isinstance(section.act_format, list):
            act_format = max(section.act_format, key=_format_bits)
    if pattern == "2:4" or layer_ratios:
        ratio = 0.5 if pattern == "2:4" else 0.0
    elif "prune_ratio" in params:
        ratio = float(params["prune_ratio"])
    else:
        ratio = float(section.prune_ratio[0] if isinstance(section.prune_ratio, list) else section.prune_ratio)
    return CompressionChoice(
        prune_ratio=ratio,
        pattern=pattern,
        weight_format=weight_format,
        act_format=act_format,
        share_bits=pick("share_bits", section.share_bits),
        layer_ratios=layer_ratios,
        layer_weight_formats=_layer_params(params, LAYER_WEIGHT_FORMAT_PREFIX),
        layer_act_formats=_layer_params(params, LAYER_ACT_FORMAT_PREFIX),
    )


def _layer_params(params: Mapping[str, Any], prefix: str) -> dict[str, str]:
    return {name.removeprefix(prefix): value for name, value in params.items() if name.startswith(prefix)}


def _format_bits(name: str) -> int:
    from nas.compression import quant_format

    return quant_format(name).bits


def compress_workload(
    workload: Workload, choice: CompressionChoice, masks: Mapping[str, torch.Tensor] | None = None
) -> Workload:
    """Prune, quantize and share the weights of ``workload`` as ``choice`` says.

    Args:
        workload: The network at the study's precision.
        choice: The candidate's compression.
        masks: Pruning masks from :func:`compress_module`, for exact per-layer densities.
    """
    from nas.compression import prune_workload, quantize_workload

    policy = choice.policy()
    if policy is not None:
        workload = prune_workload(workload, policy, masks)
    if choice.weight_format is not None:
        workload = quantize_workload(workload, choice.weight_format, choice.act_format)
    for layer in sorted({*choice.layer_weight_formats, *choice.layer_act_formats}):
        workload = quantize_workload(
            workload,
            choice.layer_weight_formats.get(layer, choice.weight_format),
            choice.layer_act_formats.get(layer, choice.act_format),
            layers=workload.name == layer,
        )
    if choice.share_bits is not None:
        workload = workload.with_compression(weight_bits=choice.share_bits,
                                             layers=np.isin(workload.kind, MAC_KINDS))
    return workload


def compress_module(module: torch.nn.Module, choice: CompressionChoice) -> dict[str, torch.Tensor]:
    """Apply ``choice`` to ``module`` in place (masks, fake quantization, shared weights); return the masks."""
    masks = prune_for_choice(module, choice)
    quantize_for_choice(module, choice)
    return masks


def prune_for_choice(module: torch.nn.Module, choice: CompressionChoice) -> dict[str, torch.Tensor]:
    """The pruning step of :func:`compress_module`: masks applied in place, returned by layer name."""
    from nas.compression import prune_module

    policy = choice.policy()
    return prune_module(module, policy) if policy is not None else {}


def quantize_for_choice(module: torch.nn.Module, choice: CompressionChoice, *, share: bool = True) -> None:
    """The steps of :func:`compress_module` after pruning: fake quantization of weights and
    activations, then weight sharing (skipped with ``share=False``, as a fine-tune step does)."""
    from nas.compression import apply_weight_sharing, quantize_module

    if choice.weight_format is not None and not choice.layer_weight_formats:
        quantize_module(module, choice.weight_format, choice.act_format)
    for layer in sorted({*choice.layer_weight_formats, *choice.layer_act_formats}):
        quantize_module(
            module,
            choice.layer_weight_formats.get(layer, choice.weight_format),
            choice.layer_act_formats.get(layer, choice.act_format),
            layers=[layer],
        )
    if share and choice.share_bits is not None:
        apply_weight_sharing(module, choice.share_bits, reserve_zero=choice.policy() is not None)


def _suggest(trial: optuna.Trial, name: str, value: Any) -> Any:
    if isinstance(value, list) and len(value) > 1:
        return trial.suggest_categorical(name, value)
    return value[0] if isinstance(value, list) else value
