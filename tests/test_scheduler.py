"""`nas search --scheduler`: a real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""

import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from dask_processes import dask_processes

from nas import load_dataset

REPO = Path(__file__).parents[1]
DASK = [sys.executable, "-m", "dask"]


@pytest.fixture
def dask_cluster():
    with dask_processes(2) as cluster:
        yield cluster


def test_search_runs_on_an_existing_scheduler(dask_cluster, tmp_path):
    address, workers = dask_cluster
    spec_path = tmp_path / "remote.toml"
    spec_path.write_text(
        (REPO / "studies" / "quickstart.toml").read_text()
        .replace('name = "quickstart"', 'name = "remote"')
        .replace("n_trials = 200", "n_trials = 10")
        .replace("population_size = 40", "population_size = 4")
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "search", str(spec_path), "--scheduler", address,
         "--out", str(tmp_path / "out"), "--no-progress"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert address in result.stdout
    dataset = load_dataset(tmp_path / "out" / "remote.nc")
    assert dataset.sizes["trial"] == 10
    assert (dataset.state == "COMPLETE").all()
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "out" / "remote.journal")))
    ran_on = {t.user_attrs["metrics"]["worker"] for t in optuna.load_study(study_name="remote", storage=storage).trials}
    assert ran_on <= workers
    assert time.monotonic() - started < 300
