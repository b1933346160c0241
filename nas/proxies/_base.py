"""The interface of a zero-cost accuracy proxy, and the error a proxy raises when it cannot score."""

from __future__ import annotations

import abc
import math
from typing import TYPE_CHECKING, ClassVar

from nas._errors import NasError

if TYPE_CHECKING:
    import torch


class ProxyError(NasError, ValueError):
    """A proxy cannot score this network: a non-finite score, missing labels, or a layout it does not handle.

    The message is one line and names the proxy, so a study records it as the trial's
    failure reason and a fidelity report as the cell's.
    """


class Proxy(abc.ABC):
    """Scores an untrained (possibly compressed) network; a higher score should mean a more accurate network.

    :meth:`score` never changes the module it is given (parameters, buffers, hooks and
    training flag stay as they were): every proxy works on a deep copy. Pruned weights are
    the exactly-zero ones that :func:`~nas.compression.prune_module` leaves, and fake
    quantization hooks travel with the copy, so a proxy sees the compressed network.

    Subclasses set :attr:`name` and the flags below and implement :meth:`_compute`.
    """

    name: ClassVar[str]
    """Registry name, e.g. ``"synflow"``."""
    metric: ClassVar[str]
    """Name of the score as a study metric, e.g. ``"log_synflow"`` (a cost metric's name is never reused)."""
    metric_doc: ClassVar[str]
    """One line saying what the metric is, with its unit."""
    needs_targets: ClassVar[bool] = False
    """Whether :meth:`score` needs class labels (the loss-based proxies)."""
    data_free: ClassVar[bool] = False
    """Whether only the shape of ``inputs`` is used (the score does not depend on the pixels)."""

    def score(self, module: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None) -> float:
        """Score ``module`` on a batch and return a finite float.

        Args:
            module: The network, left unchanged.
            inputs: A batch of shape ``(n, c, h, w)`` (or ``(n, features)``).
            targets: Class labels of shape ``(n,)``, int64; needed where :attr:`needs_targets`.

        Raises:
            ProxyError: Labels are missing where needed, or the score is NaN or infinite
                (e.g. a cell with no path from input to output).
        """
        if self.needs_targets and targets is None:
            raise ProxyError(f"proxy {self.name!r} needs class labels (targets); take them from a batch source")
        return checked(self.name, self._compute(module, inputs, targets))

    @abc.abstractmethod
    def _compute(self, module: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None) -> float:
        """The raw score, which may be non-finite; :meth:`score` checks it."""


def checked(name: str, value: float) -> float:
    """``value`` as a float if it is finite, else a :class:`ProxyError` naming the proxy ``name``.

    Example:
        >>> checked("snip", 2)
        2.0
        >>> checked("snip", float("nan"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        nas.proxies._base.ProxyError: proxy 'snip' scored nan on this network; it cannot rank it ...
    """
    value = float(value)
    if not math.isfinite(value):
        raise ProxyError(f"proxy {name!r} scored {value} on this network; it cannot rank it "
                         "(a cell with no path from input to output gives this)")
    return value
