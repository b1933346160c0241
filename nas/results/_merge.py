"""Several studies' results in one dataset, stacked along a ``study`` dimension.

A merged dataset holds every variable of every study on dimensions ``(study, trial)``:
trial numbers are aligned (trial 7 of each study shares a column), a study with fewer
trials is padded, and ``has_trial`` marks the real entries. Padding is NaN in numbers,
``""`` in strings and False in masks, so integer columns become float there. Each
study's own attrs and dtypes travel in ``study_attrs_json``, so :func:`select_study`
gives back exactly the dataset that went in, and plots and reports re-draw a merged
file without the live studies. When every study has the same objectives,
``is_pareto_overall`` marks the designs no trial of any study dominates: the
cross-hardware front.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from nas._errors import InputError
from nas.results._pareto import pareto_mask

STUDY_ATTRS = "study_attrs_json"
"""Variable (dim ``study``) holding each study's attrs, coordinate names and dtypes as JSON."""


def merge_datasets(datasets: Sequence[xr.Dataset], names: Sequence[str] | None = None) -> xr.Dataset:
    """Stack results datasets along a new ``study`` dimension.

    Args:
        datasets: Results datasets (:func:`~nas.study_to_dataset`); a merged dataset
            among them contributes each of its studies.
        names: Labels of the studies on the ``study`` dimension; default each
            dataset's ``study_name`` attr. They must be unique.

    Returns:
        The merged dataset (see the module docstring for its layout).

    Raises:
        ValueError: Fewer than one dataset, or two studies with the same label.

    Example:
        >>> a = xr.Dataset({"latency_s": ("trial", [1.0, 2.0])}, coords={"trial": [0, 1]},
        ...     attrs={"study_name": "a", "objectives": "[]"})
        >>> b = xr.Dataset({"latency_s": ("trial", [3.0])}, coords={"trial": [0]},
        ...     attrs={"study_name": "b", "objectives": "[]"})
        >>> merged = merge_datasets([a, b])
        >>> merged.latency_s.dims, merged.has_trial.values.tolist()
        (('study', 'trial'), [[True, True], [True, False]])
        >>> xr.testing.assert_identical(select_study(merged, "b"), b)
    """
    studies = [study for dataset in datasets for study in studies_of(dataset)]
    if not studies:
        raise InputError("merge needs at least one results dataset")
    labels = list(names) if names is not None else [name for name, _ in studies]
    if len(labels) != len(studies):
        raise InputError(f"names: {len(labels)} given for {len(studies)} studies; give one per study")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise InputError(f"studies {repeated} appear twice; give each its own label with names (nas merge --names)")

    trials = np.unique(np.concatenate([study.trial.values for _, study in studies]))
    kinds: dict[str, tuple[bool, np.dtype, dict]] = {}
    for _, study in studies:
        for name, variable in study.variables.items():
            if name != "trial":
                kinds.setdefault(name, (name in study.coords, variable.dtype, dict(variable.attrs)))
    padded = []
    for _, study in studies:
        study = study.reindex(trial=trials, fill_value={name: _fill(study[name].dtype) for name in study.variables
                                                        if name != "trial"})
        for name, (is_coord, dtype, attrs) in kinds.items():
            if name not in study.variables:
                column = xr.DataArray(np.full(len(trials), _fill(dtype), dtype=_padded_dtype(dtype)),
                                      dims="trial", attrs=attrs)
                study = study.assign_coords({name: column}) if is_coord else study.assign({name: column})
        padded.append(study.drop_attrs(deep=False))
    merged = xr.concat(padded, dim=pd.Index(labels, dtype=object, name="study"), data_vars="all", coords="all",
                       join="exact", combine_attrs="drop_conflicts")
    for name, variable in merged.variables.items():
        if variable.dtype.kind in "UT":  # concat makes strings fixed-width; datasets keep them as objects
            merged[name] = variable.astype(object)
    merged["has_trial"] = (("study", "trial"), np.stack([np.isin(trials, s.trial.values) for _, s in studies]),
                           {"description": "the study has this trial number (False: padding)"})
    merged[STUDY_ATTRS] = ("study", np.array([_study_record(s) for _, s in studies], dtype=object),
                           {"description": "each study's attrs, coordinates and dtypes, for select_study"})
    merged = merged.assign_coords(
        hardware_presets=("study", np.array([s.attrs.get("hardware_presets", "") for _, s in studies], dtype=object)),
        precision=("study", np.array([str(s.attrs.get("precision", "")) for _, s in studies], dtype=object)),
    )
    objectives = {s.attrs.get("objectives") for _, s in studies}
    merged.attrs = {
        "merged_studies": json.dumps(labels),
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    shared = objectives.pop() if len(objectives) == 1 else None
    if shared is not None:
        merged.attrs["objectives"] = shared
    if shared and json.loads(shared) and "is_feasible" in merged:
        merged["is_pareto_overall"] = (("study", "trial"), _overall_front(merged), {
            "description": "not dominated by any feasible trial of any merged study in the shared objectives"})
    return merged


def select_study(merged: xr.Dataset, name: str) -> xr.Dataset:
    """One study of a merged dataset, as it was before the merge (same trials, attrs and dtypes)."""
    if "study" not in merged.dims:
        raise InputError("select_study needs a merged dataset (with a 'study' dimension); this one holds one study")
    if name not in merged.study.values:
        raise InputError(f"study {name!r} is not in the merged dataset; it holds {', '.join(merged.study.values)}")
    row = merged.sel(study=name)
    record = json.loads(row[STUDY_ATTRS].item())
    row = row.isel(trial=row.has_trial.values)
    keep = set(record["dtypes"])
    row = row.drop_vars([name for name in row.variables if name not in keep and name != "trial"])
    for variable, dtype in record["dtypes"].items():
        if row[variable].dtype != np.dtype(dtype):
            row[variable] = row[variable].astype(dtype)
    row = row.reset_coords([name for name in row.coords if name not in record["coords"] and name != "trial"])
    row.attrs = record["attrs"]
    return row


def studies_of(dataset: xr.Dataset) -> list[tuple[str, xr.Dataset]]:
    """``(name, dataset)`` of each study in a results dataset: one for a study, several for a merged one."""
    if "study" in dataset.dims:
        return [(str(name), select_study(dataset, str(name))) for name in dataset.study.values]
    return [(str(dataset.attrs.get("study_name", "study")), dataset)]


def _study_record(study: xr.Dataset) -> str:
    return json.dumps({
        "attrs": {key: _plain(value) for key, value in study.attrs.items()},
        "coords": [name for name in study.coords if name != "trial"],
        "dtypes": {name: variable.dtype.str for name, variable in study.variables.items() if name != "trial"},
    })


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _fill(dtype: np.dtype) -> object:
    if dtype.kind == "b":
        return False
    if dtype.kind in "OUS":
        return ""
    return np.nan


def _padded_dtype(dtype: np.dtype) -> np.dtype | type:
    if dtype.kind == "b":
        return bool
    return object if dtype.kind in "OUS" else np.float64


def _overall_front(merged: xr.Dataset) -> np.ndarray:
    objectives = json.loads(merged.attrs["objectives"])
    metrics = [o["metric"] for o in objectives]
    values = np.stack([merged[m].values.ravel() for m in metrics], axis=1).astype(float)
    feasible = (merged.has_trial & merged.is_feasible.astype(bool)).values.ravel()
    values[~feasible] = np.nan
    return pareto_mask(values, [o["direction"] for o in objectives]).reshape(merged.has_trial.shape)
