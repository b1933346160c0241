"""Recovery when drivers die: heartbeats of the trials in flight, and failing and retrying what dead drivers left.

Drivers die too. Every trial a driver has in flight carries a heartbeat in the storage,
renewed by a thread of the driver every ``heartbeat_interval_s`` (Optuna's
:class:`~optuna.storages.RDBStorage` heartbeat, timed by the database's clock; in a
journal file, a trial system attr holding the driver's wall clock). A running trial whose
heartbeat is older than ``grace_period_s`` was left by a dead driver, on whatever host
(in an RDB, Optuna's :func:`~optuna.storages.fail_stale_trials` judges it): any driver of
the study fails it, with the reason, and enqueues its parameters again (Optuna's retry
convention: system attrs ``failed_trial`` and ``retry_history``), so its candidate is
evaluated after all. Only Optuna's public API is used: per-trial storage calls take the
trial id that :func:`trial_id_of` looks up from the trial number. A dead driver on the same host is noticed at once by
its process id. Ctrl-C and SIGTERM fail and re-enqueue the trials in flight.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from nas.run._storage import _DriverJournalStorage, _DriverRDBStorage
from nas.study._candidate import suggest_candidate
from nas.study._spec import SPEC_ATTR, StudySpec

HEARTBEAT_INTERVAL_S = 10
"""How often a driver renews the heartbeat of its trials in flight, seconds."""

GRACE_PERIOD_S = 60
"""A running trial whose heartbeat is older than this (seconds) belongs to a dead driver.
Six missed beats: long enough for a busy database or a little clock skew between hosts."""

MAX_RETRY = 3
"""Times a candidate whose driver died is enqueued again; one that kills its driver every
time (out of memory) then stays failed."""

_log = logging.getLogger(__name__)


def fail_orphaned_trials(study: optuna.Study, storage: BaseStorage) -> int:
    """Fail, and enqueue again, the trials that dead drivers left RUNNING.

    A trial is orphaned when its driver ran on this host and its process is gone, or,
    on any host, when its heartbeat is older than the storage's grace period. Trials of
    live drivers (another ``nas search`` on the same study) are left alone.

    Args:
        study: The study, as :func:`~nas.run.load_or_create_study` gave it.
        storage: The storage it was opened on (:func:`~nas.run.open_storage`).

    Returns:
        How many trials this call failed.
    """
    host = socket.gethostname()
    failed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get("driver", "")
        owner_host, _, pid = owner.rpartition(":")
        if owner_host == host and pid.isdigit() and not _pid_alive(int(pid)):
            trial_id = trial_id_of(storage, study, trial.number)
            failed += _fail_and_retry(study, storage, trial_id, "its driver process died")

    def stopped_beating(trial_id: int) -> bool:
        driver = storage.get_trial(trial_id).user_attrs.get("driver", "?")
        return _fail_and_retry(study, storage, trial_id, f"its driver {driver} stopped its heartbeat")

    if isinstance(storage, _DriverJournalStorage):
        for trial in storage.stale_trials(study):
            failed += stopped_beating(trial_id_of(storage, study, trial.number))
    elif isinstance(storage, _DriverRDBStorage):
        failed += storage.fail_stale_trials(study, stopped_beating)
    return failed


def trial_id_of(storage: BaseStorage, study: optuna.Study, number: int) -> int:
    """The storage's id of trial ``number`` of ``study``, which the storage's per-trial calls take (two lookups)."""
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)


def _beats(storage: BaseStorage) -> bool:
    """Whether ``storage`` keeps heartbeats: a driver's journal or RDB (:func:`~nas.run.open_storage`)."""
    return isinstance(storage, _DriverJournalStorage | _DriverRDBStorage)


def _fail_and_retry(study: optuna.Study, storage: BaseStorage, trial_id: int, reason: str) -> bool:
    """End a trial its driver cannot finish, and enqueue its candidate again.

    A trial whose driver died before it had sampled the whole candidate has no
    candidate to fail or retry: it is marked PRUNED (stopped without a result), which
    keeps it out of the results and the counts, and the sampler proposes afresh.
    The retry follows Optuna's convention (system attrs ``failed_trial`` and
    ``retry_history``, as :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`
    writes and reads them), but is not that callback's: it would copy the user attrs,
    ``fail_reason`` among them, onto the retry, and retry half-sampled candidates too.

    Returns:
        False if the trial had finished already (another driver got there first).
    """
    trial = storage.get_trial(trial_id)
    sampled = _candidate_sampled(study, trial)
    try:
        storage.set_trial_user_attr(
            trial_id, "fail_reason", reason if sampled else f"{reason} before its candidate was sampled"
        )
        storage.set_trial_state_values(trial_id, TrialState.FAIL if sampled else TrialState.PRUNED)
    except UpdateFinishedTrialError:
        return False
    history = [*trial.system_attrs.get("retry_history", ()), trial.number]
    if sampled and len(history) <= MAX_RETRY:
        study.add_trial(optuna.create_trial(
            state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
            system_attrs={"failed_trial": history[0], "retry_history": history},
        ))
    return True


def _candidate_sampled(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Whether ``trial`` holds every parameter its candidate needs: replay the suggestions on its own values."""
    spec = StudySpec.from_json(study.user_attrs[SPEC_ATTR], origin=f"study {study.study_name!r}")
    try:
        suggest_candidate(optuna.trial.FixedTrial(trial.params, trial.number), spec, spec.make_space())
    except ValueError:
        return False
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Heartbeat(threading.Thread):
    """Renews the heartbeat of a driver's trials in flight, and recovers trials other drivers left behind.

    A context manager: the thread beats every ``interval_s`` while inside it. On a storage
    without heartbeats (a reader's, in-memory) it only keeps the trial ids.

    Args:
        study: The driver's study.
        storage: The storage it was opened on, for a driver (:func:`~nas.run.open_storage`
            with ``heartbeat_interval_s``).
        interval_s: Seconds between beats, and between checks for orphaned trials.
    """

    def __init__(self, study: optuna.Study, storage: BaseStorage, interval_s: float) -> None:
        super().__init__(name="nas-heartbeat", daemon=True)
        self._study, self._storage, self._interval_s = study, storage, interval_s
        self._enabled = _beats(storage)  # an in-memory storage has no heartbeat
        self._study_id = storage.get_study_id_from_name(study.study_name)
        self._trial_ids: dict[int, int] = {}  # trial number: the storage's trial id
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def add(self, number: int) -> int:
        """Beat for trial ``number`` now and from now on; returns its trial id in the storage."""
        trial_id = self._storage.get_trial_id_from_study_id_trial_number(self._study_id, number)
        with self._lock:
            if self._enabled:
                self._storage.record_heartbeat(trial_id)
            self._trial_ids[number] = trial_id
        return trial_id

    def discard(self, number: int) -> None:
        """Stop beating for trial ``number``; once this returns no beat for it is under way."""
        with self._lock:
            self._trial_ids.pop(number, None)

    def run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            if not self._enabled:
                return
            try:
                with self._lock:
                    for trial_id in self._trial_ids.values():
                        self._storage.record_heartbeat(trial_id)
                fail_orphaned_trials(self._study, self._storage)
            except Exception as error:  # a storage hiccup must not stop the beats for good
                _log.warning("heartbeat: %s: %s", type(error).__name__, error)

    def __enter__(self) -> Heartbeat:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self.join()
