"""jacob_cov: how differently the network responds to the samples of a batch (its input Jacobians' correlation)."""

from __future__ import annotations

import numpy as np

from nas.proxies._pass import ForwardPass, PassProxy

_EPSILON = 1e-5
"""``k`` of Mellor et al.'s score, which keeps the logarithm of a zero eigenvalue finite."""


class JacobCovProxy(PassProxy):
    """``-sum_i (log(v_i + k) + 1 / (v_i + k))`` over the eigenvalues ``v`` of the correlation of the input Jacobians.

    Row ``n`` of the Jacobian is ``d sum(outputs_n) / d x_n``; the score is highest when
    these rows are uncorrelated (the network tells the samples apart), ``k = 1e-5``. This is
    the first version of Mellor et al.'s "NAS without training" score, the one Abdelfattah et
    al. evaluate as ``jacob_cov``; training mode. Labels are not used. Needs a batch of at
    least 2 samples; a network whose Jacobian rows are constant (no path from the input)
    has no correlation and raises :class:`~nas.proxies.ProxyError`. Each eigenvalue adds
    at least 1 (``log v + 1/v >= 1``), so the best possible score of ``n`` samples is about ``-n``.

    References:
        Mellor, Turner, Storkey, Crowley. "Neural Architecture Search without Training."
        arXiv:2006.04647v1, 2020.
        Abdelfattah, Mehrotra, Dudziak, Lane. "Zero-Cost Proxies for Lightweight NAS." ICLR 2021.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
        >>> JacobCovProxy().score(net, torch.randn(3, 4)) <= -3
        True
    """

    name = "jacob_cov"
    metric = "jacob_cov_score"
    metric_doc = "negative Jacobian-correlation entropy on one batch (Mellor et al. 2020), unitless"
    needs = frozenset({"input_gradient"})

    def _from_pass(self, forward_pass: ForwardPass) -> float:
        jacobian = forward_pass.input_gradient.flatten(1).double().numpy()
        if len(jacobian) < 2:
            return float("nan")
        with np.errstate(divide="ignore", invalid="ignore"):
            correlation = np.corrcoef(jacobian)
        if not np.all(np.isfinite(correlation)):
            return float("nan")
        eigenvalues = np.linalg.eigvalsh(correlation)
        return float(-np.sum(np.log(eigenvalues + _EPSILON) + 1.0 / (eigenvalues + _EPSILON)))
