"""A study's trials as a labelled xarray Dataset: the Pareto dataset users keep.

Dimension ``trial``; every sampled parameter, the genotype labels, the trial state and
its seed are coordinates; every metric is a variable with a ``units`` attr;
``is_pareto`` and ``is_feasible`` are masks; attrs carry the spec (JSON), directions,
constraints, the hardware's family and technology node, the parameters' distributions,
the seed, the accuracy's fidelity and package versions. It is built from the Optuna
storage alone, so it can be rebuilt at any time, and it round-trips through netCDF and
zarr unchanged. ``docs/results_schema.md`` lists every field.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import importlib.metadata
import json
import platform
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import xarray as xr
from optuna.distributions import json_to_distribution
from optuna.trial import FrozenTrial, TrialState

from cost_models import load_hardware
from nas._errors import InputError
from nas._metrics import unit_of as units_of
from nas.results._pareto import pareto_mask
from nas.study._accuracy_source import accuracy_fidelity, accuracy_regime
from nas.study._candidate import METRICS_ATTR, trial_seed
from nas.study._spec import SPEC_ATTR, StudySpec
from search_spaces import SearchSpace

_NOT_METRICS = {"driver", "worker", "fail_reason", "hardware", "arch", "arch_index"}
_PACKAGES = ("numpy", "optuna", "dask", "distributed", "xarray", "torch", "plotly", "nas-codesign")


def study_to_dataset(study: optuna.Study) -> xr.Dataset:
    """Build the results dataset of a study run by :func:`~nas.run_search`.

    Completed and failed trials are included (``state`` says which, ``fail_reason``
    why); running ones are not.
    """
    spec = StudySpec.from_json(study.user_attrs[SPEC_ATTR], origin=f"study {study.study_name!r}")
    space = spec.make_space()
    trials, labels = _rebuildable(
        study, space, [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.FAIL)]
    )
    coords: dict[str, tuple] = {
        "state": ("trial", np.array([t.state.name for t in trials], dtype=object)),
        "fail_reason": ("trial", np.array([t.user_attrs.get("fail_reason", "") for t in trials], dtype=object)),
        "trial_seed": ("trial", np.array([trial_seed(spec.study.seed, t.number) for t in trials], dtype=np.int64)),
    }
    distributions = {name: dist for t in reversed(trials) for name, dist in t.distributions.items()}
    for name in sorted({name for t in trials for name in t.params}):
        coords[name] = ("trial", _param_column([t.params.get(name) for t in trials]))
    for name in labels[0] if labels else ():
        coords[name] = ("trial", _param_column([label[name] for label in labels]))
    if "hardware" not in coords:
        coords["hardware"] = ("trial", np.array([spec.hardware.presets[0]] * len(trials), dtype=object))

    # Objective and constraint metrics are always variables (NaN where a trial failed), so a
    # study whose every trial failed still has the columns its plots and merges need.
    metric_names = sorted(
        {k for t in trials for k, v in _metrics(t).items() if k not in _NOT_METRICS | coords.keys() and _is_number(v)}
        | {item.metric for item in (*spec.objectives, *spec.constraints)}
    )
    data_vars = {
        name: ("trial", np.array([float(_metrics(t).get(name, np.nan)) for t in trials]), {"units": units_of(name)})
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
    fidelity, fidelity_record = accuracy_fidelity(spec.accuracy, spec.space.name, spec.space.dataset)
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
        precision=",".join(spec.hardware.precisions),
        batch_size=spec.hardware.batch_size,
        constraints_json=json.dumps([c.model_dump() for c in spec.constraints]),
        hardware_json=json.dumps(_hardware_provenance(spec.hardware.presets)),
        param_distributions_json=json.dumps(
            {name: optuna.distributions.distribution_to_json(distributions[name]) for name in sorted(distributions)}
        ),
        accuracy_source=spec.accuracy.label,
        accuracy_fidelity=fidelity,
        accuracy_fidelity_json=json.dumps(fidelity_record),
        accuracy_regime=accuracy_regime(spec.accuracy, compressed=spec.compression is not None),
        versions_json=json.dumps(_versions()),
        created_utc=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
    return dataset


def _rebuildable(
    study: optuna.Study, space: SearchSpace, trials: list[FrozenTrial]
) -> tuple[list[FrozenTrial], list[dict]]:
    """The trials whose parameters still make a candidate of ``space``, and their genotype labels.

    A damaged storage can drop a trial's parameter (Optuna skips a record it cannot replay);
    such a trial is left out with a warning naming it, so the rest of the study is still read.
    """
    kept, labels, damaged = [], [], []
    for trial in trials:
        try:
            labels.append(space.describe_genotype(space.from_params(trial.params)))
        except ValueError:
            damaged.append(trial.number)
            continue
        kept.append(trial)
    if damaged:
        named = f"{damaged[:10]}" + (f" and {len(damaged) - 10} more" if len(damaged) > 10 else "")
        warnings.warn(
            f"study {study.study_name!r}: trials {named} hold parameters that no longer make a candidate "
            "(a damaged storage); they are left out of the results",
            stacklevel=3,
        )
    return kept, labels


def objectives_of(dataset: xr.Dataset) -> list[tuple[str, str]]:
    """``(metric, direction)`` pairs of the study a dataset came from."""
    return [(o["metric"], o["direction"]) for o in json.loads(dataset.attrs["objectives"])]


def save_dataset(dataset: xr.Dataset, path: str | Path) -> Path:
    """Write a results dataset and return the path: zarr for a ``.zarr`` path, else netCDF (h5netcdf).

    Zarr stores are written in zarr format 2, whose variable-length strings have a
    stable specification (format 3 has none yet for them), unconsolidated.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".zarr":
        dataset.to_zarr(path, mode="w", consolidated=False, zarr_format=2)
    else:
        dataset.to_netcdf(path, engine="h5netcdf")
    return path


class ResultsFileError(InputError):
    """A file given as results is not a results dataset of this project (one line: the file and why)."""


@contextlib.contextmanager
def _no_noise_from_half_opened_files() -> Iterator[None]:
    """Silence the ``Exception ignored in File.close`` that h5netcdf prints on stderr when it
    collects a file it failed to open (its ``__del__`` reads an attribute never set).

    The failed read is still reported, as one line; only that finaliser's AttributeError is
    dropped. The caller collects the failed read's garbage inside, so it cannot surface later.
    """
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if not (isinstance(unraisable.exc_value, AttributeError)
                and getattr(unraisable.object, "__qualname__", "") == "File.close"):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


def load_dataset(path: str | Path) -> xr.Dataset:
    """Read a results dataset written by :func:`save_dataset` (netCDF or zarr), fully into memory.

    Raises:
        FileNotFoundError: There is no such file.
        ResultsFileError: The file is not a readable results dataset of this project (a
            directory, another format, a damaged or truncated file, one without the variables
            and attrs that ``nas search``, ``nas sweep`` and ``nas merge`` write, or one with no trials).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such results file; `nas search` writes one into --out")
    if path.is_dir() and path.suffix != ".zarr":
        raise ResultsFileError(f"{path}: is a directory; give a results file (.nc) or a .zarr store")
    reason = None
    with _no_noise_from_half_opened_files():
        try:
            if path.suffix == ".zarr":
                dataset = xr.load_dataset(path, engine="zarr", consolidated=False)
            else:
                dataset = xr.load_dataset(path, engine="h5netcdf")
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if reason is not None:
            gc.collect()  # only a failed read leaves a half-opened file behind
    if reason is not None:
        raise ResultsFileError(f"{path}: not a readable results dataset ({reason[:160]}); give a .nc or .zarr that "
                               "`nas search`, `nas sweep` or `nas merge` wrote")
    if path.is_file():
        _check_no_trailing_bytes(path)
    _check_results(path, dataset)
    # Backends hand strings back fixed-width or as StringDType; study_to_dataset makes object arrays.
    for name, variable in list(dataset.variables.items()):
        if variable.dtype.kind in "UT" and name not in dataset.indexes:
            dataset[name] = variable.astype(object)
    return dataset


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _check_no_trailing_bytes(path: Path) -> None:
    """Refuse bytes past the end an HDF5 (netCDF-4) file records in its superblock.

    HDF5 readers never look past that end, so anything appended to a results file (a
    concatenation, a stray download) would otherwise be silently accepted.
    """
    with open(path, "rb") as handle:
        head = handle.read(64)
        size = handle.seek(0, 2)
    if not head.startswith(_HDF5_SIGNATURE):
        return
    version = head[8]
    offset_size = head[13] if version < 2 else head[9]
    if offset_size not in (4, 8):
        return
    # The superblock's end-of-file address, after the base address (HDF5 File Format Spec., Sec. II.A).
    if version < 2:
        base_at = 24 + (4 if version == 1 else 0)
        end_at = base_at + 2 * offset_size
    else:
        base_at = 12
        end_at = base_at + 2 * offset_size
    base = int.from_bytes(head[base_at:base_at + offset_size], "little")
    end = int.from_bytes(head[end_at:end_at + offset_size], "little")
    if base + end < size:
        raise ResultsFileError(f"{path}: has {size - base - end} bytes after the end of its data (something was "
                               "appended to it); restore the file as `nas search` wrote it")


def _check_results(path: Path, dataset: xr.Dataset) -> None:
    """Refuse a dataset that lacks what the results commands read, with the missing piece named."""
    what = "`nas search`, `nas sweep` or `nas merge`"
    if "objectives" not in dataset.attrs and "merged_studies" in dataset.attrs:
        objectives_attr = None  # studies with different objectives: each keeps its own
    elif "objectives" not in dataset.attrs:
        raise ResultsFileError(f"{path}: not a results dataset of {what} (no 'objectives' attr)")
    else:
        objectives_attr = dataset.attrs["objectives"]
    try:
        objectives = objectives_of(dataset) if objectives_attr is not None else []
    except (ValueError, TypeError, KeyError):
        raise ResultsFileError(f"{path}: its 'objectives' attr is not the JSON list {what} writes") from None
    missing = [metric for metric, _ in objectives if metric not in dataset.variables]
    if "is_pareto" not in dataset.variables:
        missing.insert(0, "is_pareto")
    if missing:
        raise ResultsFileError(f"{path}: lacks the variable(s) {', '.join(missing)} that {what} write; "
                               "was it edited by hand?")
    if "trial" in dataset.dims and dataset.sizes["trial"] == 0:
        raise ResultsFileError(f"{path}: holds no trials; run the study (`nas search`) before reading its results")


def params_of(dataset: xr.Dataset, trial: int) -> dict[str, Any]:
    """The Optuna parameters of one trial, rebuilt from the dataset alone.

    Conditional parameters a trial did not sample are left out; integers and
    categorical choices come back as the types Optuna suggested.

    Args:
        dataset: A single-study results dataset.
        trial: The trial number.

    Example:
        >>> ds = xr.Dataset(coords={"trial": [0, 1], "rows": ("trial", [8.0, np.nan])},
        ...     attrs={"param_distributions_json": json.dumps({"rows": optuna.distributions.distribution_to_json(
        ...         optuna.distributions.CategoricalDistribution([8, 16]))})})
        >>> params_of(ds, 0), params_of(ds, 1)
        ({'rows': 8}, {})
    """
    if "param_distributions_json" not in dataset.attrs:
        raise InputError("the dataset has no 'param_distributions_json' attr; rebuild it from the study's storage "
                         "with a current nas (study_to_dataset)")
    if trial not in dataset.trial.values:
        raise InputError(f"trial {trial} is not in the dataset; it holds trials {_span(dataset.trial.values)}")
    row = dataset.sel(trial=trial)
    params = {}
    for name, encoded in json.loads(dataset.attrs["param_distributions_json"]).items():
        value = row[name].item()
        distribution = json_to_distribution(encoded)
        if isinstance(distribution, optuna.distributions.CategoricalDistribution):
            match = [choice for choice in distribution.choices if _same(choice, value)]
            if match:
                params[name] = match[0]
        elif not (isinstance(value, float) and np.isnan(value)):
            params[name] = int(value) if isinstance(distribution, optuna.distributions.IntDistribution) else value
    return params


def _metrics(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """What :func:`~nas.study.evaluate_candidate` returned for ``trial`` (empty for a failed one)."""
    return trial.user_attrs.get(METRICS_ATTR, {})


def _same(choice: object, value: object) -> bool:
    if isinstance(choice, str) or isinstance(value, str):
        return choice == value
    return choice is not None and value is not None and float(choice) == float(value)


def _span(values: np.ndarray) -> str:
    return f"{values.min()}..{values.max()}" if len(values) else "none"


def _hardware_provenance(presets: list[str]) -> dict[str, Mapping[str, Any]]:
    provenance = {}
    for preset in presets:
        config = load_hardware(preset)
        provenance[preset] = {"family": config.family, "process_node_nm": float(config.process_node_nm),
                              "source": config.source}
    return provenance


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
