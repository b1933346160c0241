"""Where a study stands, read from its storage alone: progress, live drivers, best front, hypervolume.

Nothing here needs Dask or a running search, so ``nas status`` works from any machine
that reaches the storage, while drivers are running or after they are gone.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import socket
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
import xarray as xr
from optuna.trial import TrialState

from nas.results._dataset import study_to_dataset, units_of
from nas.results._hypervolume import REFERENCE_MARGIN, hypervolume, reference_point
from nas.run._progress import StudyProgress, study_progress
from nas.run._recovery import _pid_alive
from nas.run._storage import SearchError, open_storage
from nas.study._spec import SPEC_ATTR, StudySpec


@dataclasses.dataclass(frozen=True)
class StudyStatus:
    """A study's progress and best front at one moment.

    Args:
        study_name: The study's name in its storage.
        n_trials: The spec's ``n_trials`` (what one ``nas search`` run adds).
        progress: Trials counted by state.
        drivers: Per driver (``host:pid``): its running trials, the age of the oldest one
            in seconds, and whether its process is alive (None when it ran on another host).
        hypervolume: Normalised hypervolume of the completed feasible trials
            (:func:`~nas.results._hypervolume.hypervolume`), dimensionless; NaN when there are none.
        reference_point: The hypervolume's reference point, per objective metric, in the
            metric's own units.
        front: The Pareto-optimal trials (a slice of :func:`~nas.study_to_dataset`).
    """

    study_name: str
    n_trials: int
    progress: StudyProgress
    drivers: dict[str, tuple[int, float, bool | None]]
    hypervolume: float
    reference_point: dict[str, float]
    front: xr.Dataset


def read_study(study_name: str, storage: str | Path) -> optuna.Study:
    """Load a study run by ``nas search`` for reading, without creating anything.

    Raises:
        FileNotFoundError: The journal file does not exist.
        SearchError: The storage holds no such study, or it was not made by ``nas search``.
    """
    opened = open_storage(storage, must_exist=True)
    names = [s.study_name for s in optuna.get_all_study_summaries(opened, include_best_trial=False)]
    if study_name not in names:
        held = ", ".join(sorted(names)) or "no study"
        raise SearchError(f"storage {storage} has no study {study_name!r}; it holds {held}")
    study = optuna.load_study(study_name=study_name, storage=opened, sampler=optuna.samplers.RandomSampler())
    if SPEC_ATTR not in study.user_attrs:
        raise SearchError(f"study {study_name!r} in {storage} was not made by `nas search` (no spec attr)")
    return study


def study_status(study: optuna.Study) -> StudyStatus:
    """Summarise a study run by :func:`~nas.run_search`.

    Example:
        >>> import tempfile
        >>> from nas import load_spec
        >>> from nas.run import load_or_create_study, open_storage
        >>> spec = load_spec("studies/quickstart.toml")
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     status = study_status(load_or_create_study(spec, open_storage(f"{tmp}/q.journal")))
        >>> status.progress.finished, status.n_trials
        (0, 200)
    """
    spec = StudySpec.from_json(study.user_attrs[SPEC_ATTR], origin=f"study {study.study_name!r}")
    now = datetime.datetime.now(datetime.UTC)
    drivers: Counter[str] = Counter()
    oldest_s: dict[str, float] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        driver = trial.user_attrs.get("driver", "unknown")
        drivers[driver] += 1
        started = trial.datetime_start or now
        age_s = (now - (started if started.tzinfo else started.replace(tzinfo=datetime.UTC))).total_seconds()
        oldest_s[driver] = max(oldest_s.get(driver, 0.0), age_s)
    dataset = study_to_dataset(study)
    metrics = [o.metric for o in spec.objectives]
    values = np.stack([dataset[m].values for m in metrics], axis=1) if dataset.sizes["trial"] else np.empty((0, 0))
    values = values[dataset.is_feasible.values] if len(values) else values.reshape(0, len(metrics))
    return StudyStatus(
        study_name=spec.study.name,
        n_trials=spec.study.n_trials,
        progress=study_progress(study),
        drivers={d: (n, oldest_s[d], _driver_alive(d)) for d, n in sorted(drivers.items())},
        hypervolume=hypervolume(values, spec.directions) if len(values) else float("nan"),
        reference_point=_reference_point(values, spec.directions, metrics),
        front=dataset.where(dataset.is_pareto.astype(bool), drop=True).sortby(metrics[0]),
    )


def _driver_alive(driver: str) -> bool | None:
    host, _, pid = driver.rpartition(":")
    return _pid_alive(int(pid)) if host == socket.gethostname() and pid.isdigit() else None


def _reference_point(values: np.ndarray, directions: list[str], metrics: list[str]) -> dict[str, float]:
    """The reference point :func:`~nas.results.hypervolume` uses, by metric in its units; empty with no values."""
    return dict(zip(metrics, reference_point(values, directions).tolist(), strict=True)) if len(values) else {}


def format_status(status: StudyStatus) -> str:
    """The status as text: counts, drivers, hypervolume with its reference point, and the front as a table."""
    p = status.progress
    share = 100 * p.finished / status.n_trials
    lines = [
        f"study {status.study_name!r}: {p.finished} finished trials of n_trials {status.n_trials} ({share:.0f}%)",
        f"  {p.complete} complete, {p.failed} failed, {p.running} running, {p.waiting} waiting"
        + (f"; {p.retried} failed by a dead or interrupted driver and enqueued again" if p.retried else "")
        + (f"; {p.pruned} lost with their driver before their candidate was sampled" if p.pruned else ""),
    ]
    for driver, (n, oldest_s, alive) in status.drivers.items():
        gone = " (its process is gone: the next `nas search` enqueues them again)" if alive is False else ""
        lines.append(f"  driver {driver}: {n} running, the oldest for {oldest_s:.0f} s{gone}")
    if not status.reference_point:
        lines.append("hypervolume: no completed feasible trial yet")
        return "\n".join(lines)
    reference = ", ".join(f"{m} = {v:.4g} {units_of(m)}" for m, v in status.reference_point.items())
    lines += [
        f"hypervolume: {status.hypervolume:.4f} of the completed feasible trials, each objective scaled to [0, 1] "
        "between their ideal and nadir",
        f"  reference point (the nadir + {REFERENCE_MARGIN:.0%} of that span): {reference}",
        "",
        _front_table(status.front),
    ]
    return "\n".join(lines)


def _front_table(front: xr.Dataset) -> str:
    metrics = [o["metric"] for o in json.loads(front.attrs["objectives"])]
    labels = [c for c in ("arch_index", "hardware") if c in front.coords]
    header = ["trial", *labels, *(f"{m} [{units_of(m)}]" for m in metrics)]
    rows = [header]
    for i in range(front.sizes["trial"]):
        row = [str(int(front.trial[i]))]
        row += [_label(front[c].values[i]) for c in labels]
        row += [f"{front[m].values[i]:.4g}" for m in metrics]
        rows.append(row)
    widths = [max(len(r[j]) for r in rows) for j in range(len(header))]
    table = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    if "arch" in front.coords:
        table = [f"{line}  {arch}" for line, arch in zip(table, ["arch", *map(str, front.arch.values)], strict=True)]
    return "\n".join([f"Pareto front ({front.sizes['trial']} trials):", *table])


def _label(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and float(value).is_integer() else str(value)
