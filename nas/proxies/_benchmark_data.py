"""Proxy scores and fidelities shipped as data: published per-cell scores, published and measured rank correlations.

Files in ``nas/data`` (sources in its README):

* ``nb201_zc_proxies.csv.gz``: NASWOT and log-synflow as FreeREA computed them, and
  Zen-score as NASLib computed it, for every NB201 cell on each dataset;
* ``nb201_zc_naslib_subset.csv.gz``: NAS-Bench-Suite-Zero's proxies (NASLib) for about
  725 random cells per dataset, with the validation accuracy NASLib correlates them with;
* ``proxy_fidelity.toml``: Spearman's rho published by Abdelfattah et al. (2021), and the
  rho and tau this package measured with ``nas proxies`` on 1,000 cells, with the settings
  and command of that run;
* ``proxy_reference_nb201_cifar10.csv.gz``: the proxy scores of that run, the reference
  population of :class:`~nas.proxies.RankEnsemble`.
"""

from __future__ import annotations

import csv
import functools
import gzip
import importlib.resources
import io
import tomllib
from typing import Any

import numpy as np

from nas._errors import InputError
from nas.benchmarks._nb201_table import DATASETS, read_nb201_table

N_CELLS = 15_625

PUBLISHED_SOURCES = ("naslib", "freerea")
"""Implementations whose per-cell scores ship: NASLib (NAS-Bench-Suite-Zero) and FreeREA's re-implementation."""

_NASLIB_DATASET = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16": "ImageNet16-120"}
_NASLIB_COLUMNS = {"flops": "flops", "params": "params", "synflow": "synflow", "snip": "snip", "grasp": "grasp",
                   "fisher": "fisher", "grad_norm": "grad_norm", "jacob_cov": "jacov", "naswot": "nwot"}
"""Our proxy name -> NASLib's column in the subset file."""
_ALL_CELLS = {("naslib", "zen"): "zen", ("freerea", "naswot"): "naswot", ("freerea", "synflow"): "logsynflow"}
"""(source, our proxy) -> column prefix in the every-cell file (suffixed with ``_<dataset>``)."""
_SENTINELS = {"zen": -1e8, "naswot": 1e-6}
"""Values the every-cell file stores for cells a proxy could not score; read as NaN."""


def published_scores(source: str, proxy: str, dataset: str = "cifar10") -> np.ndarray:
    """Published per-cell scores of ``proxy`` by ``source``, indexed by NB201 ``arch_index`` (NaN where none).

    NASLib's zen and FreeREA's naswot and synflow (FreeREA's log-synflow variant) cover
    every cell; NASLib's other proxies cover its random subset of about 725 cells. Cells
    a proxy could not score (stored as sentinels) are NaN.

    Args:
        source: ``"naslib"`` or ``"freerea"``.
        proxy: One of our proxy names.
        dataset: ``"cifar10"``, ``"cifar100"`` or ``"imagenet16"``.

    Raises:
        ValueError: No published scores for that source, proxy and dataset.

    Example:
        >>> scores = published_scores("naslib", "jacob_cov")
        >>> int(np.isfinite(scores).sum())
        724
    """
    if dataset not in DATASETS:
        raise InputError(f"published_scores: unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    if (source, proxy) in _ALL_CELLS:
        prefix = _ALL_CELLS[source, proxy]
        column = np.array(read_nb201_table("nb201_zc_proxies.csv.gz")[f"{prefix}_{dataset}"])
        if prefix in _SENTINELS:
            column[column == _SENTINELS[prefix]] = np.nan
        return column
    if source == "naslib" and proxy in _NASLIB_COLUMNS:
        return _naslib_subset(dataset)[_NASLIB_COLUMNS[proxy]].copy()
    raise InputError(f"published_scores: no published {proxy!r} scores from {source!r}; "
                     f"available: {', '.join(f'{s}/{p}' for s, p in published_proxies())}")


def published_proxies() -> list[tuple[str, str]]:
    """Every ``(source, proxy)`` pair :func:`published_scores` has."""
    return sorted({*_ALL_CELLS, *(("naslib", proxy) for proxy in _NASLIB_COLUMNS)})


def naslib_subset_cells(dataset: str = "cifar10") -> np.ndarray:
    """The ``arch_index`` of the cells in NASLib's subset for ``dataset``, sorted.

    Example:
        >>> len(naslib_subset_cells("cifar100"))
        725
    """
    return np.flatnonzero(np.isfinite(_naslib_subset(dataset)["val_accuracy"]))


def naslib_accuracy_pct(dataset: str = "cifar10") -> np.ndarray:
    """The validation accuracy NASLib correlates its proxies with, by ``arch_index`` (NaN outside its subset)."""
    return _naslib_subset(dataset)["val_accuracy"].copy()


def published_fidelity(proxy: str, dataset: str = "cifar10") -> dict[str, float]:
    """Published Spearman's rho of ``proxy`` against trained NB201 accuracy, by source.

    * ``"abdelfattah2021"``: Abdelfattah et al., ICLR 2021, all NB201 cells, CIFAR-10
      (stored in ``proxy_fidelity.toml``);
    * ``"naslib_subset"``: computed here from NASLib's shipped scores over its subset
      (about 725 cells) against NASLib's validation accuracy, as NAS-Bench-Suite-Zero reports.

    Args:
        proxy: A proxy name, or ``"vote"``.
        dataset: ``"cifar10"``, ``"cifar100"`` or ``"imagenet16"``.

    Returns:
        ``{source: rho}``, empty when nothing is published for that proxy and dataset.

    Example:
        >>> published_fidelity("synflow")
        {'abdelfattah2021': 0.74, 'naslib_subset': 0.74}
    """
    from nas.proxies._ranks import spearman_rho

    result = {}
    paper = _fidelity_toml()["published"]["abdelfattah2021"].get(dataset, {})
    if proxy in paper:
        result["abdelfattah2021"] = float(paper[proxy])
    if proxy in _NASLIB_COLUMNS:
        scores, accuracy = published_scores("naslib", proxy, dataset), naslib_accuracy_pct(dataset)
        both = np.isfinite(scores) & np.isfinite(accuracy)
        result["naslib_subset"] = round(spearman_rho(scores[both], accuracy[both]), 2)
    return result


def reference_settings() -> dict[str, Any]:
    """How the shipped reference scores were computed: space, network dataset, batch source and size, seed, command.

    A candidate ranked against the reference (:meth:`~nas.proxies.RankEnsemble.score`)
    should have its members computed with the same settings.
    """
    return {key: value for key, value in _fidelity_toml()["measured"].items() if key != "fidelity"}


def reference_scores() -> dict[str, np.ndarray]:
    """The proxy scores of the shipped 1,000-cell run, ``{proxy: scores}``, plus ``arch_index`` (NaN: could not score).

    Example:
        >>> scores = reference_scores()
        >>> len(scores["arch_index"]) == len(scores["synflow"]) == reference_settings()["sample"]
        True
    """
    resource = importlib.resources.files("nas") / "data" / "proxy_reference_nb201_cifar10.csv.gz"
    rows = list(csv.reader(io.StringIO(gzip.decompress(resource.read_bytes()).decode("ascii"))))
    values = np.array(rows[1:], dtype=float)
    return {name: values[:, i] for i, name in enumerate(rows[0])}


@functools.cache
def _fidelity_toml() -> dict[str, Any]:
    return tomllib.loads((importlib.resources.files("nas") / "data" / "proxy_fidelity.toml").read_text())


@functools.cache
def _naslib_subset(dataset: str) -> dict[str, np.ndarray]:
    if dataset not in DATASETS:
        raise InputError(f"NASLib subset: unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    resource = importlib.resources.files("nas") / "data" / "nb201_zc_naslib_subset.csv.gz"
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(resource.read_bytes()).decode("ascii"))))
    columns = {name: np.full(N_CELLS, np.nan) for name in ("val_accuracy", *_NASLIB_COLUMNS.values())}
    for row in rows:
        if row["dataset"] == _NASLIB_DATASET[dataset]:
            for name, column in columns.items():
                column[int(row["arch_index"])] = float(row[name])
    for column in columns.values():
        column.flags.writeable = False
    return columns


def ensemble_fidelity(ensemble: Any, dataset: str = "cifar10") -> dict[str, Any]:
    """Rank correlation of any ensemble with NB201 accuracy, computed from the shipped reference scores.

    For an ensemble not stored in ``proxy_fidelity.toml`` (other members than the measured
    ones): its members' scores on the 1,000 reference cells are combined within that
    population and correlated with the cells' trained accuracy, over the cells every
    member scored. Same keys as :func:`~nas.proxies.measured_fidelity`.

    Args:
        ensemble: A :class:`~nas.proxies.RankEnsemble`.
        dataset: The benchmark accuracy correlated with.

    Example:
        >>> from nas.proxies import RankEnsemble
        >>> result = ensemble_fidelity(RankEnsemble(["synflow", "naswot"], "mean_rank"))
        >>> round(result["spearman_rho"], 2) > 0.7, result["n_archs"] > 950
        (True, True)
    """
    from nas.benchmarks._nb201_table import NB201AccuracyTable
    from nas.proxies._ranks import kendall_tau, spearman_rho

    if dataset not in DATASETS:
        raise InputError(f"ensemble_fidelity: unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    settings, scores = reference_settings(), reference_scores()
    combined = ensemble.combine({member: scores[member] for member in ensemble.members})
    scored = np.isfinite(combined)
    table = NB201AccuracyTable()
    accuracy = np.array([table.accuracy_pct(int(a), dataset, settings["split"]) for a in scores["arch_index"][scored]])
    return {**settings, "spearman_rho": spearman_rho(combined[scored], accuracy),
            "kendall_tau": kendall_tau(combined[scored], accuracy), "n_archs": int(scored.sum())}
