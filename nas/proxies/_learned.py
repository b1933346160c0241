"""A learned ensemble: non-negative weights on the proxies' ranks, fitted on half of the shipped reference cells.

The rank ensembles weigh their members equally (or by majority); this one learns the
weights. Features are each proxy's rank fraction (the fraction of the training cells a
cell beats); the target is the rank fraction of the cell's trained NB201 CIFAR-10
accuracy; the weights are non-negative least squares, so a proxy can be dropped but
never count against accuracy. Members whose weight falls below
:data:`MIN_WEIGHT` are dropped and the rest refitted, so a study computes only proxies
that matter. The fit uses the cells of the shipped reference run that every proxy
scored, split at random in two halves (seed and sizes stored): it is fitted on one
and its rank correlation is reported on the other, beside the equal-weight ensembles
and the best single proxy on the same held-out cells.

The result is data, ``nas/data/proxy_learned_ensemble.toml``, written by
``nas proxies --fit-learned nas/data/proxy_learned_ensemble.toml`` and read by
:func:`learned_ensemble`; a study uses it as ``[accuracy] source = "learned"``.
"""

from __future__ import annotations

import functools
import importlib.resources
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import nnls

from nas._errors import InputError
from nas.benchmarks._nb201_table import DATASETS, NB201AccuracyTable
from nas.proxies._benchmark_data import reference_scores, reference_settings
from nas.proxies._ensemble import DEFAULT_MEMBERS, RankEnsemble
from nas.proxies._ranks import average_ranks, kendall_tau, spearman_rho

MIN_WEIGHT = 0.02
"""Members below this weight (of a total of 1) are dropped and the rest refitted."""
_FILE = "proxy_learned_ensemble.toml"


def fit_learned_ensemble(
    scores: Mapping[str, np.ndarray] | None = None, *, test_fraction: float = 0.5, seed: int = 0
) -> dict[str, Any]:
    """Fit the learned ensemble's weights on a random part of the reference cells and test it on the rest.

    Args:
        scores: ``{proxy: scores}`` plus ``arch_index``, one entry per cell; default the
            shipped reference run (:func:`~nas.proxies.reference_scores`).
        test_fraction: Share of the cells held out, in (0, 1).
        seed: Seed of the split.

    Returns:
        The record :func:`write_learned_ensemble` stores: members, weights, the split, and
        per benchmark dataset the held-out rho and tau of the learned, mean-rank and vote
        ensembles and of the best single proxy.

    Example:
        >>> record = fit_learned_ensemble()
        >>> record["n_train"] + record["n_test"] == record["n_archs"]
        True
    """
    if not 0 < test_fraction < 1:
        raise InputError(f"fit_learned_ensemble: test_fraction must be in (0, 1), got {test_fraction!r}")
    scores = reference_scores() if scores is None else scores
    names = sorted(name for name in scores if name != "arch_index")
    table = np.column_stack([np.asarray(scores[name], dtype=float) for name in names])
    scored = np.all(np.isfinite(table), axis=1)
    table, archs = table[scored], np.asarray(scores["arch_index"])[scored].astype(int)
    order = np.random.default_rng(seed).permutation(len(archs))
    n_test = round(test_fraction * len(archs))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    accuracy = _accuracy(archs)

    features = np.column_stack([(average_ranks(column) - 1) / (len(train) - 1) for column in table[train].T])
    target = (average_ranks(accuracy["cifar10"][train]) - 1) / (len(train) - 1)
    kept = list(range(len(names)))
    while True:
        weights, _ = nnls(features[:, kept], target)
        share = weights / weights.sum()
        if share.min() >= MIN_WEIGHT:
            break
        kept = [k for k, w in zip(kept, share, strict=True) if w >= MIN_WEIGHT]
    members = [names[k] for k in kept]

    held_out = {name: table[test, names.index(name)] for name in names}
    candidates = {
        "learned": RankEnsemble(members, "mean_rank", weights=share),
        "mean_rank": RankEnsemble(list(DEFAULT_MEMBERS["mean_rank"]), "mean_rank"),
        "vote": RankEnsemble(list(DEFAULT_MEMBERS["vote"]), "vote"),
    }
    results = {}
    for dataset in DATASETS:
        truth = accuracy[dataset][test]
        row = {}
        for label, ensemble in candidates.items():
            combined = ensemble.combine(held_out)
            row[f"{label}_spearman_rho"] = round(spearman_rho(combined, truth), 4)
            row[f"{label}_kendall_tau"] = round(kendall_tau(combined, truth), 4)
        single = {name: spearman_rho(held_out[name], truth) for name in names}
        best = max(single, key=single.get)
        row.update(best_member=best, best_member_spearman_rho=round(single[best], 4))
        results[dataset] = row
    return {
        "members": members,
        "weights": [round(float(w), 6) for w in share],
        "method": (f"non-negative least squares of the CIFAR-10 accuracy rank fraction on the proxies' rank fractions "
                   f"over the training cells; members below {MIN_WEIGHT} of the total weight dropped and the rest "
                   "refitted; weights normalised to sum to 1"),
        "split": f"cells every proxy scored, permuted with numpy default_rng({seed}); the first {n_test} held out",
        "seed": seed,
        "test_fraction": test_fraction,
        "n_archs": len(archs),
        "n_train": len(train),
        "n_test": len(test),
        "reference": reference_settings()["command"],
        "held_out": results,
    }


def write_learned_ensemble(path: str | Path, record: Mapping[str, Any]) -> Path:
    """Write a :func:`fit_learned_ensemble` record as the TOML data file :func:`learned_ensemble` reads."""
    def value(item: Any) -> str:
        if isinstance(item, str):
            return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(item, list):
            return "[" + ", ".join(value(x) for x in item) + "]"
        return repr(item)

    lines = ["# The learned proxy ensemble (nas.proxies.learned_ensemble), written by",
             "# nas proxies --fit-learned nas/data/proxy_learned_ensemble.toml; see nas/proxies/_learned.py.", "",
             "[learned]"]
    lines += [f"{key} = {value(item)}" for key, item in record.items() if key != "held_out"]
    for dataset, row in record["held_out"].items():
        lines += ["", f"[learned.held_out.{dataset}]", *(f"{key} = {value(item)}" for key, item in row.items())]
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


def learned_ensemble(reference: bool = True) -> RankEnsemble:
    """The shipped learned ensemble, ranking against the reference population (``reference=False``: without it).

    Example:
        >>> ensemble = learned_ensemble()
        >>> abs(sum(ensemble.weights) - 1) < 1e-9 and ensemble.method
        'mean_rank'
    """
    record = shipped_learned_ensemble()
    scores = reference_scores() if reference else None
    return RankEnsemble(record["members"], "mean_rank", weights=record["weights"],
                        reference={m: scores[m] for m in record["members"]} if scores else None)


def learned_fidelity(dataset: str = "cifar10") -> dict[str, Any]:
    """The shipped learned ensemble's held-out rank correlation (the keys of :func:`~nas.proxies.measured_fidelity`).

    ``n_archs`` is the number of held-out cells: the weights never saw them.
    """
    record = shipped_learned_ensemble()
    try:
        row = record["held_out"][dataset]
    except KeyError:
        raise InputError(f"learned_fidelity: unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}") from None
    return {**reference_settings(), "spearman_rho": row["learned_spearman_rho"],
            "kendall_tau": row["learned_kendall_tau"], "n_archs": record["n_test"],
            "note": f"held-out half of the reference cells; fitted on the other {record['n_train']}"}


@functools.cache
def shipped_learned_ensemble() -> dict[str, Any]:
    """The learned ensemble shipped in package data: its members, weights, seed and held-out fidelity."""
    text = (importlib.resources.files("nas") / "data" / _FILE).read_text()
    return tomllib.loads(text)["learned"]


def _accuracy(archs: np.ndarray) -> dict[str, np.ndarray]:
    table, split = NB201AccuracyTable(), reference_settings()["split"]
    return {dataset: np.array([table.accuracy_pct(int(a), dataset, split) for a in archs]) for dataset in DATASETS}
