"""GraSP: gradient signal preservation, the effect of each weight on the gradient flow."""

from __future__ import annotations

import torch

from nas.proxies._pass import ForwardPass, PassProxy


class GraspProxy(PassProxy):
    """Sum over every conv and linear weight of ``-w * (H g)``, ``g = dL/dW`` and ``H`` the loss Hessian.

    GraSP ranks weights by how removing them changes the gradient norm after pruning
    (``w * H g``); Abdelfattah et al. negate it so that a higher network score goes with a
    higher accuracy, sum over weights, temperature 1, training mode. ``H g`` comes from a
    second differentiation of ``g_const . g(W)``, as in GraSP's code. This is the most
    expensive proxy here (about two extra backward passes).

    References:
        Wang, Zhang, Grosse. "Picking Winning Tickets Before Training by Preserving Gradient
        Flow." ICLR 2020.
        Abdelfattah, Mehrotra, Dudziak, Lane. "Zero-Cost Proxies for Lightweight NAS." ICLR 2021.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
        >>> x, y = torch.randn(8, 4), torch.arange(8) % 3
        >>> isinstance(GraspProxy().score(net, x, y), float)
        True
    """

    name = "grasp"
    metric = "grasp_score"
    metric_doc = "GraSP score sum -w (H g) on one batch (Wang et al. 2020), unitless"
    needs_targets = True
    needs = frozenset({"hessian_gradient"})

    def _from_pass(self, forward_pass: ForwardPass) -> float:
        return float(sum(torch.sum(-w * hg) for w, hg in
                         zip(forward_pass.weights, forward_pass.hessian_gradient, strict=True)))
