"""Weight pruning, applied the same way to a torch module (masks) and to its Workload IR.

Three patterns, each with its hardware meaning:

* ``"unstructured"``: magnitude pruning (Han et al., "Learning both Weights and Connections
  for Efficient Neural Networks", NeurIPS 2015). The smallest ``|w|`` are zeroed, either
  per layer (``scope="layer"``) or under one threshold over every prunable weight
  (``scope="global"``). Shapes stay; only a sparse engine (EIE-like) skips the zeros.
* ``"2:4"``: in every group of 4 consecutive weights along the input-channel dimension,
  the 2 largest ``|w|`` are kept (Mishra et al., "Accelerating Sparse Deep Neural
  Networks", arXiv:2104.08378, 2021), the layout of NVIDIA's sparse tensor cores.
* ``"channel"``: the filters with the smallest L1 norm are removed (Li et al., "Pruning
  Filters for Efficient ConvNets", ICLR 2017). In the IR the shapes really shrink, so
  every dense engine gains.

Prunable layers are the weight layers: ``Conv2d`` (depthwise included) and ``Linear``.

**Channel pruning couples layers.** Tensors that are summed (residual adds, NB201 cell
nodes) must keep the same channels, and a layer reading a pruned tensor loses inputs.
The rule used here, on both sides, is *width groups*: every layer that writes a tensor of
``W`` channels belongs to group ``W``, and a group is pruned as one (same ratio, same
channel indices, ranked by the sum over the group of each filter's L1 norm). Summed
tensors always have equal widths, so every sum stays consistent; in a plain chain, layers
of equal width are merely pruned at the same indices, a valid (if slightly constrained)
choice. A width is left whole (*pinned*) when a layer that may not be pruned writes it
(the first weight layer by default; the last, the classifier, always, since its outputs
are the classes) or when it equals the network's input channels. Batch norms of a pruned
width lose the same channels. In NB201, with the stem kept by default,
stage 1 (summed with the stem's output) keeps its 16 channels and stages 2 and 3 shrink;
with ``prune_first_conv=True`` all three shrink. The IR has no edges, so it applies the
same rule by channel count: every ``c``, ``k`` (and ``groups`` of per-channel layers) equal
to a pruned width ``W`` becomes the kept count. This assumes a ``Linear`` reads a pooled
vector (``c`` = channels, as in NB201 and torchvision CNNs), not a flattened feature map.
What the rule cannot keep consistent is refused: grouped (non-depthwise) convolutions,
group, layer or non-affine batch norms of a pruned width, layers of one width given
different ratios, and masks that disagree within a width.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Collection, Mapping

import numpy as np
import torch
from torch import nn

from cost_models import MAC_KINDS, LayerKind, SparsityPattern, Workload
from nas._errors import InputError

PRUNING_PATTERNS: tuple[str, ...] = ("unstructured", "2:4", "channel")
"""Allowed :attr:`PruningPolicy.pattern` values."""

PRUNING_SCOPES: tuple[str, ...] = ("global", "layer")
"""Allowed :attr:`PruningPolicy.scope` values."""

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)

_N_M = (2, 4)
"""Kept and group size of the N:M pattern sparse tensor cores run (Ampere and later)."""


@dataclasses.dataclass(frozen=True)
class PruningPolicy:
    """How far and in which pattern to prune; validated on construction.

    Args:
        ratio: Fraction of weights removed from each prunable layer (channel: fraction of
            output channels), in [0, 1). ``"2:4"`` removes exactly half, so it needs 0.5.
        pattern: ``"unstructured"``, ``"2:4"`` or ``"channel"`` (module docstring).
        scope: ``"layer"``: each layer loses ``ratio`` of its weights. ``"global"``
            (unstructured only): one magnitude threshold over all prunable weights, so
            layers lose different fractions and ``ratio`` of them all together.
        layer_ratios: ``{layer name: ratio}`` overriding ``ratio`` for those layers (module
            names such as ``"stage1.cell0.edge_0_1.conv"``; a layer named here is pruned on
            its own, outside a global threshold). For ``"2:4"`` only 0 (leave dense) or 0.5.
        prune_first_conv: Channel pruning only: also prune the first weight layer's
            filters (kept by default: it sees the raw input and is cheap).

    Raises:
        ValueError: One line naming the field, the bad value and what is allowed.

    Example:
        >>> PruningPolicy(ratio=0.9, scope="global").pattern
        'unstructured'
        >>> PruningPolicy(ratio=0.3, pattern="2:4")
        Traceback (most recent call last):
        ...
        nas.InputError: PruningPolicy.ratio: pattern '2:4' removes exactly half the weights; set ratio=0.5, got 0.3
    """

    ratio: float = 0.5
    pattern: str = "unstructured"
    scope: str = "layer"
    layer_ratios: Mapping[str, float] = dataclasses.field(default_factory=dict, hash=False)
    prune_first_conv: bool = False

    def __post_init__(self) -> None:
        _check_ratio("ratio", self.ratio)
        if self.pattern not in PRUNING_PATTERNS:
            raise InputError(f"PruningPolicy.pattern: unknown {self.pattern!r}; "
                             f"choose from {', '.join(PRUNING_PATTERNS)}")
        if self.scope not in PRUNING_SCOPES:
            raise InputError(f"PruningPolicy.scope: unknown {self.scope!r}; choose from {', '.join(PRUNING_SCOPES)}")
        if self.scope == "global" and self.pattern != "unstructured":
            raise InputError(f"PruningPolicy.scope: 'global' applies to unstructured pruning only, "
                             f"not {self.pattern!r}")
        if not isinstance(self.layer_ratios, Mapping):
            raise InputError(f"PruningPolicy.layer_ratios: expected a {{layer name: ratio}} mapping, "
                             f"got {self.layer_ratios!r}")
        for name, ratio in self.layer_ratios.items():
            if not isinstance(name, str):
                raise InputError(f"PruningPolicy.layer_ratios: layer names must be strings, got {name!r}")
            _check_ratio(f"layer_ratios[{name!r}]", ratio)
        if self.pattern == "2:4":
            if self.ratio != 0.5:
                raise InputError(f"PruningPolicy.ratio: pattern '2:4' removes exactly half the weights; "
                                 f"set ratio=0.5, got {self.ratio}")
            odd = {name: r for name, r in self.layer_ratios.items() if r not in (0, 0.5)}
            if odd:
                raise InputError(f"PruningPolicy.layer_ratios: pattern '2:4' allows 0 (dense) or 0.5 per layer, "
                                 f"got {odd}")
        if not isinstance(self.prune_first_conv, bool):
            raise InputError(f"PruningPolicy.prune_first_conv: expected a bool, got {self.prune_first_conv!r}")
        if self.prune_first_conv and self.pattern != "channel":
            raise InputError("PruningPolicy.prune_first_conv: applies to channel pruning only "
                             f"(unstructured and 2:4 prune every weight layer), pattern is {self.pattern!r}")
        # A private copy, so that a caller mutating its dict cannot change a frozen policy.
        object.__setattr__(self, "layer_ratios", dict(self.layer_ratios))

    def ratio_for(self, layer: str) -> float:
        """The ratio of ``layer``: its ``layer_ratios`` entry, else :attr:`ratio`."""
        return float(self.layer_ratios.get(layer, self.ratio))


def _check_ratio(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise InputError(f"PruningPolicy.{field}: expected a number in [0, 1) (fraction removed), got {value!r}")


def kept_channels(width: int, ratio: float) -> int:
    """Channels left when ``ratio`` of ``width`` are removed: ``width - round(ratio * width)``, at least 1.

    Example:
        >>> kept_channels(64, 0.25), kept_channels(3, 0.9)
        (48, 1)
    """
    return max(1, width - round(ratio * width))


# --------------------------------------------------------------------------- torch side


def prune_module(module: nn.Module, policy: PruningPolicy) -> dict[str, torch.Tensor]:
    """Compute pruning masks for ``module``'s weight layers and apply them in place.

    Masks are applied by multiplying the weights (``weight.mul_(mask)``) rather than with
    ``torch.nn.utils.prune``: the module stays a plain module with the same parameter names
    and no forward pre-hooks, so it pickles to Dask workers, traces with
    :func:`~search_spaces.workload_from_module` and feeds the zero-cost proxies unchanged;
    those take no optimizer step that could revive a pruned weight. A caller that
    fine-tunes can re-impose the returned masks with
    ``torch.nn.utils.prune.custom_from_mask(layer, "weight", mask)``.

    Channel pruning also zeroes the removed channels' biases and batch-norm scales and
    shifts, so those channels carry exact zeros and the masked module computes what the
    physically smaller module would.

    Args:
        module: The network; its ``Conv2d`` and ``Linear`` weights are pruned.
        policy: What to prune.

    Returns:
        Boolean masks (True = kept), shaped like each pruned layer's weight, by module name.
        Unstructured: every weight layer; 2:4: the layers whose input channels per group are
        a multiple of 4; channel: the layers whose output width was pruned.

    Raises:
        ValueError: A ``layer_ratios`` name is not a weight layer of ``module``, or channel
            pruning meets a layout the width rule cannot prune consistently.

    Example:
        >>> net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
        >>> masks = prune_module(net, PruningPolicy(ratio=0.75))
        >>> {name: int(mask.sum()) for name, mask in masks.items()}
        {'0': 32, '2': 16}
    """
    layers = dict(_weight_layers(module))
    _check_layer_names(policy, layers, "module")
    with torch.no_grad():
        if policy.pattern == "unstructured":
            masks = _unstructured_masks(layers, policy)
        elif policy.pattern == "2:4":
            masks = {name: _two_four_mask(layer.weight) for name, layer in layers.items()
                     if policy.ratio_for(name) and _fits_two_four(layer)}
        else:
            return _prune_channels(module, layers, policy)
        for name, mask in masks.items():
            layers[name].weight.mul_(mask)
    return masks


def _weight_layers(module: nn.Module) -> list[tuple[str, nn.Conv2d | nn.Linear]]:
    return [(name, layer) for name, layer in module.named_modules() if isinstance(layer, (nn.Conv2d, nn.Linear))]


def _check_layer_names(policy: PruningPolicy, known: Collection[str], where: str) -> None:
    unknown = sorted(set(policy.layer_ratios) - set(known))
    if unknown:
        raise InputError(f"PruningPolicy.layer_ratios: {', '.join(map(repr, unknown))} "
                         f"is not a weight layer of the {where}")


def _keep_largest(scores: torch.Tensor, ratio: float) -> torch.Tensor:
    """Mask keeping all but the ``round(ratio * n)`` smallest scores (ties broken by position)."""
    flat = scores.flatten()
    # A stable sort, not a threshold: the removed count is exact even when magnitudes tie.
    order = torch.argsort(flat, stable=True)
    keep = torch.ones_like(flat, dtype=torch.bool)
    keep[order[:round(ratio * flat.numel())]] = False
    return keep.view_as(scores)


def _unstructured_masks(layers: Mapping[str, nn.Module], policy: PruningPolicy) -> dict[str, torch.Tensor]:
    pooled = [name for name in layers if policy.scope == "global" and name not in policy.layer_ratios]
    masks = {name: _keep_largest(layer.weight.abs(), policy.ratio_for(name))
             for name, layer in layers.items() if name not in pooled}
    if pooled:
        weights = [layers[name].weight for name in pooled]
        keep = _keep_largest(torch.cat([w.abs().flatten() for w in weights]), policy.ratio)
        for name, part, weight in zip(pooled, keep.split([w.numel() for w in weights]), weights, strict=True):
            masks[name] = part.view_as(weight)
    return {name: masks[name] for name in layers}


def _fits_two_four(layer: nn.Module) -> bool:
    # The groups of 4 run along the input channels of one filter tap (Mishra et al. 2021).
    inputs = layer.in_channels // layer.groups if isinstance(layer, nn.Conv2d) else layer.in_features
    return inputs % _N_M[1] == 0


def _two_four_mask(weight: torch.Tensor) -> torch.Tensor:
    """Keep the 2 largest ``|w|`` of every 4 consecutive input channels at each (filter, tap)."""
    # (k, c, r, s) -> (k, r, s, c) so that groups of 4 are consecutive input channels, the
    # layout cuSPARSELt and NVIDIA's ASP use for convolutions; a (k, c) linear is unchanged.
    grouped = weight.abs().movedim(1, -1)
    quads = grouped.reshape(-1, _N_M[1])
    keep = torch.zeros_like(quads, dtype=torch.bool).scatter_(1, quads.topk(_N_M[0], dim=1).indices, True)
    return keep.view_as(grouped).movedim(-1, 1)


def _prune_channels(
    module: nn.Module, layers: Mapping[str, nn.Module], policy: PruningPolicy
) -> dict[str, torch.Tensor]:
    names = list(layers)
    producers = []
    for index, (name, layer) in enumerate(layers.items()):
        if isinstance(layer, nn.Conv2d) and layer.groups > 1:
            if not layer.groups == layer.in_channels == layer.out_channels:
                raise InputError(f"channel pruning: grouped convolution {name!r} (groups={layer.groups}) "
                                 "cannot be pruned consistently by width groups")
            continue  # depthwise: its channels follow the tensor it reads
        width = layer.out_channels if isinstance(layer, nn.Conv2d) else layer.out_features
        producers.append((name, width, _channel_prunable(index, len(names), policy)))
    first = layers[names[0]] if names else None
    inputs = first.in_channels if isinstance(first, nn.Conv2d) else getattr(first, "in_features", None)
    plan = _width_plan(producers, {inputs} - {None}, policy)

    keep: dict[int, torch.Tensor] = {}
    for width, kept in plan.items():
        group = [layers[name].weight for name, w, _ in producers if w == width]
        importance = sum(w.abs().flatten(1).sum(1) for w in group)  # summed filter L1 norms (Li et al. 2017)
        keep[width] = _keep_largest(importance, 1 - kept / width)

    norms = _norms_to_zero(module, keep)
    masks = {}
    with torch.no_grad():
        for name, layer in layers.items():
            width = layer.weight.shape[0]
            if width not in keep:
                continue
            channel = keep[width]
            masks[name] = channel.view(-1, *[1] * (layer.weight.dim() - 1)).expand_as(layer.weight).clone()
            layer.weight.mul_(masks[name])
            if layer.bias is not None:
                layer.bias.mul_(channel)
        for norm in norms:
            norm.weight.mul_(keep[norm.num_features])
            norm.bias.mul_(keep[norm.num_features])
    return masks


def _norms_to_zero(module: nn.Module, keep: Mapping[int, torch.Tensor]) -> list[nn.Module]:
    """The batch norms of pruned widths; refuses norms that would leak a value into a removed channel."""
    norms = []
    for name, norm in module.named_modules():
        if isinstance(norm, _BATCH_NORMS) and norm.affine and norm.num_features in keep:
            norms.append(norm)
        elif isinstance(norm, (*_BATCH_NORMS, nn.GroupNorm, nn.LayerNorm)):
            width = (norm.num_features if isinstance(norm, _BATCH_NORMS) else
                     norm.num_channels if isinstance(norm, nn.GroupNorm) else norm.normalized_shape[-1])
            if width in keep:
                raise InputError(f"channel pruning: {type(norm).__name__} {name!r} of {width} channels cannot "
                                 "keep removed channels at zero (no affine shift to zero, or it mixes channels)")
    return norms


def _channel_prunable(index: int, count: int, policy: PruningPolicy) -> bool:
    """Whether a layer's filters may go: never the last (its outputs are the network's), the first when asked."""
    return index < count - 1 and (index > 0 or policy.prune_first_conv)


def _width_plan(producers: list[tuple[str, int, bool]], pinned: set[int], policy: PruningPolicy) -> dict[int, int]:
    """Kept channels of each pruned width, from ``(layer, output width, prunable)`` triples."""
    pinned = set(pinned) | {width for _, width, prunable in producers if not prunable}
    ratios: dict[int, tuple[str, float]] = {}
    for name, width, prunable in producers:
        if not prunable or width in pinned:
            continue
        first, ratio = ratios.setdefault(width, (name, policy.ratio_for(name)))
        if ratio != policy.ratio_for(name):
            raise InputError(f"channel pruning: {first!r} and {name!r} both write {width} channels but have "
                             f"ratios {ratio} and {policy.ratio_for(name)}; layers of one width are pruned as one")
    plan = {width: kept_channels(width, ratio) for width, (_, ratio) in ratios.items()}
    return {width: kept for width, kept in plan.items() if kept < width}


# --------------------------------------------------------------------------- IR side


def prune_workload(
    workload: Workload, policy: PruningPolicy, masks: Mapping[str, torch.Tensor] | None = None
) -> Workload:
    """Apply ``policy`` to the Workload IR, consistently with :func:`prune_module`.

    * unstructured: ``weight_density`` = kept fraction of each layer (its mask's if
      ``masks`` are given, else ``1 - ratio``; a global threshold's split over layers is
      known only from the masks), pattern ``UNSTRUCTURED``, shapes unchanged;
    * 2:4: ``weight_density`` 0.5 and pattern ``N_M`` on the conv and linear layers whose
      input channels per group are a multiple of 4 (or on the masked layers);
    * channel: ``c``, ``k`` and ``groups`` shrink by width groups (module docstring) and
      MACs, ops, weights, params and activation elements are recomputed as
      :class:`~cost_models.WorkloadBuilder` computes them; pruned layers get pattern
      ``CHANNEL`` with ``weight_density`` 1.

    A layer called more than once (rows ``name``, ``name:2``, ...) is pruned alike in every
    call. Only one network per workload (the layer names must be unique).

    Args:
        workload: One network's layers, named by module path as traced or built analytically.
        policy: What to prune.
        masks: Masks from :func:`prune_module` on the matching module, by layer name.

    Returns:
        A new Workload.

    Raises:
        ValueError: Unknown layer or mask names, a fully pruned layer (the IR cannot drop
            one), masks that do not fit the pattern, or a layout channel pruning refuses.

    Example:
        >>> from cost_models import WorkloadBuilder
        >>> b = WorkloadBuilder(batch_size=1)
        >>> b.linear("fc1", c=64, k=32)
        >>> b.linear("fc2", c=32, k=24)
        >>> b.linear("fc3", c=24, k=10)
        >>> pruned = prune_workload(b.build(), PruningPolicy(ratio=0.5, pattern="channel"))
        >>> pruned.c.tolist(), pruned.k.tolist()  # fc1 (first layer) keeps its 32 outputs
        ([64, 32, 12], [32, 12, 10])
    """
    if workload.n_networks > 1:
        raise InputError(f"prune_workload: prune one network at a time, got {workload.n_networks}")
    base = np.array([name.split(":")[0] for name in workload.name], dtype=object)
    is_mac = np.isin(workload.kind, MAC_KINDS)
    _check_layer_names(policy, set(base[is_mac]), "workload")
    if masks is not None:
        unknown = sorted(set(masks) - set(base[is_mac]))
        if unknown:
            raise InputError(f"prune_workload: masks for {', '.join(map(repr, unknown))}, "
                             "which are not weight layers of the workload")
    if policy.pattern == "channel":
        return _shrink_channels(workload, base, policy, masks)
    if masks is not None:
        if policy.pattern == "2:4":
            odd = [name for name, mask in masks.items()
                   if not torch.all(mask.movedim(1, -1).reshape(-1, _N_M[1]).sum(1) == _N_M[0])]
            if odd:
                raise InputError(f"prune_workload: masks of {', '.join(map(repr, odd))} do not keep "
                                 "2 of every 4 input channels")
        layer_density = {name: float(mask.float().mean()) for name, mask in masks.items()}
    elif policy.pattern == "unstructured":
        layer_density = {name: 1.0 - policy.ratio_for(name) for name in base[is_mac]}
    else:
        fits = is_mac & (workload.kind != LayerKind.DEPTHWISE_CONV) & (workload.c // workload.groups % _N_M[1] == 0)
        layer_density = {name: 1.0 - policy.ratio_for(name) for name in base[fits]}
    pattern = SparsityPattern.UNSTRUCTURED if policy.pattern == "unstructured" else SparsityPattern.N_M
    density = np.array([layer_density.get(name, 1.0) if mac else 1.0 for name, mac in zip(base, is_mac, strict=True)])
    if np.any(density <= 0):
        raise InputError(f"prune_workload: layer {base[np.argmax(density <= 0)]!r} is fully pruned; "
                         "the IR cannot drop a layer, lower the ratio")
    pruned = density < 1
    return workload.with_compression(weight_density=density, pattern=pattern, layers=pruned)


def _shrink_channels(workload: Workload, base: np.ndarray, policy: PruningPolicy,
                     masks: Mapping[str, torch.Tensor] | None) -> Workload:
    wl = workload
    first_call = np.array([":" not in name for name in wl.name])
    rows = np.flatnonzero(np.isin(wl.kind, MAC_KINDS) & first_call)
    producers = []
    for position, row in enumerate(rows):
        if wl.groups[row] > 1:
            if wl.kind[row] != LayerKind.DEPTHWISE_CONV:
                raise InputError(f"channel pruning: grouped convolution {base[row]!r} (groups={wl.groups[row]}) "
                                 "cannot be pruned consistently by width groups")
            continue
        producers.append((base[row], int(wl.k[row]), _channel_prunable(position, len(rows), policy)))
    inputs = {int(wl.c[rows[0]])} if len(rows) else set()
    plan = _width_plan(producers, inputs, policy) if masks is None else _plan_from_masks(producers, masks)

    def shrink(column: np.ndarray) -> np.ndarray:
        out = column.copy()
        for width, kept in plan.items():
            out[column == width] = kept
        return out

    c, k = shrink(wl.c), shrink(wl.k)
    groups = np.where(wl.groups == wl.c, c, wl.groups)  # per-channel layers: depthwise, pool, norm, elementwise
    n, p, q, r, s = wl.n, wl.p, wl.q, wl.r, wl.s
    mac = np.isin(wl.kind, MAC_KINDS)
    bias = mac & (wl.ops > 0)  # a MAC layer's only ops are its bias adds (WorkloadBuilder.conv/linear)
    inputs_per_elem = wl.input_elems // (wl.n * wl.c * wl.h * wl.w)  # 2+ for a sum, 1 otherwise
    per_group = c // groups
    weights = np.where(mac, k * per_group * r * s, 0)
    outputs = n * k * p * q
    ops = np.select(
        [mac, np.isin(wl.kind, (LayerKind.POOL, LayerKind.MAX_POOL)), wl.kind == LayerKind.ELEMENTWISE,
         wl.kind == LayerKind.NORM],
        [np.where(bias, outputs, 0), outputs * r * s, outputs * np.maximum(inputs_per_elem - 1, 1), 2 * outputs],
    )
    params = np.select(
        [mac & (wl.params > 0), (wl.kind == LayerKind.NORM) & (wl.params > 0)],  # 0: a later call of shared weights
        [weights + np.where(bias, k, 0), 2 * c],
    )
    pattern = np.where(mac & (k < wl.k), SparsityPattern.CHANNEL, wl.pattern).astype(wl.pattern.dtype)
    return dataclasses.replace(
        wl, c=c, k=k, groups=groups, macs=np.where(mac, outputs * per_group * r * s, 0), ops=ops,
        weights=weights, params=params, input_elems=n * c * wl.h * wl.w * inputs_per_elem,
        output_elems=outputs, pattern=pattern,
    )


def _plan_from_masks(producers: list[tuple[str, int, bool]], masks: Mapping[str, torch.Tensor]) -> dict[int, int]:
    """Kept channels per width read from channel masks (filters with any kept weight)."""
    plan: dict[int, tuple[str, int]] = {}
    for name, mask in masks.items():
        kept = int(mask.flatten(1).any(1).sum())
        first, seen = plan.setdefault(mask.shape[0], (name, kept))
        if seen != kept:
            raise InputError(f"channel pruning: masks of {first!r} and {name!r} keep {seen} and {kept} of "
                             f"{mask.shape[0]} channels; layers of one width are pruned as one")
    for name, width, _ in producers:
        if width in plan and name not in masks:
            raise InputError(f"channel pruning: {name!r} writes {width} channels like the masked "
                             f"{plan[width][0]!r} but has no mask")
    if any(kept == 0 for _, kept in plan.values()):
        raise InputError("channel pruning: a mask removes every channel; the IR cannot drop a layer")
    return {width: kept for width, (_, kept) in plan.items() if kept < width}
