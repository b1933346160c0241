"""The interface of a zero-cost accuracy proxy."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import torch


class Proxy(abc.ABC):
    """Scores an untrained network; a higher score should mean a more accurate network once trained."""

    name: ClassVar[str]
    """Registry name, e.g. ``"synflow"``."""

    @abc.abstractmethod
    def score(self, module: torch.nn.Module, inputs: torch.Tensor) -> float:
        """Score ``module`` on a batch ``inputs`` of shape ``(n, c, h, w)``; ``module`` is left unchanged."""
