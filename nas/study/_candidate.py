"""One trial, end to end: sample a candidate on the driver, evaluate it anywhere.

:func:`suggest_candidate` runs in the driver (it talks to the Optuna trial);
:func:`evaluate_candidate` is a pure function of the spec and the trial's parameters,
so Dask may run it on any worker, or run it again after a worker dies.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from cost_models import MAC_KINDS, HardwareConfig, Workload, evaluate, load_hardware
from nas._errors import NasError
from nas.cost._cost_report import apply_precision
from nas.study._accuracy_source import ESTIMATOR, ORACLE
from nas.study._compression_choice import (
    CompressionChoice,
    choice_from_params,
    compress_module,
    compress_workload,
    suggest_compression,
)
from nas.study._spec import StudySpec
from nas.study._trained_accuracy import TRAINED
from nas.study._training import trained_metrics
from search_spaces import SearchSpace

METRICS_ATTR = "metrics"
"""Trial user attr holding every metric :func:`evaluate_candidate` returned, as one dict: one
storage write a trial (one journal line, one database row), shown as JSON by optuna-dashboard."""


class CandidateError(NasError, RuntimeError):
    """A candidate could not be scored; the message is the reason recorded on the failed trial."""


def suggest_candidate(trial: Any, spec: StudySpec, space: SearchSpace) -> None:
    """Suggest every searched parameter of ``spec`` on an Optuna ``trial``: architecture,
    compression, hardware preset, its searched keys (``<preset>.<key>``) and precision."""
    genotype = space.sample(trial)
    if spec.compression is not None:
        workload = space.workload(genotype)
        suggest_compression(trial, spec.compression, list(workload.name[np.isin(workload.kind, MAC_KINDS)]))
    preset = spec.hardware.presets[0]
    if len(spec.hardware.presets) > 1:
        preset = trial.suggest_categorical("hardware", spec.hardware.presets)
    for name, choices in spec.hardware.searched_keys(preset).items():
        trial.suggest_categorical(name, choices)
    if len(spec.hardware.precisions) > 1:
        trial.suggest_categorical("precision", spec.hardware.precisions)


def hardware_from_params(spec: StudySpec, params: Mapping[str, Any]) -> tuple[str, dict[str, Any], HardwareConfig]:
    """The hardware of a candidate: its preset, the searched keys it overrides, and the loaded config.

    Example:
        >>> from nas.study import parse_spec
        >>> spec = parse_spec({"study": {"name": "s", "n_trials": 1}, "space": {"name": "nb201"},
        ...     "hardware": {"presets": ["tpu_v1"], "search": {"tpu_v1": {"rows": [64, 128]}}},
        ...     "objectives": [{"metric": "latency_s", "direction": "minimize"}]})
        >>> name, overrides, config = hardware_from_params(spec, {"tpu_v1.rows": 64})
        >>> name, overrides, config.rows, config.cols
        ('tpu_v1', {'rows': 64}, 64, 256)
    """
    preset = params.get("hardware", spec.hardware.presets[0])
    overrides = {name.split(".", 1)[1]: params[name] for name in spec.hardware.searched_keys(preset) if name in params}
    fixed = spec.hardware.fixed_keys(preset)
    return preset, overrides, _hardware(preset, tuple(sorted({**fixed, **overrides}.items())))


def trial_seed(study_seed: int, trial_number: int) -> int:
    """A per-trial seed derived from (study seed, trial number), so any trial can be replayed."""
    return int(np.random.SeedSequence([study_seed, trial_number]).generate_state(1)[0])


class BuiltCandidate(NamedTuple):
    """A candidate's parts, built from its trial parameters (see :func:`build_candidate`)."""

    space: SearchSpace
    genotype: Any
    hardware_name: str
    hardware_overrides: dict[str, Any]
    hardware: HardwareConfig
    precision: str
    compression: CompressionChoice | None
    module: Any
    """The compressed torch module, or None when not asked for."""
    workload: Workload
    """The workload at the study's batch size and precision, compressed as the module was."""


def build_candidate(spec: StudySpec, params: Mapping[str, Any], trial_number: int, *, module: bool) -> BuiltCandidate:
    """Build one candidate from its parameters: the one path that searching and exporting share.

    The torch module's weights are drawn from the trial's seed (:func:`trial_seed`), so its
    pruning masks, and the per-layer densities they give the workload, are the same wherever
    and whenever the candidate is built.

    Args:
        spec: The study spec.
        params: The trial's parameters, as suggested by :func:`suggest_candidate`.
        trial_number: Seeds the weights.
        module: Build the (compressed) torch module. A compressed candidate always builds it:
            its masks set the workload's densities.
    """
    space = _space(spec)
    genotype = space.from_params(params)
    hardware_name, overrides, hardware = hardware_from_params(spec, params)
    precision = params.get("precision", spec.hardware.precisions[0])
    choice = None if spec.compression is None else choice_from_params(spec.compression, params)
    network, masks = None, None
    if module or choice is not None:
        import torch

        torch.manual_seed(trial_seed(spec.study.seed, trial_number))
        network = space.build(genotype)
        if choice is not None:
            masks = compress_module(network, choice)
    workload = apply_precision(space.workload(genotype, batch_size=spec.hardware.batch_size), precision)
    if choice is not None:
        workload = compress_workload(workload, choice, masks)
    return BuiltCandidate(space, genotype, hardware_name, overrides, hardware, precision, choice,
                          network if module else None, workload)


def evaluate_candidate(spec: StudySpec, params: Mapping[str, Any], trial_number: int) -> dict[str, Any]:
    """Score one candidate: its workload's cost on the hardware, and its accuracy.

    Args:
        spec: The study spec.
        params: The trial's parameters, as suggested by :func:`suggest_candidate`.
        trial_number: Used to seed weight initialisation for proxies.

    Returns:
        Every metric of the candidate (units in the names), its genotype labels and a
        summary of the per-layer breakdown: where time went by bound, energy by level.

    Raises:
        CandidateError: The candidate cannot be costed or scored (an unsupported layer,
            a NaN from a proxy); the message says why.
    """
    started = time.perf_counter()
    space, genotype, hardware_name, _, hardware, _, choice, module, workload = build_candidate(
        spec, params, trial_number, module=bool(spec.accuracy.proxies) or spec.accuracy.source == ESTIMATOR)
    cost = evaluate(workload, hardware)
    if cost.unsupported.any():
        layers = ", ".join(workload.name[cost.unsupported][:3])
        raise CandidateError(f"hardware {hardware_name!r} cannot run layers {layers}")

    metrics: dict[str, Any] = {**space.describe_genotype(genotype), "hardware": hardware_name}
    latency_s, energy_j = float(cost.latency_s[0]), float(cost.energy_j[0])
    metrics.update(
        latency_s=latency_s,
        energy_j=energy_j,
        power_w=energy_j / latency_s,
        edp_j_s=energy_j * latency_s,
        area_mm2=float(cost.area_mm2),
        **{name: float(value) for name, value in hardware.resources().items()},
        macs=int(workload.macs.sum()),
        params=int(workload.params.sum()),
        weight_bytes=float(workload.weight_bytes.sum()),
        compressed_size_bytes=_compressed_size_bytes(workload, shared=bool(choice and choice.share_bits)),
        n_layers=len(workload),
    )
    for level, joules in cost.energy_by_level_j.items():
        metrics[f"energy_{level}_j"] = float(joules[0])
    for bound in ("compute", "memory", "launch"):
        share = cost.layer_latency_s[cost.layer_bound == bound].sum() / cost.latency_s[0]
        metrics[f"latency_{bound}_bound_fraction"] = float(share)
    metrics.update(_accuracy(spec, space, module, genotype, metrics, trial_number))
    if spec.accuracy.source == TRAINED:
        metrics.update(trained_metrics(spec.accuracy.training, space, genotype, choice,
                                       trial_seed(spec.study.seed, trial_number)))

    for objective in spec.objectives:
        value = metrics[objective.metric]
        if not math.isfinite(value):
            raise CandidateError(f"objective {objective.metric!r} is {value} for this candidate")
    metrics["eval_time_s"] = time.perf_counter() - started
    return metrics


def _accuracy(
    spec: StudySpec, space: SearchSpace, module: Any, genotype: Any, labels: Mapping[str, Any], trial_number: int
) -> dict[str, float]:
    metrics = {}
    if spec.accuracy.source == ORACLE:
        metrics.update(_nb201_table().metrics(int(labels["arch_index"]), spec.space.dataset))
    if spec.accuracy.source == ESTIMATOR:
        metrics.update(_estimate(spec, space, module, genotype, int(labels["arch_index"]), trial_number))
    if spec.accuracy.proxies:
        from nas.proxies import ProxyError

        try:
            metrics.update(spec.accuracy.score(module, space.input_shape(genotype), space.num_classes))
        except ProxyError as error:
            raise CandidateError(str(error)) from error
    return metrics


def _estimate(spec: StudySpec, space: SearchSpace, module: Any, genotype: Any, arch_index: int,
              trial_number: int) -> dict[str, float]:
    """The estimator's accuracy of the compressed ``module``: the dense network is rebuilt from the trial's seed,
    as :func:`build_candidate` built it before compressing, so the two differ only by the compression."""
    import torch

    from nas.compression import CHANCE_PCT, compression_features, load_accuracy_estimator

    torch.manual_seed(trial_seed(spec.study.seed, trial_number))
    dense = space.build(genotype)
    features = compression_features(dense, module, fine_tune_epochs=spec.accuracy.fine_tune_epochs)
    estimator = load_accuracy_estimator()
    dense_pct = _nb201_table().accuracy_pct(arch_index, spec.space.dataset, split="test")
    return {
        "estimated_accuracy_pct": estimator.accuracy_pct(dense_pct, features,
                                                         chance_pct=CHANCE_PCT[spec.space.dataset]),
        "estimated_kept_fraction": estimator.kept_fraction(features),
    }


def _compressed_size_bytes(workload: Workload, *, shared: bool) -> float:
    from nas.compression import workload_compressed_size_bytes

    return float(workload_compressed_size_bytes(workload, shared_weights=shared)["total_bytes"].sum())


@functools.lru_cache(maxsize=8)
def _space_cached(name: str, dataset: str) -> SearchSpace:
    from search_spaces import get_space

    return get_space(name, dataset=dataset)


def _space(spec: StudySpec) -> SearchSpace:
    return _space_cached(spec.space.name, spec.space.dataset)


@functools.lru_cache(maxsize=256)
def _hardware(name: str, overrides: tuple[tuple[str, Any], ...] = ()) -> HardwareConfig:
    return load_hardware(name, dict(overrides))


@functools.lru_cache(maxsize=1)
def _nb201_table():
    from nas.benchmarks._nb201_table import NB201AccuracyTable

    return NB201AccuracyTable()
