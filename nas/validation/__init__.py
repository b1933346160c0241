"""``nas validate``: every cost model beside the published or measured numbers it must reproduce.

:func:`run_validation` checks the models of :mod:`cost_models` against the references in
``nas/data/validation_references.toml`` (EIE, TPU v1, GPU datasheets, HW-NAS-Bench and HELP
rank correlations) and against the shipped H100 measurements (``nas/data/h100``), with the
rows the GPU constants were fitted on reported apart from the held-out ones.
:func:`compression_checks` sets the compression-aware accuracy estimator beside published
ImageNet accuracies of quantized and pruned networks (``nas/data/compression_references.toml``),
a section of its own: estimates, not counted in the exit status of ``nas validate``.

Example:
    >>> import numpy as np
    >>> from nas.validation import spearman_rho
    >>> spearman_rho(np.array([1.0, 2.0, 3.0]), np.array([10.0, 30.0, 20.0]))
    0.5
"""

from nas.validation._compression_validation import (
    QUICK_MODELS,
    compression_checks,
    load_compression_references,
)
from nas.validation._gpu_validation import (
    FIT_SPLIT,
    format_group_stats,
    gemm_workload,
    gpu_checks,
    group_stats,
    h100_rows,
    measured_cases,
    op_workload,
    pooled_stats,
)
from nas.validation._result import ValidationResult
from nas.validation._validation import (
    format_validation,
    output_reachable,
    run_validation,
    spearman_rho,
)

__all__ = [
    "FIT_SPLIT",
    "QUICK_MODELS",
    "ValidationResult",
    "compression_checks",
    "format_group_stats",
    "format_validation",
    "gemm_workload",
    "gpu_checks",
    "group_stats",
    "h100_rows",
    "load_compression_references",
    "measured_cases",
    "op_workload",
    "output_reachable",
    "pooled_stats",
    "run_validation",
    "spearman_rho",
]
