"""A study's results as a labelled xarray dataset, and what is read from it.

:func:`study_to_dataset` turns a finished (or running) study into one dataset: dimension
``trial``, every parameter a coordinate, every metric a variable with its ``units``.
:func:`pareto_mask` and :func:`hypervolume` score a front; :func:`merge_datasets` lays
several studies side by side; :func:`export_candidate` writes one design back out. :data:`METRICS` is the one table of
metrics (name, unit, description, direction) that evaluation, results, plots and reports share.

Example:
    >>> import numpy as np
    >>> from nas.results import pareto_mask
    >>> pareto_mask(np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0]]), ["minimize", "minimize"]).tolist()
    [True, True, False]
"""

from nas._metrics import METRICS, Metric, metric_of
from nas.results._dataset import (
    ResultsFileError,
    load_dataset,
    objectives_of,
    params_of,
    save_dataset,
    study_to_dataset,
    units_of,
)
from nas.results._export import (
    Candidate,
    candidate_from_dataset,
    default_trial,
    export_candidate,
    load_candidate,
    rebuild_candidate,
    spec_to_toml,
)
from nas.results._hypervolume import REFERENCE_MARGIN, as_losses, hypervolume, reference_point
from nas.results._merge import merge_datasets, select_study, studies_of
from nas.results._pareto import pareto_mask

__all__ = [
    "METRICS",
    "Metric",
    "metric_of",
    "ResultsFileError",
    "REFERENCE_MARGIN",
    "Candidate",
    "as_losses",
    "candidate_from_dataset",
    "default_trial",
    "export_candidate",
    "hypervolume",
    "load_candidate",
    "load_dataset",
    "merge_datasets",
    "objectives_of",
    "params_of",
    "pareto_mask",
    "rebuild_candidate",
    "reference_point",
    "save_dataset",
    "select_study",
    "spec_to_toml",
    "studies_of",
    "study_to_dataset",
    "units_of",
]
