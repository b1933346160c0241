"""Score one network with several proxies at once, sharing the forward pass of the data-dependent ones."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from nas.proxies._base import Proxy, ProxyError
from nas.proxies._pass import ForwardPass, PassProxy


def score_proxies(
    module: torch.nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor | None = None,
    proxies: Sequence[Proxy | str] | None = None,
) -> dict[str, float]:
    """Score ``module`` with every proxy in ``proxies``; the data-dependent ones share one :class:`ForwardPass`.

    The scores equal those of each proxy's own :meth:`~nas.proxies.Proxy.score`: the pass
    is deterministic, so sharing it changes the cost, not the numbers.

    Args:
        module: The network, left unchanged.
        inputs: A batch ``(n, c, h, w)``.
        targets: Class labels ``(n,)``; needed by snip, grasp, grad_norm and fisher.
        proxies: Proxies or registry names; default every registered proxy.

    Returns:
        ``{proxy name: score}`` in the order given.

    Raises:
        ProxyError: A proxy cannot score this network (the first one that fails).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
        >>> scores = score_proxies(net, torch.randn(6, 4), torch.arange(6) % 3, ["snip", "naswot", "params"])
        >>> list(scores), scores["params"]
        (['snip', 'naswot', 'params'], 67.0)
    """
    scores = {}
    for proxy, value in scores_or_errors(module, inputs, targets, proxies):
        if isinstance(value, ProxyError):
            raise value
        scores[proxy.name] = value
    return scores


def scores_or_errors(
    module: torch.nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor | None,
    proxies: Sequence[Proxy | str] | None,
) -> Iterator[tuple[Proxy, float | ProxyError]]:
    """Each proxy with its score, or with the :class:`ProxyError` it raised (so one failure spares the rest)."""
    from nas.proxies._registry import get_proxy, list_proxies

    resolved = [get_proxy(p) if isinstance(p, str) else p for p in (list_proxies() if proxies is None else proxies)]
    shared = [p for p in resolved if isinstance(p, PassProxy) and (targets is not None or not p.needs_targets)]
    forward_pass = None
    if shared:
        forward_pass = ForwardPass(module, inputs, targets, needs=frozenset().union(*(p.needs for p in shared)))
    for proxy in resolved:
        try:
            if proxy in shared:
                yield proxy, proxy.score_pass(forward_pass)
            else:
                yield proxy, proxy.score(module, inputs, targets)
        except ProxyError as error:
            yield proxy, error
