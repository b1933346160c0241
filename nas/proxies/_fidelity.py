"""How well each proxy ranks NAS-Bench-201 cells: scores on a sample of cells against their trained accuracy.

:func:`proxy_fidelity` builds each sampled cell's network with its own seeded
initialisation, scores it with every proxy (the data-dependent ones sharing one forward
pass) on one fixed batch, optionally on Dask workers, and returns an xarray Dataset with
the scores, the benchmark accuracies, Spearman's rho and Kendall's tau of every proxy and
ensemble, and two comparisons with published data that tell an implementation bug from a
difference of data: the published implementation's rho on the *same* cells, and the rank
agreement cell by cell between our scores and the published ones.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import time
from collections.abc import Sequence

import numpy as np
import xarray as xr

from nas._errors import InputError
from nas.benchmarks._nb201_table import DATASETS, SPLITS, NB201AccuracyTable
from nas.proxies._batches import BatchSource, get_batch_source
from nas.proxies._benchmark_data import (
    N_CELLS,
    PUBLISHED_SOURCES,
    naslib_subset_cells,
    published_fidelity,
    published_proxies,
    published_scores,
)
from nas.proxies._ensemble import DEFAULT_MEMBERS, RankEnsemble
from nas.proxies._ranks import kendall_tau, spearman_rho

"""``(method, members)`` of the ensembles a report adds when all their members are scored."""

POPULATIONS = ("all", "naslib")
"""Cells to sample from: every NB201 cell, or NASLib's subset (where all its published proxies exist)."""

_CHUNK = 8
"""Cells per Dask task: enough to amortise a round trip, few enough to balance two workers."""

_PACKAGES = ("numpy", "torch", "xarray", "dask", "distributed", "nas-codesign")


def proxy_fidelity(
    space: str = "nb201",
    *,
    sample: int = 1000,
    seed: int = 0,
    dataset: str = "cifar10",
    proxies: Sequence[str] | None = None,
    batch_source: str | BatchSource = "digits",
    batch_size: int = 32,
    split: str = "valid",
    population: str = "all",
    workers: int = 0,
    scheduler: str | None = None,
    progress: bool = False,
) -> xr.Dataset:
    """Score a random sample of NB201 cells with every proxy and correlate the scores with trained accuracy.

    Each cell's network is initialised with torch's default initialisation from its own
    seed (derived from ``seed`` and its index, so a cell scores the same wherever and in
    whatever order it runs); all cells see the same batch (drawn from ``batch_source``
    with ``seed``). Correlations run over the cells every proxy could score (a cell with no
    path from input to output has no finite synflow, NASWOT, jacob_cov or Zen score), and
    again over all cells with those ranked last.

    Args:
        space: Only ``"nb201"`` (the space with a benchmark table).
        sample: Cells to draw without replacement.
        seed: Seed of the sample, the batch and the initialisations.
        dataset: Network the proxies run on (``"cifar10"``, ``"cifar100"``, ``"imagenet16"``:
            classes and input size). Correlations are reported against all three accuracies.
        proxies: Proxy names; default all.
        batch_source: A :class:`~nas.proxies.BatchSource` or a name for :func:`~nas.proxies.get_batch_source`.
        batch_size: Images in the batch.
        split: Accuracy split, ``"valid"`` or ``"test"`` (see :class:`~nas.benchmarks._nb201_table.NB201AccuracyTable`).
        population: ``"all"`` cells, or ``"naslib"``: NASLib's published subset for ``dataset``
            (about 725 cells), where every published proxy can be compared cell by cell.
        workers: 0 scores in this process; else the number of worker processes of a local
            Dask cluster (one torch thread each).
        scheduler: Address of a running Dask scheduler instead of a local cluster.
        progress: Show a progress bar.

    Returns:
        Dimensions ``arch`` (the cells' ``arch_index``), ``proxy`` (proxies, then
        ensembles), ``benchmark`` (``cifar10``, ``cifar100``, ``imagenet16``), ``source``
        (published implementations). Variables: ``score`` and ``failure`` (arch, proxy),
        ``seconds`` (arch), ``accuracy_pct`` (arch, benchmark), ``spearman_rho``,
        ``kendall_tau`` (proxy, benchmark, cells): over the cells every proxy scored
        (``cells="scored"``) or over all sampled cells with a cell a proxy could not score
        ranked last (``cells="all"``, as evaluations over every cell rank them),
        ``published_rho`` (proxy, source): the published
        implementation's rho on the same cells, ``agreement_rho`` and ``agreement_n``
        (proxy, source): rank correlation of our scores with the published ones cell by
        cell, ``paper_rho`` (proxy): Abdelfattah et al.'s rho. Attrs: the settings.

    Raises:
        ValueError: Bad arguments (one line).

    Example:
        >>> ds = proxy_fidelity(sample=3, proxies=["params", "flops"], batch_size=2)
        >>> ds.score.dims, ds.spearman_rho.sizes["benchmark"]
        (('arch', 'proxy'), 3)
    """
    from nas.proxies._registry import get_proxy, list_proxies

    if space != "nb201":
        raise InputError(f"proxy_fidelity: space {space!r} has no benchmark table; only 'nb201' does")
    if dataset not in DATASETS:
        raise InputError(f"proxy_fidelity: unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    if population not in POPULATIONS:
        raise InputError(f"proxy_fidelity: unknown population {population!r}; choose from {', '.join(POPULATIONS)}")
    if split not in SPLITS:
        raise InputError(f"proxy_fidelity: unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InputError(f"proxy_fidelity: workers must be an integer >= 0, got {workers!r}")
    names = list(list_proxies() if proxies is None else proxies)
    for name in names:
        get_proxy(name)
    if not names or len(set(names)) != len(names):
        raise InputError(f"proxy_fidelity: proxies must be distinct names, got {names}")
    pool = np.arange(N_CELLS) if population == "all" else naslib_subset_cells(dataset)
    if isinstance(sample, bool) or not isinstance(sample, int) or not 2 <= sample <= len(pool):
        raise InputError(f"proxy_fidelity: sample must be an integer in [2, {len(pool)}], got {sample!r}")
    source = get_batch_source(batch_source) if isinstance(batch_source, str) else batch_source

    from search_spaces import get_space

    network = get_space(space, dataset=dataset)
    archs = np.sort(np.random.default_rng(seed).choice(pool, sample, replace=False))
    batch = source.batch(batch_size, network.input_shape(), network.num_classes, seed=seed)
    batch_arrays = (batch.inputs.numpy(), batch.targets.numpy())
    scores, failures, seconds = _score_all(archs, dataset, names, batch_arrays, seed, workers, scheduler, progress)
    return fidelity_dataset(archs, names, scores, failures, seconds, attrs={
        "space": space,
        "network_dataset": dataset,
        "split": split,
        "population": population,
        "sample": sample,
        "seed": seed,
        "batch_source": source.describe(),
        "batch_size": batch_size,
        "initialisation": "torch default; per-cell seed = SeedSequence([seed, arch_index])",
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "versions": json.dumps({p: _version(p) for p in _PACKAGES}),
    })


def fidelity_dataset(
    archs: np.ndarray,
    names: Sequence[str],
    scores: np.ndarray,
    failures: np.ndarray,
    seconds: np.ndarray,
    *,
    attrs: dict,
) -> xr.Dataset:
    """The fidelity dataset of :func:`proxy_fidelity` from the raw scores of its cells.

    Separate from the scoring so that correlations can be recomputed from a saved dataset's
    ``score``, ``failure`` and ``seconds`` without scoring again.

    Args:
        archs: NB201 ``arch_index`` of the cells.
        names: Proxy names, the columns of ``scores``.
        scores: ``(cells, proxies)``, NaN where a proxy could not score a cell.
        failures: ``(cells, proxies)`` reasons, ``""`` where it could.
        seconds: ``(cells,)`` wall time per cell.
        attrs: Settings (``network_dataset`` and ``split`` are read here), stored as attrs.
    """
    names = [str(name) for name in names]
    dataset, split = attrs["network_dataset"], attrs["split"]
    ensembles = [RankEnsemble(members, method) for method, members in DEFAULT_MEMBERS.items()
                 if all(member in names for member in members)]
    scored = np.all(np.isfinite(scores), axis=1)
    # Convention "all": a cell a proxy cannot score ranks below every cell it can (its score's
    # limit is -inf for synflow, NASWOT and Zen), as published evaluations over all cells rank them.
    finite = np.isfinite(scores)
    floor = [scores[finite[:, i], i].min() - 1 if finite[:, i].any() else 0.0 for i in range(len(names))]
    lowest = np.where(finite, scores, np.array(floor))
    by_cells = {
        "scored": {name: np.where(scored, scores[:, i], np.nan) for i, name in enumerate(names)},
        "all": {name: lowest[:, i] for i, name in enumerate(names)},
    }
    all_names = names + [ensemble.name for ensemble in ensembles]
    table = np.column_stack([scores, *[e.combine(by_cells["scored"]) for e in ensembles]])
    all_failures = np.column_stack([failures, *[np.full(len(archs), "", dtype=object)] * len(ensembles)])

    accuracy_table = NB201AccuracyTable()
    accuracy = np.array([[accuracy_table.accuracy_pct(int(a), b, split) for b in DATASETS] for a in archs])
    rho_scored, tau_scored = _correlations(table[scored], accuracy[scored])
    every = np.column_stack([lowest, *[e.combine(by_cells["all"]) for e in ensembles]])
    rho_all, tau_all = _correlations(every, accuracy)
    rho, tau = np.stack([rho_scored, rho_all], axis=-1), np.stack([tau_scored, tau_all], axis=-1)
    published_rho, agreement_rho, agreement_n = _published_comparison(
        all_names, archs, table, dataset, accuracy[:, DATASETS.index(dataset)])
    paper_rho = np.array([published_fidelity(name, dataset).get("abdelfattah2021", np.nan) for name in all_names])

    correlated = ("cells 'scored': over the cells every proxy scored; 'all': over every sampled cell, "
                  "a cell a proxy could not score ranked below all others")
    return xr.Dataset(
        {
            "score": (("arch", "proxy"), table, {"units": "1", "description": (
                "proxy score (higher = predicted more accurate); ensembles: fraction of the other scored cells beaten; "
                "NaN where the proxy could not score the cell")}),
            "failure": (("arch", "proxy"), all_failures.astype(object), {
                "description": "why the proxy could not score the cell ('' if it could)"}),
            "seconds": ("arch", seconds, {"units": "s", "description": "wall time to score the cell with every proxy"}),
            "accuracy_pct": (("arch", "benchmark"), accuracy, {
                "units": "%", "description": f"trained NB201 accuracy, {split} split"}),
            "spearman_rho": (("proxy", "benchmark", "cells"), rho, {"units": "1", "description": (
                f"Spearman's rho of score and accuracy; {correlated}")}),
            "kendall_tau": (("proxy", "benchmark", "cells"), tau, {"units": "1", "description": (
                f"Kendall's tau-b of score and accuracy; {correlated}")}),
            "published_rho": (("proxy", "source"), published_rho, {"units": "1", "description": (
                f"Spearman's rho of the source's published scores with {dataset} accuracy on the same cells")}),
            "agreement_rho": (("proxy", "source"), agreement_rho, {"units": "1", "description": (
                "Spearman's rho between our scores and the source's published scores, cell by cell")}),
            "agreement_n": (("proxy", "source"), agreement_n, {"units": "1", "description": (
                "cells in agreement_rho and published_rho")}),
            "paper_rho": ("proxy", paper_rho, {"units": "1", "description": (
                f"Spearman's rho published by Abdelfattah et al. (ICLR 2021) on all cells, {dataset}")}),
        },
        coords={
            "arch": ("arch", np.asarray(archs).astype(np.int64), {"description": "NB201 arch_index"}),
            "proxy": ("proxy", np.array(all_names, dtype=object)),
            "benchmark": ("benchmark", np.array(DATASETS, dtype=object)),
            "cells": ("cells", np.array(list(by_cells), dtype=object)),
            "source": ("source", np.array(PUBLISHED_SOURCES, dtype=object)),
            "is_scored": ("arch", scored, {"description": "every proxy scored the cell"}),
        },
        attrs={**attrs, "ensembles": json.dumps({e.name: {"method": e.method, "members": e.members}
                                                 for e in ensembles})},
    )


def _score_all(archs, dataset, names, batch, seed, workers, scheduler, progress):
    chunks = [archs[start:start + _CHUNK] for start in range(0, len(archs), _CHUNK)]
    from tqdm import tqdm

    bar = tqdm(total=len(archs), desc="proxies", unit="cell", disable=not progress)
    results = {}
    try:
        if workers == 0 and scheduler is None:
            for index, chunk in enumerate(chunks):
                results[index] = score_cells(chunk, dataset, names, batch, seed)
                bar.update(len(chunk))
        else:
            from distributed import as_completed

            from nas._cluster import dask_client

            with dask_client(scheduler, max(workers, 1)) as client:
                [shared_batch] = client.scatter([batch], broadcast=True)
                futures = {client.submit(score_cells, chunk, dataset, names, shared_batch, seed, pure=False): index
                           for index, chunk in enumerate(chunks)}
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update(len(chunks[futures[future]]))
    finally:
        bar.close()
    parts = [results[index] for index in range(len(chunks))]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))


def score_cells(
    archs: Sequence[int], dataset: str, names: Sequence[str], batch: tuple[np.ndarray, np.ndarray], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores of NB201 cells: ``(scores (n, proxies), failure reasons (n, proxies), seconds (n,))``.

    The unit of work of :func:`proxy_fidelity`, run on a Dask worker. Cell ``a`` is built
    after ``torch.manual_seed`` of a seed derived from ``(seed, a)``.
    """
    import torch

    from nas.proxies._scoring import scores_or_errors
    from search_spaces import get_space, index_to_arch

    network = get_space("nb201", dataset=dataset)
    inputs, targets = torch.from_numpy(batch[0]), torch.from_numpy(batch[1])
    scores = np.full((len(archs), len(names)), np.nan)
    failures = np.full((len(archs), len(names)), "", dtype=object)
    seconds = np.zeros(len(archs))
    for row, arch in enumerate(archs):
        started = time.perf_counter()
        torch.manual_seed(int(np.random.SeedSequence([seed, int(arch)]).generate_state(1)[0]))
        module = network.build(index_to_arch(int(arch)))
        for column, (_, value) in enumerate(scores_or_errors(module, inputs, targets, list(names))):
            if isinstance(value, Exception):
                failures[row, column] = str(value)
            else:
                scores[row, column] = value
        seconds[row] = time.perf_counter() - started
    return scores, failures, seconds


def _correlations(scores: np.ndarray, accuracy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman's rho and Kendall's tau of every score column with every accuracy column (NaN below 2 cells)."""
    rho = np.full((scores.shape[1], accuracy.shape[1]), np.nan)
    tau = np.full_like(rho, np.nan)
    if len(scores) >= 2:
        for i in range(scores.shape[1]):
            for j in range(accuracy.shape[1]):
                rho[i, j] = spearman_rho(scores[:, i], accuracy[:, j])
                tau[i, j] = kendall_tau(scores[:, i], accuracy[:, j])
    return rho, tau


def _published_comparison(names, archs, table, dataset, accuracy):
    published_rho = np.full((len(names), len(PUBLISHED_SOURCES)), np.nan)
    agreement_rho = np.full_like(published_rho, np.nan)
    agreement_n = np.zeros(published_rho.shape, dtype=np.int64)
    available = set(published_proxies())
    for i, name in enumerate(names):
        for j, source in enumerate(PUBLISHED_SOURCES):
            if (source, name) not in available:
                continue
            theirs = published_scores(source, name, dataset)[archs]
            both = np.isfinite(theirs) & np.isfinite(table[:, i])
            agreement_n[i, j] = both.sum()
            if both.sum() >= 3:
                agreement_rho[i, j] = spearman_rho(table[both, i], theirs[both])
                published_rho[i, j] = spearman_rho(theirs[both], accuracy[both])
    return published_rho, agreement_rho, agreement_n


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def format_fidelity(dataset: xr.Dataset) -> str:
    """The fidelity report as text: rho and tau per benchmark, then the comparison with published data."""
    attrs = dataset.attrs
    proxies = [str(p) for p in dataset.proxy.values]
    sources = [str(s) for s in dataset.source.values]
    benchmarks = [str(b) for b in dataset.benchmark.values]
    lines = [
        f"proxy fidelity on {attrs['space']}: {attrs['sample']} cells ({attrs['population']} cells, seed "
        f"{attrs['seed']}), {attrs['network_dataset']} network, {attrs['batch_size']} images from "
        f"{attrs['batch_source']}",
        f"{int(dataset.is_scored.sum())} of them scored by every proxy: the correlations run over these (and over "
        f"all cells in the 'all cells' column); accuracy split: {attrs['split']}",
        "",
    ]
    rows = [["proxy"] + [f"{kind} {b}" for b in benchmarks for kind in ("rho", "tau")]]
    for proxy in proxies:
        rows.append([proxy] + [_number(dataset[kind].sel(proxy=proxy, benchmark=b, cells="scored"))
                               for b in benchmarks for kind in ("spearman_rho", "kendall_tau")])
    lines += _table(rows)
    network = attrs["network_dataset"]
    rows = [["proxy", f"rho {network}", "all cells", "paper", *[f"{s} same cells" for s in sources],
             *[f"agreement {s} (n)" for s in sources]]]
    for proxy in proxies:
        row = [proxy] + [_number(dataset.spearman_rho.sel(proxy=proxy, benchmark=network, cells=c))
                         for c in ("scored", "all")]
        row.append(_number(dataset.paper_rho.sel(proxy=proxy)))
        row += [_number(dataset.published_rho.sel(proxy=proxy, source=s)) for s in sources]
        row += [_agreement(dataset, proxy, s) for s in sources]
        rows.append(row)
    lines += ["", "comparison with published results (rho: Spearman's rho with accuracy)", *_table(rows)]
    failed = {p: int((dataset.failure.sel(proxy=p) != "").sum()) for p in proxies}
    if any(failed.values()):
        lines += ["", "cells a proxy could not score: " + ", ".join(f"{p} {n}" for p, n in failed.items() if n)]
    lines += [
        "",
        f"wall time per cell, every proxy: {float(dataset.seconds.mean()):.2f} s mean, "
        f"{float(dataset.seconds.sum()):.0f} s in all (summed over workers).",
        "all cells: every sampled cell, those a proxy could not score ranked last (as over all cells in the paper).",
        "paper: Abdelfattah et al. (ICLR 2021), all cells, one CIFAR-10 batch (params/FLOPs: about 0.73-0.75).",
        "<source> same cells: the published implementation's scores on these cells against the same accuracy.",
        "agreement <source>: Spearman's rho of our scores with the published ones, cell by cell (n cells).",
    ]
    return "\n".join(lines)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    return ["  ".join(cell.rjust(width) if j else cell.ljust(width) for j, (cell, width) in
                      enumerate(zip(row, widths, strict=True))).rstrip() for row in rows]


def _number(value: xr.DataArray) -> str:
    value = float(value)
    return "" if np.isnan(value) else f"{value:.3f}"


def _agreement(dataset: xr.Dataset, proxy: str, source: str) -> str:
    n = int(dataset.agreement_n.sel(proxy=proxy, source=source))
    rho = float(dataset.agreement_rho.sel(proxy=proxy, source=source))
    return "" if n == 0 or np.isnan(rho) else f"{rho:.3f} ({n})"
