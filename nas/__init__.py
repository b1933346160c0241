"""Everything that makes a search: study specs, the Dask runner, Pareto datasets and plots.

Example:
    >>> from nas import load_spec
    >>> load_spec("studies/quickstart.toml").hardware.presets
    ['h100', 'a100', 't4']
"""

from nas._cost_report import apply_precision, cost_network, format_cost
from nas._objective import CandidateError, evaluate_candidate, suggest_candidate, trial_seed
from nas._pareto import pareto_mask
from nas._plots import pareto_figure, write_html
from nas._results import load_dataset, objectives_of, save_dataset, study_to_dataset, units_of
from nas._runner import (
    SearchError,
    dask_client,
    default_storage_path,
    fail_orphaned_trials,
    load_or_create_study,
    open_storage,
    run_search,
)
from nas._spec import StudySpec, StudySpecError, load_spec, parse_spec
from nas._validation import ValidationResult, format_validation, run_validation

__all__ = [
    "CandidateError",
    "apply_precision",
    "cost_network",
    "format_cost",
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
