"""NASWOT: how distinct the rectifier activation patterns of a batch's samples are."""

from __future__ import annotations

import numpy as np

from nas.proxies._base import ProxyError
from nas.proxies._pass import ForwardPass, PassProxy


class NaswotProxy(PassProxy):
    """``log |det K|`` of the activation-pattern kernel: ``K[i, j]`` = rectifier units where samples i and j agree.

    Every ReLU (and ReLU6) input gives each sample a binary code ``x > 0``; ``K[i, j]``
    counts, over all those units, the positions where the codes of samples ``i`` and ``j``
    agree (the number of units minus their Hamming distance). Networks that map the
    samples of a batch to more distinct patterns score higher. Training mode (batch norms
    use the batch's statistics), as Mellor et al.'s code runs it; labels are not used. Only
    rectifiers that are modules are seen (a ``torch.relu`` call in ``forward`` is not).

    References:
        Mellor, Turner, Storkey, Crowley. "Neural Architecture Search without Training."
        ICML 2021.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
        >>> NaswotProxy().score(net, torch.randn(3, 4)) > 0
        True
    """

    name = "naswot"
    metric = "naswot_logdet"
    metric_doc = "log |det K| of the activation-pattern kernel on one batch (Mellor et al. 2021), unitless"
    needs = frozenset({"relu_kernel"})

    def _from_pass(self, forward_pass: ForwardPass) -> float:
        if forward_pass.relu_units == 0:
            raise ProxyError("proxy 'naswot' found no nn.ReLU or nn.ReLU6 module that ran in the forward pass")
        _, logdet = np.linalg.slogdet(forward_pass.relu_kernel)
        return float(logdet)
