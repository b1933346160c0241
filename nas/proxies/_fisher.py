"""Fisher potential: how much the loss depends on each channel's activations, summed over the network."""

from __future__ import annotations

from nas.proxies._pass import ForwardPass, PassProxy


class FisherProxy(PassProxy):
    """Sum over the output channels ``k`` of every conv and linear layer of ``0.5 * mean_n(sum_hw a * dL/da)^2``.

    ``a`` is the layer's output (before its batch norm) on sample ``n``: the Fisher
    information of a channel mask (Theis et al.; Turner et al.'s "Fisher potential").
    Following Abdelfattah et al.'s code, which spreads each channel's value over the
    channel's weights before summing, a channel counts ``in_channels * kh * kw`` times
    (``in_features`` for a linear layer); training mode; one batch with its labels.

    References:
        Theis, Korshunova, Tejani, Huszar. "Faster gaze prediction with dense networks and
        Fisher pruning." arXiv:1801.05787, 2018.
        Turner, Crowley, O'Boyle, Storkey, Gray. "BlockSwap: Fisher-guided Block Substitution
        for Network Compression on a Budget." ICLR 2020.
        Abdelfattah, Mehrotra, Dudziak, Lane. "Zero-Cost Proxies for Lightweight NAS." ICLR 2021.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
        >>> x, y = torch.randn(8, 4), torch.arange(8) % 3
        >>> FisherProxy().score(net, x, y) > 0
        True
    """

    name = "fisher"
    metric = "fisher_score"
    metric_doc = "Fisher-information channel saliency on one batch (Theis et al. 2018), unitless"
    needs_targets = True
    needs = frozenset({"output_gradients"})

    def _from_pass(self, forward_pass: ForwardPass) -> float:
        total = 0.0
        for weight, act, grad in zip(forward_pass.weights, forward_pass.outputs, forward_pass.output_gradients,
                                     strict=True):
            if act is None:
                continue
            per_channel = (act * grad).flatten(2).sum(2) if act.dim() > 2 else act * grad
            fisher = 0.5 * per_channel.pow(2).mean(0)
            total += float(fisher.sum()) * weight[0].numel()
        return total
