"""``nas validate``: every cost model beside the published or measured numbers it must reproduce.

:func:`run_validation` checks the models of :mod:`cost_models` against the references in
``nas/data/validation_references.toml`` (EIE, TPU v1, GPU datasheets, HW-NAS-Bench and HELP
rank correlations) and against the shipped H100 measurements (``nas/data/h100``), with the
rows the GPU constants were fitted on reported apart from the held-out ones.

Example:
    >>> from nas.validation import run_validation
    >>> sorted({r.metric for r in run_validation(quick=True, gpu=False)})[:2]
    ['Spearman rho', 'bounds matched']
"""

from nas.validation._gpu_validation import FIT_SPLIT, gpu_checks
from nas.validation._validation import (
    ValidationResult,
    format_validation,
    output_reachable,
    run_validation,
    spearman_rho,
)

__all__ = [
    "FIT_SPLIT",
    "ValidationResult",
    "format_validation",
    "gpu_checks",
    "output_reachable",
    "run_validation",
    "spearman_rho",
]
