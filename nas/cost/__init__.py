"""Costing whole networks on hardware presets, and checking the cost models against measurements.

``nas cost`` and ``nas validate`` live here: the study's evaluation reuses
:func:`apply_precision`, and :func:`run_validation` reproduces published and measured numbers
(``nas/data/validation_references.toml``) with the models of :mod:`cost_models`.

Example:
    >>> from nas.cost import DEFAULT_QUANTIZATION
    >>> DEFAULT_QUANTIZATION["sparse"]
    ('int8', 4, 16)
"""

from nas.cost._cost_report import DEFAULT_QUANTIZATION, PRECISION_BITS, apply_precision, cost_network, format_cost
from nas.cost._validation import ValidationResult, format_validation, run_validation

__all__ = [
    "DEFAULT_QUANTIZATION",
    "PRECISION_BITS",
    "ValidationResult",
    "apply_precision",
    "cost_network",
    "format_cost",
    "format_validation",
    "run_validation",
]
