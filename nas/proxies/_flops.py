"""Floating-point operations of one forward pass, a baseline every zero-cost proxy should beat."""

from __future__ import annotations

import copy

import torch
from torch import nn

from nas.proxies._base import Proxy
from nas.proxies._pass import weight_layers


class FlopsProxy(Proxy):
    """FLOPs of the conv and linear layers for one input sample: 2 per multiply-accumulate with a non-zero weight.

    A conv layer does one multiply-accumulate per kept weight per output position
    (``out_h * out_w * nonzero(weight)``), a linear layer one per kept weight. Pruned weights
    do no work, so a 95%-pruned network counts about a twentieth of the dense one's FLOPs.
    Data-free (one forward pass of zeros, batch 1, eval mode, to learn the output sizes).

    References:
        Abdelfattah, Mehrotra, Dudziak, Lane. "Zero-Cost Proxies for Lightweight NAS." ICLR 2021.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.Flatten(), nn.Linear(8, 1))
        >>> FlopsProxy().score(net, torch.zeros(5, 1, 4, 4))  # 2 * (2*2 positions * 18 weights + 8 weights)
        160.0
    """

    name = "flops"
    metric = "nonzero_flops"
    metric_doc = "FLOPs of one input sample through conv and linear layers, pruned weights skipped"
    data_free = True

    def _compute(self, module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None) -> float:
        net = copy.deepcopy(module).eval()
        macs = []

        def count(layer: nn.Module, args: tuple, output: torch.Tensor) -> None:
            # Positions a weight is applied at: the output map of a conv, the rows of a linear.
            positions = output[0, 0].numel() if isinstance(layer, nn.Conv2d) else output[0].numel() // output.shape[-1]
            macs.append(positions * int(torch.count_nonzero(layer.weight)))

        handles = [layer.register_forward_hook(count) for _, layer in weight_layers(net)]
        try:
            with torch.no_grad():
                net(torch.zeros((1, *inputs.shape[1:]), dtype=next(net.parameters()).dtype))
        finally:
            for handle in handles:
                handle.remove()
        return 2.0 * sum(macs)
