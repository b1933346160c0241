"""What one trial is: the study spec, the candidate a trial samples, and the samplers.

The ``trained`` accuracy source trains the candidate's reduced network on real images
(:class:`TrainedSettings`, :func:`train_network`, :func:`compressed_accuracy_pct`).

A trial's path through this room: :func:`load_spec` validates the study file;
:func:`suggest_candidate` samples architecture, compression and hardware into the trial;
:func:`evaluate_candidate` rebuilds the candidate from those parameters alone (so a Dask
worker can do it) and returns every metric. Nothing here touches a storage or Dask.

Example:
    >>> from nas.study import load_spec
    >>> load_spec("studies/quickstart.toml").hardware.presets
    ['h100', 'a100', 't4']
"""

from nas.study._accuracy_source import (
    ENSEMBLE_METRIC,
    ESTIMATOR,
    ORACLE,
    ORACLE_METRICS,
    AccuracySection,
    accuracy_fidelity,
    format_accuracy_sources,
)
from nas.study._candidate import (
    METRICS_ATTR,
    BuiltCandidate,
    CandidateError,
    build_candidate,
    evaluate_candidate,
    hardware_from_params,
    suggest_candidate,
    trial_seed,
)
from nas.study._compression_choice import (
    CompressionChoice,
    choice_from_params,
    compress_module,
    compress_workload,
    suggest_compression,
)
from nas.study._samplers import SAMPLERS, make_sampler
from nas.study._spec import (
    COST_METRICS,
    SPEC_ATTR,
    CompressionSection,
    StudySpec,
    StudySpecError,
    load_spec,
    parse_spec,
)
from nas.study._trained_accuracy import (
    OPTIMISER,
    TRAINED,
    SplitImages,
    TrainedSettings,
    load_split,
    split_indices,
)
from nas.study._training import TrainedNetwork, compressed_accuracy_pct, train_network, trained_metrics

__all__ = [
    "COST_METRICS",
    "ENSEMBLE_METRIC",
    "METRICS_ATTR",
    "ESTIMATOR",
    "ORACLE",
    "ORACLE_METRICS",
    "OPTIMISER",
    "TRAINED",
    "SAMPLERS",
    "SPEC_ATTR",
    "AccuracySection",
    "BuiltCandidate",
    "CandidateError",
    "CompressionChoice",
    "CompressionSection",
    "StudySpec",
    "StudySpecError",
    "SplitImages",
    "TrainedNetwork",
    "TrainedSettings",
    "accuracy_fidelity",
    "build_candidate",
    "choice_from_params",
    "compress_module",
    "compress_workload",
    "compressed_accuracy_pct",
    "evaluate_candidate",
    "format_accuracy_sources",
    "hardware_from_params",
    "load_spec",
    "load_split",
    "make_sampler",
    "parse_spec",
    "suggest_candidate",
    "split_indices",
    "suggest_compression",
    "train_network",
    "trained_metrics",
    "trial_seed",
]
