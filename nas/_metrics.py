"""Every metric a trial or a sweep records, declared once: name, unit, what it is, which way is better, who produces it.

This table is the vocabulary between evaluation (:func:`nas.study.evaluate_candidate`, ``nas sweep``),
the results dataset (``units`` attrs), the plots and report (axis titles) and
``docs/results_schema.md`` (checked against it by ``tests/test_metrics.py``). Names carry their
unit (``latency_s``, ``energy_j``); a name with ``{...}`` is a family (``energy_{level}_j``).

Sources:
    ``cost``: the cost model on the compressed workload and the hardware configuration
    (trials and sweeps alike); ``oracle``: the NAS-Bench-201 table; ``proxy``: a zero-cost
    proxy of the compressed network; ``ensemble``: a rank ensemble of proxies; ``estimator``: the
    compression-aware accuracy estimator (:class:`nas.compression.AccuracyEstimator`); ``trained``: the
    compressed network after a short training on real images; ``trial``:
    bookkeeping of the evaluation itself.

Example:
    >>> METRICS["energy_j"].unit, METRICS["energy_j"].direction
    ('J', 'minimize')
    >>> metric_of("energy_dram_j").name
    'energy_{level}_j'
"""

from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass(frozen=True)
class Metric:
    """One metric.

    Args:
        name: The variable's name, unit included; ``{...}`` marks a family.
        unit: The ``units`` attr of its dataset variable (``"1"``: dimensionless).
        description: What it is, for the spec's list of metrics and the dataset's attrs.
        direction: ``"minimize"`` or ``"maximize"`` when it makes sense as an objective, else None.
        sources: Who produces it (see the module docstring).
    """

    name: str
    unit: str
    description: str
    direction: str | None
    sources: tuple[str, ...]

    @property
    def pattern(self) -> re.Pattern[str]:
        """The names this entry covers: itself, or every filling of its ``{...}`` part."""
        return re.compile("^" + re.sub(r"\\\{\w+\\\}", "[a-z0-9_]+", re.escape(self.name)) + "$")


_PROXY = ("a zero-cost proxy of the compressed network at initialisation, when it is the accuracy source, "
          "an ensemble member or in accuracy.record")

METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("latency_s", "s", "end-to-end latency of one batch, seconds", "minimize", ("cost",)),
    Metric("energy_j", "J", "energy of one batch, joules", "minimize", ("cost",)),
    Metric("power_w", "W", "average power while running the batch (energy_j / latency_s), watts", "minimize",
           ("cost",)),
    Metric("edp_j_s", "J s", "energy-delay product of one batch (energy_j x latency_s), joule-seconds", "minimize",
           ("cost",)),
    Metric("area_mm2", "mm2", "silicon area of the hardware, mm²", "minimize", ("cost",)),
    Metric("mac_units", "MAC/cycle",
           "MACs per cycle the hardware's compute array holds (rows x cols, PEs, GPU fp16 rate / clock)", None,
           ("cost",)),
    Metric("onchip_sram_bytes", "B", "on-chip buffer capacity in bytes (registers excluded)", None, ("cost",)),
    Metric("macs", "MAC", "multiply-accumulates of one batch", "minimize", ("cost",)),
    Metric("params", "1", "trainable parameters", "minimize", ("cost",)),
    Metric("weight_bytes", "B", "bytes of the weights at their bit-width", "minimize", ("cost",)),
    Metric("compressed_size_bytes", "B",
           "bytes a model file holds: weights or CSC entries, pointers, codebooks, biases", "minimize", ("cost",)),
    Metric("energy_{level}_j", "J", "energy by the memory level or unit where it is spent, joules", None, ("cost",)),
    Metric("latency_{bound}_bound_fraction", "1",
           "share of the latency spent in layers bound by compute, memory or launch", None, ("cost",)),
    Metric("n_layers", "1", "layers in the workload", None, ("trial",)),
    Metric("eval_time_s", "s", "wall time of the trial's evaluation on its worker, seconds", None, ("trial",)),
    Metric("accuracy_valid_pct", "%", "NAS-Bench-201 validation accuracy after 200 epochs, %", "maximize",
           ("oracle",)),
    Metric("accuracy_test_pct", "%", "NAS-Bench-201 test accuracy after 200 epochs, %", "maximize", ("oracle",)),
    Metric("trained_accuracy_pct", "%",
           "held-out top-1 accuracy of the compressed network after a short training on real images "
           "(accuracy.trained), %", "maximize", ("trained",)),
    Metric("trained_dense_accuracy_pct", "%",
           "held-out top-1 accuracy of the same network trained, uncompressed (accuracy.trained), %", "maximize",
           ("trained",)),
    Metric("train_time_s", "s", "wall time of the trained source's training, fine-tune and evaluation, seconds",
           None, ("trained",)),
    *(Metric(name, "1", _PROXY, "maximize", ("proxy",)) for name in (
        "log_synflow", "snip_score", "grasp_score", "grad_norm_score", "fisher_score", "jacob_cov_score",
        "naswot_logdet", "zen_score", "nonzero_params")),
    Metric("nonzero_flops", "FLOP", _PROXY, "maximize", ("proxy",)),
    Metric("estimated_accuracy_pct", "%",
           "compression-aware estimate: NAS-Bench-201 dense test accuracy times the share the compression keeps "
           "(nas.compression.AccuracyEstimator), %", "maximize", ("estimator",)),
    Metric("estimated_kept_fraction", "1",
           "share of the dense above-chance accuracy the estimator says the compressed network keeps, in (0, 1]",
           "maximize", ("estimator",)),
    Metric("ensemble_score", "1",
           "fraction of the 1,000 shipped reference NB201 cells the candidate beats (vote, mean_rank or learned)",
           "maximize", ("ensemble",)),
)}
"""Every declared metric by name (families by their ``{...}`` name)."""

_UNIT_SUFFIXES = {
    "_j_s": "J s", "_s": "s", "_j": "J", "_mm2": "mm2", "_pct": "%", "_bytes": "B", "_fraction": "1", "_w": "W",
}


def metric_of(name: str) -> Metric | None:
    """The declared metric ``name`` is, or the family it belongs to; None if it is not declared."""
    if name in METRICS:
        return METRICS[name]
    return next((m for m in METRICS.values() if "{" in m.name and m.pattern.match(name)), None)


def unit_of(name: str) -> str:
    """The unit of a metric: declared, or else read from its name's suffix (``foo_s`` -> ``"s"``; none: ``"1"``)."""
    declared = metric_of(name)
    if declared is not None:
        return declared.unit
    return next((unit for suffix, unit in _UNIT_SUFFIXES.items() if name.endswith(suffix)), "1")


def metrics_from(source: str) -> dict[str, str]:
    """``{name: description}`` of the single (not family) metrics ``source`` produces, in table order."""
    return {m.name: m.description for m in METRICS.values() if source in m.sources and "{" not in m.name}
