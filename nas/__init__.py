"""Hardware-algorithm co-design search: a study file in, a Pareto dataset and its plots out.

The package exports the verbs of a session, the path of a study from its file to its
report; everything else is public in the room it belongs to, lowest first:

- :mod:`nas.benchmarks`: the NAS-Bench-201 accuracy table.
- :mod:`nas.proxies`: zero-cost accuracy proxies, batch sources, rank ensembles, their fidelity.
- :mod:`nas.compression`: pruning, quantization, weight sharing, Huffman coding, file size.
- :mod:`nas.cost`: costing a whole network on a hardware preset (``nas cost``).
- :mod:`nas.study`: the study spec, and a trial's candidate: suggest, build, evaluate.
- :mod:`nas.results`: the results dataset, its Pareto front, hypervolume, merging, export; the metric table.
- :mod:`nas.run`: the driver on Dask, the storage, recovery after a crash, status (``nas search``, ``nas status``).
- :mod:`nas.sweep`: exhaustive hardware-grid sweeps (``nas sweep``).
- :mod:`nas.plots`: plotly figures and the HTML report.
- :mod:`nas.validation`: the cost models against published and measured numbers (``nas validate``).

Every error meant for a user derives from :class:`NasError`; bad input from :class:`InputError`.

Example:
    >>> import nas
    >>> nas.load_spec("studies/quickstart.toml").hardware.presets
    ['h100', 'a100', 't4']
"""

from nas import benchmarks, compression, cost, plots, proxies, results, run, study, sweep, validation
from nas._errors import InputError, NasError
from nas.cost import cost_network
from nas.plots import plot_figure, write_html, write_report
from nas.results import (
    export_candidate,
    hypervolume,
    load_candidate,
    load_dataset,
    merge_datasets,
    pareto_mask,
    save_dataset,
    study_to_dataset,
)
from nas.run import run_search, study_status
from nas.study import load_spec
from nas.sweep import run_sweep
from nas.validation import run_validation

__all__ = [
    "InputError",
    "NasError",
    "benchmarks",
    "compression",
    "cost",
    "cost_network",
    "export_candidate",
    "hypervolume",
    "load_candidate",
    "load_dataset",
    "load_spec",
    "merge_datasets",
    "pareto_mask",
    "plot_figure",
    "plots",
    "proxies",
    "results",
    "run",
    "run_search",
    "run_sweep",
    "run_validation",
    "save_dataset",
    "study",
    "study_status",
    "study_to_dataset",
    "sweep",
    "validation",
    "write_html",
    "write_report",
]
