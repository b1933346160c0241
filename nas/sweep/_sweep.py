"""Exhaustive sweeps: every point of a grid, costed in chunks on Dask, as an xarray Dataset.

A sweep file (TOML) names a set of NAS-Bench-201 cells (all 15,625, a list, or a random
sample), one hardware preset with a grid of values for some of its keys, and optionally a
list of compression policies. Every combination is costed; no sampler is involved. The
work is split into chunks of archs x hardware points; each chunk is one stacked Workload
(:func:`~nas.sweep._nb201_grid.nb201_workload`) costed by the vectorised model once per
hardware point, on a Dask worker. The result has one dimension per grid axis
(``arch_index``, each hardware key, ``policy``), the metrics a trial records as
variables with ``units``, and an ``is_pareto`` mask over the whole grid for the file's
objectives: the exact front that a search's front is measured against.

A grid point and the trial of the same candidate give the same numbers (``tests/test_sweep.py``),
with one documented exception: a pruned network is costed with the analytic density
``1 - prune_ratio``, where a trial scored by a proxy reads its torch mask's exact kept
fraction.

Example:
    >>> spec = parse_sweep_spec({"sweep": {"name": "tiny"}, "space": {"archs": [6111, 1651]},
    ...     "hardware": {"preset": "edge_systolic", "precision": "int8", "grid": {"rows": [16, 32]}},
    ...     "objectives": [{"metric": "latency_s", "direction": "minimize"}]})
    >>> ds = run_sweep(spec)
    >>> dict(ds.latency_s.sizes)
    {'arch_index': 2, 'rows': 2}
"""

from __future__ import annotations

import datetime
import itertools
import json
import math
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydantic
import xarray as xr
from pydantic import Field, field_validator, model_validator

from cost_models import HardwareConfig, HardwareSpecError, check_execution_mode, evaluate, load_hardware
from nas._errors import InputError, NasError
from nas._toml_file import StrictModel, first_error, load_toml_model, validate_model
from nas.benchmarks._nb201_table import NB201AccuracyTable
from nas.cost import PRECISION_BITS
from nas.results._dataset import _versions, units_of
from nas.results._pareto import pareto_mask
from nas.study._accuracy_source import ORACLE_METRICS
from nas.study._compression_choice import CompressionChoice, choice_from_params
from nas.study._spec import (
    COST_METRICS,
    CompressionSection,
    Objective,
    StudySpec,
)
from nas.sweep._nb201_grid import nb201_workload
from search_spaces import NB201_EDGES, NB201_N_ARCHS, index_to_arch, parse_arch

DEFAULT_CHUNK_SIZE = 8192
"""Networks costed per Dask task (cells x hardware points): about a second of work."""

STACK_SIZE = 256
"""Cells stacked into one Workload inside a task (about 55,000 layers). Small stacks keep the
model's column arrays in cache and out of fresh pages: costing 8,192 cells as one stack took
three times as long per network, a third of it in the kernel zeroing new pages."""

BOUNDS = ("compute", "memory", "launch")
"""Bounds whose share of the latency is recorded, as a trial records them."""


class SweepSpecError(NasError, ValueError):
    """A sweep file is malformed; the message is one line naming the field and the fix."""


class SweepSection(StrictModel):
    """``[sweep]``: identity, and the seed of a random sample of cells."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 0


class SweepSpaceSection(StrictModel):
    """``[space]``: the NB201 cells to sweep: ``archs = "all"``, a list of indices, or a sample size."""

    name: Literal["nb201"] = "nb201"
    dataset: Literal["cifar10", "cifar100", "imagenet16"] = "cifar10"
    archs: str | int | list[int] = "all"

    @field_validator("archs")
    @classmethod
    def _archs(cls, archs: str | int | list[int]) -> str | int | list[int]:
        allowed = f"give 'all', a number of cells to sample (1 to {NB201_N_ARCHS}), or a list of NB201 indices"
        if isinstance(archs, str) and archs != "all":
            raise InputError(f"{archs!r}: {allowed}")
        if isinstance(archs, int) and not 1 <= archs <= NB201_N_ARCHS:
            raise InputError(f"{archs}: {allowed}")
        if isinstance(archs, list):
            bad = [i for i in archs if not 0 <= i < NB201_N_ARCHS]
            if not archs or bad:
                raise InputError(f"{bad[:3] if bad else archs!r}: {allowed}")
            if len(set(archs)) != len(archs):
                raise InputError("a cell is listed twice; list each index once")
        return archs

    def arch_indices(self, seed: int) -> np.ndarray:
        """The swept NB201 indices, sorted (a sample is drawn without replacement with ``seed``)."""
        if self.archs == "all":
            return np.arange(NB201_N_ARCHS)
        if isinstance(self.archs, int):
            return np.sort(np.random.default_rng(seed).choice(NB201_N_ARCHS, self.archs, replace=False))
        return np.sort(np.asarray(self.archs, dtype=np.int64))


class SweepHardwareSection(StrictModel):
    """``[hardware]``: one preset (name or TOML path), precision, batch, and ``[hardware.grid]``.

    Each grid key is a key of the preset's file, in its units, with the values to sweep
    (``rows = [16, 32, 64]``); every combination is one hardware point, loaded with
    :func:`cost_models.load_hardware` and validated like the file itself.
    ``execution_mode = "eager" | "cuda_graph"`` fixes how a GPU preset's kernels are issued at
    every point, as a study's ``[hardware] execution_mode`` does for its trials (default: the
    preset's own); to compare the two modes, sweep it as a grid key instead.
    """

    preset: str
    precision: str = "fp16"
    batch_size: int = Field(default=1, gt=0)
    grid: dict[str, list[int | float | str | bool]] = {}
    execution_mode: str | None = None

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, preset: str) -> str:
        try:
            load_hardware(preset)
        except HardwareSpecError as error:
            raise InputError(str(error)) from None
        return preset

    @field_validator("precision")
    @classmethod
    def _known_precision(cls, precision: str) -> str:
        if precision not in PRECISION_BITS:
            raise InputError(f"unknown precision {precision!r}; choose from {', '.join(PRECISION_BITS)}")
        return precision

    @field_validator("execution_mode")
    @classmethod
    def _known_mode(cls, mode: str | None) -> str | None:
        return mode if mode is None else check_execution_mode(mode)

    @model_validator(mode="after")
    def _grid_points_load(self) -> SweepHardwareSection:
        if self.execution_mode is not None:
            family = load_hardware(self.preset).family
            if family != "gpu":
                raise InputError(f"execution_mode applies to GPU presets; {self.preset!r} is a {family} preset: "
                                 "remove the key")
            if "execution_mode" in self.grid:
                raise InputError("execution_mode is fixed and also in grid; give it in one place")
        for key, values in self.grid.items():
            if not values:
                raise InputError(f"grid.{key}: give at least one value")
            if len(set(values)) != len(values):
                raise InputError(f"grid.{key}: a value is listed twice; list each once")
            if key in ("name", "source", "family"):
                raise InputError(f"grid.{key}: a label, not a hardware parameter; sweep another key")
            for value in values:
                self._load({key: value}, f"grid.{key} = {value!r}")
        for point in self.points():
            self._load(point, f"grid point {point}")
        return self

    def _load(self, overrides: Mapping[str, Any], where: str) -> None:
        try:
            self.config(overrides)
        except HardwareSpecError as error:
            raise InputError(f"{where}: {str(error).split('.toml: ', 1)[-1]}") from None

    def fixed_keys(self) -> dict[str, str]:
        """Keys set at every point besides the grid's: ``execution_mode`` when the section gives one."""
        return {} if self.execution_mode is None else {"execution_mode": self.execution_mode}

    def config(self, point: Mapping[str, Any]) -> HardwareConfig:
        """The hardware of one grid point: the preset with the fixed keys and the point's values."""
        return load_hardware(self.preset, {**self.fixed_keys(), **point})

    def points(self) -> list[dict[str, Any]]:
        """Every hardware point, as ``load_hardware`` overrides, in C order of the grid keys."""
        keys = list(self.grid)
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*self.grid.values())]


class SweepPolicy(StrictModel):
    """``[[policies]]``: one compression policy, fixed settings as in a study's ``[compression]``.

    ``2:4`` removes half the weights (``prune_ratio`` 0.5 or left out); ``act_format``
    needs a ``weight_format``; ``name`` labels the policy (default: built from its settings).
    """

    name: str | None = None
    prune_ratio: float = 0.0
    pattern: str = "unstructured"
    weight_format: str | None = None
    act_format: str | None = None
    share_bits: int | None = None

    @model_validator(mode="after")
    def _valid_compression(self) -> SweepPolicy:
        try:
            self.section()
        except pydantic.ValidationError as error:
            raise InputError(first_error(error)) from None
        if self.pattern == "2:4" and self.prune_ratio not in (0.0, 0.5):
            raise InputError(f"pattern '2:4' removes exactly half the weights; set prune_ratio = 0.5 or leave it "
                             f"out, got {self.prune_ratio}")
        if self.act_format is not None and self.weight_format is None:
            raise InputError("act_format needs a weight_format (activations are quantized with the weights)")
        return self

    def section(self) -> CompressionSection:
        """The policy as a study's fixed ``[compression]`` section."""
        return CompressionSection(prune_ratio=self.prune_ratio, pattern=self.pattern,
                                  weight_format=self.weight_format, act_format=self.act_format,
                                  share_bits=self.share_bits)

    def choice(self) -> CompressionChoice:
        """The concrete settings, exactly as a trial with this fixed section gets them."""
        return choice_from_params(self.section(), {})

    @property
    def label(self) -> str:
        """``name``, or e.g. ``"2:4_wint8_aint8_share4"`` / ``"dense"``."""
        if self.name is not None:
            return self.name
        choice = self.choice()
        parts = [f"{choice.pattern}" + ("" if choice.pattern == "2:4" else f"{choice.prune_ratio:g}")
                 if choice.prune_ratio else "dense"]
        parts += [f"{prefix}{value}" for prefix, value in
                  (("w", choice.weight_format), ("a", choice.act_format), ("share", choice.share_bits))
                  if value is not None]
        return "_".join(parts)


class SweepSpec(StrictModel):
    """A whole sweep file. Load it with :func:`load_sweep_spec`.

    Example:
        >>> spec = load_sweep_spec("studies/sweep_nb201_edge_systolic.toml")
        >>> spec.dims
        ['arch_index', 'rows', 'cols', 'dataflow']
    """

    sweep: SweepSection
    space: SweepSpaceSection = SweepSpaceSection()
    hardware: SweepHardwareSection
    policies: list[SweepPolicy] = []
    objectives: list[Objective] = Field(min_length=1)

    @model_validator(mode="after")
    def _objectives_and_labels(self) -> SweepSpec:
        allowed = self.available_metrics()
        for i, objective in enumerate(self.objectives):
            if objective.metric in ORACLE_METRICS and self.policies:
                raise InputError(
                    f"objectives[{i}].metric {objective.metric!r}: the NAS-Bench-201 table knows only the accuracy "
                    "of uncompressed networks, so a front over policies would compress for free; drop the "
                    "policies or the accuracy objective"
                )
            if objective.metric not in allowed:
                raise InputError(f"objectives[{i}].metric {objective.metric!r} is not a sweep metric; "
                                 f"choose from {', '.join(sorted(allowed))}")
        metrics = [o.metric for o in self.objectives]
        if len(set(metrics)) != len(metrics):
            raise InputError("objectives name the same metric twice")
        labels = [policy.label for policy in self.policies]
        if len(set(labels)) != len(labels):
            raise InputError(f"policies: two policies are labelled alike ({labels}); give each a distinct name")
        clash = set(self.hardware.grid) & {"arch_index", "policy", "arch"}
        if clash:
            raise InputError(f"hardware.grid: key {sorted(clash)[0]!r} would clash with a sweep dimension")
        return self

    def available_metrics(self) -> dict[str, str]:
        """Metrics every grid point gets, with a description including units."""
        return {**COST_METRICS, **({} if self.policies else ORACLE_METRICS)}

    @property
    def directions(self) -> list[str]:
        """Directions of the objectives, in order."""
        return [o.direction for o in self.objectives]

    @property
    def dims(self) -> list[str]:
        """Dimensions of the swept metrics, in order."""
        return ["arch_index", *self.hardware.grid, *(["policy"] if self.policies else [])]

    def arch_indices(self) -> np.ndarray:
        """The swept NB201 indices, sorted."""
        return self.space.arch_indices(self.sweep.seed)

    @property
    def n_networks(self) -> int:
        """Networks the sweep costs: cells x hardware points x policies."""
        return (len(self.arch_indices()) * math.prod(len(v) for v in self.hardware.grid.values())
                * max(1, len(self.policies)))

    def to_json(self) -> str:
        """The spec as a JSON string (the dataset's ``spec_json`` attr)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)

    def study_spec(self, *, name: str | None = None, n_trials: int = 100, sampler: str = "nsga2", seed: int = 0,
                   population_size: int = 50, policy: int | None = None) -> StudySpec:
        """The study that searches this sweep's grid (its hardware keys as ``[hardware.search]``).

        Args:
            name, n_trials, sampler, seed, population_size: The ``[study]`` section.
            policy: Index of a policy to fix as the study's ``[compression]``; the study then
                scores accuracy with synflow on the compressed network. None: uncompressed,
                oracle accuracy.

        Raises:
            ValueError: The sweep has policies and none was picked.
        """
        if self.policies and policy is None:
            raise InputError("this sweep has policies; pick one with policy=INDEX")
        hardware = {"presets": [self.hardware.preset], "precision": self.hardware.precision,
                    "batch_size": self.hardware.batch_size, **self.hardware.fixed_keys()}
        if self.hardware.grid:
            hardware["search"] = {self.hardware.preset: dict(self.hardware.grid)}
        data = {
            "study": {"name": name or self.sweep.name, "n_trials": n_trials, "sampler": sampler, "seed": seed,
                      "population_size": population_size},
            "space": {"name": self.space.name, "dataset": self.space.dataset},
            "hardware": hardware,
            "objectives": [o.model_dump() for o in self.objectives],
        }
        if policy is None:
            data["accuracy"] = {"source": "oracle"}
        else:
            data["accuracy"] = {"source": "synflow"}
            data["compression"] = self.policies[policy].section().model_dump(exclude_defaults=True)
        return StudySpec.model_validate(data)

    def trial_params(self, arch_index: int, point: Mapping[str, Any]) -> dict[str, Any]:
        """The trial parameters of :meth:`study_spec` for one grid point (cell and hardware keys)."""
        params: dict[str, Any] = dict(zip(NB201_EDGES, parse_arch(index_to_arch(int(arch_index))), strict=True))
        params.update({f"{self.hardware.preset}.{key}": value for key, value in point.items()})
        return params


def load_sweep_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep TOML file.

    Raises:
        SweepSpecError: One line naming the file, the field and the fix.
    """
    return load_toml_model(path, SweepSpec, what="sweep file", error=SweepSpecError)


def parse_sweep_spec(data: dict, *, origin: str = "<sweep>") -> SweepSpec:
    """Validate an already parsed sweep table (see :func:`load_sweep_spec`)."""
    return validate_model(data, SweepSpec, origin=origin, error=SweepSpecError)


def run_sweep(spec: SweepSpec, client=None, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
              progress: bool = False) -> xr.Dataset:
    """Cost every grid point of ``spec`` and return the labelled dataset.

    Args:
        spec: The validated sweep spec.
        client: A ``distributed.Client``; each chunk runs as one task on its workers. None
            runs the chunks one after another in this process.
        chunk_size: Networks per chunk (archs x hardware points); an arch block is at most
            this many cells, and a chunk takes as many hardware points as fit beside it.
        progress: Show a progress bar of finished chunks.

    Returns:
        Dimensions :attr:`SweepSpec.dims`; variables ``latency_s``, ``energy_j``, ``power_w``,
        ``edp_j_s``, ``energy_<level>_j``, ``latency_<bound>_bound_fraction`` over all of them,
        ``area_mm2`` over the hardware keys, ``macs``, ``params``, ``weight_bytes``,
        ``compressed_size_bytes`` over cells (and policies), the oracle ``accuracy_valid_pct``
        and ``accuracy_test_pct`` over cells (of the uncompressed network), and ``is_pareto``.
        A network the hardware cannot run has NaN latency and energy and is never on the front.
    """
    from tqdm.auto import tqdm

    if chunk_size < 1:
        raise InputError(f"chunk_size must be at least 1, got {chunk_size}")
    started = time.perf_counter()
    archs = spec.arch_indices()
    points = spec.hardware.points()
    policies: list[int | None] = list(range(len(spec.policies))) or [None]
    point_block = min(len(points), max(1, chunk_size // STACK_SIZE))
    arch_block = min(len(archs), max(STACK_SIZE, chunk_size // point_block))
    chunks = [(policy, slice(a, min(a + arch_block, len(archs))), slice(p, min(p + point_block, len(points))))
              for policy in policies for a in range(0, len(archs), arch_block)
              for p in range(0, len(points), point_block)]

    bar = tqdm(total=len(chunks), desc=spec.sweep.name, unit="chunk", disable=not progress)
    results = []
    if client is None:
        for policy, arch_slice, point_slice in chunks:
            results.append(_cost_chunk(spec, archs[arch_slice], policy, points[point_slice]))
            bar.update()
    else:
        from distributed import as_completed

        futures = {
            client.submit(_cost_chunk, spec, archs[arch_slice], policy, points[point_slice],
                          key=f"sweep-{spec.sweep.name}-{i}-{uuid.uuid4().hex[:8]}"): i
            for i, (policy, arch_slice, point_slice) in enumerate(chunks)
        }
        by_chunk: dict[int, dict] = {}
        for future in as_completed(futures):
            by_chunk[futures[future]] = future.result()
            future.release()
            bar.update()
        results = [by_chunk[i] for i in range(len(chunks))]
    bar.close()
    dataset = _assemble(spec, archs, points, chunks, results)
    dataset.attrs["elapsed_s"] = time.perf_counter() - started
    return dataset


def _cost_chunk(spec: SweepSpec, archs: np.ndarray, policy: int | None, points: list[dict]) -> dict[str, Any]:
    """Cost one block of cells on a block of hardware points (runs on a Dask worker)."""
    from nas.compression import workload_compressed_size_bytes

    choice = None if policy is None else spec.policies[policy].choice()
    hardware = [spec.hardware.config(point) for point in points]
    per_network: dict[str, np.ndarray] = {}
    per_point: dict[str, np.ndarray] = {}
    area_mm2 = np.empty(len(points))
    for start in range(0, len(archs), STACK_SIZE):
        stack = slice(start, min(start + STACK_SIZE, len(archs)))
        workload = nb201_workload(archs[stack], dataset=spec.space.dataset, batch_size=spec.hardware.batch_size,
                                  precision=spec.hardware.precision, choice=choice)
        size = workload_compressed_size_bytes(workload, shared_weights=bool(choice and choice.share_bits))
        for name, column in (("macs", workload.macs), ("params", workload.params),
                             ("weight_bytes", workload.weight_bytes), ("compressed_size_bytes", size["total_bytes"])):
            per_network.setdefault(name, np.zeros(len(archs)))[stack] = workload.per_network(column)
        for j, config in enumerate(hardware):
            cost = evaluate(workload, config)
            latency_s, energy_j = cost.latency_s, cost.energy_j
            values = {"latency_s": latency_s, "energy_j": energy_j, "power_w": energy_j / latency_s,
                      "edp_j_s": energy_j * latency_s}
            values.update({f"energy_{level}_j": joules for level, joules in cost.energy_by_level_j.items()})
            for bound in BOUNDS:
                in_bound = np.where(cost.layer_bound == bound, cost.layer_latency_s, 0.0)
                values[f"latency_{bound}_bound_fraction"] = workload.per_network(in_bound) / latency_s
            for name, column in values.items():
                # A level some points lack (their hardware has no such memory) spends nothing there.
                per_point.setdefault(name, np.zeros((len(points), len(archs))))[j, stack] = column
            area_mm2[j] = cost.area_mm2
    for name in ("macs", "params"):  # counts, summed as floats by per_network (exact below 2**53)
        per_network[name] = np.rint(per_network[name]).astype(np.int64)
    front = pareto_mask(_objective_matrix(spec, archs, per_point, per_network, area_mm2), spec.directions)
    return {"per_point": per_point, "per_network": per_network, "area_mm2": area_mm2,
            "front": np.flatnonzero(front)}


def _objective_matrix(spec: SweepSpec, archs: np.ndarray, per_point: Mapping[str, np.ndarray],
                      per_network: Mapping[str, np.ndarray], area_mm2: np.ndarray) -> np.ndarray:
    """Objective values of a chunk's grid points, rows in (hardware point, cell) C order."""
    shape = (len(area_mm2), len(archs))
    columns = []
    for objective in spec.objectives:
        metric = objective.metric
        if metric in per_point:
            column = per_point[metric]
        elif metric in per_network:
            column = np.broadcast_to(per_network[metric], shape)
        elif metric == "area_mm2":
            column = np.broadcast_to(area_mm2[:, None], shape)
        else:
            column = np.broadcast_to(_oracle(spec.space.dataset, archs)[metric], shape)
        columns.append(np.asarray(column, dtype=np.float64).reshape(-1))
    return np.stack(columns, axis=1)


def _oracle(dataset: str, archs: np.ndarray) -> dict[str, np.ndarray]:
    table = NB201AccuracyTable()
    rows = [table.metrics(int(i), dataset) for i in archs]
    return {name: np.array([row[name] for row in rows]) for name in ORACLE_METRICS}


def _assemble(spec: SweepSpec, archs: np.ndarray, points: list[dict], chunks: list[tuple],
              results: list[dict]) -> xr.Dataset:
    n_archs, n_points, n_policies = len(archs), len(points), max(1, len(spec.policies))
    levels = sorted({name for result in results for name in result["per_point"]}, key=_metric_order)
    full = {name: np.zeros((n_archs, n_points, n_policies)) for name in levels}
    statics = {name: np.zeros((n_archs, n_policies), dtype=values.dtype)
               for name, values in results[0]["per_network"].items()}
    area_mm2 = np.zeros(n_points)
    candidates = []
    for (policy, arch_slice, point_slice), result in zip(chunks, results, strict=True):
        column = policy or 0
        for name, values in result["per_point"].items():
            full[name][arch_slice, point_slice, column] = values.T
        for name, values in result["per_network"].items():
            statics[name][arch_slice, column] = values
        area_mm2[point_slice] = result["area_mm2"]
        point, arch = np.divmod(result["front"], arch_slice.stop - arch_slice.start)
        candidates.append(np.ravel_multi_index(
            (arch + arch_slice.start, point + point_slice.start, np.full_like(arch, column)),
            (n_archs, n_points, n_policies)))

    grid_shape = [len(values) for values in spec.hardware.grid.values()]
    shape = (n_archs, *grid_shape, *([n_policies] if spec.policies else []))
    dims = spec.dims
    hardware_dims = list(spec.hardware.grid)
    static_dims = ["arch_index", *(["policy"] if spec.policies else [])]
    oracle = _oracle(spec.space.dataset, archs)
    described = {**COST_METRICS, **ORACLE_METRICS}

    def attrs(name: str) -> dict[str, str]:
        if name in described:
            text = described[name]
        elif name.startswith("energy_"):
            text = f"energy of one batch spent at level {name.removeprefix('energy_').removesuffix('_j')!r}, joules"
        else:
            text = f"share of the latency in layers bound by {name.split('_')[1]}"
        if name in ORACLE_METRICS:
            text += " (of the uncompressed network)"
        return {"units": units_of(name), "description": text}

    data_vars: dict[str, tuple] = {name: (dims, full[name].reshape(shape), attrs(name)) for name in levels}
    data_vars["area_mm2"] = (hardware_dims, area_mm2.reshape(grid_shape), attrs("area_mm2"))
    for name, values in statics.items():
        data_vars[name] = (static_dims, values if spec.policies else values[:, 0], attrs(name))
    for name, values in oracle.items():
        data_vars[name] = (["arch_index"], values, attrs(name))

    flat_candidates = np.concatenate(candidates)
    is_pareto = np.zeros(n_archs * n_points * n_policies, dtype=bool)
    dataset = xr.Dataset(data_vars)
    if len(flat_candidates):
        arch, point, policy = np.unravel_index(flat_candidates, (n_archs, n_points, n_policies))
        values = np.stack([_candidate_values(o.metric, full, statics, area_mm2, oracle, arch, point, policy)
                           for o in spec.objectives], axis=1)
        is_pareto[flat_candidates[pareto_mask(values, spec.directions)]] = True
    dataset["is_pareto"] = (dims, is_pareto.reshape(shape),
                            {"description": "not dominated by any other grid point in the sweep's objectives"})

    coords: dict[str, Any] = {"arch_index": archs, "arch": ("arch_index", np.array([index_to_arch(int(i))
                                                                                   for i in archs], dtype=object))}
    for key, values in spec.hardware.grid.items():
        coords[key] = np.array(values, dtype=object) if any(isinstance(v, str) for v in values) else np.array(values)
    if spec.policies:
        choices = [policy.choice() for policy in spec.policies]
        coords.update(
            policy=np.array([policy.label for policy in spec.policies], dtype=object),
            prune_ratio=("policy", np.array([c.prune_ratio for c in choices])),
            pattern=("policy", np.array([c.pattern for c in choices], dtype=object)),
            weight_format=("policy", np.array([c.weight_format or "" for c in choices], dtype=object),
                           {"description": "'' = the sweep's precision"}),
            act_format=("policy", np.array([c.act_format or "" for c in choices], dtype=object),
                        {"description": "'' = the weight format's, or the sweep's precision"}),
            share_bits=("policy", np.array([c.share_bits or 0 for c in choices], dtype=np.int64),
                        {"description": "bits of the weight-sharing index; 0 = no weight sharing"}),
        )
    dataset = dataset.assign_coords(coords)
    hardware = spec.hardware.config({})
    if hasattr(hardware, "execution_mode") and "execution_mode" not in spec.hardware.grid:
        dataset.attrs["execution_mode"] = hardware.execution_mode
    dataset.attrs.update(
        sweep_name=spec.sweep.name,
        spec_json=spec.to_json(),
        objectives=json.dumps([o.model_dump() for o in spec.objectives]),
        directions=",".join(spec.directions),
        space=spec.space.name,
        dataset=spec.space.dataset,
        hardware_preset=spec.hardware.preset,
        hardware_family=hardware.family,
        hardware_source=hardware.source,
        precision=spec.hardware.precision,
        batch_size=spec.hardware.batch_size,
        n_networks_costed=n_archs * n_points * n_policies,
        versions_json=json.dumps(_versions()),
        created_utc=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
    return dataset


def _candidate_values(metric: str, full: Mapping[str, np.ndarray],
                      statics: Mapping[str, np.ndarray], area_mm2: np.ndarray, oracle: Mapping[str, np.ndarray],
                      arch: np.ndarray, point: np.ndarray, policy: np.ndarray) -> np.ndarray:
    if metric in full:
        return full[metric][arch, point, policy]
    if metric in statics:
        return statics[metric][arch, policy]
    if metric == "area_mm2":
        return area_mm2[point]
    return oracle[metric][arch]


def _metric_order(name: str) -> tuple[int, str]:
    head = ("latency_s", "energy_j", "power_w", "edp_j_s")
    return (head.index(name), "") if name in head else (len(head) + name.startswith("latency_"), name)
