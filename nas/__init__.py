"""Everything that makes a search: study specs, the Dask runner, Pareto datasets and plots.

Example:
    >>> from nas import load_spec
    >>> load_spec("studies/quickstart.toml").hardware.presets
    ['h100', 'a100', 't4']
"""

from nas._accuracy_source import AccuracySection, format_accuracy_sources
from nas._cost_report import apply_precision, cost_network, format_cost
from nas._export import Candidate, candidate_from_dataset, default_trial, export_candidate, load_candidate
from nas._hypervolume import hypervolume
from nas._merge import merge_datasets, select_study, studies_of
from nas._nb201_grid import nb201_workload
from nas._nb201_table import NB201AccuracyTable
from nas._objective import CandidateError, evaluate_candidate, hardware_from_params, suggest_candidate, trial_seed
from nas._pareto import pareto_mask
from nas._report import write_report
from nas._results import (
    ResultsFileError,
    load_dataset,
    objectives_of,
    params_of,
    save_dataset,
    study_to_dataset,
    units_of,
)
from nas._runner import (
    SearchError,
    StudyProgress,
    dask_client,
    default_storage_path,
    fail_orphaned_trials,
    load_or_create_study,
    open_storage,
    run_search,
    study_progress,
)
from nas._samplers import SAMPLERS, make_sampler
from nas._spec import StudySpec, StudySpecError, load_spec, parse_spec
from nas._status import StudyStatus, format_status, read_study, study_status
from nas._storage_url import mask_credentials
from nas._sweep import SweepSpec, SweepSpecError, load_sweep_spec, parse_sweep_spec, run_sweep
from nas._validation import ValidationResult, format_validation, run_validation
from nas.plots import PLOT_KINDS, pareto_figure, plot_figure, write_html, write_png

__all__ = [
    "AccuracySection",
    "NB201AccuracyTable",
    "format_accuracy_sources",
    "SAMPLERS",
    "StudyProgress",
    "StudyStatus",
    "format_status",
    "hardware_from_params",
    "hypervolume",
    "make_sampler",
    "read_study",
    "study_progress",
    "study_status",
    "PLOT_KINDS",
    "Candidate",
    "candidate_from_dataset",
    "default_trial",
    "export_candidate",
    "load_candidate",
    "merge_datasets",
    "params_of",
    "plot_figure",
    "select_study",
    "studies_of",
    "write_png",
    "write_report",
    "SweepSpec",
    "SweepSpecError",
    "load_sweep_spec",
    "nb201_workload",
    "parse_sweep_spec",
    "run_sweep",
    "CandidateError",
    "apply_precision",
    "cost_network",
    "format_cost",
    "ResultsFileError",
    "SearchError",
    "StudySpec",
    "StudySpecError",
    "dask_client",
    "default_storage_path",
    "evaluate_candidate",
    "fail_orphaned_trials",
    "load_dataset",
    "load_or_create_study",
    "load_spec",
    "objectives_of",
    "open_storage",
    "pareto_figure",
    "mask_credentials",
    "pareto_mask",
    "parse_spec",
    "run_search",
    "save_dataset",
    "study_to_dataset",
    "suggest_candidate",
    "trial_seed",
    "units_of",
    "ValidationResult",
    "format_validation",
    "run_validation",
    "write_html",
]
