"""The interface every search space implements."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cost_models import Workload

if TYPE_CHECKING:
    import optuna
    import torch


class SearchSpace(abc.ABC):
    """A family of networks: samples a genotype, and turns it into a Workload or a module.

    A genotype is a small, picklable, hashable value (a string or a tuple) that fully
    names one network of the space. Workers rebuild it from the trial's parameters with
    :meth:`from_params`, so evaluating a trial is a pure function of those parameters.
    """

    name: ClassVar[str]
    """Registry name, e.g. ``"nb201"``."""

    @abc.abstractmethod
    def sample(self, trial: optuna.Trial) -> Any:
        """Suggest this space's parameters on ``trial`` and return the genotype."""

    @abc.abstractmethod
    def from_params(self, params: Mapping[str, Any]) -> Any:
        """Rebuild the genotype from a trial's parameters (the ones :meth:`sample` suggested)."""

    @abc.abstractmethod
    def workload(self, genotype: Any, *, batch_size: int = 1) -> Workload:
        """The network's layers as a :class:`~cost_models.Workload`, computed without torch."""

    @abc.abstractmethod
    def build(self, genotype: Any) -> torch.nn.Module:
        """A freshly initialised torch module of the network."""

    def build_reduced(self, genotype: Any, *, width: int, cells_per_stage: int, num_classes: int) -> torch.nn.Module:
        """A smaller module of the same genotype, cheap enough to train on a CPU in seconds
        (``width``: channels of the first stage; ``cells_per_stage``: blocks per stage).

        Raises:
            NotImplementedError: The space has no reduced form.
        """
        raise NotImplementedError(f"space {self.name!r} has no reduced network to train")

    @abc.abstractmethod
    def input_shape(self, genotype: Any = None) -> tuple[int, int, int]:
        """Shape ``(channels, height, width)`` of one input sample of ``genotype`` (spaces that
        search the resolution need it; without one, the space's default resolution)."""

    @abc.abstractmethod
    def describe_genotype(self, genotype: Any) -> dict[str, str | int]:
        """Labels of a genotype for result tables (e.g. ``arch`` string and ``arch_index``)."""

    def describe(self) -> str:
        """One line for ``nas spaces``: what the space is and how large."""
        return (self.__doc__ or self.name).strip().splitlines()[0]
