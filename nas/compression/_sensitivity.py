"""Per-layer pruning sensitivity: prune one layer at a time and record how a score falls.

Han et al. ("Learning both Weights and Connections for Efficient Neural Networks",
NeurIPS 2015, Fig. 6) prune each layer of a trained network alone, over a range of ratios,
and read off how far each layer can go before validation accuracy drops; Li et al.
("Pruning Filters for Efficient ConvNets", ICLR 2017, Fig. 2) do the same with filters.
The curves rank the layers and give per-layer ratios (:func:`suggest_layer_ratios`) for
:attr:`~nas.compression.PruningPolicy.layer_ratios`.

Every point is one :func:`~nas.compression.prune_module` call on a fresh deep copy, with a
policy that names every weight layer: the layer under test at the ratio, all others at 0.
So the masks follow exactly the rule a search applies (magnitude, 2:4, or filter L1 norm).
Channel pruning cannot remove one layer's filters alone: layers writing tensors of equal
width are pruned as one (see :mod:`nas.compression._pruning`). Under ``"channel"`` the
layer under test therefore takes its whole width group with it, and a layer whose width is
pinned (the first and last layer, the input width) is not pruned at all; the
``weight_density`` variable says what each point really removed.

Sensitivities are measured one layer at a time; pruning several layers at their suggested
ratios costs roughly, not exactly, the sum of their drops.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
import xarray as xr
from torch import nn

from nas._errors import InputError
from nas.compression._pruning import PRUNING_PATTERNS, PruningPolicy, prune_module
from nas.proxies import SynflowProxy

SENSITIVITY_RATIOS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""Ratios tested when none are given (``"2:4"``: 0 and 0.5, the only ones it allows)."""

Score = Callable[[nn.Module, torch.Tensor], float]
"""``score(module, inputs) -> float``; higher is better (an accuracy, a proxy score)."""

_SYNFLOW_DESCRIPTION = (
    "synflow: natural log of the synaptic-flow score (data-free; Tanaka et al., NeurIPS 2020), "
    "computed on each pruned copy"
)


_WHY_DENSE = {
    "unstructured": "the ratios remove no weight of so small a layer",
    "2:4": "their input channels per group are not a multiple of 4",
    "channel": "their width is pinned (written by the first or last layer, or the network's input width)",
}
"""Why a layer can stay dense at every ratio, by pattern (see :func:`~nas.compression.prune_module`)."""


def pruning_sensitivity(
    module: nn.Module,
    inputs: torch.Tensor,
    *,
    ratios: Sequence[float] | None = None,
    pattern: str = "unstructured",
    score: Score | None = None,
    score_name: str | None = None,
    score_units: str = "1",
    layers: Iterable[str] | None = None,
    network: str | None = None,
) -> xr.Dataset:
    """Score ``module`` with each weight layer alone pruned at each ratio.

    The default score, synflow, needs no data and no training, so it runs on any freshly
    built network, but it only measures how much synaptic flow the mask cuts. When a
    trained model and a validation batch are at hand, their accuracy is the meaningful
    score, as in Han et al. (2015), who prune each layer and measure validation accuracy
    without retraining: pass ``score=lambda net, x: accuracy(net(x), labels)``, the name
    and the units (``"%"``).

    Args:
        module: The network; left unchanged (every point prunes a deep copy).
        inputs: The batch handed to ``score`` (synflow reads only its shape).
        ratios: Fraction of the layer's weights removed (``"channel"``: of its output
            channels), each in [0, 1); default :data:`SENSITIVITY_RATIOS`.
        pattern: ``"unstructured"``, ``"2:4"`` or ``"channel"``, as in
            :class:`~nas.compression.PruningPolicy`.
        score: ``score(pruned_copy, inputs) -> float``, higher is better and deterministic
            (put a trained model in eval mode); default :class:`~nas.proxies.SynflowProxy`.
        score_name: Name of the score in the dataset; default ``"synflow"``, else the
            callable's ``__name__``.
        score_units: Units of the score (``"1"`` for dimensionless, ``"%"``, ...).
        layers: Module names of the conv and linear layers to test; default all of them.
        network: Label stored in the attrs; default the module's class name.

    Returns:
        Dimensions ``layer`` (module names, in module order) and ``prune_ratio``; variables
        ``score``, ``score_drop`` (unpruned score minus ``score``, same units; positive =
        worse) and ``weight_density`` (fraction of the layer's weights its mask keeps);
        coordinates ``layer_params`` (weights and biases) and ``layer_kind`` (``conv``,
        ``depthwise_conv``, ``linear``, as :class:`~cost_models.LayerKind`); attrs
        ``pattern``, ``score_name``, ``network``, ``baseline_score``.

    Raises:
        ValueError: Unknown pattern or layer name, a ratio outside [0, 1) (``"2:4"``:
            other than 0 and 0.5), or no ratios.

    Example:
        >>> net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
        >>> ds = pruning_sensitivity(net, torch.zeros(1, 8), ratios=[0, 0.5])
        >>> ds.score.dims, ds.layer.values.tolist()
        (('layer', 'prune_ratio'), ['0', '2'])
        >>> bool((ds.score_drop.sel(prune_ratio=0) == 0).all()), bool((ds.score_drop.sel(prune_ratio=0.5) > 0).all())
        (True, True)
    """
    if pattern not in PRUNING_PATTERNS:
        raise InputError(f"pruning_sensitivity: pattern: unknown {pattern!r}; "
                         f"choose from {', '.join(PRUNING_PATTERNS)}")
    ratios = _check_ratios(ratios, pattern)
    weight_layers = {name: layer for name, layer in module.named_modules() if isinstance(layer, nn.Conv2d | nn.Linear)}
    names = _check_layers(layers, weight_layers)
    if score is None:
        score, score_name, description = SynflowProxy().score, score_name or "synflow", _SYNFLOW_DESCRIPTION
    else:
        score_name = score_name or getattr(score, "__name__", type(score).__name__)
        description = f"{score_name}, as returned by the given score callable on each pruned copy"

    # Points that prune the same layers at the same ratio are the same network (every ratio 0,
    # a channel width group): evaluate each once.
    cache: dict[tuple[frozenset[str], float], tuple[float, dict[str, float]]] = {}

    def evaluate(pruned: frozenset[str], ratio: float) -> tuple[float, dict[str, float]]:
        key = (pruned, ratio) if ratio else (frozenset(), 0.0)
        if key not in cache:
            copied = copy.deepcopy(module)
            masks = prune_module(copied, _only(pruned, ratio, weight_layers, pattern))
            cache[key] = float(score(copied, inputs)), {n: float(m.float().mean()) for n, m in masks.items()}
        return cache[key]

    baseline = evaluate(frozenset(), 0.0)[0]
    scores = np.empty((len(names), len(ratios)))
    density = np.empty_like(scores)
    for i, name in enumerate(names):
        group = _pruned_with(name, weight_layers, pattern)
        for j, ratio in enumerate(ratios):
            scores[i, j], densities = evaluate(group, ratio)
            density[i, j] = densities.get(name, 1.0)

    ratio_meaning = ("output channels removed from the layer's width group" if pattern == "channel"
                     else "weights removed, that layer alone")
    dims = ("layer", "prune_ratio")
    return xr.Dataset(
        {
            "score": (dims, scores, {"units": score_units, "long_name": score_name, "description": description}),
            "score_drop": (dims, baseline - scores, {
                "units": score_units,
                "description": f"unpruned {score_name} minus {score_name} with the layer pruned; positive = worse",
            }),
            "weight_density": (dims, density, {
                "units": "1",
                "description": "fraction of the layer's weights its mask keeps at this point "
                               "(1 where the pattern cannot prune the layer)",
            }),
        },
        coords={
            "layer": ("layer", np.array(names, dtype=object)),
            "prune_ratio": ("prune_ratio", np.array(ratios), {
                "units": "1", "description": f"fraction of the layer's {ratio_meaning}",
            }),
            "layer_params": ("layer", np.array([_params(weight_layers[n]) for n in names], dtype=np.int64), {
                "units": "1", "description": "weights and biases of the layer, unpruned",
            }),
            "layer_kind": ("layer", np.array([_kind(weight_layers[n]) for n in names], dtype=object)),
        },
        attrs={
            "pattern": pattern,
            "score_name": score_name,
            "network": network or type(module).__name__,
            "baseline_score": baseline,
            "description": f"per-layer sensitivity to {pattern} pruning: {description}",
            "references": "Han et al., NeurIPS 2015, Fig. 6; Li et al., ICLR 2017, Fig. 2",
        },
    )


def suggest_layer_ratios(dataset: xr.Dataset, max_drop: float) -> dict[str, float]:
    """Per layer, the largest tested ratio whose score drop stays within ``max_drop``.

    Only the ratios up to the first one that exceeds ``max_drop`` count, so a noisy score
    that recovers at a higher ratio does not suggest pruning past a drop. A layer whose
    smallest tested ratio already exceeds it gets 0 (left dense). The result fits
    ``PruningPolicy(layer_ratios=...)`` with the dataset's pattern.

    Args:
        dataset: From :func:`pruning_sensitivity`.
        max_drop: Largest acceptable ``score_drop``, in the score's units (``dataset.score_drop.units``).

    Raises:
        ValueError: ``max_drop`` is not a finite number >= 0.

    Example:
        >>> ds = xr.Dataset({"score_drop": (("layer", "prune_ratio"), [[0.0, 0.1, 0.5], [0.0, 2.0, 0.1]])},
        ...                 coords={"layer": ["a", "b"], "prune_ratio": [0.0, 0.5, 0.9]})
        >>> suggest_layer_ratios(ds, max_drop=0.2)
        {'a': 0.5, 'b': 0.0}
    """
    if isinstance(max_drop, bool) or not isinstance(max_drop, numbers.Real) or not 0 <= max_drop < math.inf:
        raise InputError(f"suggest_layer_ratios: max_drop: expected a finite number >= 0 "
                         f"(in the score's units), got {max_drop!r}")
    drops = dataset.score_drop.sortby("prune_ratio").transpose("layer", "prune_ratio")
    ratios = drops.prune_ratio.values
    within = np.logical_and.accumulate(drops.values <= max_drop, axis=1)  # NaN counts as too far
    kept = within.sum(axis=1)
    return {str(layer): float(ratios[n - 1]) if n else 0.0 for layer, n in zip(drops.layer.values, kept, strict=True)}


def format_sensitivity(dataset: xr.Dataset, suggested: Mapping[str, float] | None = None) -> str:
    """The score drop of each layer at each ratio as a text table, with the suggested ratios if given.

    Args:
        dataset: From :func:`pruning_sensitivity`.
        suggested: From :func:`suggest_layer_ratios`; adds a ``suggested`` column.
    """
    name, units = dataset.attrs["score_name"], dataset.score_drop.attrs["units"]
    header = ["layer", "kind", "params", *(f"{r:g}" for r in dataset.prune_ratio.values)]
    if suggested is not None:
        header.append("suggested")
    rows = [header]
    for i, layer in enumerate(dataset.layer.values):
        row = [str(layer), str(dataset.layer_kind.values[i]), f"{int(dataset.layer_params.values[i]):,}"]
        row += [f"{drop:.3g}" for drop in dataset.score_drop.values[i]]
        if suggested is not None:
            row.append(f"{suggested[layer]:g}")
        rows.append(row)
    widths = [max(len(row[j]) for row in rows) for j in range(len(header))]
    lines = [f"{name} drop{'' if units == '1' else f' [{units}]'} with one layer {dataset.attrs['pattern']}-pruned "
             f"at each ratio (unpruned: {dataset.attrs['baseline_score']:.4g})"]
    lines += ["  ".join(cell.ljust(width) if j == 0 else cell.rjust(width)
                        for j, (cell, width) in enumerate(zip(row, widths, strict=True))) for row in rows]
    if suggested is not None:
        lines.append("suggested: the largest ratio each layer takes alone within the drop; "
                     "the drops of several pruned layers add up only roughly")
    dense = int((dataset.weight_density == 1).all("prune_ratio").sum())
    if dense and (dataset.prune_ratio > 0).any():
        lines.append(f"{dense} layer(s) stay dense at every ratio: {_WHY_DENSE[dataset.attrs['pattern']]}")
    return "\n".join(lines)


def sensitivity_figure(dataset: xr.Dataset, *, y: str = "score") -> go.Figure:
    """One line per layer: ``y`` against the prune ratio, with the unpruned score dotted.

    Args:
        dataset: From :func:`pruning_sensitivity`.
        y: ``"score"`` or ``"score_drop"``.

    Raises:
        ValueError: Another ``y``.
    """
    if y not in ("score", "score_drop"):
        raise InputError(f"sensitivity_figure: y: expected 'score' or 'score_drop', got {y!r}")
    name, units = dataset.attrs["score_name"], dataset[y].attrs["units"]
    label = name if y == "score" else f"{name} drop"
    figure = go.Figure()
    for layer in dataset.layer.values:
        row = dataset.sel(layer=layer)
        figure.add_trace(go.Scatter(
            x=row.prune_ratio.values, y=row[y].values, mode="lines+markers", name=str(layer),
            hovertemplate=f"{layer} ({row.layer_kind.item()}, {int(row.layer_params):,} params)<br>"
                          f"prune ratio %{{x:.2f}}<br>{label} %{{y:.4g}} {'' if units == '1' else units}"
                          "<extra></extra>",
        ))
    figure.add_hline(y=dataset.attrs["baseline_score"] if y == "score" else 0.0, line_dash="dot",
                     annotation_text="unpruned")
    figure.update_layout(
        title=f"{dataset.attrs['network']}: {name} with one layer {dataset.attrs['pattern']}-pruned at a time",
        xaxis={"title": dataset.prune_ratio.attrs["description"] + " [1]"},
        yaxis={"title": label if units == "1" else f"{label} [{units}]"},
        template="plotly_white",
    )
    return figure


def _check_ratios(ratios: Sequence[float] | None, pattern: str) -> list[float]:
    allowed = (0.0, 0.5) if pattern == "2:4" else None
    if ratios is None:
        return list(allowed or SENSITIVITY_RATIOS)
    ratios = list(ratios)
    if not ratios:
        raise InputError("pruning_sensitivity: ratios: expected at least one ratio")
    for ratio in ratios:
        if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not 0 <= ratio < 1:
            raise InputError(f"pruning_sensitivity: ratios: expected numbers in [0, 1) (fraction removed), "
                             f"got {ratio!r}")
        if allowed and ratio not in allowed:
            raise InputError(f"pruning_sensitivity: ratios: pattern '2:4' allows 0 (dense) and 0.5, got {ratio!r}")
    return sorted({float(r) for r in ratios})


def _check_layers(layers: Iterable[str] | None, weight_layers: dict[str, nn.Module]) -> list[str]:
    if layers is None:
        return list(weight_layers)
    names = list(dict.fromkeys(layers))  # order kept, repeats dropped: a label appears once on the axis
    unknown = [name for name in names if name not in weight_layers]
    if unknown:
        examples = ", ".join(map(repr, list(weight_layers)[:3]))
        raise InputError(f"pruning_sensitivity: layers: {', '.join(map(repr, unknown))} is not a conv or linear "
                         f"layer of the module; its {len(weight_layers)} weight layers are named like {examples}")
    if not names:
        raise InputError("pruning_sensitivity: layers: expected at least one layer name")
    return names


def _pruned_with(name: str, weight_layers: dict[str, nn.Module], pattern: str) -> frozenset[str]:
    """The layers pruned when ``name`` is: itself, or under ``"channel"`` every layer of its output width."""
    if pattern != "channel":
        return frozenset({name})
    width = weight_layers[name].weight.shape[0]
    return frozenset(n for n, layer in weight_layers.items() if layer.weight.shape[0] == width)


def _only(pruned: frozenset[str], ratio: float, weight_layers: dict[str, nn.Module], pattern: str) -> PruningPolicy:
    """A policy pruning ``pruned`` at ``ratio`` and no other layer."""
    # Every layer is named, so the default ratio applies to none; '2:4' accepts only 0.5 there.
    return PruningPolicy(
        ratio=0.5 if pattern == "2:4" else 0.0,
        pattern=pattern,
        layer_ratios={name: ratio if name in pruned else 0.0 for name in weight_layers},
    )


def _params(layer: nn.Module) -> int:
    return sum(p.numel() for p in layer.parameters(recurse=False))


def _kind(layer: nn.Module) -> str:
    if isinstance(layer, nn.Linear):
        return "linear"
    return "depthwise_conv" if layer.groups > 1 and layer.groups == layer.in_channels == layer.out_channels else "conv"
