"""Zen-score: the expressivity of a network, from how far a small input perturbation moves its features."""

from __future__ import annotations

import math

import torch
from torch import nn

from nas.proxies._base import Proxy, ProxyError
from nas.proxies._pass import training_copy, weight_layers

MIXUP_GAMMA = 1e-2
"""Size of the input perturbation, Zen-NAS's ``mixup_gamma``."""


class ZenProxy(Proxy):
    """``log E_x ||f(x) - f(x + 0.01 e)||_1 + sum over batch norms of log sqrt(mean_c running_var_c)``.

    ``f`` is the feature map before the global average pool, ``x`` and ``e`` are standard
    normal batches shaped like ``inputs`` (drawn from ``seed``: the score is data-free).
    The second term compensates for the batch norms' normalisation; as in Zen-NAS's code
    it reads each ``BatchNorm2d``'s running variance after the two forward passes in
    training mode, starting from torch's initial statistics (mean 0, variance 1), so a
    batch norm whose input is all zero (a convolution fed by a ``none`` edge) adds a finite
    term instead of ``log 0``.

    One departure from Zen-NAS, so that the score reads the compressed network: Zen-NAS
    redraws every conv and linear weight from N(0, 1), which would undo pruning masks and
    quantization grids. Here each layer is rescaled instead, so that its non-zero weights
    have a mean square of 1; zeros stay zero and a per-channel quantization grid stays a
    grid. Biases are zeroed as in Zen-NAS; batch norms keep their scale and shift (1 and 0
    at initialisation, 0 and 0 on a pruned channel).

    Args:
        seed: Seed of the Gaussian batches.

    References:
        Lin, Wang, Sun, Chen, Sun, Qian, Li, Jin. "Zen-NAS: A Zero-Shot NAS for
        High-Performance Image Recognition." ICCV 2021.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        >>> ZenProxy().score(net, torch.zeros(4, 3, 8, 8)) == ZenProxy().score(net, torch.ones(4, 3, 8, 8))
        True
    """

    name = "zen"
    metric = "zen_score"
    metric_doc = "Zen-score: log feature-map sensitivity plus batch-norm scales (Lin et al. 2021), unitless"
    data_free = True

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _compute(self, module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None) -> float:
        net = training_copy(module)
        pools = [layer for layer in net.modules() if isinstance(layer, nn.AdaptiveAvgPool2d)]
        if not pools:
            raise ProxyError("proxy 'zen' needs the features before a global average pool; "
                             "the network has no nn.AdaptiveAvgPool2d")
        with torch.no_grad():
            for _, layer in weight_layers(net):
                kept = layer.weight[layer.weight != 0]
                if kept.numel():
                    layer.weight.div_(kept.pow(2).mean().sqrt())
                if layer.bias is not None:
                    layer.bias.zero_()
        norms = [layer for layer in net.modules() if isinstance(layer, nn.BatchNorm2d)]
        for norm in norms:
            norm.reset_running_stats()
        features: list[torch.Tensor] = []
        handle = pools[-1].register_forward_pre_hook(lambda _, args: features.append(args[0]))
        generator = torch.Generator().manual_seed(self.seed)
        dtype = next((parameter.dtype for parameter in net.parameters()), torch.float32)
        x = torch.randn(inputs.shape, generator=generator, dtype=dtype)
        noise = torch.randn(inputs.shape, generator=generator, dtype=dtype)
        try:
            with torch.no_grad():
                net(x)
                net(x + MIXUP_GAMMA * noise)
        finally:
            handle.remove()
        distance = float((features[0] - features[-1]).abs().flatten(1).sum(1).mean())
        variances = [float(norm.running_var.mean()) for norm in norms if norm.track_running_stats]
        return _log(distance) + sum(0.5 * _log(variance) for variance in variances)


def _log(value: float) -> float:
    return math.log(value) if value > 0 else -math.inf
