"""PostgreSQL storage: a real, throwaway server (Debian's binaries; `.ci/run` installs them), real drivers.

The session fixture starts the server (:mod:`pg_server`: `initdb` and `pg_ctl start` into
a temporary folder, on a free loopback port); each test gets a database of its own.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from pg_server import PostgresUnavailable, postgres_server
from test_resilience import assert_none_lost_or_duplicated, run_drivers

from nas import run_search
from nas.run import SearchError, fail_orphaned_trials, load_or_create_study, open_storage, trial_id_of
from nas.study import suggest_candidate

REPO = Path(__file__).parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres():
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except PostgresUnavailable as reason:
            pytest.skip(str(reason))
        yield url


_databases = itertools.count()


@pytest.fixture
def postgres_url(postgres):
    """URL of a new, empty database on the session's server."""
    import psycopg

    name = f"nas_test_{next(_databases)}"
    with psycopg.connect(postgres, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return postgres.rsplit("/", 1)[0] + f"/{name}"


def test_search_on_postgres_beats_and_completes(postgres_url, small_spec):
    import psycopg

    spec = small_spec(name="pg", n_trials=6)
    study = run_search(spec, storage=postgres_url, n_workers=1, progress=False)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 6
    assert all(t.user_attrs["metrics"]["latency_s"] > 0 for t in study.get_trials())
    assert {t.user_attrs["driver"] for t in study.get_trials()} == {f"{socket.gethostname()}:{os.getpid()}"}
    with psycopg.connect(postgres_url) as connection:
        (beats,) = connection.execute("SELECT count(*) FROM trial_heartbeats").fetchone()
    assert beats == 6  # Optuna's own heartbeat table: every trial beat while it ran


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used")
def test_stale_trial_on_postgres_is_failed_and_enqueued_again(postgres_url, small_spec):
    spec = small_spec(name="stale", n_trials=2)
    storage = open_storage(postgres_url, heartbeat_interval_s=1, grace_period_s=1)
    study = load_or_create_study(spec, storage)
    abandoned, alive = study.ask(), study.ask()
    suggest_candidate(abandoned, spec, spec.make_space())
    abandoned.set_user_attr("driver", "elsewhere:1")
    storage.record_heartbeat(trial_id_of(storage, study, abandoned.number))
    time.sleep(2.5)  # the database's clock decides: the last beat is now older than the grace period
    storage.record_heartbeat(trial_id_of(storage, study, alive.number))

    assert fail_orphaned_trials(study, storage) == 1
    trials = study.get_trials()
    assert trials[0].state == TrialState.FAIL
    assert trials[0].user_attrs["fail_reason"] == "its driver elsewhere:1 stopped its heartbeat"
    assert trials[1].state == TrialState.RUNNING
    assert trials[2].state == TrialState.WAITING
    assert trials[2].params == trials[0].params
    assert trials[2].system_attrs["retry_history"] == [0]
    assert fail_orphaned_trials(study, storage) == 0


@pytest.mark.slow
def test_four_drivers_on_one_postgres_database_lose_and_duplicate_nothing(postgres_url, tmp_path):
    spec_path, name = run_drivers(tmp_path, storage=postgres_url, n_drivers=4, trials_each=250)
    study = optuna.load_study(study_name=name, storage=postgres_url)
    assert_none_lost_or_duplicated(study, n_drivers=4, trials_each=250)


def test_status_reads_a_postgres_study(postgres_url, small_spec):
    run_search(small_spec(name="pgstatus", n_trials=4), storage=postgres_url, n_workers=1, progress=False)
    result = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "status", "pgstatus", "--storage", postgres_url],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "4 finished trials of n_trials 4 (100%)" in result.stdout
    assert "hypervolume: " in result.stdout


def test_unreachable_server_is_one_line_error():
    shown = r"postgresql\+psycopg://postgres:\*\*\*@127.0.0.1:\d+/x"  # the password hidden
    with pytest.raises(SearchError, match=rf"storage {shown}: cannot connect"):
        open_storage(f"postgresql://postgres:secret@127.0.0.1:{free_port()}/x")
