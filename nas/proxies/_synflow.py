"""Synaptic flow (synflow), a data-free saliency summed over all weights."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from nas.proxies._base import Proxy


class SynflowProxy(Proxy):
    """Natural log of the synaptic-flow score of a network at initialisation.

    With every parameter replaced by its absolute value and an all-ones input, the
    network's summed output ``R`` is a product of weight magnitudes along every path;
    the score is ``sum over conv/linear weights of |theta * dR/dtheta|``. Following
    Abdelfattah et al. (ICLR 2021), batch normalisation is removed first (it would
    renormalise the path products away) and the computation runs in float64 so that
    deep networks do not overflow. The input batch is used only for its shape: synflow
    is data-free by construction. A network with no path from input to output has a
    score of zero, whose log is not finite: :meth:`score` raises
    :class:`~nas.proxies.ProxyError` for it.

    References:
        Tanaka, Kunin, Yamins, Ganguli. "Pruning neural networks without any data by
        iteratively conserving synaptic flow." NeurIPS 2020.
        Abdelfattah, Mehrotra, Dudziak, Lane. "Zero-Cost Proxies for Lightweight NAS." ICLR 2021.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
        >>> proxy = SynflowProxy()
        >>> proxy.score(net, torch.zeros(1, 4)) == proxy.score(net, torch.randn(8, 4))
        True
    """

    name = "synflow"
    metric = "log_synflow"
    metric_doc = "natural log of the synflow score (Tanaka et al. 2020) at initialisation, unitless"

    data_free = True

    def _compute(self, module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None) -> float:
        net = _without_batchnorm(copy.deepcopy(module)).double().eval()
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.abs_()
        ones = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64)
        net.zero_grad()
        torch.sum(net(ones)).backward()
        total = 0.0
        with torch.no_grad():
            for layer in net.modules():
                if isinstance(layer, nn.Conv2d | nn.Linear) and layer.weight.grad is not None:
                    total += float(torch.sum(torch.abs(layer.weight * layer.weight.grad)))
        return math.log(total) if total > 0 else -math.inf


def _without_batchnorm(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Identity())
        else:
            _without_batchnorm(child)
    return module
