"""grad_norm: the sizes of the loss gradients of every layer at initialisation."""

from __future__ import annotations

import torch

from nas.proxies._pass import ForwardPass, PassProxy


class GradNormProxy(PassProxy):
    """Sum over conv and linear layers of the Euclidean norm of ``dL/dW``, ``L`` the cross-entropy of one batch.

    As in Abdelfattah et al.'s code: one norm per layer, summed over layers (not the norm of
    all gradients together), training mode, the network as initialised. Pruned weights are
    left out: a pruned network's gradient lives only on the weights it kept, so the norm
    runs over the non-zero weights (at initialisation no weight is exactly zero).

    References:
        Abdelfattah, Mehrotra, Dudziak, Lane. "Zero-Cost Proxies for Lightweight NAS." ICLR 2021.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3))
        >>> x, y = torch.randn(8, 4), torch.arange(8) % 3
        >>> GradNormProxy().score(net, x, y) > 0
        True
    """

    name = "grad_norm"
    metric = "grad_norm_score"
    metric_doc = "sum over layers of the norm of dL/dW on one batch, unitless"
    needs_targets = True
    needs = frozenset({"weight_gradients"})

    def _from_pass(self, forward_pass: ForwardPass) -> float:
        return float(sum(torch.linalg.vector_norm(g * (w != 0)) for w, g in
                         zip(forward_pass.weights, forward_pass.weight_gradients, strict=True)))
