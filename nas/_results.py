"""A study's trials as a labelled xarray Dataset: the Pareto dataset users keep.

Dimension ``trial``; every sampled parameter, the genotype labels and the trial state
are coordinates; every metric is a variable with a ``units`` attr; ``is_pareto`` and
``is_feasible`` are masks; attrs carry the spec (JSON), directions, seed and package
versions. It is built from the Optuna storage alone, so it can be rebuilt at any time,
and it round-trips through netCDF unchanged.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import platform
from pathlib import Path

import numpy as np
import optuna
import xarray as xr
from optuna.trial import TrialState

from nas._pareto import pareto_mask
from nas._runner import SPEC_ATTR
from nas._spec import StudySpec

_UNIT_SUFFIXES = {
    "_s": "s", "_j": "J", "_mm2": "mm2", "_pct": "%", "_bytes": "B", "_fraction": "1", "_w": "W",
}
_UNITS = {"macs": "MAC", "params": "1", "n_layers": "1", "log_synflow": "1"}
_NOT_METRICS = {"driver", "worker", "fail_reason", "hardware", "arch", "arch_index"}
_PACKAGES = ("numpy", "optuna", "dask", "distributed", "xarray", "torch", "plotly", "nas-codesign")


def units_of(metric: str) -> str:
    """The unit of a metric, read from its name (``latency_s`` -> ``"s"``)."""
    if metric in _UNITS:
        return _UNITS[metric]
    for suffix, unit in _UNIT_SUFFIXES.items():
        if metric.endswith(suffix):
            return unit
    return "1"


def study_to_dataset(study: optuna.Study) -> xr.Dataset:
    """Build the results dataset of a study run by :func:`~nas.run_search`.

    Completed and failed trials are included (``state`` says which, ``fail_reason``
    why); running ones are not.
    """
    spec = StudySpec.model_validate_json(study.user_attrs[SPEC_ATTR])
    space = spec.make_space()
    trials = [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.FAIL)]
    coords: dict[str, tuple] = {
        "state": ("trial", np.array([t.state.name for t in trials], dtype=object)),
        "fail_reason": ("trial", np.array([t.user_attrs.get("fail_reason", "") for t in trials], dtype=object)),
    }
    for name in sorted({name for t in trials for name in t.params}):
        coords[name] = ("trial", _param_column([t.params.get(name) for t in trials]))
    labels = [space.describe_genotype(space.from_params(t.params)) for t in trials]
    for name in labels[0] if labels else ():
        coords[name] = ("trial", _param_column([label[name] for label in labels]))
    if "hardware" not in coords:
        coords["hardware"] = ("trial", np.array([spec.hardware.presets[0]] * len(trials), dtype=object))

    metric_names = sorted(
        {k for t in trials for k, v in t.user_attrs.items() if k not in _NOT_METRICS and _is_number(v)}
    )
    data_vars = {
        name: ("trial", np.array([float(t.user_attrs.get(name, np.nan)) for t in trials]), {"units": units_of(name)})
        for name in metric_names
    }
    complete = np.array([t.state == TrialState.COMPLETE for t in trials], dtype=bool)
    feasible = complete & np.array([all(v <= 0 for v in t.constraints.values()) for t in trials], dtype=bool)
    objectives = np.array(
        [[t.values[i] if t.values else np.nan for i in range(len(spec.objectives))] for t in trials]
    ).reshape(len(trials), len(spec.objectives))
    objectives[~feasible] = np.nan
    data_vars["is_feasible"] = ("trial", feasible, {"description": "completed and meets every constraint"})
    data_vars["is_pareto"] = (
        "trial", pareto_mask(objectives, spec.directions),
        {"description": "not dominated by any other feasible trial in the study's objectives"},
    )
    dataset = xr.Dataset(data_vars, coords={"trial": [t.number for t in trials], **coords})
    dataset.attrs.update(
        study_name=spec.study.name,
        spec_json=spec.to_json(),
        objectives=json.dumps([o.model_dump() for o in spec.objectives]),
        directions=",".join(spec.directions),
        seed=spec.study.seed,
        sampler=spec.study.sampler,
        space=spec.space.name,
        dataset=spec.space.dataset,
        hardware_presets=",".join(spec.hardware.presets),
        precision=spec.hardware.precision,
        batch_size=spec.hardware.batch_size,
        versions_json=json.dumps(_versions()),
        created_utc=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
    return dataset


def objectives_of(dataset: xr.Dataset) -> list[tuple[str, str]]:
    """``(metric, direction)`` pairs of the study a dataset came from."""
    return [(o["metric"], o["direction"]) for o in json.loads(dataset.attrs["objectives"])]


def save_dataset(dataset: xr.Dataset, path: str | Path) -> Path:
    """Write a results dataset to netCDF (h5netcdf engine) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.to_netcdf(path, engine="h5netcdf")
    return path


def load_dataset(path: str | Path) -> xr.Dataset:
    """Read a results dataset written by :func:`save_dataset` (fully into memory)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such results file; `nas search` writes one into --out")
    dataset = xr.load_dataset(path, engine="h5netcdf")
    if "objectives" not in dataset.attrs:
        raise ValueError(f"{path}: not a results dataset (no 'objectives' attr)")
    return dataset


def _param_column(values: list) -> np.ndarray:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, str) for v in present):
        return np.array(["" if v is None else v for v in values], dtype=object)
    if present and all(isinstance(v, bool | np.bool_) for v in present):
        return np.array([bool(v) for v in values])
    if present and all(isinstance(v, int | np.integer) for v in present) and len(present) == len(values):
        return np.array(values, dtype=np.int64)
    return np.array([np.nan if v is None else float(v) for v in values])


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
