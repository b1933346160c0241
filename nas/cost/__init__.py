"""Costing whole networks on hardware presets (``nas cost``); a study's evaluation reuses
:func:`apply_precision`.

Example:
    >>> from nas.cost import PRECISION_BITS
    >>> PRECISION_BITS["fp8"]
    8
"""

from nas.cost._cost_report import PRECISION_BITS, apply_precision, cost_network, format_cost

__all__ = [
    "PRECISION_BITS",
    "apply_precision",
    "cost_network",
    "format_cost",
]
