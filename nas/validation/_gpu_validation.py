"""The GPU model against every row of the measured H100 set (``nas validate``, GPU section).

The set ships in ``nas/data/h100`` (README there: origin, protocol, columns): NB201 networks
(152 archs x 8 cases), 12 torchvision models (x batch 1/16/64/256 x fp32/tf32/fp16), a GEMM
grid and the per-op costs of NB201's building blocks. :func:`h100_rows` costs every row
with the ``h100`` preset (or another GPU config) in the row's execution mode;
:func:`gpu_groups` summarises them per file x precision x batch x mode, with the rows the
preset's constants were fitted on (:data:`FIT_SPLIT`) apart from the held-out ones.

Example:
    >>> rows = h100_rows(files=("op_overhead",))
    >>> sorted({row.split for row in rows})
    ['fit']
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import importlib.resources
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from cost_models import GPUConfig, SparsityPattern, Workload, WorkloadBuilder, evaluate, load_hardware
from nas.cost._cost_report import apply_precision
from nas.sweep._nb201_grid import nb201_workload
from nas.validation._result import ValidationResult, spearman_rho
from search_spaces import arch_to_index

FILES: tuple[str, ...] = ("nb201_calibration", "torchvision", "gemm", "op_overhead")
"""The measured files, as :func:`h100_rows` names them."""

FIT_SPLIT = """Fitted on: NB201 archs with an even official index (76 of 152), the torchvision \
models at even positions of the 12 sorted names (alexnet, densenet121, mobilenet_v2, regnet_y_400mf, \
resnet50, vgg16), every gemm.csv and op_overhead.csv row. Held out: NB201 archs with an odd index \
(76) and the other 6 torchvision models (convnext_tiny, efficientnet_b0, mobilenet_v3_large, \
resnet18, squeezenet1_0, vit_b_16)."""

_PRECISION = {"float32": "fp32", "float32_tf32": "tf32", "float16": "fp16"}
_GEMM_KIND = {"fp32": "fp32", "tf32": "tf32", "fp16": "fp16", "bf16": "bf16", "fp8_e4m3": "fp8",
              "fp8_e4m3_fastacc": "fp8", "int8": "int8", "sparse24_fp16": "fp16"}
_MODE = {"graph": "cuda_graph", "eager": "eager", "eager_loop": "eager"}


@dataclasses.dataclass(frozen=True)
class MeasuredRow:
    """One measured latency beside the model's.

    Args:
        file: Which file of :data:`FILES` it comes from.
        label: The network, GEMM shape or op it times.
        precision: Arithmetic as a :class:`~cost_models.NumberFormat` label (a GEMM kind for gemm.csv).
        batch: Batch size (M for a GEMM; ``0`` where a file's group spans sizes).
        mode: ``"cuda_graph"`` or ``"eager"``.
        split: ``"fit"`` or ``"held-out"`` (:data:`FIT_SPLIT`).
        measured_s: Median measured latency, seconds.
        predicted_s: Model latency, seconds.
    """

    file: str
    label: str
    precision: str
    batch: int
    mode: str
    split: str
    measured_s: float
    predicted_s: float

    @property
    def launch_free(self) -> bool:
        """Device-time rows: CUDA-graph replays (NB201, GEMM, ops) and torchvision at batch 256."""
        return self.mode == "cuda_graph" or (self.file == "torchvision" and self.batch == 256)


@functools.cache
def _read(name: str) -> tuple[dict[str, str], ...]:
    text = (importlib.resources.files("nas") / "data" / "h100" / f"{name}.csv").read_text()
    return tuple(csv.DictReader(io.StringIO(text)))


def _with_mode(config: GPUConfig, mode: str) -> GPUConfig:
    return dataclasses.replace(config, execution_mode=mode)


@dataclasses.dataclass(frozen=True)
class MeasuredCases:
    """The measured rows of some files with their workloads, stacked once per execution mode.

    Build with :func:`measured_cases`; cost on any GPU config with :meth:`rows` (a fit
    re-costs the same cases many times, so the workloads are built only once).
    """

    templates: dict[str, list[MeasuredRow]]
    workloads: dict[str, Workload]

    def rows(self, config: GPUConfig) -> list[MeasuredRow]:
        """Every case costed on ``config``, each in its own execution mode."""
        rows = []
        for mode, templates in self.templates.items():
            latency = evaluate(self.workloads[mode], _with_mode(config, mode)).latency_s
            rows += [dataclasses.replace(row, predicted_s=float(seconds))
                     for row, seconds in zip(templates, latency, strict=True)]
        return rows


@functools.cache
def measured_cases(files: tuple[str, ...] = FILES, models: tuple[str, ...] | None = None) -> MeasuredCases:
    """The cases of ``files`` (default all of :data:`FILES`), built once per argument set.

    Args:
        files: Which of :data:`FILES`.
        models: Torchvision models (default: every one :func:`search_spaces.list_models`
            offers that the file has; :func:`missing_models` lists the others).
    """
    builders = {"nb201_calibration": _nb201_cases, "torchvision": _torchvision_cases, "gemm": _gemm_cases,
                "op_overhead": _op_cases}
    unknown = [name for name in files if name not in builders]
    if unknown:
        raise ValueError(f"measured_cases: unknown file {unknown[0]!r}; choose from {', '.join(FILES)}")
    templates: dict[str, list[MeasuredRow]] = {}
    parts: dict[str, list[Workload]] = {}
    for name in files:
        for rows, workload in (builders[name](models) if name == "torchvision" else builders[name]()):
            templates.setdefault(rows[0].mode, []).extend(rows)
            parts.setdefault(rows[0].mode, []).append(workload)
    return MeasuredCases(templates, {mode: Workload.concat(ws) for mode, ws in parts.items()})


def h100_rows(hardware: GPUConfig | None = None, *, files: Sequence[str] = FILES,
              models: Iterable[str] | None = None) -> list[MeasuredRow]:
    """Cost every row of the measured files on ``hardware`` (default the ``h100`` preset).

    Args:
        hardware: A GPU config; each row runs in its own execution mode whatever the config's.
        files: Which of :data:`FILES` to cost.
        models: Torchvision models to cost (see :func:`measured_cases`).
    """
    config = hardware if hardware is not None else load_hardware("h100")
    return measured_cases(tuple(files), None if models is None else tuple(sorted(models))).rows(config)


def missing_models() -> list[str]:
    """Torchvision models of the measured file that :func:`search_spaces.list_models` cannot build yet."""
    from search_spaces import list_models

    return sorted({row["model"] for row in _read("torchvision")} - set(list_models()))


_Case = tuple[list[MeasuredRow], Workload]  # rows of the same mode and the workload of their networks


def _nb201_cases() -> list[_Case]:
    groups: dict[tuple[int, str, str], list[dict[str, str]]] = {}
    for row in _read("nb201_calibration"):
        if not row["error"]:
            groups.setdefault((int(row["batch"]), row["dtype"], row["mode"]), []).append(row)
    cases = []
    for (batch, dtype, mode), members in groups.items():
        indices = [arch_to_index(row["arch"]) for row in members]
        rows = [MeasuredRow("nb201_calibration", row["arch"], _PRECISION[dtype], batch, _MODE[mode],
                            "fit" if index % 2 == 0 else "held-out", float(row["latency_ms_median"]) * 1e-3, math.nan)
                for row, index in zip(members, indices, strict=True)]
        cases.append((rows, nb201_workload(indices, batch_size=batch, precision=_PRECISION[dtype], graph="deployed")))
    return cases


def _torchvision_split(model: str) -> str:
    names = sorted({row["model"] for row in _read("torchvision")})
    return "fit" if names.index(model) % 2 == 0 else "held-out"


def _torchvision_cases(models: Iterable[str] | None) -> list[_Case]:
    from search_spaces import list_models, model_workload

    wanted = set(list_models()) if models is None else set(models)
    cases = []
    for row in _read("torchvision"):
        if row["error"] or row["model"] not in wanted:
            continue
        batch, precision = int(row["batch"]), _PRECISION[row["dtype"]]
        workload = apply_precision(model_workload(row["model"], batch_size=batch), precision)
        cases.append(([MeasuredRow("torchvision", row["model"], precision, batch, "eager",
                                   _torchvision_split(row["model"]), float(row["latency_ms_median"]) * 1e-3,
                                   math.nan)], workload))
    return cases


def _timed_shape(row: Mapping[str, str]) -> tuple[int, int, int]:
    # A rejected raw shape was timed padded; the note gives the shape that ran.
    note = row["note"]
    if "timed padded shape" in note:
        dims = dict(part.split("=") for part in note.split("timed padded shape ")[1].split()[:3])
        return int(dims["M"]), int(dims["N"]), int(dims["K"])
    return int(row["M"]), int(row["N"]), int(row["K"])


def gemm_workload(m: int, n: int, k: int, kind: str) -> Workload:
    """One ``Y = X W^T`` GEMM of gemm.csv's ``kind`` as a one-layer Workload (a linear layer of batch ``m``)."""
    builder = WorkloadBuilder(batch_size=m)
    builder.linear("gemm", c=k, k=n, bias=False)
    workload = apply_precision(builder.build(), _GEMM_KIND[kind])
    if kind.startswith("sparse24"):
        workload = workload.with_compression(weight_density=0.5, pattern=SparsityPattern.N_M)
    return workload


def _gemm_cases() -> list[_Case]:
    cases = []
    for row in _read("gemm"):
        if row["kind"] not in _GEMM_KIND or not row["latency_us_graph"]:
            continue  # CSR (no GPU sparse-format path in the model) and the kinds that failed on sm_90
        cases.append(([MeasuredRow("gemm", f"{row['M']}x{row['N']}x{row['K']}", row["kind"], 0, "cuda_graph",
                                   "fit", float(row["latency_us_graph"]) * 1e-6, math.nan)],
                      gemm_workload(*_timed_shape(row), row["kind"])))
    return cases


def op_workload(op: str, *, batch: int, channels: int, size: int, precision: str) -> Workload:
    """One NB201 building block of op_overhead.csv as a Workload (``relu_conv3x3_bn`` is three layers)."""
    builder = WorkloadBuilder(batch_size=batch)
    shape = {"c": channels, "h": size, "w": size}
    parts = {"relu_conv3x3_bn": ("relu", "conv3x3", "batchnorm_eval"),
             "relu_conv1x1_bn": ("relu", "conv1x1", "batchnorm_eval")}.get(op, (op,))
    for part in parts:
        if part in ("relu", "zeros_like"):
            builder.elementwise(part, **shape)
        elif part == "add":
            builder.elementwise(part, **shape, inputs=2)
        elif part == "batchnorm_eval":
            builder.norm(part, **shape)
        elif part == "avg_pool_3x3":
            builder.pool(part, **shape, r=3, padding=1)
        else:
            kernel = 3 if part == "conv3x3" else 1
            builder.conv(part, **shape, k=channels, r=kernel, padding=kernel // 2, bias=False)
    return apply_precision(builder.build(), precision)


def _op_cases() -> list[_Case]:
    cases = []
    for row in _read("op_overhead"):
        if row["error"] or row["mode"] == "host_issue":
            continue
        precision = _PRECISION[row["dtype"]]
        workload = op_workload(row["op"], batch=int(row["batch"]), channels=int(row["C"]), size=int(row["H"]),
                               precision=precision)
        cases.append(([MeasuredRow("op_overhead", row["op"], precision, int(row["batch"]), _MODE[row["mode"]],
                                   "fit", float(row["us_per_op_median"]) * 1e-6, math.nan)], workload))
    return cases


@dataclasses.dataclass(frozen=True)
class GroupStats:
    """Agreement of one group of rows: file x precision x batch x mode x split.

    Args:
        key: ``(file, precision, batch, mode, split)``.
        n: Rows.
        spearman: Rank correlation of predicted and measured latency (NaN for under 3 rows).
        median_abs_error: Median of ``|predicted / measured - 1|``.
        bias: ``exp(median log(predicted / measured)) - 1``: the typical over- (+) or under-prediction.
        within_25: Share of rows with ``|predicted / measured - 1| <= 0.25``.
        launch_free: Whether the group is device time (the targets' rows).
    """

    key: tuple[str, str, int, str, str]
    n: int
    spearman: float
    median_abs_error: float
    bias: float
    within_25: float
    launch_free: bool

    @property
    def label(self) -> str:
        """``"nb201_calibration fp16 batch 256 cuda_graph (held-out)"``."""
        file, precision, batch, mode, split = self.key
        return f"{file} {precision}{f' batch {batch}' if batch else ''} {mode} ({split})"


def group_stats(rows: Sequence[MeasuredRow], *, by_batch: bool = True) -> list[GroupStats]:
    """Summarise ``rows`` per file x precision x batch x mode x split (:class:`GroupStats`).

    GEMM rows group per kind over all shapes (their batch is 0).
    """

    groups: dict[tuple, list[MeasuredRow]] = {}
    for row in rows:
        key = (row.file, row.precision, row.batch if by_batch else 0, row.mode, row.split)
        groups.setdefault(key, []).append(row)
    stats = []
    for key, members in sorted(groups.items(), key=lambda item: (FILES.index(item[0][0]), *item[0][1:])):
        predicted = np.array([r.predicted_s for r in members])
        measured = np.array([r.measured_s for r in members])
        ratio = predicted / measured
        rho = spearman_rho(predicted, measured) if len(members) >= 3 else math.nan
        stats.append(GroupStats(key, len(members), rho, float(np.median(np.abs(ratio - 1.0))),
                                float(np.exp(np.median(np.log(ratio))) - 1.0),
                                float(np.mean(np.abs(ratio - 1.0) <= 0.25)),
                                all(r.launch_free for r in members)))
    return stats


def format_group_stats(stats: Sequence[GroupStats]) -> str:
    """A text table of :func:`group_stats`, one line per group."""
    header = ["group", "n", "Spearman", "median |err|", "bias", "within ±25%"]
    lines = [header] + [[s.label, str(s.n), "-" if math.isnan(s.spearman) else f"{s.spearman:.3f}",
                         f"{s.median_abs_error:.1%}", f"{s.bias:+.1%}", f"{s.within_25:.0%}"] for s in stats]
    widths = [max(len(line[j]) for line in lines) for j in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if j == 0 else cell.rjust(w)
                               for j, (cell, w) in enumerate(zip(line, widths, strict=True))) for line in lines)


def pooled_stats(rows: Sequence[MeasuredRow], split: str) -> dict[str, GroupStats]:
    """The target groups pooled over batch: launch-free NB201, launch-free torchvision, and eager rows,
    for one ``split`` (``"fit"`` or ``"held-out"``)."""
    pools = {
        "nb201 cuda_graph": [r for r in rows if r.file == "nb201_calibration" and r.mode == "cuda_graph"],
        "torchvision batch 256": [r for r in rows if r.file == "torchvision" and r.batch == 256],
        "nb201 eager": [r for r in rows if r.file == "nb201_calibration" and r.mode == "eager"],
        "torchvision eager batch < 256": [r for r in rows if r.file == "torchvision" and r.batch < 256],
    }
    out = {}
    for name, members in pools.items():
        members = [dataclasses.replace(r, batch=0, precision="all") for r in members if r.split == split]
        if members:
            out[name] = group_stats(members)[0]
    return out


def gpu_checks(refs: Mapping[str, Any], load: Any) -> list:
    """The ``[gpu_measured]`` section of the references file as :class:`~nas.validation.ValidationResult` rows.

    First the targets, for the fitted and the held-out rows separately: Spearman, median
    |error|, bias and share within ±25 % on the launch-free rows (NB201 CUDA-graph,
    torchvision batch 256, pooled over batch and precision), Spearman on the eager rows. Then
    one ``report`` row per file x precision x batch x mode x split (:func:`group_stats`),
    with no target.
    """

    spec = refs["gpu_measured"]
    config = load(spec["hardware"])
    rows = h100_rows(config)
    source = refs["sources"][spec["source"]]
    missing = missing_models()
    skipped = f"; torchvision models not yet buildable, skipped: {', '.join(missing)}" if missing else ""
    results = []
    for split in ("fit", "held-out"):
        for name, stats in pooled_stats(rows, split).items():
            launch_free = "eager" not in name
            where = f"{name}, {split} rows ({stats.n}); fit/held-out split: nas.validation._gpu_validation.FIT_SPLIT"
            model = f"gpu/{config.name} {'device (launch-free)' if launch_free else 'eager'}"
            note = (f"median |err| {stats.median_abs_error:.1%}, bias {stats.bias:+.1%}, "
                    f"within ±25% {stats.within_25:.0%}" + (skipped if name.startswith("torchvision") else ""))
            minimum = spec["launch_free_min_rho"] if launch_free else spec["eager_min_rho"]
            results.append(ValidationResult(f"H100 {name} ({split}): rank", source, where, model, math.nan,
                                            math.nan, "-", "Spearman rho", stats.spearman, minimum,
                                            bool(stats.spearman >= minimum), note))
            if not launch_free:
                continue
            for metric, score, tolerance, passed in (
                    ("median |error|", stats.median_abs_error, spec["max_median_abs_error"],
                     stats.median_abs_error <= spec["max_median_abs_error"]),
                    ("bias", stats.bias, spec["max_abs_bias"], abs(stats.bias) <= spec["max_abs_bias"]),
                    ("share within ±25%", stats.within_25, spec["min_share_within_25"],
                     stats.within_25 >= spec["min_share_within_25"])):
                results.append(ValidationResult(f"H100 {name} ({split}): {metric}", source, where, model,
                                                math.nan, math.nan, "-", metric, score, tolerance, bool(passed)))
    for stats in group_stats(rows):
        results.append(ValidationResult(
            f"H100 {stats.label}", source, f"{stats.n} rows", f"gpu/{config.name} {stats.key[3]}",
            math.nan, math.nan, "-", "report", stats.spearman, math.nan, None,
            f"Spearman, then median |err| {stats.median_abs_error:.1%}, bias {stats.bias:+.1%}, "
            f"within ±25% {stats.within_25:.0%}"))
    return results
