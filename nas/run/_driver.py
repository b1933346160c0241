"""Run a study's trials on Dask: one driver owns the Optuna study, workers only evaluate.

The driver asks the sampler for trials (twice as many in flight as there are Dask
workers), submits each trial's :func:`~nas.study._candidate.evaluate_candidate` to Dask as
a pure function of its parameters, and tells the study each result as it arrives.
Workers never touch the storage, so one journal file serves a whole cluster, and Dask
reruns the work of a lost worker by itself.

Recovery from dead drivers is :mod:`nas.run._recovery`'s; the storage is :mod:`nas.run._storage`'s.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
from distributed import as_completed, get_worker
from distributed.security import Security
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import TrialState
from tqdm.auto import tqdm

from nas._cluster import dask_client
from nas._errors import InputError
from nas.run._progress import _LiveHypervolume, study_progress
from nas.run._recovery import (
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    Heartbeat,
    _fail_and_retry,
    fail_orphaned_trials,
    trial_id_of,
)
from nas.run._storage import driver_id, load_or_create_study, open_storage
from nas.study._candidate import METRICS_ATTR, CandidateError, evaluate_candidate, suggest_candidate
from nas.study._samplers import make_sampler
from nas.study._spec import StudySpec


class _Interrupts:
    """Ctrl-C and SIGTERM (``kill``, a batch system's time limit) raise KeyboardInterrupt, but never mid-bookkeeping.

    Inside :meth:`deferred` a signal is held until the block ends, so a trial is never
    left half asked or half told: every trial is either in flight, and failed and
    re-enqueued on the way out, or finished. Signals are only handled in the main thread;
    elsewhere this does nothing.
    """

    def __init__(self) -> None:
        self._deferring = False
        self._pending: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self._deferring:
            self._pending = signum
            return
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
            if self._pending is not None:
                signum, self._pending = self._pending, None
                raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def run_search(
    spec: StudySpec,
    *,
    storage: str | Path,
    n_trials: int | None = None,
    total: int | None = None,
    n_workers: int = 2,
    scheduler: str | None = None,
    security: Security | None = None,
    progress: bool = True,
    heartbeat_interval_s: int = HEARTBEAT_INTERVAL_S,
    grace_period_s: float = GRACE_PERIOD_S,
) -> optuna.Study:
    """Run ``n_trials`` more trials of ``spec`` on Dask (or until ``total``) and return the study.

    Args:
        spec: The validated study spec.
        storage: Optuna storage URL or journal file path; a study of the same name in
            it is continued.
        n_trials: Trials to add in this run; default ``spec.study.n_trials``.
        total: Instead of adding ``n_trials``, run until the study has this many
            finished trials (:class:`StudyProgress`), counting those of other drivers;
            running the same call again resumes an interrupted search to the same total.
        n_workers: Worker processes of the local cluster (ignored with ``scheduler``).
        scheduler: Address of a running Dask scheduler, e.g. ``tcp://10.0.0.5:8786``.
        security: Dask's TLS settings (CA, certificate, key) for a ``tls://`` scheduler.
        progress: Show a progress bar of finished trials, with the failures and the
            hypervolume of the completed ones (:func:`~nas.results._hypervolume.hypervolume`).
        heartbeat_interval_s: How often the driver renews its trials' heartbeat, seconds.
        grace_period_s: Heartbeat age after which another driver's running trial is
            failed and enqueued again, seconds.

    A candidate that fails is recorded as a FAIL trial with its ``fail_reason`` and
    the search goes on. Trials that dead drivers left RUNNING are failed and their
    candidates enqueued again, first thing and then every heartbeat. On interrupt
    (Ctrl-C, SIGTERM), trials still in flight are failed as ``interrupted`` and
    enqueued again, so none is left RUNNING and a later run evaluates them.
    """
    if n_trials is not None and total is not None:
        raise InputError("give n_trials (trials to add) or total (trials to reach), not both")
    opened = open_storage(storage, heartbeat_interval_s=heartbeat_interval_s, grace_period_s=grace_period_s)
    study = load_or_create_study(spec, opened)
    fail_orphaned_trials(study, opened)
    space = spec.make_space()
    if total is None:
        n_trials = spec.study.n_trials if n_trials is None else n_trials
        goal = n_trials
    else:
        goal = max(0, total - study_progress(study).finished)

    def may_ask(asked: int) -> bool:
        if total is None:
            return asked < n_trials
        now = study_progress(study)
        return now.waiting > 0 or now.finished + now.running < total

    driver = driver_id()
    front = _LiveHypervolume(spec, study)
    with (
        dask_client(scheduler, n_workers, security=security) as client,
        Heartbeat(study, opened, heartbeat_interval_s) as heartbeat,
        _Interrupts() as interrupts,
        warnings.catch_warnings(),
    ):
        # Optuna expects heartbeats only inside Study.optimize; this driver beats for its own ask/tell trials.
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        max_in_flight = 2 * max(1, len(client.scheduler_info()["workers"]))
        in_flight: dict = {}
        completed = as_completed()
        bar = tqdm(total=goal, desc=spec.study.name, unit="trial", disable=not progress)
        asked = failed = 0
        try:
            while True:
                while len(in_flight) < max_in_flight and may_ask(asked):
                    with interrupts.deferred():
                        trial = ask_trial(study, opened, spec, space, driver, heartbeat, first=asked == 0)
                        future = client.submit(
                            _evaluate_on_worker, spec, dict(trial.params), trial.number,
                            key=f"trial-{trial.number}-{uuid.uuid4().hex[:8]}",
                        )
                        in_flight[future] = trial
                        completed.add(future)
                    asked += 1
                if not in_flight:
                    break
                future = next(completed)  # the wait: where an interrupt lands
                outcome = future.exception() or future.result()
                with interrupts.deferred():
                    trial = in_flight.pop(future)
                    heartbeat.discard(trial.number)
                    state = tell_trial(study, spec, trial, outcome)
                failed += state == TrialState.FAIL
                if state == TrialState.COMPLETE:
                    front.add(outcome)
                bar.update()
                bar.set_postfix(failed=failed, hv=front.value(), refresh=False)
        finally:
            with interrupts.deferred():
                for future, trial in in_flight.items():
                    future.cancel()
                    heartbeat.discard(trial.number)
                    _fail_and_retry(study, opened, trial_id_of(opened, study, trial.number), "interrupted")
                bar.close()
    return study


def ask_trial(
    study: optuna.Study,
    storage: BaseStorage,
    spec: StudySpec,
    space,
    driver: str,
    heartbeat: Heartbeat,
    *,
    first: bool = False,
) -> optuna.Trial:
    """Ask the next trial (an enqueued retry first), claim it for this driver and suggest its candidate.

    On a driver's ``first`` ask the sampler is reseeded with ``seed + the trial's number``:
    drivers started together on one study all load it empty, and without this each would
    draw the same first generation. Trial numbers are unique, so their seeds differ; a lone
    driver's first trial is the study's next one, so its seed is the one
    :func:`load_or_create_study` gave it and a seeded run replays as before.

    Args:
        study: The driver's study (:func:`~nas.run.load_or_create_study`).
        storage: The storage it was opened on (:func:`~nas.run.open_storage`).
        spec: The study spec.
        space: ``spec.make_space()``, made once per driver.
        driver: This driver's identity (:func:`~nas.run.driver_id`).
        heartbeat: Beats for the trial from now on; the caller discards it once told.
        first: This driver's first ask: reseed the sampler.

    If suggesting fails (or is interrupted) the trial is failed and enqueued again, and the error raised.
    """
    trial = study.ask()
    if first:
        study.sampler = make_sampler(spec.study.sampler, seed=spec.study.seed + trial.number,
                                     population_size=spec.study.population_size)
    if trial.user_attrs.get("driver") != driver:  # an enqueued retry; a new trial was created with it
        trial.set_user_attr("driver", driver)
    trial_id = heartbeat.add(trial.number)
    try:
        suggest_candidate(trial, spec, space)
    except BaseException as error:
        heartbeat.discard(trial.number)
        _fail_and_retry(study, storage, trial_id, f"{type(error).__name__}: {error}")
        raise
    return trial


def _evaluate_on_worker(spec: StudySpec, params: dict, trial_number: int) -> dict | CandidateError:
    try:
        metrics = evaluate_candidate(spec, params, trial_number)
    except CandidateError as error:  # an outcome of the candidate, not a fault of the worker: no traceback in its log
        return error
    try:
        metrics["worker"] = get_worker().address
    except ValueError:
        metrics["worker"] = "driver"
    return metrics


def tell_trial(
    study: optuna.Study, spec: StudySpec, trial: optuna.Trial, outcome: dict | BaseException
) -> TrialState | None:
    """Tell the study one trial's outcome: its metrics, or the error that stopped its evaluation.

    Metrics go into one user attr (``metrics``); a non-finite objective or constraint fails
    the trial with its ``fail_reason``.

    Args:
        study: The driver's study.
        spec: The study spec: which metrics are objectives and constraints.
        trial: The trial :func:`ask_trial` gave.
        outcome: What :func:`~nas.study.evaluate_candidate` returned, or the error it raised.

    Returns:
        The trial's state, or None when another driver had already failed it as
        abandoned (this driver stalled past the grace period) and enqueued it again.
    """
    try:
        if isinstance(outcome, BaseException):
            trial.set_user_attr("fail_reason", f"{type(outcome).__name__}: {outcome}")
            study.tell(trial, state=TrialState.FAIL)
            return TrialState.FAIL
        trial.set_user_attr(METRICS_ATTR, outcome)
        unusable = [m for m in {*(o.metric for o in spec.objectives), *(c.metric for c in spec.constraints)}
                    if not np.isfinite(outcome[m])]
        if unusable:
            reason = ", ".join(f"{m} = {outcome[m]}" for m in sorted(unusable))
            trial.set_user_attr("fail_reason", f"non-finite objective or constraint metric: {reason}")
            study.tell(trial, state=TrialState.FAIL)
            return TrialState.FAIL
        for constraint in spec.constraints:
            trial.set_constraint(constraint.key, constraint.violation(outcome[constraint.metric]))
        study.tell(trial, [outcome[o.metric] for o in spec.objectives])
    except UpdateFinishedTrialError:
        return None
    return TrialState.COMPLETE
