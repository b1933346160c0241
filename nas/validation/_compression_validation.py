"""The compression-aware accuracy estimator beside published ImageNet accuracies (``nas validate``, own section).

The references live in ``nas/data/compression_references.toml``: int8 and 4-bit post-training
quantization of ResNet-50 and MobileNetV2 (MQBench, NeurIPS 2021; NVIDIA's TensorRT quantization
toolkit) and ResNet-50 accuracy against sparsity (State of Sparsity, Gale et al. 2019). Each check
hands :class:`~nas.compression.AccuracyEstimator` the published dense accuracy and the policy,
compresses the network the reference names (:func:`search_spaces.build_model`) with the study's own
:func:`~nas.study.compress_module`, and compares the estimate with the published compressed
accuracy within the reference's tolerance, in accuracy points. They are estimates of an
estimator fitted on small MNIST networks: they show how far it carries, and where it does not.

Example:
    >>> refs = load_compression_references()
    >>> sorted(refs["sources"])
    ['mqbench', 'state_of_sparsity', 'tensorrt_toolkit']
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nas._errors import InputError
from nas.compression import CHANCE_PCT, AccuracyEstimator, compression_features, load_accuracy_estimator
from nas.validation._result import ValidationResult

COMPRESSION_REFERENCES = "compression_references.toml"
"""Shipped references, in ``nas/data``."""
METRIC = "error, points"
"""The checks' metric: estimated minus published accuracy, percentage points."""
QUICK_MODELS = ("mobilenet_v2",)
"""Models whose checks :func:`compression_checks` runs with ``quick``."""
_POLICY_KEYS = {"weight_format": str, "act_format": str, "pattern": str, "prune_ratio": float, "fine_tune_epochs": int}
_REQUIRED = {"label": str, "source": str, "where": str, "model": str, "dense_pct": float, "published_pct": float,
             "tolerance_pct": float, "why": str}


def load_compression_references(path: str | Path | None = None) -> dict[str, Any]:
    """The references file (default the shipped one), checked: every check names a known source and its numbers.

    Raises:
        ValueError: One line naming the check and the field.
    """
    if path is None:
        text = (importlib.resources.files("nas") / "data" / COMPRESSION_REFERENCES).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    refs = tomllib.loads(text)
    origin = str(path or COMPRESSION_REFERENCES)
    for i, check in enumerate(refs.get("check", [])):
        for key, kind in _REQUIRED.items():
            value = check.get(key)
            if not isinstance(value, kind) and not (kind is float and isinstance(value, int)
                                                    and not isinstance(value, bool)):
                raise InputError(f"{origin}: check[{i}].{key}: expected a {kind.__name__}, got {value!r}")
        if check["source"] not in refs.get("sources", {}):
            raise InputError(f"{origin}: check[{i}].source: {check['source']!r} is not in [sources]; add it there")
        unknown = sorted(set(check) - set(_REQUIRED) - set(_POLICY_KEYS))
        if unknown:
            raise InputError(f"{origin}: check[{i}]: unknown field(s) {', '.join(unknown)}; "
                             f"allowed policy fields: {', '.join(_POLICY_KEYS)}")
    return refs


def compression_checks(estimator: AccuracyEstimator | None = None, references: str | Path | None = None, *,
                       quick: bool = False) -> list[ValidationResult]:
    """One result per reference: the estimate beside the published compressed accuracy.

    Args:
        estimator: Default the shipped one (:func:`~nas.compression.load_accuracy_estimator`).
        references: A references TOML other than the shipped one (same layout).
        quick: Only the checks on :data:`QUICK_MODELS` (ResNet-50's 25 M weights take about a
            minute to compress at every policy on one core).
    """
    estimator = estimator or load_accuracy_estimator()
    refs = load_compression_references(references)
    results = []
    for check in refs["check"]:
        if quick and check["model"] not in QUICK_MODELS:
            continue
        policy = {key: check[key] for key in _POLICY_KEYS if key in check}
        features = _features(check["model"], tuple(sorted(policy.items())))
        estimate = estimator.accuracy_pct(check["dense_pct"], features, chance_pct=CHANCE_PCT["imagenet"])
        error = estimate - check["published_pct"]
        what = ", ".join(f"{key} {value}" for key, value in policy.items())
        note = (f"{what}; weight error {features.weight_error:.3g}, activation error {features.act_error:.3g} "
                f"over {features.n_layers} layers; estimated drop {check['dense_pct'] - estimate:.2f}, published "
                f"{check['dense_pct'] - check['published_pct']:.2f} points from {check['dense_pct']:g}; {check['why']}")
        results.append(ValidationResult(
            check["label"], refs["sources"][check["source"]], check["where"], f"estimator on {check['model']}",
            estimate, float(check["published_pct"]), "% top-1 (estimate)", METRIC, error,
            float(check["tolerance_pct"]), bool(abs(error) <= check["tolerance_pct"]), note,
        ))
    return results


@functools.lru_cache(maxsize=32)
def _features(model: str, policy: tuple[tuple[str, Any], ...]):
    from nas.study import CompressionChoice, compress_module

    settings: Mapping[str, Any] = dict(policy)
    dense = _dense(model)
    pattern = settings.get("pattern", "unstructured")
    choice = CompressionChoice(prune_ratio=float(settings.get("prune_ratio", 0.0)), pattern=pattern,
                               weight_format=settings.get("weight_format"), act_format=settings.get("act_format"),
                               share_bits=None)
    compressed = copy.deepcopy(dense)
    compress_module(compressed, choice)
    return compression_features(dense, compressed, fine_tune_epochs=int(settings.get("fine_tune_epochs", 0)))


@functools.lru_cache(maxsize=2)
def _dense(model: str):
    """The reference network, weights drawn with seed 0 (He initialisation, see :func:`search_spaces.build_model`)."""
    import torch

    from search_spaces import build_model

    torch.manual_seed(0)
    return build_model(model)
