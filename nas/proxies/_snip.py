"""SNIP: connection sensitivity, the loss change from removing each weight, summed over the network."""

from __future__ import annotations

import torch

from nas.proxies._pass import ForwardPass, PassProxy


class SnipProxy(PassProxy):
    """Sum over every conv and linear weight of ``|w * dL/dw|``, ``L`` the cross-entropy of one batch.

    SNIP scores each connection by the first-order change of the loss when it is removed;
    Abdelfattah et al. sum the scores into one network score. Computed as their code does:
    training mode (batch norms use the batch's statistics), the network as initialised, one
    batch with its labels. A pruned (zero) weight contributes nothing.

    References:
        Lee, Ajanthan, Torr. "SNIP: Single-shot Network Pruning based on Connection
        Sensitivity." ICLR 2019.
        Abdelfattah, Mehrotra, Dudziak, Lane. "Zero-Cost Proxies for Lightweight NAS." ICLR 2021.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3))
        >>> x, y = torch.randn(8, 4), torch.arange(8) % 3
        >>> SnipProxy().score(net, x, y) > 0
        True
    """

    name = "snip"
    metric = "snip_score"
    metric_doc = "SNIP saliency sum |w dL/dw| on one batch (Lee et al. 2019), unitless"
    needs_targets = True
    needs = frozenset({"weight_gradients"})

    def _from_pass(self, forward_pass: ForwardPass) -> float:
        return float(sum(torch.sum(torch.abs(w * g)) for w, g in
                         zip(forward_pass.weights, forward_pass.weight_gradients, strict=True)))
