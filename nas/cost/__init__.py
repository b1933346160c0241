"""Costing whole networks on hardware presets (``nas cost``); a study's evaluation reuses
:func:`apply_precision`.

Example:
    >>> from nas.cost import DEFAULT_QUANTIZATION
    >>> DEFAULT_QUANTIZATION["sparse"]
    ('int8', 4, 16)
"""

from nas.cost._cost_report import DEFAULT_QUANTIZATION, PRECISION_BITS, apply_precision, cost_network, format_cost

__all__ = [
    "DEFAULT_QUANTIZATION",
    "PRECISION_BITS",
    "apply_precision",
    "cost_network",
    "format_cost",
]
