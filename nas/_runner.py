"""Run a study's trials on Dask: one driver owns the Optuna study, workers only evaluate.

The driver asks the sampler for trials (twice as many in flight as there are Dask
workers), submits each trial's :func:`~nas._objective.evaluate_candidate` to Dask as
a pure function of its parameters, and tells the study each result as it arrives.
Workers never touch the storage, so one journal file serves a whole cluster, and Dask
reruns the work of a lost worker by itself.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
from distributed import Client, LocalCluster, as_completed, get_worker
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from tqdm.auto import tqdm

from nas._objective import evaluate_candidate, suggest_candidate
from nas._samplers import make_sampler
from nas._spec import StudySpec

SPEC_ATTR = "spec_json"
"""Study user attr holding the spec, so results can be rebuilt from the storage alone."""

_RDB_SCHEMES = ("sqlite:", "postgresql:", "postgresql+", "mysql:", "mysql+")


class SearchError(RuntimeError):
    """The search cannot start or continue (bad storage, mismatched study)."""


def open_storage(url_or_path: str | Path) -> BaseStorage:
    """Open an Optuna storage: an RDB URL (``sqlite:///``, ``postgresql://``) or a journal file path.

    The journal file (and its folder) is created if missing; it is the default
    because it needs no server and appends one line per event (about 7 ms a trial).
    """
    text = str(url_or_path)
    if text.startswith(_RDB_SCHEMES):
        return RDBStorage(text)
    path = Path(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


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


def fail_orphaned_trials(study: optuna.Study) -> int:
    """Fail trials left RUNNING by a driver on this host that is no longer alive.

    Trials of live drivers (another ``nas search`` on the same study) are left alone.

    Returns:
        How many trials were failed.
    """
    host = socket.gethostname()
    failed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get("driver", "")
        owner_host, _, pid = owner.rpartition(":")
        if owner_host == host and pid.isdigit() and not _pid_alive(int(pid)):
            study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", "its driver process died")
            study.tell(trial.number, state=TrialState.FAIL)
            failed += 1
    return failed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, n_workers: int = 2) -> Iterator[Client]:
    """A Dask client: connected to ``scheduler`` if given, else to a new ``LocalCluster``.

    The local cluster runs ``n_workers`` processes with one thread each: proxies run
    torch, which is fastest here with one thread per process (the nanny sets
    ``OMP_NUM_THREADS=1``).
    """
    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    with (
        LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_search(
    spec: StudySpec,
    *,
    storage: str | Path,
    n_trials: int | None = None,
    n_workers: int = 2,
    scheduler: str | None = None,
    progress: bool = True,
) -> optuna.Study:
    """Run ``n_trials`` more trials of ``spec`` on Dask and return the study.

    Args:
        spec: The validated study spec.
        storage: Optuna storage URL or journal file path; a study of the same name in
            it is continued.
        n_trials: Trials to add in this run; default ``spec.study.n_trials``.
        n_workers: Worker processes of the local cluster (ignored with ``scheduler``).
        scheduler: Address of a running Dask scheduler, e.g. ``tcp://10.0.0.5:8786``.
        progress: Show a progress bar of completed trials.

    A candidate that fails is recorded as a FAIL trial with its ``fail_reason`` and
    the search goes on. On interrupt, trials still in flight are failed as
    ``interrupted`` so none is left RUNNING.
    """
    study = load_or_create_study(spec, open_storage(storage))
    fail_orphaned_trials(study)
    space = spec.make_space()
    n_trials = spec.study.n_trials if n_trials is None else n_trials
    driver = f"{socket.gethostname()}:{os.getpid()}"
    with dask_client(scheduler, n_workers) as client:
        max_in_flight = 2 * max(1, len(client.scheduler_info()["workers"]))
        in_flight: dict = {}
        completed = as_completed()
        bar = tqdm(total=n_trials, desc=spec.study.name, unit="trial", disable=not progress)
        asked = finished = failed = 0
        try:
            while finished < n_trials:
                while asked < n_trials and len(in_flight) < max_in_flight:
                    trial = study.ask()
                    trial.set_user_attr("driver", driver)
                    suggest_candidate(trial, spec, space)
                    future = client.submit(
                        _evaluate_on_worker, spec, dict(trial.params), trial.number,
                        key=f"trial-{trial.number}-{uuid.uuid4().hex[:8]}",
                    )
                    in_flight[future] = trial
                    completed.add(future)
                    asked += 1
                future = next(completed)
                failed += not _record(study, spec, in_flight.pop(future), future)
                finished += 1
                bar.update()
                bar.set_postfix(failed=failed, refresh=False)
        finally:
            for future, trial in in_flight.items():
                future.cancel()
                trial.set_user_attr("fail_reason", "interrupted")
                study.tell(trial, state=TrialState.FAIL)
            bar.close()
    return study


def _evaluate_on_worker(spec: StudySpec, params: dict, trial_number: int) -> dict:
    metrics = evaluate_candidate(spec, params, trial_number)
    try:
        metrics["worker"] = get_worker().address
    except ValueError:
        metrics["worker"] = "driver"
    return metrics


def _record(study: optuna.Study, spec: StudySpec, trial: optuna.Trial, future) -> bool:
    """Tell the study one finished future's outcome; return whether the trial completed."""
    error = future.exception()
    if error is not None:
        trial.set_user_attr("fail_reason", f"{type(error).__name__}: {error}")
        study.tell(trial, state=TrialState.FAIL)
        return False
    metrics = future.result()
    for key, value in metrics.items():
        trial.set_user_attr(key, value)
    for constraint in spec.constraints:
        trial.set_constraint(constraint.key, constraint.violation(metrics[constraint.metric]))
    study.tell(trial, [metrics[o.metric] for o in spec.objectives])
    return True
