"""Compression-aware accuracy estimate: a dense accuracy times the share of it a compression keeps.

A trained network loses accuracy to pruning, quantization and weight sharing roughly as the
noise the compression adds to its weights and activations grows, and it collapses to chance
once that noise swamps the signal. The estimator measures that noise on the candidate's own
compressed module, layer by layer, and maps it to the kept share of the above-chance accuracy
with four fitted coefficients:

``z = (weight_coef * weight_error + act_coef * act_error) * exp(-fine_tune_decay_per_epoch * fine_tune_epochs)``

``kept = 1 / (1 + z ** steepness)``, ``accuracy = chance + (dense - chance) * kept``

- ``weight_error``: mean over the conv and linear layers of ``||W - W_c||^2 / ||W||^2``,
  ``W`` the layer's weights before compression and ``W_c`` after it (masks, fake quantization,
  shared values, all applied by the project's own :func:`~nas.compression.prune_module`,
  :func:`~nas.compression.quantize_module` and :func:`~nas.compression.apply_weight_sharing`).
  A mean, not a sum: the fit computes the features on the full NB201 network a study builds
  for the same cell (``C = 16``, five cells per stage, torch's default initialisation),
  while the benchmark table trained a reduced one (width 8, one cell per stage); per-layer
  means keep the two comparable, a sum would scale with the depth.
- ``act_error``: mean over the same layers of the relative squared error the layer's input
  fake quantization (:class:`~nas.compression.ActivationFakeQuant`) makes on a fixed ReLU'd
  Gaussian sample (:func:`activation_error`); 0 for a layer left in float.
- ``fine_tune_epochs``: epochs of masked / quantization-aware fine-tuning after compression
  the estimate assumes (0: compressed after training, nothing retrained).

Per-layer sensitivity by pruning one layer at a time (:func:`~nas.compression.pruning_sensitivity`)
would cost one proxy evaluation per layer and ratio, far more than a trial can afford; the
per-layer relative error above costs one pass over the weights.

The dense accuracy comes from the NAS-Bench-201 table in a study; the coefficients are fitted
on the project's compression benchmark table (``benchmarks/fit_accuracy_estimator.py``) and
shipped in ``nas/data/accuracy_estimator.toml`` with the split and the held-out rank
correlations.

Example:
    >>> estimator = AccuracyEstimator(weight_coef=10.0, act_coef=10.0, fine_tune_decay_per_epoch=1.0,
    ...                               steepness=2.0)
    >>> dense = CompressionFeatures(weight_error=0.0, act_error=0.0, n_layers=3)
    >>> estimator.accuracy_pct(94.0, dense, chance_pct=10.0)
    94.0
    >>> pruned = CompressionFeatures(weight_error=0.1, act_error=0.0, n_layers=3)
    >>> estimator.accuracy_pct(94.0, pruned, chance_pct=10.0)
    52.0
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import gzip
import importlib.resources
import io
import math
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nas._errors import InputError
from nas.compression._quantization import ActivationFakeQuant, fake_quantize

ESTIMATOR_FILE = "accuracy_estimator.toml"
"""Shipped coefficients, in ``nas/data``."""
ROWS_FILE = "accuracy_estimator_rows.csv.gz"
"""Shipped rows of the fit and the held-out check, in ``nas/data`` (one per benchmark-table cell x policy)."""
ROW_COLUMNS = {
    "cell": "NAS-Bench-201 index of the network",
    "policy": "compression policy label of the benchmark table",
    "weight_error": "CompressionFeatures.weight_error of the cell's NB201 CIFAR-10 network, compressed (1)",
    "act_error": "CompressionFeatures.act_error (1)",
    "fine_tune_epochs": "fine-tuning after compression in the measurement (epochs)",
    "accuracy_pct": "measured held-out accuracy of the compressed trained network (%)",
    "dense_accuracy_pct": "measured accuracy of the same network trained, uncompressed (%)",
    "nb201_cifar10_accuracy_pct": "NAS-Bench-201 CIFAR-10 test accuracy of the cell (%)",
    "log_synflow": "log synflow of the compressed NB201 CIFAR-10 network at initialisation (the zero-cost baseline)",
}
"""Columns of :data:`ROWS_FILE`, with units."""
FIT_SPLIT = ("cells with an even NAS-Bench-201 index are fitted on, cells with an odd one held out "
             "(every policy of a cell on one side)")
"""How the benchmark table's rows are split between the fit and the held-out check."""
CHANCE_PCT = {"cifar10": 10.0, "cifar100": 1.0, "imagenet16": 100.0 / 120.0, "mnist": 10.0, "imagenet": 0.1}
"""Accuracy of a uniform guess, %, by dataset: what a collapsed network scores."""
MIN_LEARNT_PCT = 5.0
"""Points above chance a dense network must score for its rows to enter the fit."""
_COEFFICIENTS = ("weight_coef", "act_coef", "fine_tune_decay_per_epoch", "steepness")
_ACT_SAMPLE = 1 << 16
"""Values in the fixed sample :func:`activation_error` quantizes."""


@dataclasses.dataclass(frozen=True)
class CompressionFeatures:
    """What the estimator reads of a compressed network (see the module docstring).

    Args:
        weight_error: Mean over conv and linear layers of the relative squared weight error, [0, 1+].
        act_error: Mean over the same layers of the relative squared error of their input quantization.
        n_layers: Conv and linear layers averaged over.
        fine_tune_epochs: Fine-tuning epochs after compression the estimate assumes.
    """

    weight_error: float
    act_error: float
    n_layers: int
    fine_tune_epochs: int = 0


def is_fit_cell(cell: int | np.ndarray) -> bool | np.ndarray:
    """Whether an NB201 cell index belongs to the fit side of :data:`FIT_SPLIT` (even index).

    Example:
        >>> is_fit_cell(np.array([0, 1, 6111])).tolist()
        [True, False, False]
    """
    return np.asarray(cell) % 2 == 0


@functools.lru_cache(maxsize=32)
def activation_error(format_name: str, symmetric: bool = False) -> float:
    """Relative squared error ``||q(x) - x||^2 / ||x||^2`` of fake-quantizing ReLU'd Gaussian activations.

    The sample (``2**16`` values of ``max(0, N(0, 1))``, seed 0) stands for a layer's input
    after ReLU, as NB201's ReLU-conv-BN ops and ResNets see it; quantized per tensor as
    :class:`~nas.compression.ActivationFakeQuant` does.

    Example:
        >>> activation_error("int8") < 1e-4 < activation_error("int4")
        True
    """
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(_ACT_SAMPLE, generator=generator).clamp_min(0.0)
    error = fake_quantize(sample, format_name, symmetric=symmetric) - sample
    return float((error * error).sum() / (sample * sample).sum())


def compression_features(dense: nn.Module, compressed: nn.Module, *, fine_tune_epochs: int = 0) -> CompressionFeatures:
    """The estimator's features of ``compressed``, a compressed copy of ``dense`` (same layer names).

    Args:
        dense: The network before compression (same weights the compressed copy started from).
        compressed: The network after pruning, fake quantization and weight sharing.
        fine_tune_epochs: Fine-tuning the estimate assumes, epochs (>= 0).

    Raises:
        ValueError: The two modules do not have the same conv and linear layers, or no such layer.

    Example:
        >>> import copy
        >>> from nas.compression import quantize_module
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        >>> features = compression_features(net, quantize_module(copy.deepcopy(net), "int4", "int8"))
        >>> features.n_layers, 1e-4 < features.weight_error < 1e-2, features.act_error == activation_error("int8")
        (2, True, True)
    """
    if isinstance(fine_tune_epochs, bool) or not isinstance(fine_tune_epochs, int) or fine_tune_epochs < 0:
        raise InputError(f"compression_features: fine_tune_epochs: expected an integer >= 0, got {fine_tune_epochs!r}")
    before = {name: layer for name, layer in dense.named_modules() if isinstance(layer, nn.Conv2d | nn.Linear)}
    after = {name: layer for name, layer in compressed.named_modules() if isinstance(layer, nn.Conv2d | nn.Linear)}
    if not before or before.keys() != after.keys():
        raise InputError("compression_features: the dense and compressed modules must have the same (non-empty) set "
                         "of conv and linear layers; pass a compressed deep copy of the dense module")
    weight_errors, act_errors = [], []
    with torch.no_grad():
        for name, layer in before.items():
            weight = layer.weight.float()
            energy = float((weight * weight).sum())
            delta = after[name].weight.float() - weight
            weight_errors.append(float((delta * delta).sum()) / energy if energy > 0 else 0.0)
            hooks = [hook for hook in after[name]._forward_pre_hooks.values() if isinstance(hook, ActivationFakeQuant)]
            act_errors.append(activation_error(hooks[-1].fmt.name, hooks[-1].symmetric) if hooks else 0.0)
    return CompressionFeatures(float(np.mean(weight_errors)), float(np.mean(act_errors)), len(before),
                               fine_tune_epochs)


@dataclasses.dataclass(frozen=True)
class AccuracyEstimator:
    """Accuracy of a compressed network from its dense accuracy and its :class:`CompressionFeatures`.

    Args:
        weight_coef: Weight of ``weight_error`` in the noise ``z`` (1).
        act_coef: Weight of ``act_error`` in ``z`` (1).
        fine_tune_decay_per_epoch: How fast fine-tuning removes the effect of the noise (1/epoch).
        steepness: Exponent of the collapse ``1 / (1 + z**steepness)`` (1).
        provenance: Where the coefficients come from (the shipped file's ``[fit]`` and ``[held_out]``).
    """

    weight_coef: float
    act_coef: float
    fine_tune_decay_per_epoch: float
    steepness: float
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    @property
    def coefficients(self) -> dict[str, float]:
        """The four fitted numbers by name."""
        return {name: getattr(self, name) for name in _COEFFICIENTS}

    def noise(self, features: CompressionFeatures) -> float:
        """``z``: the compression noise after fine-tuning (see the module docstring)."""
        raw = self.weight_coef * features.weight_error + self.act_coef * features.act_error
        return raw * math.exp(-self.fine_tune_decay_per_epoch * features.fine_tune_epochs)

    def kept_fraction(self, features: CompressionFeatures) -> float:
        """Share of the above-chance accuracy the compressed network keeps, in (0, 1]."""
        z = self.noise(features)
        return 1.0 if z <= 0 else 1.0 / (1.0 + z**self.steepness)

    def accuracy_pct(self, dense_pct: float, features: CompressionFeatures, *, chance_pct: float) -> float:
        """Estimated accuracy, %, of the compressed network whose dense version scores ``dense_pct``."""
        return chance_pct + (dense_pct - chance_pct) * self.kept_fraction(features)


def fit_accuracy_estimator(features: Sequence[CompressionFeatures], kept: np.ndarray) -> AccuracyEstimator:
    """Least-squares fit of the four coefficients to measured kept fractions.

    Args:
        features: One per (cell, policy) row of the fit side.
        kept: Measured ``(accuracy - chance) / (dense accuracy - chance)`` of the same rows,
            clipped to [0, 1.2] (short trainings scatter a little above 1).

    Returns:
        The fitted estimator (no provenance: the caller adds it).
    """
    from scipy.optimize import least_squares

    weight = np.array([f.weight_error for f in features])
    act = np.array([f.act_error for f in features])
    epochs = np.array([f.fine_tune_epochs for f in features], dtype=float)
    target = np.clip(np.asarray(kept, dtype=float), 0.0, 1.2)
    if len(target) != len(weight) or len(target) < len(_COEFFICIENTS):
        raise InputError(f"fit_accuracy_estimator: expected as many kept fractions as features and at least "
                         f"{len(_COEFFICIENTS)} rows, got {len(target)} and {len(weight)}")

    def residuals(theta: np.ndarray) -> np.ndarray:
        z = (np.exp(theta[0]) * weight + np.exp(theta[1]) * act) * np.exp(-theta[2] * epochs)
        return 1.0 / (1.0 + z ** np.exp(theta[3])) - target

    # Positive coefficients through logs; decay bounded to a physical range.
    start = np.array([np.log(5.0), np.log(5.0), 1.0, np.log(2.0)])
    lower, upper = np.array([-10.0, -10.0, 0.0, np.log(0.2)]), np.array([12.0, 12.0, 10.0, np.log(20.0)])
    theta = least_squares(residuals, start, bounds=(lower, upper), method="trf", x_scale=1.0).x
    return AccuracyEstimator(weight_coef=float(np.exp(theta[0])), act_coef=float(np.exp(theta[1])),
                             fine_tune_decay_per_epoch=float(theta[2]), steepness=float(np.exp(theta[3])))


def load_accuracy_estimator(path: str | Path | None = None) -> AccuracyEstimator:
    """The estimator of a coefficients file (default the shipped ``nas/data/accuracy_estimator.toml``).

    Raises:
        ValueError: The file lacks a coefficient or a number is not finite (one line naming it).
    """
    if path is None:
        return _shipped()
    return _parse(tomllib.loads(Path(path).read_text(encoding="utf-8")), str(path))


@functools.cache
def _shipped() -> AccuracyEstimator:
    text = (importlib.resources.files("nas") / "data" / ESTIMATOR_FILE).read_text(encoding="utf-8")
    return _parse(tomllib.loads(text), ESTIMATOR_FILE)


def _parse(data: dict[str, Any], origin: str) -> AccuracyEstimator:
    section = data.get("estimator", {})
    values = {}
    for name in _COEFFICIENTS:
        value = section.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise InputError(f"{origin}: estimator.{name}: expected a finite number >= 0, got {value!r}")
        values[name] = float(value)
    provenance = {key: data[key] for key in ("fit", "held_out") if key in data}
    return AccuracyEstimator(**values, provenance=provenance)


def read_estimator_rows(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """The rows the shipped estimator was fitted and checked on (:data:`ROW_COLUMNS`), as arrays.

    Args:
        path: Another rows file of the same layout (``.csv`` or ``.csv.gz``); default the shipped one.
    """
    if path is None:
        raw = (importlib.resources.files("nas") / "data" / ROWS_FILE).read_bytes()
    else:
        raw = Path(path).read_bytes()
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    records = list(csv.DictReader(io.StringIO(text)))
    missing = sorted(set(ROW_COLUMNS) - set(records[0] if records else {}))
    if missing:
        raise InputError(f"{path or ROWS_FILE}: missing column(s) {', '.join(missing)}")
    rows = {name: np.array([record[name] for record in records]) for name in ROW_COLUMNS}
    for name in ROW_COLUMNS:
        if name == "policy":
            continue
        rows[name] = rows[name].astype(int if name in ("cell", "fine_tune_epochs") else float)
    return rows


def row_features(rows: dict[str, np.ndarray], mask: np.ndarray) -> list[CompressionFeatures]:
    """The :class:`CompressionFeatures` of the rows selected by ``mask``."""
    return [CompressionFeatures(float(w), float(a), 0, int(e)) for w, a, e in
            zip(rows["weight_error"][mask], rows["act_error"][mask], rows["fine_tune_epochs"][mask], strict=True)]


def fit_mask(rows: dict[str, np.ndarray], *, chance_pct: float) -> np.ndarray:
    """The rows :func:`fit_on_rows` fits on: the fit side of :data:`FIT_SPLIT`, cells that learnt."""
    return is_fit_cell(rows["cell"]) & (rows["dense_accuracy_pct"] - chance_pct > MIN_LEARNT_PCT)


def fit_on_rows(rows: dict[str, np.ndarray], *, chance_pct: float) -> AccuracyEstimator:
    """Fit on the fit side of :data:`FIT_SPLIT` only: the held-out rows never enter.

    The target is each row's measured kept fraction ``(accuracy - chance) / (dense - chance)``
    of the same trained network, so the fit learns the drop, not the dense accuracy. A cell
    whose dense network never learnt (within :data:`MIN_LEARNT_PCT` of chance, e.g. no path from
    input to output) has no share to keep and is left out of the fit.
    """
    fit = fit_mask(rows, chance_pct=chance_pct)
    kept = (rows["accuracy_pct"][fit] - chance_pct) / (rows["dense_accuracy_pct"][fit] - chance_pct)
    return fit_accuracy_estimator(row_features(rows, fit), kept)


def held_out_scores(estimator: AccuracyEstimator, rows: dict[str, np.ndarray], *, chance_pct: float,
                    dense_chance_pct: float = 10.0) -> dict[str, float | int]:
    """Rank agreement with the measured compressed accuracy on the held-out side of :data:`FIT_SPLIT` only.

    Returns Spearman's rho and Kendall's tau over all held-out (cell, policy) rows of: the
    estimator with the NB201 CIFAR-10 dense accuracy (what a study uses), the estimator with
    the measured dense accuracy (the drop model alone), and log synflow of the compressed
    network (the zero-cost proxy a study would use instead); and the mean over policies of
    the within-policy Spearman's rho of the first and the last.
    """
    from nas.proxies._ranks import kendall_tau, spearman_rho

    held = ~is_fit_cell(rows["cell"])
    measured = rows["accuracy_pct"][held]
    features = row_features(rows, held)
    table_dense = np.array([estimator.accuracy_pct(d, f, chance_pct=dense_chance_pct)
                            for d, f in zip(rows["nb201_cifar10_accuracy_pct"][held], features, strict=True)])
    measured_dense = np.array([estimator.accuracy_pct(d, f, chance_pct=chance_pct)
                               for d, f in zip(rows["dense_accuracy_pct"][held], features, strict=True)])
    synflow = rows["log_synflow"][held]
    # -inf: no path survives the compression (a study fails such a trial); ranked below every other row.
    finite = np.isfinite(synflow)
    synflow = np.where(finite, synflow, (synflow[finite].min() if finite.any() else 0.0) - 1.0)
    policies = rows["policy"][held]

    def within(score: np.ndarray) -> float:
        rhos = np.array([spearman_rho(score[policies == p], measured[policies == p]) for p in np.unique(policies)])
        # A policy whose measured (or scored) accuracies are all equal has no rank to agree with: left out.
        return float(rhos[np.isfinite(rhos)].mean()) if np.isfinite(rhos).any() else float("nan")

    return {
        "n_rows": int(held.sum()),
        "n_cells": int(len(np.unique(rows["cell"][held]))),
        "estimator_spearman_rho": round(spearman_rho(table_dense, measured), 4),
        "estimator_kendall_tau": round(kendall_tau(table_dense, measured), 4),
        "estimator_measured_dense_spearman_rho": round(spearman_rho(measured_dense, measured), 4),
        "estimator_measured_dense_kendall_tau": round(kendall_tau(measured_dense, measured), 4),
        "synflow_spearman_rho": round(spearman_rho(synflow, measured), 4),
        "synflow_kendall_tau": round(kendall_tau(synflow, measured), 4),
        "estimator_within_policy_spearman_rho": round(within(table_dense), 4),
        "synflow_within_policy_spearman_rho": round(within(synflow), 4),
        "estimator_mean_abs_error_pct": round(float(np.mean(np.abs(measured_dense - measured))), 3),
    }
