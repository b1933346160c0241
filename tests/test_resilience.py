"""Searches survive what kills processes: a Dask worker, the driver (Ctrl-C, SIGKILL), other drivers.

Everything is real: LocalCluster and `dask scheduler`/`dask worker` processes, `nas search`
subprocesses, journal files; signals are sent to real process ids.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from dask_processes import dask_processes
from distributed import Client, LocalCluster
from optuna.trial import TrialState

from nas import run_search
from nas.run import MAX_RETRY, fail_orphaned_trials, load_or_create_study, open_storage, study_progress, trial_id_of
from nas.study import suggest_candidate

REPO = Path(__file__).parents[1]
CLI = [sys.executable, str(REPO / "cli.py")]
METRICS = ("latency_s", "energy_j", "accuracy_valid_pct", "worker")


def write_spec(tmp_path: Path, name: str, n_trials: int, population_size: int = 8) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        (REPO / "studies" / "quickstart.toml").read_text()
        .replace('name = "quickstart"', f'name = "{name}"')
        .replace("n_trials = 200", f"n_trials = {n_trials}")
        .replace("population_size = 40", f"population_size = {population_size}")
    )
    return path


def finished(storage: str | Path, name: str) -> int:
    """Finished trials of a study that another process is writing (0 before it exists)."""
    opened = open_storage(storage)
    if name not in [s.study_name for s in optuna.get_all_study_summaries(opened, include_best_trial=False)]:
        return 0
    return study_progress(optuna.load_study(study_name=name, storage=opened)).finished


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.2)


def assert_complete_with_metrics(trial: optuna.trial.FrozenTrial, spec_objectives=("accuracy_valid_pct",
                                                                                    "latency_s", "energy_j")) -> None:
    assert trial.state == TrialState.COMPLETE, (trial.number, trial.state, trial.user_attrs.get("fail_reason"))
    metrics = trial.user_attrs.get("metrics", {})
    assert "driver" in trial.user_attrs and all(key in metrics for key in METRICS), (trial.number, sorted(metrics))
    assert trial.values == [metrics[m] for m in spec_objectives]
    assert "fail_reason" not in trial.user_attrs


def assert_none_lost_or_duplicated(study: optuna.Study, *, n_drivers: int, trials_each: int) -> None:
    """Every driver's trials are all there, once each, complete with their metrics."""
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == list(range(n_drivers * trials_each))
    assert len({t._trial_id for t in trials}) == len(trials)
    for trial in trials:
        assert_complete_with_metrics(trial)
    per_driver = Counter(t.user_attrs["driver"] for t in trials)
    assert sorted(per_driver.values()) == [trials_each] * n_drivers, per_driver
    firsts = {}  # drivers started together must not replay one another's first candidates
    for trial in trials:
        firsts.setdefault(trial.user_attrs["driver"], []).append(tuple(sorted(trial.params.items())))
    openings = [tuple(candidates[:10]) for candidates in firsts.values()]
    assert len(set(openings)) == n_drivers, "two drivers drew the same first ten candidates"


def run_drivers(tmp_path: Path, *, storage: str, n_drivers: int, trials_each: int) -> tuple[Path, str]:
    """Run `n_drivers` `nas search` processes at once on one storage and one Dask cluster; return (spec, name)."""
    name = "shared"
    spec_path = write_spec(tmp_path, name, trials_each)
    with dask_processes(2) as (address, _):
        drivers = [
            subprocess.Popen(
                [*CLI, "search", str(spec_path), "--scheduler", address, "--storage", storage,
                 "--out", str(tmp_path / f"out{i}"), "--no-progress"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
            )
            for i in range(n_drivers)
        ]
        for driver in drivers:
            _, stderr = driver.communicate(timeout=540)
            assert driver.returncode == 0, stderr[-3000:]
    return spec_path, name


def test_killing_a_dask_worker_mid_study_loses_no_trial(tmp_path, small_spec):
    n_trials = 120
    spec = small_spec(name="killed", n_trials=n_trials)
    storage = tmp_path / "killed.journal"
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        pids = client.run(os.getpid)
        outcome: dict = {}

        def search() -> None:
            try:
                outcome["study"] = run_search(spec, storage=storage, scheduler=cluster.scheduler_address,
                                              progress=False)
            except BaseException as error:  # re-raised by the test thread below
                outcome["error"] = error

        driver = threading.Thread(target=search)
        driver.start()
        wait_until(lambda: finished(storage, "killed") >= 20 or not driver.is_alive(), 240, "20 finished trials")
        # Kill a worker that holds a trial right now, so Dask must recompute it elsewhere.
        busy: list[str] = []

        def a_busy_worker() -> bool:
            # Read once: a trial may finish between two reads of the scheduler's state.
            busy[:] = [address for address, keys in client.processing().items() if keys]
            return bool(busy)

        wait_until(a_busy_worker, 30, "a worker with a trial in hand")
        victim = busy[0]
        os.kill(pids[victim], signal.SIGKILL)
        finished_at_kill = finished(storage, "killed")
        driver.join(timeout=300)
        assert not driver.is_alive()
        assert pids[victim] not in client.run(os.getpid).values()  # the nanny started a new worker process
    if "error" in outcome:
        raise outcome["error"]
    assert finished_at_kill < n_trials  # the kill came mid-study
    trials = outcome["study"].get_trials()
    assert [t.number for t in trials] == list(range(n_trials))
    for trial in trials:
        assert_complete_with_metrics(trial)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_interrupted_search_resumes_to_its_total(tmp_path, sig):
    total = 60
    spec_path = write_spec(tmp_path, "resumed", total)
    storage = tmp_path / "resumed.journal"
    command = [*CLI, "search", str(spec_path), "--total", str(total), "--workers", "1", "--storage", str(storage),
               "--out", str(tmp_path / "out"), "--no-progress"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        wait_until(lambda: finished(storage, "resumed") >= 10, 240, "10 finished trials")
        first.send_signal(sig)
        first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode != 0
    stopped = optuna.load_study(study_name="resumed", storage=open_storage(storage))
    before = stopped.get_trials()
    assert 10 <= study_progress(stopped).finished < total
    in_flight = [t for t in before if t.state in (TrialState.RUNNING, TrialState.FAIL)]
    assert in_flight  # it was stopped with trials in flight
    if sig == signal.SIGINT:  # it failed them and enqueued their candidates again itself
        assert all(t.state == TrialState.FAIL and t.user_attrs["fail_reason"] == "interrupted" for t in in_flight)
        assert sum(t.state == TrialState.WAITING for t in before) == len(in_flight)
    else:  # nothing could run: its trials stay RUNNING until a driver notices the dead process
        assert all(t.state == TrialState.RUNNING for t in in_flight)

    second = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert second.returncode == 0, second.stderr[-3000:]
    study = optuna.load_study(study_name="resumed", storage=open_storage(storage))
    trials = study.get_trials()
    progress = study_progress(study)
    assert (progress.finished, progress.running, progress.waiting) == (total, 0, 0)
    reason = "interrupted" if sig == signal.SIGINT else "its driver process died"
    retries = {t.system_attrs["failed_trial"]: t for t in trials if "failed_trial" in t.system_attrs}
    for abandoned in (trials[t.number] for t in in_flight):
        if abandoned.state == TrialState.PRUNED:  # SIGKILL between ask and the last suggestion
            assert abandoned.user_attrs["fail_reason"] == f"{reason} before its candidate was sampled"
            continue
        # Every abandoned candidate was evaluated after all, by its retry.
        assert abandoned.state == TrialState.FAIL and abandoned.user_attrs["fail_reason"] == reason
        assert retries[abandoned.number].params == abandoned.params
        assert_complete_with_metrics(retries[abandoned.number])
    assert progress.retried == len(retries) == sum(trials[t.number].state == TrialState.FAIL for t in in_flight)
    for trial in trials:
        if trial.number not in retries and trial.state != TrialState.PRUNED:
            assert_complete_with_metrics(trial)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used")
def test_stale_heartbeat_fails_the_trial_and_enqueues_it_again(tmp_path, small_spec):
    spec = small_spec(name="stale", n_trials=2)
    storage = open_storage(tmp_path / "stale.journal", heartbeat_interval_s=1, grace_period_s=1)
    study = load_or_create_study(spec, storage)
    abandoned, alive = study.ask(), study.ask()
    assert alive.user_attrs["driver"] == f"{socket.gethostname()}:{os.getpid()}"  # written with the new trial
    suggest_candidate(abandoned, spec, spec.make_space())
    abandoned.set_user_attr("driver", "elsewhere:1")  # another host: no process id to check
    storage.record_heartbeat(trial_id_of(storage, study, abandoned.number))
    time.sleep(1.5)
    storage.record_heartbeat(trial_id_of(storage, study, alive.number))

    assert fail_orphaned_trials(study, storage) == 1
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING]
    assert trials[0].user_attrs["fail_reason"] == "its driver elsewhere:1 stopped its heartbeat"
    assert trials[2].params == trials[0].params
    assert trials[2].system_attrs["retry_history"] == [0]
    assert fail_orphaned_trials(study, storage) == 0  # failed once, enqueued once


def test_a_trial_abandoned_before_its_candidate_was_sampled_is_pruned_not_retried(tmp_path, small_spec):
    spec = small_spec(name="half", n_trials=1)
    storage = open_storage(tmp_path / "h.journal")
    study = load_or_create_study(spec, storage)
    trial = study.ask()
    trial.suggest_categorical("edge_0_1", ["none", "skip_connect"])  # the driver died after one suggestion
    trial.set_user_attr("driver", f"{socket.gethostname()}:999999999")
    assert fail_orphaned_trials(study, storage) == 1
    (pruned,) = study.get_trials()
    assert pruned.state == TrialState.PRUNED
    assert pruned.user_attrs["fail_reason"] == "its driver process died before its candidate was sampled"
    assert study_progress(study).finished == 0


def test_a_candidate_is_retried_at_most_max_retry_times(tmp_path, small_spec):
    spec = small_spec(name="retries", n_trials=1)
    storage = open_storage(tmp_path / "r.journal")
    study = load_or_create_study(spec, storage)
    host = socket.gethostname()
    for _ in range(MAX_RETRY + 1):
        trial = study.ask()  # the previous retry, once there is one
        suggest_candidate(trial, spec, spec.make_space())
        trial.set_user_attr("driver", f"{host}:999999999")
        assert fail_orphaned_trials(study, storage) == 1
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL] * (MAX_RETRY + 1)
    assert study_progress(study).failed == 1  # the last attempt counts as the candidate's outcome


def test_a_live_driver_keeps_slow_trials_past_the_grace_period(tmp_path, small_spec):
    spec = small_spec(name="slow", n_trials=2)
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        blocker = client.submit(time.sleep, 6, pure=False)  # the trials queue behind it for 6 s
        study = run_search(spec, storage=tmp_path / "slow.journal", scheduler=cluster.scheduler_address,
                           progress=False, heartbeat_interval_s=1, grace_period_s=2)
        blocker.result()
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert all(t.duration.total_seconds() > 2 for t in trials)  # each outlived the grace period, beating


@pytest.mark.slow
def test_four_drivers_on_one_journal_lose_and_duplicate_nothing(tmp_path):
    storage = tmp_path / "shared.journal"
    _, name = run_drivers(tmp_path, storage=str(storage), n_drivers=4, trials_each=250)
    study = optuna.load_study(study_name=name, storage=open_storage(storage))
    assert_none_lost_or_duplicated(study, n_drivers=4, trials_each=250)
