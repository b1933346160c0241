"""A compression benchmark table measured by the project: NB201 cells trained briefly on real
images, each compressed by a grid of policies, held-out accuracy of every (cell, policy).

Each cell is trained once, densely (:func:`~nas.study._trained_accuracy.train_network`, the
``trained`` accuracy source's settings), then every policy compresses a copy of it exactly
as a search does (:func:`~nas.study.compress_module`), with or without a masked,
quantization-aware fine-tune. One Dask task per cell; the table is an ``xarray.Dataset``
with dims ``cell`` x ``policy`` (the schema of ``docs/compression_table.md``), written as it
fills (every ``checkpoint_every`` cells) so a long run can be watched and loses little if stopped.

Command: ``nas compression-table --cells 120 -o results/compression_table.nc``.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from nas._errors import InputError
from nas.study import OPTIMISER, CompressionChoice, TrainedSettings, trial_seed

N_NB201_CELLS = 15_625
DENSE = "dense"


@dataclasses.dataclass(frozen=True)
class TablePolicy:
    """One compression policy of the table (fields named as the table's per-policy coordinates).

    Args:
        label: Column label, e.g. ``"unstructured_0.9_ft1"``.
        pruning: ``"none"``, ``"unstructured"``, ``"n_m"`` (2:4) or ``"channel"``.
        pruning_ratio: Fraction of weights removed, 0..1 (0.5 for 2:4).
        weight_format: ``"fp32"`` (unquantized) or a :data:`~nas.compression.FORMATS` name.
        act_format: As ``weight_format``, for the inputs of every conv and linear layer.
        weight_sharing_bits: Codebook index bits of weight sharing; 0 = off.
        fine_tune_epochs: Epochs of masked, quantization-aware fine-tune after compressing.
    """

    label: str
    pruning: str = "none"
    pruning_ratio: float = 0.0
    weight_format: str = "fp32"
    act_format: str = "fp32"
    weight_sharing_bits: int = 0
    fine_tune_epochs: int = 0

    def choice(self) -> CompressionChoice | None:
        """The :class:`~nas.study.CompressionChoice` a search would apply; None for the dense network."""
        if (self.pruning, self.weight_format, self.act_format, self.weight_sharing_bits) == ("none", "fp32", "fp32", 0):
            return None
        return CompressionChoice(
            prune_ratio=0.5 if self.pruning == "n_m" else self.pruning_ratio,
            pattern={"none": "unstructured", "n_m": "2:4"}.get(self.pruning, self.pruning),
            weight_format=None if self.weight_format == "fp32" else self.weight_format,
            act_format=None if self.act_format == "fp32" else self.act_format,
            share_bits=self.weight_sharing_bits or None,
        )


def _unstructured(ratio: float, fine_tune: int = 0) -> TablePolicy:
    return TablePolicy(f"unstructured_{ratio:g}" + (f"_ft{fine_tune}" if fine_tune else ""), "unstructured", ratio,
                       fine_tune_epochs=fine_tune)


DEFAULT_POLICIES: tuple[TablePolicy, ...] = (
    TablePolicy(DENSE),
    TablePolicy("int8", weight_format="int8", act_format="int8"),
    TablePolicy("w4a8", weight_format="int4", act_format="int8"),
    TablePolicy("int4_weights", weight_format="int4"),
    TablePolicy("fp8_e4m3", weight_format="fp8_e4m3", act_format="fp8_e4m3"),
    TablePolicy("fp4_e2m1_weights", weight_format="fp4_e2m1"),
    TablePolicy("share_4bit", weight_sharing_bits=4),
    _unstructured(0.5),
    _unstructured(0.8),
    _unstructured(0.9),
    TablePolicy("nm_2:4", "n_m", 0.5),
    TablePolicy("channel_0.25", "channel", 0.25),
    TablePolicy("channel_0.5", "channel", 0.5),
    _unstructured(0.8, 1),
    _unstructured(0.9, 1),
    TablePolicy("nm_2:4_ft1", "n_m", 0.5, fine_tune_epochs=1),
)
"""The default grid: quantization (int8, w4a8, 4-bit weights, fp8, fp4), weight sharing, unstructured
pruning at 50/80/90 %, 2:4, channel pruning at 25/50 %, and the harsh prunings again after one epoch of
fine-tune (three fine-tunes cost about as much as the dense training, so the grid stops there)."""


def sample_cells(n_cells: int, seed: int) -> np.ndarray:
    """``n_cells`` NB201 indices drawn uniformly without replacement: the first ``n_cells`` of
    ``numpy.random.default_rng(seed).permutation(15625)``, in that order. A smaller table's
    cells are the first of a larger one's with the same seed, and one worker finishes them in
    this order, so every checkpoint of a run is itself the table of a smaller sample.

    Example:
        >>> sample_cells(5, 0).tolist() == sample_cells(8, 0)[:5].tolist()
        True
    """
    if not 1 <= n_cells <= N_NB201_CELLS:
        raise InputError(f"cells: choose 1 to {N_NB201_CELLS:,} cells, got {n_cells}")
    return np.random.default_rng(seed).permutation(N_NB201_CELLS)[:n_cells]


def measure_cell(cell: int, settings: TrainedSettings, policies: Sequence[TablePolicy], seed: int) -> dict[str, Any]:
    """Train NB201 cell ``cell`` once and score every policy on it (one Dask task).

    Returns:
        ``{"cell", "accuracy_pct": [one per policy], "dense_accuracy_pct", "train_time_s", "policy_time_s"}``.
    """
    from nas.study import compressed_accuracy_pct, train_network
    from search_spaces import get_space, index_to_arch

    started = time.perf_counter()
    trained = train_network(get_space("nb201"), index_to_arch(int(cell)), settings, trial_seed(seed, int(cell)))
    train_time_s = time.perf_counter() - started
    accuracies = [compressed_accuracy_pct(trained, policy.choice(), fine_tune_epochs=policy.fine_tune_epochs,
                                          fine_tune_learning_rate=settings.fine_tune_learning_rate,
                                          batch_size=settings.batch_size) for policy in policies]
    return {"cell": int(cell), "accuracy_pct": accuracies, "dense_accuracy_pct": trained.dense_accuracy_pct,
            "train_time_s": train_time_s, "policy_time_s": time.perf_counter() - started - train_time_s}


def compression_table(
    cells: Sequence[int],
    client: Any,
    *,
    settings: TrainedSettings | None = None,
    policies: Sequence[TablePolicy] = DEFAULT_POLICIES,
    seed: int = 0,
    output: str | Path | None = None,
    resume: xr.Dataset | None = None,
    checkpoint_every: int = 10,
    command: str = "",
    on_cell: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> xr.Dataset:
    """Measure ``cells`` x ``policies`` on Dask and return (and write) the table.

    Args:
        cells: NB201 indices (see :func:`sample_cells`).
        client: A ``distributed.Client``; one task per cell.
        settings: What is trained how (default :class:`~nas.study._trained_accuracy.TrainedSettings`).
        policies: The columns; the first must be ``dense`` (the reference of every drop).
        seed: Seeds each cell's weights and data order (``trial_seed(seed, cell)``).
        output: netCDF path written every ``checkpoint_every`` finished cells and at the end.
        resume: A table written earlier with the same settings, policies and seed: its cells are
            kept and not measured again.
        checkpoint_every: Cells between checkpoints.
        command: The command line, for the provenance attrs.
        on_cell: Called with (finished, total, the cell's result) as each cell finishes.
    """
    from distributed import as_completed

    settings = settings or TrainedSettings()
    if not policies or policies[0].label != DENSE or policies[0].choice() is not None or policies[0].fine_tune_epochs:
        raise InputError("policies: the first policy must be the uncompressed 'dense' one")
    if len({p.label for p in policies}) != len(policies):
        raise InputError("policies: two policies have the same label; give each its own")
    started = time.perf_counter()
    results = [] if resume is None else _rows(resume, settings, policies, seed)
    done = {row["cell"] for row in results}
    futures = [client.submit(measure_cell, int(cell), settings, tuple(policies), seed, pure=False)
               for cell in cells if int(cell) not in done]
    for future in as_completed(futures):
        results.append(future.result())
        if on_cell is not None:
            on_cell(len(results), len(cells), results[-1])
        if output is not None and (len(results) % checkpoint_every == 0 or len(results) == len(cells)):
            write_table(_dataset(results, settings, policies, seed, command, time.perf_counter() - started), output)
    return _dataset(results, settings, policies, seed, command, time.perf_counter() - started)


def _rows(table: xr.Dataset, settings: TrainedSettings, policies: Sequence[TablePolicy],
          seed: int) -> list[dict[str, Any]]:
    """The measured cells of an earlier table, checked to be measured the same way."""
    if json.loads(table.attrs["settings_json"]) != settings.model_dump() or int(table.attrs["seed"]) != seed:
        raise InputError("resume: the table was measured with other settings or another seed; give the same ones")
    if [str(label) for label in table.policy.values] != [p.label for p in policies]:
        raise InputError("resume: the table has other policies; give the same --policies")
    return [{"cell": int(cell), "accuracy_pct": table.accuracy_pct.sel(cell=cell).values.tolist(),
             "dense_accuracy_pct": float(table.dense_accuracy_pct.sel(cell=cell)),
             "train_time_s": float(table.train_time_s.sel(cell=cell)),
             "policy_time_s": float(table.policy_time_s.sel(cell=cell))} for cell in table.cell.values]


def write_table(table: xr.Dataset, path: str | Path) -> Path:
    """Write ``table`` to ``path`` (netCDF, h5netcdf) through a temporary file, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    table.to_netcdf(partial, engine="h5netcdf")
    os.replace(partial, path)
    return path


def _dataset(results: list[dict[str, Any]], settings: TrainedSettings, policies: Sequence[TablePolicy], seed: int,
             command: str, elapsed_s: float) -> xr.Dataset:
    import torch

    from nas.benchmarks._nb201_table import NB201AccuracyTable
    from nas.proxies import spearman_rho
    from nas.study import load_split
    from search_spaces import index_to_arch

    results = sorted(results, key=lambda row: row["cell"])
    cells = [row["cell"] for row in results]
    table = NB201AccuracyTable()
    split = load_split(settings.data, settings.resolution_px, settings.test_fraction)
    per_policy = {field.name: ("policy", np.array([getattr(p, field.name) for p in policies],
                                                  dtype=object if field.type == "str" else None))
                  for field in dataclasses.fields(TablePolicy) if field.name != "label"}
    dataset = xr.Dataset(
        {
            "accuracy_pct": (("cell", "policy"), np.array([row["accuracy_pct"] for row in results], dtype=float)
                             .reshape(len(results), len(policies)),
                             {"units": "%", "long_name": "held-out top-1 accuracy of the compressed network"}),
            "dense_accuracy_pct": ("cell", [row["dense_accuracy_pct"] for row in results],
                                   {"units": "%", "long_name": "held-out top-1 accuracy, trained, uncompressed"}),
            "nb201_cifar10_accuracy_pct": ("cell", [table.accuracy_pct(c, "cifar10", "test") for c in cells],
                                           {"units": "%", "long_name": "NAS-Bench-201 CIFAR-10 test accuracy, 200 "
                                                                       "epochs (nas/data/nb201_accuracy.csv.gz)"}),
            "train_time_s": ("cell", [row["train_time_s"] for row in results],
                             {"units": "s", "long_name": "wall time of the dense training and its evaluation"}),
            "policy_time_s": ("cell", [row["policy_time_s"] for row in results],
                              {"units": "s", "long_name": "wall time of compressing, fine-tuning and evaluating "
                                                          "every policy"}),
        },
        coords={"cell": ("cell", np.array(cells, dtype=np.int64)),
                "arch_str": ("cell", np.array([index_to_arch(c) for c in cells], dtype=object)),
                "policy": ("policy", np.array([p.label for p in policies], dtype=object)),
                **per_policy},
    )
    dataset["pruning_ratio"].attrs["units"] = "1"
    dataset["fine_tune_epochs"].attrs["units"] = "epoch"
    dataset["weight_sharing_bits"].attrs["units"] = "bit"
    dataset.attrs.update(
        dataset=settings.data if settings.data != "mnist" else "mnist_5k",
        dataset_description=split.description,
        train_images=int(len(split.train_targets)),
        test_images=int(len(split.test_targets)),
        split=f"per class, the last {settings.test_fraction:g} of its images in file order are held out",
        schedule=f"{settings.epochs} epochs, batch {settings.batch_size}, lr {settings.learning_rate:g}, {OPTIMISER}; "
                 f"fine-tune: the policy's fine_tune_epochs at lr {settings.fine_tune_learning_rate:g}, masks kept, "
                 "quantization-aware (straight-through), weight sharing after it",
        network=f"NB201 cell in TinyNetwork at C={settings.width}, N={settings.cells_per_stage} cell(s) per stage, "
                f"{settings.resolution_px}x{settings.resolution_px} input (grey replicated to 3 channels), "
                f"{split.num_classes} classes",
        regime="prune-after-training: the dense network is trained, then compressed as a search does "
               "(nas.study.compress_module); fine-tuned where fine_tune_epochs > 0",
        seed=int(seed),
        cell_seed="torch.manual_seed(trial_seed(seed, cell)) before building; the same seed orders the data",
        cells_sampled=f"{len(cells)} NB201 indices: the first of numpy default_rng({seed}).permutation(15625)",
        settings_json=json.dumps(settings.model_dump()),
        torch_version=str(torch.__version__),
        created_utc=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        command=command or " ".join(sys.argv),
        elapsed_s=float(elapsed_s),
        dense_vs_nb201_cifar10_spearman_rho=spearman_rho(dataset.dense_accuracy_pct.values,
                                                         dataset.nb201_cifar10_accuracy_pct.values)
        if len(cells) > 2 else float("nan"),
    )
    return dataset


def drop_summary(table: xr.Dataset) -> list[tuple[str, float, float, float, float, float]]:
    """Per policy: (label, mean, standard deviation, 10th and 90th percentile of the accuracy drop
    ``dense - compressed`` in points, Spearman's rho of the compressed accuracies with the dense ones)."""
    from nas.proxies import spearman_rho

    drop = table.dense_accuracy_pct - table.accuracy_pct
    return [(str(p), float(drop.sel(policy=p).mean()), float(drop.sel(policy=p).std()),
             float(np.percentile(drop.sel(policy=p), 10)), float(np.percentile(drop.sel(policy=p), 90)),
             spearman_rho(table.dense_accuracy_pct.values, table.accuracy_pct.sel(policy=p).values))
            for p in table.policy.values]


def load_table(path: str | Path) -> xr.Dataset:
    """Read a table written by :func:`compression_table` (fully into memory)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"compression table {path}: no such file")
    with xr.open_dataset(path, engine="h5netcdf") as table:
        if "accuracy_pct" not in table or "settings_json" not in table.attrs:
            raise InputError(f"compression table {path}: not a table of nas compression-table (no accuracy_pct)")
        return table.load()


SHIPPED_TABLE = "compression_table_mnist.nc"
"""The table shipped in ``nas/data`` (see ``nas/data/README.md``: which run, how many cells)."""


def shipped_compression_table() -> xr.Dataset:
    """The compression table shipped with the package (:data:`SHIPPED_TABLE`), for fitting estimators.

    Example:
        >>> table = shipped_compression_table()
        >>> table.accuracy_pct.dims, table.accuracy_pct.attrs["units"]
        (('cell', 'policy'), '%')
    """
    from importlib.resources import as_file, files

    with as_file(files("nas").joinpath("data", SHIPPED_TABLE)) as path:
        return load_table(path)
