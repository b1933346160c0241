"""The study spec: a TOML file that says what to search, on what hardware, for which objectives.

Validated when it is loaded: a wrong field gives one line that names it, the bad
value and what is allowed (:class:`StudySpecError`). The objective metrics a study
may use depend on its accuracy source, so a typo in a metric name is caught before
any trial runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import Field, field_validator, model_validator

from cost_models import MAX_BATCH_SIZE, HardwareSpecError, NumberFormat, check_execution_mode, load_hardware
from nas._errors import NasError
from nas._metrics import metrics_from
from nas._storage_url import check_storage, mask_credentials
from nas._toml_file import StrictModel, first_error, load_toml_model, validate_model
from nas.cost import PRECISION_BITS
from nas.study._accuracy_source import ESTIMATOR, ORACLE, AccuracySection
from nas.study._trained_accuracy import TRAINED
from search_spaces import get_space, list_spaces

COST_METRICS = metrics_from("cost")
"""What the cost model reports for every candidate (:data:`nas.results.METRICS`), by name."""

SPEC_ATTR = "spec_json"
"""Study user attr holding the spec, so results can be rebuilt from the storage alone."""


class StudySpecError(NasError, ValueError):
    """A study file is malformed; the message is one line naming the field and the fix."""


class StudySection(StrictModel):
    """``[study]``: identity, budget and sampler."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)
    n_trials: int = Field(gt=0)
    seed: int = 0
    sampler: Literal["nsga2", "nsga3", "tpe", "gp", "random"] = "nsga2"
    population_size: int = Field(default=50, ge=2)
    storage: str | None = None

    @field_validator("storage")
    @classmethod
    def _known_storage(cls, storage: str | None) -> str | None:
        return None if storage is None else check_storage(storage)


class SpaceSection(StrictModel):
    """``[space]``: which search space, with its options.

    ``dataset`` defaults to the space's own (``cifar10`` for nb201, ``imagenet`` for
    mobilenet and resnet); each space says which datasets it knows.
    """

    name: str
    dataset: str

    @model_validator(mode="before")
    @classmethod
    def _dataset_of_the_space(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("name"), str) and data["name"] in list_spaces() \
                and isinstance(data.get("dataset", ""), str):
            options = {"dataset": data["dataset"]} if "dataset" in data else {}
            data = {**data, "dataset": get_space(data["name"], **options).dataset}
        return data

    @field_validator("name")
    @classmethod
    def _known_space(cls, name: str) -> str:
        if name not in list_spaces():
            raise ValueError(f"unknown space {name!r}; choose from {', '.join(list_spaces())}")
        return name


class HardwareSection(StrictModel):
    """``[hardware]``: presets, precision and batch; each preset's keys may be searched too.

    Several presets make the preset a categorical search dimension (``hardware``), a
    list of precisions makes ``precision`` one. ``[hardware.search.<preset>]`` tables
    give choices for keys of that preset's file, in its units (``rows = [16, 32, 64]``),
    searched as ``<preset>.<key>`` only when that preset is chosen: this is how a study
    sizes an accelerator. Every choice is validated against the preset when the spec loads.
    ``execution_mode = "eager" | "cuda_graph"`` sets how every GPU preset's kernels are
    issued (default: each preset's own ``execution_mode``; other families ignore it).

    Example:
        >>> section = HardwareSection(presets=["tpu_v1"], search={"tpu_v1": {"rows": [64, 128]}})
        >>> section.searched_keys("tpu_v1")
        {'tpu_v1.rows': [64, 128]}
    """

    presets: list[str] = Field(min_length=1)
    precision: str | list[str] = "fp16"
    batch_size: int = Field(default=1, gt=0, le=MAX_BATCH_SIZE)
    search: dict[str, dict[str, list[int | float | str | bool]]] = {}
    execution_mode: str | None = None

    @field_validator("presets")
    @classmethod
    def _known_presets(cls, presets: list[str]) -> list[str]:
        for preset in presets:
            try:
                load_hardware(preset)
            except HardwareSpecError as error:
                raise ValueError(str(error)) from None
        if len(set(presets)) != len(presets):
            raise ValueError("presets are listed twice; list each once")
        return presets

    @field_validator("precision")
    @classmethod
    def _known_precision(cls, precision: str | list[str]) -> str | list[str]:
        for choice in precision if isinstance(precision, list) else [precision]:
            if choice not in PRECISION_BITS:
                raise ValueError(f"unknown precision {choice!r}; choose from {', '.join(PRECISION_BITS)}")
            NumberFormat.parse(choice)
        if isinstance(precision, list) and not precision:
            raise ValueError("give at least one precision")
        return precision

    @field_validator("execution_mode")
    @classmethod
    def _known_mode(cls, mode: str | None) -> str | None:
        return mode if mode is None else check_execution_mode(mode)

    def fixed_keys(self, preset: str) -> dict[str, str]:
        """Keys the section sets on ``preset`` for every trial: ``execution_mode`` on a GPU preset."""
        if self.execution_mode is None or not hasattr(load_hardware(preset), "execution_mode"):
            return {}
        return {"execution_mode": self.execution_mode}

    @model_validator(mode="after")
    def _searchable_keys(self) -> HardwareSection:
        for preset, keys in self.search.items():
            if preset not in self.presets:
                raise ValueError(f"search.{preset}: not in presets {self.presets}; add it there or fix the name")
            for key, choices in keys.items():
                if not choices:
                    raise ValueError(f"search.{preset}.{key}: give at least one choice")
                if key in ("name", "source", "family"):
                    raise ValueError(f"search.{preset}.{key}: a label, not a hardware parameter; search another key")
                for choice in choices:
                    try:
                        load_hardware(preset, {key: choice})
                    except HardwareSpecError as error:
                        reason = str(error).split(": ", 1)[-1]
                        raise ValueError(f"search.{preset}.{key} = {choice!r}: {reason}") from None
        return self

    @property
    def precisions(self) -> list[str]:
        """The precision choices, as a list."""
        return self.precision if isinstance(self.precision, list) else [self.precision]

    def searched_keys(self, preset: str) -> dict[str, list]:
        """Trial parameter names and choices of ``preset``'s searched keys (``{"tpu_v1.rows": [...]}``)."""
        return {f"{preset}.{key}": list(choices) for key, choices in self.search.get(preset, {}).items()}


class CompressionSection(StrictModel):
    """``[compression]``: pruning, quantization and weight sharing, each fixed or searched.

    A value fixes the setting; a list of choices (or ``[low, high]`` for ``prune_ratio``)
    makes it a search dimension. ``2:4`` pruning always removes half the weights. With
    ``per_layer``, every prunable layer gets its own ``prune_ratio`` in the range
    (unstructured pruning only: channel pruning must keep summed tensors the same width).
    With ``per_layer_bits``, every conv and linear layer gets its own ``weight_format``
    (and ``act_format`` for its input, when that is a list) from the choices, as HAQ
    searches mixed precision; the weight-free layers between them (pools, adds) carry
    activations in the widest ``act_format`` choice.
    """

    prune_ratio: float | list[float] = 0.0
    pattern: str | list[str] = "unstructured"
    per_layer: bool = False
    per_layer_bits: bool = False
    weight_format: str | list[str] | None = None
    act_format: str | list[str] | None = None
    share_bits: int | list[int] | None = None

    @model_validator(mode="after")
    def _per_layer_needs_unstructured_range(self) -> CompressionSection:
        if self.per_layer and (self.pattern not in ("unstructured", ["unstructured"])
                               or not isinstance(self.prune_ratio, list) or len(self.prune_ratio) != 2):
            raise ValueError("per_layer searches one unstructured ratio per layer: set pattern = 'unstructured' "
                             "and prune_ratio = [low, high]")
        return self

    @model_validator(mode="after")
    def _per_layer_bits_needs_choices(self) -> CompressionSection:
        if self.per_layer_bits and not (isinstance(self.weight_format, list) and len(self.weight_format) > 1):
            raise ValueError("per_layer_bits searches one weight format per layer: give weight_format as a list "
                             "of two or more formats")
        return self

    @field_validator("prune_ratio")
    @classmethod
    def _ratio(cls, ratio: float | list[float]) -> float | list[float]:
        bounds = ratio if isinstance(ratio, list) else [ratio]
        if len(bounds) not in (1, 2) or not all(0.0 <= r <= 0.95 for r in bounds) or bounds != sorted(bounds):
            raise ValueError(f"{ratio!r}: give a fraction in [0, 0.95] or a range [low, high] within it")
        return ratio

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, pattern: str | list[str]) -> str | list[str]:
        from nas.compression import PRUNING_PATTERNS

        return _choices_from(pattern, PRUNING_PATTERNS)

    @field_validator("weight_format", "act_format")
    @classmethod
    def _format(cls, fmt: str | list[str] | None) -> str | list[str] | None:
        from nas.compression import FORMATS

        return None if fmt is None else _choices_from(fmt, FORMATS)

    @field_validator("share_bits")
    @classmethod
    def _share_bits(cls, bits: int | list[int] | None) -> int | list[int] | None:
        if isinstance(bits, list) and not bits:
            raise ValueError("give at least one choice")
        if bits is not None and not all(1 <= b <= 8 for b in (bits if isinstance(bits, list) else [bits])):
            raise ValueError(f"{bits!r}: codebooks of 2 to 256 entries, so 1 to 8 bits")
        return bits


def _choices_from(value: str | list[str], allowed) -> str | list[str]:
    for choice in value if isinstance(value, list) else [value]:
        if choice not in allowed:
            raise ValueError(f"unknown {choice!r}; choose from {', '.join(allowed)}")
    if isinstance(value, list) and not value:
        raise ValueError("give at least one choice")
    return value


class Objective(StrictModel):
    """``[[objectives]]``: a metric and whether to maximise or minimise it."""

    metric: str
    direction: Literal["minimize", "maximize"]


class Constraint(StrictModel):
    """``[[constraints]]``: a bound a feasible candidate must meet, e.g. ``latency_s <= 0.002``."""

    metric: str
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Constraint:
        if (self.max is None) == (self.min is None):
            raise ValueError(f"constraint on {self.metric!r} needs exactly one of 'max' or 'min'")
        bound = self.max if self.max is not None else self.min
        if not math.isfinite(bound):
            raise ValueError(f"constraint on {self.metric!r}: bound {bound} is not a finite number; give one")
        return self

    @property
    def key(self) -> str:
        """Name of the constraint on a trial, e.g. ``latency_s_max``."""
        return f"{self.metric}_{'max' if self.max is not None else 'min'}"

    def violation(self, value: float) -> float:
        """How far ``value`` is outside the bound (<= 0 when satisfied), as Optuna expects."""
        return value - self.max if self.max is not None else self.min - value


class StudySpec(StrictModel):
    """A whole study file. Load it with :func:`load_spec`.

    Example:
        >>> spec = load_spec("studies/quickstart.toml")
        >>> spec.study.name
        'quickstart'
    """

    study: StudySection
    space: SpaceSection
    accuracy: AccuracySection = AccuracySection()
    hardware: HardwareSection
    compression: CompressionSection | None = None
    objectives: list[Objective] = Field(min_length=1)
    constraints: list[Constraint] = []

    @model_validator(mode="after")
    def _metrics_exist(self) -> StudySpec:
        if self.accuracy.proxies or self.accuracy.source in (ESTIMATOR, TRAINED):
            try:
                self.accuracy.check_network(self.make_space(), self.space.name)
            except ValueError as error:
                raise ValueError(f"accuracy.{error}") from None
        allowed = self.available_metrics()
        for label, items in (("objectives", self.objectives), ("constraints", self.constraints)):
            for i, item in enumerate(items):
                if item.metric not in allowed:
                    raise ValueError(
                        f"{label}[{i}].metric {item.metric!r} is not produced with accuracy source "
                        f"{self.accuracy.source!r}; choose from {', '.join(sorted(allowed))}"
                    )
        metrics = [o.metric for o in self.objectives]
        if len(set(metrics)) != len(metrics):
            raise ValueError("objectives name the same metric twice")
        if self.accuracy.source == ORACLE and self.space.name != "nb201":
            raise ValueError("accuracy.source 'oracle' needs a benchmark table; only space 'nb201' has one")
        if self.accuracy.source == ORACLE and self.compression is not None:
            raise ValueError(
                "compression: the NAS-Bench-201 table knows only the accuracy of uncompressed networks, so a "
                "search would prune for free; use accuracy.source 'estimator' (the table's accuracy less the estimated "
                "loss of the compression) or a proxy (scored on the compressed network)"
            )
        return self

    def available_metrics(self) -> dict[str, str]:
        """Metric names this spec's trials produce, with a description including units."""
        return {**COST_METRICS, **self.accuracy.metrics()}

    @property
    def directions(self) -> list[str]:
        """Optuna directions, in objective order."""
        return [o.direction for o in self.objectives]

    def make_space(self):
        """The configured :class:`~search_spaces.SearchSpace`."""
        return get_space(self.space.name, dataset=self.space.dataset)

    def to_json(self) -> str:
        """The spec as a JSON string (what the storage and results datasets keep), with the
        password of a storage URL masked."""
        data = self.model_dump(mode="json")
        if data["study"]["storage"] is not None:
            data["study"]["storage"] = mask_credentials(data["study"]["storage"])
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, origin: str) -> StudySpec:
        """The spec :meth:`to_json` stored, read back from ``origin`` (a study or a results file).

        Raises:
            StudySpecError: ``text`` is not a valid stored spec (a damaged storage or file); one
                line naming ``origin``, the first bad field, and the fix.
        """
        try:
            return cls.model_validate_json(text)
        except pydantic.ValidationError as error:
            raise StudySpecError(
                f"{origin}: its stored spec ({SPEC_ATTR}) is damaged ({first_error(error)}); restore it from "
                "a backup, or run the study again under a new name"
            ) from None


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study TOML file.

    Raises:
        StudySpecError: One line naming the file, the field and the fix.
    """
    return load_toml_model(path, StudySpec, what="study file", error=StudySpecError)


def parse_spec(data: dict, *, origin: str = "<spec>") -> StudySpec:
    """Validate an already parsed study table (see :func:`load_spec`)."""
    return validate_model(data, StudySpec, origin=origin, error=StudySpecError)
