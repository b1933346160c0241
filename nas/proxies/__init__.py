"""Zero-cost accuracy proxies, computed on an untrained (possibly compressed) torch module.

Example:
    >>> from nas.proxies import get_proxy
    >>> get_proxy("synflow").name
    'synflow'
"""

from nas.proxies._base import Proxy
from nas.proxies._synflow import SynflowProxy

_PROXIES: dict[str, type[Proxy]] = {cls.name: cls for cls in (SynflowProxy,)}


def list_proxies() -> list[str]:
    """Names of the available proxies."""
    return sorted(_PROXIES)


def get_proxy(name: str) -> Proxy:
    """A proxy by name; an unknown name gives a one-line error listing the choices."""
    try:
        return _PROXIES[name]()
    except KeyError:
        raise ValueError(f"unknown proxy {name!r}; choose from {', '.join(list_proxies())}") from None


__all__ = ["Proxy", "SynflowProxy", "get_proxy", "list_proxies"]
