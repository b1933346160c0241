"""What a cost model returns: totals per network plus a per-layer breakdown."""

from __future__ import annotations

import abc
import dataclasses
from typing import ClassVar

import numpy as np

from cost_models._workload import Workload

BOUNDS = ("compute", "memory", "launch", "unsupported")
"""Labels of what set a layer's time. ``unsupported``: the hardware cannot run it."""


@dataclasses.dataclass(frozen=True, eq=False)
class Cost:
    """Latency, energy and area of a workload on one hardware configuration.

    Per-layer arrays follow the row order of the workload; network totals are sums
    over each network's layers. A layer the hardware cannot run has ``bound ==
    "unsupported"`` and NaN latency and energy, so its network's totals are NaN: it
    is never silently costed as zero.

    Args:
        hardware: Name of the hardware configuration.
        workload: The workload that was costed.
        layer_latency_s: Time of each layer, in seconds.
        layer_energy_by_level_j: Energy of each layer in joules, split by where it is
            spent (for example ``"mac"``, ``"dram"``, ``"static"``); the keys depend on the model.
        layer_bound: What set each layer's time, one of :data:`BOUNDS`.
        layer_detail: Further per-layer columns, each named with its unit
            (``compute_s``, ``memory_s``, ``utilization``).
        area_mm2: Silicon area of the configuration, in mm² (NaN if unknown).
        energy_method: One line on how energy was estimated, with its source.
    """

    hardware: str
    workload: Workload
    layer_latency_s: np.ndarray
    layer_energy_by_level_j: dict[str, np.ndarray]
    layer_bound: np.ndarray
    layer_detail: dict[str, np.ndarray]
    area_mm2: float
    energy_method: str
    _bounds_checked: dataclasses.InitVar[bool] = False
    """Private: set by :meth:`take`, whose labels are rows of an already checked cost."""

    def __post_init__(self, _bounds_checked: bool) -> None:
        size = len(self.workload)
        if not _bounds_checked:
            # Equality masks, not np.unique: sorting millions of strings costs more than the model.
            known = np.zeros(size, dtype=bool)
            for bound in BOUNDS:
                known |= self.layer_bound == bound
            if not known.all():
                unknown = sorted(set(self.layer_bound[~known].tolist()))
                raise ValueError(f"layer_bound holds {unknown}; allowed: {', '.join(BOUNDS)}")
        for label, column in (("layer_latency_s", self.layer_latency_s), ("layer_bound", self.layer_bound),
                              *self.layer_energy_by_level_j.items(), *self.layer_detail.items()):
            if len(column) != size:
                raise ValueError(f"cost column {label!r} has {len(column)} rows; the workload has {size}")

    def take(self, index: np.ndarray, workload: Workload) -> Cost:
        """The cost of ``workload``, whose layer ``i`` is layer ``index[i]`` of this cost's workload.

        Every per-layer column is gathered; the totals follow ``workload``'s networks. Used to cost
        each distinct layer once (:class:`~cost_models._distinct_rows.DistinctRows`).
        """
        return dataclasses.replace(
            self,
            workload=workload,
            layer_latency_s=_take(self.layer_latency_s, index),
            layer_energy_by_level_j={level: _take(v, index) for level, v in self.layer_energy_by_level_j.items()},
            layer_bound=_take(self.layer_bound, index),
            layer_detail={name: _take(values, index) for name, values in self.layer_detail.items()},
            _bounds_checked=True,
        )

    @property
    def layer_energy_j(self) -> np.ndarray:
        """Energy of each layer in joules, summed over levels."""
        return np.sum(list(self.layer_energy_by_level_j.values()), axis=0)

    @property
    def latency_s(self) -> np.ndarray:
        """End-to-end latency of each network, in seconds (layers run one after another)."""
        return self._per_network(self.layer_latency_s)

    @property
    def energy_j(self) -> np.ndarray:
        """Energy of each network, in joules."""
        return self._per_network(self.layer_energy_j)

    @property
    def energy_by_level_j(self) -> dict[str, np.ndarray]:
        """Energy of each network in joules, split by level."""
        return {level: self._per_network(v) for level, v in self.layer_energy_by_level_j.items()}

    @property
    def unsupported(self) -> np.ndarray:
        """Mask of layers the hardware cannot run."""
        return self.layer_bound == "unsupported"

    def _per_network(self, values: np.ndarray) -> np.ndarray:
        return self.workload.per_network(values)

    def summary(self, network: int = 0) -> dict[str, float]:
        """Totals of one network as plain floats: latency_s, energy_j, energy by level, area_mm2."""
        out = {"latency_s": float(self.latency_s[network]), "energy_j": float(self.energy_j[network])}
        for level, values in self.energy_by_level_j.items():
            out[f"energy_{level}_j"] = float(values[network])
        out["area_mm2"] = float(self.area_mm2)
        return out

    def layer_table(self, network: int = 0) -> dict[str, np.ndarray]:
        """Per-layer columns of one network, ready for printing or a DataFrame."""
        rows = self.workload.network == network
        table = {
            "layer": self.workload.name[rows],
            "kind": self.workload.to_dict()["kind"][rows],
            "macs": self.workload.macs[rows],
            "latency_s": self.layer_latency_s[rows],
            "energy_j": self.layer_energy_j[rows],
            "bound": self.layer_bound[rows],
        }
        table.update({name: column[rows] for name, column in self.layer_detail.items()})
        return table


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]``; a column of one value is filled rather than gathered (no index to read)."""
    if len(values) and (values == values[0]).all():
        return np.full(len(index), values[0], dtype=values.dtype)
    return values[index]


class HardwareConfig(abc.ABC):
    """A hardware description loaded from a preset file; each family subclasses it.

    Subclasses are frozen dataclasses with a ``family`` class attribute naming the
    cost model that reads them and a :meth:`from_mapping` constructor that validates
    a parsed TOML table.
    """

    family: ClassVar[str]
    default_quantization: ClassVar[tuple[str, int, int]]
    """``(arithmetic, weight bits, activation bits)`` a network runs in when none is given:
    what the family is built for."""
    name: str
    source: str

    @classmethod
    @abc.abstractmethod
    def from_mapping(cls, data: dict, *, origin: str) -> HardwareConfig:
        """Build and validate a config from a parsed TOML table.

        Args:
            data: The table, with every key named in its unit.
            origin: Where it came from (a path), used in error messages.

        Raises:
            HardwareSpecError: One line naming the bad key and what is allowed.
        """

    @abc.abstractmethod
    def resources(self) -> dict[str, float]:
        """The compute and on-chip memory this configuration holds, for equal-budget comparisons.

        NAAS (Lin, Yang and Han, "NAAS: Neural Accelerator Architecture Search", DAC 2021)
        compares accelerators under equal PE and SRAM budgets; these are those budgets, in the
        same terms for every family, so a study can constrain or report them.

        Returns:
            ``mac_units``: multiply-accumulates the compute array completes per cycle, at the
            width each family's method names; ``onchip_sram_bytes``: bytes of on-chip SRAM
            (buffers and caches; register files, queues and pipeline registers are not counted).
        """

    @abc.abstractmethod
    def roof(self, cost: Cost) -> tuple[float, float, str]:
        """The roofline of this hardware for the layers of ``cost`` (Williams et al., CACM 2009).

        Returns:
            ``(peak_op_s, offchip_bandwidth_b_s, what the compute roof is)``: the arithmetic rate
            in operations (2 per MAC) per second and the off-chip bandwidth in bytes per second.
        """


class CostModel(abc.ABC):
    """Estimates latency and energy of a :class:`Workload` on one hardware family."""

    family: ClassVar[str]

    @abc.abstractmethod
    def evaluate(self, workload: Workload, hardware: HardwareConfig) -> Cost:
        """Cost every layer of ``workload`` on ``hardware`` (arrays, no per-layer loop)."""


class HardwareSpecError(ValueError):
    """A hardware preset or config is malformed; the message names the key and the fix."""
