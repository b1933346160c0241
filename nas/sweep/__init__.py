"""Exhaustive design-space sweeps: every NB201 cell on a grid of hardware, no sampler; and the
compression benchmark table (NB201 cells trained briefly x compression policies).

The vectorised cost models evaluate the grid in chunks on Dask and return an xarray
dataset whose dimensions are the grid axes (``nas sweep``). :func:`compression_table`
trains each cell once on Dask and scores every compression policy on it
(``nas compression-table``).

Example:
    >>> from nas.sweep import BOUNDS
    >>> BOUNDS
    ('compute', 'memory', 'launch')
"""

from nas.sweep._compression_table import (
    DEFAULT_POLICIES,
    TablePolicy,
    compression_table,
    drop_summary,
    load_table,
    sample_cells,
    shipped_compression_table,
    write_table,
)
from nas.sweep._nb201_grid import nb201_workload
from nas.sweep._sweep import BOUNDS, SweepSpec, SweepSpecError, load_sweep_spec, parse_sweep_spec, run_sweep

__all__ = [
    "BOUNDS",
    "DEFAULT_POLICIES",
    "TablePolicy",
    "compression_table",
    "drop_summary",
    "load_table",
    "sample_cells",
    "shipped_compression_table",
    "write_table",
    "SweepSpec",
    "SweepSpecError",
    "load_sweep_spec",
    "nb201_workload",
    "parse_sweep_spec",
    "run_sweep",
]
