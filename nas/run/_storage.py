"""Open the Optuna storage a study lives in: for a driver, whose trials carry their owner and a heartbeat, or a reader.

A journal file is the default (no server; one file serves a whole cluster); an RDB URL
(``postgresql://``) serves several drivers on several hosts as well.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import BaseJournalBackend, JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from nas._errors import NasError
from nas._storage_url import check_storage, is_database_url
from nas.run._journal_file import JournalFileError, JournalLock, check_records, repair_torn_tail
from nas.study._samplers import make_sampler
from nas.study._spec import SPEC_ATTR, StudySpec

_log = logging.getLogger(__name__)

_JOURNAL_HEARTBEAT_ATTR = "heartbeat_unix_s"
_SCHEMA_LOCK_KEY = 0x6E61735F6F707475  # any 64-bit number, the same in every driver


class SearchError(NasError, RuntimeError):
    """The search cannot start or continue (bad storage, mismatched study)."""


def driver_id() -> str:
    """This process as the driver that owns a trial: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class _DriverJournalStorage(JournalStorage):
    """A journal storage for a driver: its trials carry their owner and a heartbeat, as :class:`_DriverRDBStorage`'s do.

    A new trial is written with its ``driver`` user attr and its first beat in the same
    record, so no trial is ever RUNNING without an owner to check. A beat is a trial
    system attr holding the beating host's clock (seconds since the epoch), so hosts
    sharing one journal file need synchronised clocks (NTP); the grace period absorbs
    small skew. A RUNNING trial that never beat (an enqueued one whose driver died as it
    took it) is judged by its start time.
    """

    def __init__(self, backend: BaseJournalBackend, heartbeat_interval_s: int, grace_period_s: float) -> None:
        super().__init__(backend)
        self._heartbeat_interval_s = heartbeat_interval_s
        self._grace_period_s = grace_period_s

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is None:
            template_trial = optuna.trial.create_trial(
                state=TrialState.RUNNING, user_attrs={"driver": driver_id()},
                system_attrs={_JOURNAL_HEARTBEAT_ATTR: time.time()},
            )
        return super().create_new_trial(study_id, template_trial)

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, _JOURNAL_HEARTBEAT_ATTR, time.time())

    def stale_trials(self, study: optuna.Study) -> list[FrozenTrial]:
        """The running trials of ``study`` whose last beat is older than the grace period."""
        now = time.time()
        return [
            trial
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if now - trial.system_attrs.get(_JOURNAL_HEARTBEAT_ATTR, trial.datetime_start.timestamp())
            > self._grace_period_s
        ]

    def get_heartbeat_interval(self) -> int:
        return self._heartbeat_interval_s


class _DriverRDBStorage(RDBStorage):
    """Optuna's RDB storage for a driver: new trials carry their ``driver``, stale ones are ended with a reason.

    A new trial is written with its ``driver`` user attr in the same transaction.
    Heartbeats are Optuna's own (a table, timed by the database's clock), and so is the
    judgement of which running trials are stale: :meth:`fail_stale_trials` runs
    :func:`optuna.storages.fail_stale_trials`. Optuna fails a stale trial through
    :meth:`set_trial_state_values`, after which it takes no more attributes; during
    :meth:`fail_stale_trials` that call is handed to the driver's ``end`` instead, which
    writes the reason first and then ends the trial (FAIL, or PRUNED before its candidate
    was sampled). A driver on another host that dies between creating a trial and its
    first beat (one round trip) leaves that trial RUNNING; one on the same host is caught
    by its process id.
    """

    def __init__(self, url: str, *, heartbeat_interval: int, grace_period: int) -> None:
        super().__init__(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
        self._ending = threading.local()  # the heartbeat thread's stale check; the main thread tells meanwhile

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is None:
            template_trial = optuna.trial.create_trial(state=TrialState.RUNNING, user_attrs={"driver": driver_id()})
        return super().create_new_trial(study_id, template_trial)

    def fail_stale_trials(self, study: optuna.Study, end: Callable[[int], bool]) -> int:
        """Run Optuna's stale-trial check on ``study``, ending each stale trial with ``end(trial_id)``.

        Returns:
            How many trials ``end`` ended (it returns False for one another driver had ended first).
        """
        self._ending.end, self._ending.count = end, 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
        finally:
            self._ending.end = None
        return self._ending.count

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        end = getattr(self._ending, "end", None)
        if end is None or state != TrialState.FAIL:
            return super().set_trial_state_values(trial_id, state, values)
        self._ending.end = None  # ``end`` ends the trial through this method too
        try:
            self._ending.count += end(trial_id)
        finally:
            self._ending.end = end
        return False  # ended already: nothing left for a stale-trial callback


def open_storage(
    url_or_path: str | Path,
    *,
    heartbeat_interval_s: int | None = None,
    grace_period_s: float | None = None,
    must_exist: bool = False,
) -> BaseStorage:
    """Open an Optuna storage: an RDB URL (``sqlite:///``, ``postgresql://``) or a journal file path.

    The journal file (and its folder) is created if missing; it is the default
    because it needs no server: it appends lines under an ``flock``, about 30 ms of
    driver time a trial, mostly fsync. A plain ``postgresql://`` URL uses the psycopg 3
    driver (the ``postgres`` extra); several drivers may share either.

    Args:
        url_or_path: RDB URL or journal file path.
        heartbeat_interval_s: Open it for a driver: new trials carry the driver's
            identity (:func:`driver_id`) and heartbeats, renewed this often (seconds).
            A reader leaves it out.
        grace_period_s: Age of the last heartbeat (seconds) after which a running trial
            is stale; default twice the interval.
        must_exist: Refuse a journal file that does not exist instead of creating it.

    Raises:
        FileNotFoundError: ``must_exist`` and there is no such journal file.
        SearchError: An unknown URL scheme, the database driver is missing or the server cannot
            be reached, or the journal holds a record that is not one (a torn last record is set
            aside and logged instead, see :func:`~nas.run._journal_file.repair_torn_tail`).
    """
    try:
        text = check_storage(str(url_or_path))
    except ValueError as error:
        raise SearchError(str(error)) from None
    grace_period_s = None if heartbeat_interval_s is None else (grace_period_s or 2 * heartbeat_interval_s)
    if not is_database_url(text):
        path = Path(text)
        if path.is_dir():
            raise SearchError(f"storage {path}: is a directory; give a journal file path")
        if must_exist and not path.is_file():
            raise FileNotFoundError(f"{path}: no such journal file; name the study's storage with --storage")
        path.parent.mkdir(parents=True, exist_ok=True)
        torn = repair_torn_tail(path)
        if torn is not None:
            _log.warning("%s", torn)
        try:
            check_records(path)
        except JournalFileError as error:
            raise SearchError(str(error)) from None
        backend = JournalFileBackend(str(path), lock_obj=JournalLock(path))
        try:  # opening replays every record: a record of the wrong shape fails inside Optuna
            if heartbeat_interval_s is None:
                return JournalStorage(backend)
            return _DriverJournalStorage(backend, heartbeat_interval_s, grace_period_s)
        except (KeyError, AssertionError, TypeError, ValueError, IndexError, AttributeError) as error:
            raise SearchError(
                f"{path}: holds a record Optuna cannot replay ({type(error).__name__}: {error}); the file was "
                "damaged or written by something else: restore it from a copy, or move it aside to start afresh"
            ) from None
    if text.startswith("postgresql://"):
        text = "postgresql+psycopg://" + text.removeprefix("postgresql://")
    import sqlalchemy.exc

    shown = sqlalchemy.engine.make_url(text).render_as_string(hide_password=True)
    grace_period = None if grace_period_s is None else int(np.ceil(grace_period_s))
    try:
        with warnings.catch_warnings(), _schema_lock(text):
            warnings.simplefilter("ignore", ExperimentalWarning)  # the heartbeat arguments
            if heartbeat_interval_s is None:
                return RDBStorage(text)
            return _DriverRDBStorage(text, heartbeat_interval=heartbeat_interval_s, grace_period=grace_period)
    except ImportError as error:
        raise SearchError(
            f"storage {shown}: its database driver is missing ({error.__cause__ or error}); "
            "for PostgreSQL: pip install 'nas-codesign[postgres]'"
        ) from None
    except sqlalchemy.exc.OperationalError as error:
        reason = str(error.orig or error).strip().splitlines()[0]
        raise SearchError(f"storage {shown}: cannot connect: {reason}") from None


@contextlib.contextmanager
def _schema_lock(url: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock while Optuna creates or checks its tables.

    Drivers started together on a fresh database would otherwise race to create the
    same tables, and all but one fail. Other databases are not locked.
    """
    if not url.startswith("postgresql"):
        yield
        return
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:  # closing the session releases the lock
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            yield
    finally:
        engine.dispose()


def default_storage_path(spec: StudySpec, out_dir: str | Path) -> Path:
    """Where a study's journal lives when neither the CLI nor the spec names a storage."""
    return Path(out_dir) / f"{spec.study.name}.journal"


def load_or_create_study(spec: StudySpec, storage: BaseStorage) -> optuna.Study:
    """Create the spec's study in ``storage``, or load it to continue.

    The sampler is reseeded with ``seed + trials already in the study`` so a
    continued run explores new candidates instead of replaying the first ones.

    Raises:
        SearchError: The stored study has other objectives than the spec.
    """
    name = spec.study.name
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    n_existing = existing[name].n_trials if name in existing else 0
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=make_sampler(
            spec.study.sampler, seed=spec.study.seed + n_existing, population_size=spec.study.population_size
        ),
        directions=spec.directions,
        load_if_exists=True,
    )
    stored = study.user_attrs.get(SPEC_ATTR)
    if stored is None:
        study.set_user_attr(SPEC_ATTR, spec.to_json())
    else:
        stored_objectives = StudySpec.from_json(stored, origin=f"study {name!r}").objectives
        if stored_objectives != spec.objectives:
            raise SearchError(
                f"study {name!r} in this storage was run with objectives "
                f"{[o.metric for o in stored_objectives]}; use those, or a new study name"
            )
    return study
