"""Run a study's trials on Dask: one driver owns the Optuna study, workers only evaluate.

The driver asks the sampler for trials (twice as many in flight as there are Dask
workers), submits each trial's :func:`~nas._objective.evaluate_candidate` to Dask as
a pure function of its parameters, and tells the study each result as it arrives.
Workers never touch the storage, so one journal file serves a whole cluster, and Dask
reruns the work of a lost worker by itself.

Drivers die too. Every trial a driver has in flight carries a heartbeat in the storage,
renewed by a thread of the driver every ``heartbeat_interval_s`` (Optuna's
:class:`~optuna.storages.RDBStorage` heartbeat, timed by the database's clock; in a
journal file, a trial system attr holding the driver's wall clock). A running trial whose
heartbeat is older than ``grace_period_s`` was left by a dead driver, on whatever host:
any driver of the study fails it, with the reason, and enqueues its parameters again
(Optuna's retry convention: system attrs ``failed_trial`` and ``retry_history``), so its
candidate is evaluated after all. A dead driver on the same host is noticed at once by
its process id. Ctrl-C and SIGTERM fail and re-enqueue the trials in flight.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import signal
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
from distributed import Client, LocalCluster, as_completed, get_worker
from distributed.security import Security
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.storages.journal import BaseJournalBackend, JournalFileBackend
from optuna.storages.journal._file import BaseJournalFileLock
from optuna.storages.journal._storage import JournalOperation
from optuna.trial import FrozenTrial, TrialState
from tqdm.auto import tqdm

from nas._hypervolume import hypervolume
from nas._journal_file import JournalFileError, check_records, repair_torn_tail
from nas._objective import CandidateError, evaluate_candidate, suggest_candidate
from nas._pareto import pareto_mask
from nas._samplers import make_sampler
from nas._spec import StudySpec
from nas._storage_url import check_storage, is_database_url

SPEC_ATTR = "spec_json"
"""Study user attr holding the spec, so results can be rebuilt from the storage alone."""

HEARTBEAT_INTERVAL_S = 10
"""How often a driver renews the heartbeat of its trials in flight, seconds."""

GRACE_PERIOD_S = 60
"""A running trial whose heartbeat is older than this (seconds) belongs to a dead driver.
Six missed beats: long enough for a busy database or a little clock skew between hosts."""

MAX_RETRY = 3
"""Times a candidate whose driver died is enqueued again; one that kills its driver every
time (out of memory) then stays failed."""

HYPERVOLUME_EVERY = 10
"""The progress bar's hypervolume is recomputed after this many completed trials."""

_JOURNAL_HEARTBEAT_ATTR = "heartbeat_unix_s"
_SCHEMA_LOCK_KEY = 0x6E61735F6F707475  # any 64-bit number, the same in every driver
_log = logging.getLogger(__name__)


class SearchError(RuntimeError):
    """The search cannot start or continue (bad storage, mismatched study)."""


class _FlockLock(BaseJournalFileLock):
    """The journal's write lock as an exclusive ``flock`` on ``<journal>.flock``.

    The kernel releases it when its holder dies, even by SIGKILL, so a killed driver
    never stalls the others; Optuna's own lock files outlive their holder and are only
    broken after a 30 s grace period. Every writer of one journal must use the same
    lock: open journals with :func:`open_storage`.
    """

    def __init__(self, journal_path: str) -> None:
        self._path = journal_path + ".flock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def driver_id() -> str:
    """This process as the driver that owns a trial: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class _DriverJournalStorage(JournalStorage, BaseHeartbeat):
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

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        return [
            trial._trial_id
            for trial in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
            if now - trial.system_attrs.get(_JOURNAL_HEARTBEAT_ATTR, trial.datetime_start.timestamp())
            > self._grace_period_s
        ]

    def get_heartbeat_interval(self) -> int:
        return self._heartbeat_interval_s

    def get_heartbeat_stale_trial_callback(self) -> None:
        return None  # run_search fails and re-enqueues stale trials itself, with their reason


class _DriverRDBStorage(RDBStorage):
    """Optuna's RDB storage, whose new trials are written with their ``driver`` user attr in the same transaction.

    Heartbeats are Optuna's own (a table, timed by the database's clock). A driver on
    another host that dies between creating a trial and its first beat (one round trip)
    leaves that trial RUNNING; one on the same host is caught by its process id.
    """

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is None:
            template_trial = optuna.trial.create_trial(state=TrialState.RUNNING, user_attrs={"driver": driver_id()})
        return super().create_new_trial(study_id, template_trial)


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
        SearchError: The database driver is missing or the server cannot be reached, or
            the journal holds a line that is not a record (a torn last record is set aside
            and logged instead, see :func:`~nas._journal_file.repair_torn_tail`).
    """
    try:
        text = check_storage(str(url_or_path))
    except ValueError as error:
        raise SearchError(str(error)) from None
    grace_period_s = None if heartbeat_interval_s is None else (grace_period_s or 2 * heartbeat_interval_s)
    if not is_database_url(text):
        path = Path(text)
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
        backend = JournalFileBackend(str(path), lock_obj=_FlockLock(str(path)))
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
        stored_objectives = StudySpec.model_validate_json(stored).objectives
        if stored_objectives != spec.objectives:
            raise SearchError(
                f"study {name!r} in this storage was run with objectives "
                f"{[o.metric for o in stored_objectives]}; use those, or a new study name"
            )
    return study


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


def fail_orphaned_trials(study: optuna.Study) -> int:
    """Fail, and enqueue again, the trials that dead drivers left RUNNING.

    A trial is orphaned when its driver ran on this host and its process is gone, or,
    on any host, when its heartbeat is older than the storage's grace period. Trials of
    live drivers (another ``nas search`` on the same study) are left alone.

    Returns:
        How many trials this call failed.
    """
    host = socket.gethostname()
    failed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get("driver", "")
        owner_host, _, pid = owner.rpartition(":")
        if owner_host == host and pid.isdigit() and not _pid_alive(int(pid)):
            failed += _fail_and_retry(study, trial, "its driver process died")
    storage = study._storage
    if is_heartbeat_enabled(storage):
        for trial_id in storage._get_stale_trial_ids(study._study_id):
            trial = storage.get_trial(trial_id)
            reason = f"its driver {trial.user_attrs.get('driver', '?')} stopped its heartbeat"
            failed += _fail_and_retry(study, trial, reason)
    return failed


def _fail_and_retry(study: optuna.Study, trial: FrozenTrial, reason: str) -> bool:
    """End a trial its driver cannot finish, and enqueue its candidate again.

    A trial whose driver died before it had sampled the whole candidate has no
    candidate to fail or retry: it is marked PRUNED (stopped without a result), which
    keeps it out of the results and the counts, and the sampler proposes afresh.

    Returns:
        False if the trial had finished already (another driver got there first).
    """
    storage = study._storage
    sampled = _candidate_sampled(study, trial)
    try:
        storage.set_trial_user_attr(
            trial._trial_id, "fail_reason", reason if sampled else f"{reason} before its candidate was sampled"
        )
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL if sampled else TrialState.PRUNED)
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
    spec = StudySpec.model_validate_json(study.user_attrs[SPEC_ATTR])
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


@contextlib.contextmanager
def dask_client(
    scheduler: str | None = None, n_workers: int = 2, *, security: Security | None = None
) -> Iterator[Client]:
    """A Dask client: connected to ``scheduler`` if given, else to a new ``LocalCluster``.

    The local cluster runs ``n_workers`` processes with one thread each: proxies run
    torch, which is fastest here with one thread per process (the nanny sets
    ``OMP_NUM_THREADS=1``). It listens on the loopback interface only, its HTTP pages included.

    Args:
        scheduler: Address of a running scheduler (``tcp://host:8786``, ``tls://...``).
        n_workers: Worker processes of the local cluster.
        security: Dask's TLS settings (CA, certificate, key) for a ``tls://`` scheduler.

    Raises:
        SearchError: The scheduler cannot be reached, or a ``tls://`` one is named without ``security``.
    """
    if scheduler:
        if scheduler.startswith("tls://") and security is None:
            raise SearchError(f"scheduler {scheduler}: a tls:// scheduler needs the cluster's CA file, certificate "
                              "and key (--tls-ca-file, --tls-cert, --tls-key)")
        try:
            client = Client(scheduler, timeout="10s", security=security)
        except OSError as error:
            raise SearchError(f"scheduler {scheduler}: cannot connect ({error}); check the address, or leave "
                              "--scheduler out to run on a local cluster") from None
        with client:
            yield client
        return
    # ":0": the scheduler's HTTP server (and dashboard, if bokeh is installed) on a free port;
    # None would still bind 8787 and warn when another cluster on the machine holds it.
    with (
        LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                     dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        try:
            yield client
        except BaseException:
            # Stopped by an error with trials in flight: the cluster is torn down under them, and
            # each worker would log tracebacks about its vanished scheduler over the one-line error.
            with contextlib.suppress(Exception):
                client.run(_quiet_teardown)
                _quiet_teardown()
            raise


def _quiet_teardown() -> None:
    """Silence Dask's loggers in this process for a teardown that is known to be abrupt."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


class _Heartbeat(threading.Thread):
    """Renews the heartbeat of a driver's trials in flight, and recovers trials other drivers left behind."""

    def __init__(self, study: optuna.Study, interval_s: float) -> None:
        super().__init__(name="nas-heartbeat", daemon=True)
        self._study, self._interval_s = study, interval_s
        self._enabled = is_heartbeat_enabled(study._storage)  # an in-memory storage has no heartbeat
        self._trial_ids: set[int] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def add(self, trial_id: int) -> None:
        """Beat for ``trial_id`` now and from now on."""
        with self._lock:
            if self._enabled:
                self._study._storage.record_heartbeat(trial_id)
            self._trial_ids.add(trial_id)

    def discard(self, trial_id: int) -> None:
        """Stop beating for ``trial_id``; once this returns no beat for it is under way."""
        with self._lock:
            self._trial_ids.discard(trial_id)

    def run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            if not self._enabled:
                return
            try:
                with self._lock:
                    for trial_id in self._trial_ids:
                        self._study._storage.record_heartbeat(trial_id)
                fail_orphaned_trials(self._study)
            except Exception as error:  # a storage hiccup must not stop the beats for good
                _log.warning("heartbeat: %s: %s", type(error).__name__, error)

    def __enter__(self) -> _Heartbeat:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self.join()


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
        progress: Show a progress bar of finished trials, with the failures and the
            hypervolume of the completed ones (:func:`~nas._hypervolume.hypervolume`).
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
        raise ValueError("give n_trials (trials to add) or total (trials to reach), not both")
    study = load_or_create_study(
        spec, open_storage(storage, heartbeat_interval_s=heartbeat_interval_s, grace_period_s=grace_period_s)
    )
    fail_orphaned_trials(study)
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
        _Heartbeat(study, heartbeat_interval_s) as heartbeat,
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
                        trial = _ask(study, spec, space, driver, heartbeat, first=asked == 0)
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
                    heartbeat.discard(trial._trial_id)
                    state = _tell(study, spec, trial, outcome)
                failed += state == TrialState.FAIL
                if state == TrialState.COMPLETE:
                    front.add(outcome)
                bar.update()
                bar.set_postfix(failed=failed, hv=front.value(), refresh=False)
        finally:
            with interrupts.deferred():
                for future, trial in in_flight.items():
                    future.cancel()
                    heartbeat.discard(trial._trial_id)
                    _fail_and_retry(study, study._storage.get_trial(trial._trial_id), "interrupted")
                bar.close()
    return study


def _ask(
    study: optuna.Study, spec: StudySpec, space, driver: str, heartbeat: _Heartbeat, *, first: bool = False
) -> optuna.Trial:
    """Ask the next trial (an enqueued retry first), claim it for this driver and suggest its candidate.

    On a driver's ``first`` ask the sampler is reseeded with ``seed + the trial's number``:
    drivers started together on one study all load it empty, and without this each would
    draw the same first generation. Trial numbers are unique, so their seeds differ; a lone
    driver's first trial is the study's next one, so its seed is the one
    :func:`load_or_create_study` gave it and a seeded run replays as before.
    """
    trial = study.ask()
    if first:
        study.sampler = make_sampler(spec.study.sampler, seed=spec.study.seed + trial.number,
                                     population_size=spec.study.population_size)
    if trial.user_attrs.get("driver") != driver:  # an enqueued retry; a new trial was created with it
        trial.set_user_attr("driver", driver)
    heartbeat.add(trial._trial_id)
    try:
        suggest_candidate(trial, spec, space)
    except BaseException as error:
        heartbeat.discard(trial._trial_id)
        _fail_and_retry(study, study._storage.get_trial(trial._trial_id), f"{type(error).__name__}: {error}")
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


def _tell(
    study: optuna.Study, spec: StudySpec, trial: optuna.Trial, outcome: dict | BaseException
) -> TrialState | None:
    """Tell the study one trial's outcome: its metrics, or the error that stopped its evaluation.

    Returns:
        The trial's state, or None when another driver had already failed it as
        abandoned (this driver stalled past the grace period) and enqueued it again.
    """
    try:
        if isinstance(outcome, BaseException):
            trial.set_user_attr("fail_reason", f"{type(outcome).__name__}: {outcome}")
            study.tell(trial, state=TrialState.FAIL)
            return TrialState.FAIL
        _set_user_attrs(study._storage, trial._trial_id, outcome)
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


def _set_user_attrs(storage: BaseStorage, trial_id: int, attrs: dict) -> None:
    """Set a trial's user attrs in one write where the storage allows it.

    A trial's ~25 metrics, set one by one, are ~25 journal appends or database commits,
    each with an fsync, and ~100 queries: most of the driver's time per trial. A journal
    takes them as one append of one-attr records (the format it replays), a database as
    one transaction of four statements.

    Raises:
        UpdateFinishedTrialError: The trial has finished, as for one attr at a time.
    """
    if isinstance(storage, JournalStorage):
        with storage._thread_lock:
            worker_id = storage._replay_result.worker_id
            storage._backend.append_logs([
                {"op_code": JournalOperation.SET_TRIAL_USER_ATTR, "worker_id": worker_id, "trial_id": trial_id,
                 "user_attr": {key: value}}
                for key, value in attrs.items()
            ])
            storage._sync_with_backend()  # replays them; raises like set_trial_user_attr on a finished trial
        return
    backend = getattr(storage, "_backend", storage)  # RDBStorage comes wrapped in Optuna's _CachedStorage
    if isinstance(backend, RDBStorage):
        _set_rdb_user_attrs(backend, trial_id, attrs)
        return
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)


def _set_rdb_user_attrs(storage: RDBStorage, trial_id: int, attrs: dict) -> None:
    """:meth:`RDBStorage.set_trial_user_attr` for many attrs: the same rows, checks and lock, in one transaction."""
    import json

    import sqlalchemy
    from optuna.storages._rdb.models import TrialModel, TrialUserAttributeModel
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(storage.scoped_session, True) as session:
        trial = TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
        storage.check_trial_is_updatable(trial_id, trial.state)
        existing = {
            row.key: row for row in session.scalars(
                sqlalchemy.select(TrialUserAttributeModel).where(TrialUserAttributeModel.trial_id == trial_id)
            )
        }
        new = []
        for key, value in attrs.items():
            if key in existing:
                existing[key].value_json = json.dumps(value)
            else:
                new.append({"trial_id": trial_id, "key": key, "value_json": json.dumps(value)})
        if new:
            session.execute(sqlalchemy.insert(TrialUserAttributeModel), new)


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
