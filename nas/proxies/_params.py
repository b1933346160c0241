"""The parameter count, a baseline every zero-cost proxy should beat."""

from __future__ import annotations

import torch
from torch import nn

from nas.proxies._base import Proxy
from nas.proxies._pass import weight_layers


class ParamsProxy(Proxy):
    """Number of parameters, pruned (exactly zero) conv and linear weights left out.

    Every other parameter (biases, batch-norm scales and shifts) counts whatever its value.
    Data-free. Abdelfattah et al. report the plain count as a baseline; on NAS-Bench-201 it
    ranks cells about as well as the best zero-cost proxies.

    References:
        Abdelfattah, Mehrotra, Dudziak, Lane. "Zero-Cost Proxies for Lightweight NAS." ICLR 2021.

    Example:
        >>> net = nn.Linear(4, 3)
        >>> ParamsProxy().score(net, torch.zeros(1, 4))
        15.0
    """

    name = "params"
    metric = "nonzero_params"
    metric_doc = "parameters of the torch module, pruned (zero) conv and linear weights left out"
    data_free = True

    def _compute(self, module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None) -> float:
        weights = {id(layer.weight) for _, layer in weight_layers(module)}
        return float(sum(int(torch.count_nonzero(p)) if id(p) in weights else p.numel() for p in module.parameters()))
