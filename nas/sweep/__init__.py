"""Exhaustive design-space sweeps: every NB201 cell on a grid of hardware, no sampler.

The vectorised cost models evaluate the grid in chunks on Dask and return an xarray
dataset whose dimensions are the grid axes (``nas sweep``).

Example:
    >>> from nas.sweep import BOUNDS
    >>> BOUNDS
    ('compute', 'memory', 'launch')
"""

from nas.sweep._nb201_grid import nb201_workload
from nas.sweep._sweep import BOUNDS, SweepSpec, SweepSpecError, load_sweep_spec, parse_sweep_spec, run_sweep

__all__ = [
    "BOUNDS",
    "SweepSpec",
    "SweepSpecError",
    "load_sweep_spec",
    "nb201_workload",
    "parse_sweep_spec",
    "run_sweep",
]
