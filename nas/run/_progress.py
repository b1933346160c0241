"""How far a study has got: trial counts by state, and the hypervolume the progress bar shows."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
from optuna.trial import TrialState

from nas.results._hypervolume import hypervolume
from nas.results._pareto import pareto_mask
from nas.study._spec import StudySpec

HYPERVOLUME_EVERY = 10
"""The progress bar's hypervolume is recomputed after this many completed trials."""


@dataclasses.dataclass(frozen=True)
class StudyProgress:
    """How far a study has got, counted from its storage.

    A FAIL trial whose candidate was enqueued again (its driver died, or was
    interrupted) counts as ``retried``, not ``failed``: its retry stands for it.
    ``pruned`` trials lost their driver before their candidate was sampled.
    """

    complete: int
    failed: int
    retried: int
    pruned: int
    running: int
    waiting: int

    @property
    def finished(self) -> int:
        """Candidates with an outcome: completed, or failed for a reason of their own."""
        return self.complete + self.failed


def study_progress(study: optuna.Study) -> StudyProgress:
    """Count a study's trials by state; see :class:`StudyProgress`."""
    trials = study.get_trials(deepcopy=False)
    retried = {number for t in trials for number in t.system_attrs.get("retry_history", ())}
    states = [t.state for t in trials]
    n_failed = sum(t.state == TrialState.FAIL for t in trials)
    return StudyProgress(
        complete=states.count(TrialState.COMPLETE),
        failed=n_failed - len(retried),
        retried=len(retried),
        pruned=states.count(TrialState.PRUNED),
        running=states.count(TrialState.RUNNING),
        waiting=states.count(TrialState.WAITING),
    )


class _LiveHypervolume:
    """Hypervolume of the study's completed feasible trials, kept up to date cheaply for the progress bar.

    Only the current front and the per-objective extremes of all points are kept (a
    dominated point adds no volume, but may set the nadir that normalises the volume), and
    the volume is recomputed every :data:`HYPERVOLUME_EVERY` completions; it equals what
    ``nas status`` reports for the same trials.
    """

    def __init__(self, spec: StudySpec, study: optuna.Study) -> None:
        self._spec = spec
        points = [
            t.values for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if all(v <= 0 for v in t.constraints.values())
        ]
        self._front = np.array(points, dtype=float).reshape(-1, len(spec.objectives))
        self._bounds = np.vstack([self._front.min(axis=0), self._front.max(axis=0)]) if points else None
        self._since = 0
        self._value = self._compute()

    def add(self, metrics: dict) -> None:
        """Count one completed trial's metrics (ignored if it breaks a constraint)."""
        if any(c.violation(metrics[c.metric]) > 0 for c in self._spec.constraints):
            return
        point = np.array([[metrics[o.metric] for o in self._spec.objectives]], dtype=float)
        self._front = np.vstack([self._front, point])
        bounds = point if self._bounds is None else self._bounds
        self._bounds = np.vstack([np.minimum(bounds[0], point[0]), np.maximum(bounds[-1], point[0])])
        self._since += 1
        if self._since >= HYPERVOLUME_EVERY:
            self._value = self._compute()
            self._since = 0

    def value(self) -> str:
        """The last computed hypervolume, formatted for the progress bar."""
        return "-" if self._value is None else f"{self._value:.4f}"

    def _compute(self) -> float | None:
        if self._bounds is None:
            return None
        self._front = self._front[pareto_mask(self._front, self._spec.directions)]
        return hypervolume(self._front, self._spec.directions, bounds=self._bounds)
