"""Fit the compression-aware accuracy estimator on the project's compression benchmark table.

Run from the repository root::

    python -m benchmarks.fit_accuracy_estimator TABLE.nc [--rows nas/data/accuracy_estimator_rows.csv.gz]
        [--out nas/data/accuracy_estimator.toml] [--reuse-rows]

``TABLE.nc`` is the benchmark table (dims ``cell`` x ``policy``; ``accuracy_pct``,
``dense_accuracy_pct``, ``nb201_cifar10_accuracy_pct`` and the policy coordinates ``pruning``,
``pruning_ratio``, ``weight_format``, ``act_format``, ``weight_sharing_bits``,
``fine_tune_epochs``). For every (cell, policy) the script builds the cell's NB201 CIFAR-10
network (the one a study builds; weights drawn with ``torch.manual_seed(cell)``), compresses a
copy with the policy through the study's own :func:`nas.study.compress_module`, and records the
estimator's features (:func:`nas.compression.compression_features`) and log synflow of the
compressed copy (the zero-cost proxy a study would use instead). Those rows are written to
``--rows``; the four coefficients are fitted on the rows of even cells only and the rank
checks computed on the odd cells only (:data:`nas.compression.FIT_SPLIT`), then written with
their provenance to ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime
import gzip
import io
import sys
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from nas.compression import (
    CHANCE_PCT,
    FIT_SPLIT,
    MIN_LEARNT_PCT,
    ROW_COLUMNS,
    compression_features,
    fit_mask,
    fit_on_rows,
    held_out_scores,
    is_fit_cell,
    read_estimator_rows,
)
from nas.proxies import ProxyError, SynflowProxy
from nas.study import CompressionChoice, compress_module
from search_spaces import SearchSpace, get_space, index_to_arch

_PATTERNS = {"none": "unstructured", "unstructured": "unstructured", "n_m": "2:4", "channel": "channel"}
"""The table's ``pruning`` values as :class:`~nas.study.CompressionChoice` patterns."""
_FLOAT = ("fp32", "none", "")
"""``weight_format`` / ``act_format`` values meaning "left in float"."""


def choice_of(policy: xr.Dataset) -> tuple[CompressionChoice, int]:
    """The compression of one ``policy`` slice of the table, and its fine-tune epochs."""
    pruning = str(policy["pruning"].item())
    if pruning not in _PATTERNS:
        raise ValueError(f"policy {policy['policy'].item()!r}: pruning: unknown {pruning!r}; "
                         f"expected one of {', '.join(_PATTERNS)}")
    ratio = 0.0 if pruning == "none" else 0.5 if pruning == "n_m" else float(policy["pruning_ratio"].item())
    weight, act = (str(policy[name].item()) for name in ("weight_format", "act_format"))
    share = int(policy["weight_sharing_bits"].item())
    choice = CompressionChoice(prune_ratio=ratio, pattern=_PATTERNS[pruning],
                               weight_format=None if weight in _FLOAT else weight,
                               act_format=None if act in _FLOAT or weight in _FLOAT else act,
                               share_bits=share or None)
    return choice, int(policy["fine_tune_epochs"].item())


_COMPUTED = ("weight_error", "act_error", "log_synflow")
"""Row columns computed from the cell's network; the others are read from the table."""


def table_rows(table: xr.Dataset, known: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """One row per (cell, policy) with :data:`nas.compression.ROW_COLUMNS`.

    Args:
        known: Rows computed earlier (:func:`~nas.compression.read_estimator_rows`); the features of
            a (cell, policy) found there are reused, so a table grown with ``--resume`` costs only
            its new cells. The measured accuracies are always read from ``table``.
    """
    space = get_space("nb201", dataset="cifar10")
    inputs = torch.zeros(1, *space.input_shape())
    synflow = SynflowProxy()
    choices = {str(p): choice_of(table.sel(policy=p)) for p in table.policy.values}
    reuse = {} if known is None else {
        (int(cell), str(policy)): {name: known[name][i] for name in _COMPUTED}
        for i, (cell, policy) in enumerate(zip(known["cell"], known["policy"], strict=True))
    }
    columns: dict[str, list] = {name: [] for name in ROW_COLUMNS}
    for n, cell in enumerate(table.cell.values):
        if all((int(cell), label) in reuse for label in choices):
            computed = {label: reuse[int(cell), label] for label in choices}
        else:
            computed = _computed_columns(space, int(cell), choices, synflow, inputs)
        for label, (_, epochs) in choices.items():
            row = table.sel(cell=cell, policy=label)
            columns["cell"].append(int(cell))
            columns["policy"].append(label)
            for name in _COMPUTED:
                columns[name].append(computed[label][name])
            columns["fine_tune_epochs"].append(epochs)
            columns["accuracy_pct"].append(float(row["accuracy_pct"]))
            columns["dense_accuracy_pct"].append(float(row["dense_accuracy_pct"]))
            columns["nb201_cifar10_accuracy_pct"].append(float(row["nb201_cifar10_accuracy_pct"]))
        print(f"cell {n + 1}/{table.sizes['cell']}", file=sys.stderr, flush=True)
    return {name: np.array(values) for name, values in columns.items()}


def _computed_columns(space: SearchSpace, cell: int, choices: dict[str, tuple[CompressionChoice, int]],
                      synflow: SynflowProxy, inputs: torch.Tensor) -> dict[str, dict[str, float]]:
    """The features and log synflow of ``cell``'s network under every policy, by policy label."""
    torch.manual_seed(cell)
    dense = space.build(index_to_arch(cell))
    measured: dict[str, dict[str, float]] = {}  # fine-tuned variants share their compression's numbers
    out = {}
    for label, (choice, _) in choices.items():
        if repr(choice) not in measured:
            compressed = copy.deepcopy(dense)
            compress_module(compressed, choice)
            features = compression_features(dense, compressed)
            measured[repr(choice)] = {"weight_error": features.weight_error, "act_error": features.act_error,
                                      "log_synflow": _synflow(synflow, compressed, inputs)}
        out[label] = measured[repr(choice)]
    return out


def _synflow(proxy: SynflowProxy, module: torch.nn.Module, inputs: torch.Tensor) -> float:
    """Log synflow, or -inf where no path survives (a study fails such a trial; ranked last here)."""
    try:
        return proxy.score(module, inputs)
    except ProxyError:
        return -np.inf


def write_rows(rows: dict[str, np.ndarray], path: Path) -> None:
    """The rows as CSV (gzip when the name ends in ``.gz``, with a fixed mtime so reruns are byte-identical)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(ROW_COLUMNS)
    for i in range(len(rows["cell"])):
        writer.writerow([_cell_text(rows[name][i]) for name in ROW_COLUMNS])
    data = text.getvalue().encode()
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


def _cell_text(value) -> str:
    return repr(float(value)) if isinstance(value, float | np.floating) else str(value)


def coefficients_toml(estimator, scores: dict, table: xr.Dataset, table_path: Path, rows: dict[str, np.ndarray],
                      command: str, chance_pct: float) -> str:
    """The shipped file: coefficients, the fit's provenance and the held-out rank checks."""
    fit = is_fit_cell(rows["cell"])
    attrs = table.attrs
    lines = [
        "# Compression-aware accuracy estimator (nas.compression.AccuracyEstimator), written by",
        f"# {command}",
        "# Coefficients fitted on the benchmark table's fit side only; [held_out] computed on the other side only.",
        "",
        "[estimator]",
        *(f"{name} = {value:.6g}" for name, value in estimator.coefficients.items()),
        "",
        "[fit]",
        f'table = "{table_path.name}: {table.sizes["cell"]} NB201 cells x {table.sizes["policy"]} policies, '
        f'{attrs.get("dataset", "?")}, {attrs.get("regime", "?")}, network {attrs.get("network", "?")}, '
        f'schedule {attrs.get("schedule", "?")}, created {attrs.get("created_utc", "?")}"',
        f'table_command = "{attrs.get("command", "?")}"',
        f'split = "{FIT_SPLIT}"',
        f"n_fit_rows = {int(fit.sum())}",
        f"n_fit_rows_used = {int(fit_mask(rows, chance_pct=chance_pct).sum())}",
        f'rows_left_out = "fit-side rows of cells whose dense network scored within {MIN_LEARNT_PCT:g} points of '
        f'chance ({chance_pct:g} %): no share to keep"',
        f"n_fit_cells = {len(np.unique(rows['cell'][fit]))}",
        'rows = "nas/data/accuracy_estimator_rows.csv.gz (features of the NB201 CIFAR-10 network, seed = cell)"',
        f'policies = {list(map(str, table.policy.values))!r}'.replace("'", '"'),
        'method = "scipy least_squares (trf) of the kept fraction (accuracy - 10) / (dense - 10), clipped to [0, 1.2]"',
        f'fitted_utc = "{datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}"',
        "",
        "[held_out]",
        *(f"{name} = {value}" for name, value in scores.items()),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", type=Path)
    parser.add_argument("--rows", type=Path, default=Path("nas/data/accuracy_estimator_rows.csv.gz"))
    parser.add_argument("--out", type=Path, default=Path("nas/data/accuracy_estimator.toml"))
    parser.add_argument("--reuse-rows", action="store_true",
                        help="Reuse the features of the cells already in --rows; compute only the table's new ones.")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    table = xr.load_dataset(args.table, engine="h5netcdf")
    rows = table_rows(table, known=read_estimator_rows(args.rows) if args.reuse_rows else None)
    write_rows(rows, args.rows)
    chance = CHANCE_PCT["mnist" if "mnist" in str(table.attrs.get("dataset", "mnist")) else "cifar10"]
    estimator = fit_on_rows(rows, chance_pct=chance)
    scores = held_out_scores(estimator, rows, chance_pct=chance)
    command = "python -m benchmarks.fit_accuracy_estimator " + " ".join(sys.argv[1:] if argv is None else argv)
    text = coefficients_toml(estimator, scores, table, args.table, rows, command, chance)
    args.out.write_text(text, encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
