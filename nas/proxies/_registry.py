"""Every proxy by name: the one list ``nas proxies``, the study spec and the fidelity run look proxies up in."""

from __future__ import annotations

from nas._errors import InputError
from nas.proxies._base import Proxy
from nas.proxies._fisher import FisherProxy
from nas.proxies._flops import FlopsProxy
from nas.proxies._grad_norm import GradNormProxy
from nas.proxies._grasp import GraspProxy
from nas.proxies._jacob_cov import JacobCovProxy
from nas.proxies._naswot import NaswotProxy
from nas.proxies._params import ParamsProxy
from nas.proxies._snip import SnipProxy
from nas.proxies._synflow import SynflowProxy
from nas.proxies._zen import ZenProxy

_PROXIES: dict[str, type[Proxy]] = {
    cls.name: cls
    for cls in (SynflowProxy, SnipProxy, GraspProxy, GradNormProxy, FisherProxy, JacobCovProxy, NaswotProxy,
                ZenProxy, ParamsProxy, FlopsProxy)
}


def list_proxies() -> list[str]:
    """Names of the available proxies."""
    return sorted(_PROXIES)


def get_proxy(name: str) -> Proxy:
    """A proxy by name; an unknown name gives a one-line error listing the choices."""
    try:
        return _PROXIES[name]()
    except KeyError:
        raise InputError(f"unknown proxy {name!r}; choose from {', '.join(list_proxies())}") from None
