"""`nas search --scheduler`: a real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from nas import load_dataset

REPO = Path(__file__).parents[1]
DASK = [sys.executable, "-m", "dask"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster():
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [subprocess.Popen(
        [*DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )]
    for _ in range(2):
        processes.append(subprocess.Popen(
            [*DASK, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
             "--host", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO,
        ))
    from distributed import Client

    try:
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            workers = set(client.scheduler_info()["workers"])
        yield address, workers
    finally:
        for process in processes[::-1]:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


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
    ran_on = {t.user_attrs["worker"] for t in optuna.load_study(study_name="remote", storage=storage).trials}
    assert ran_on <= workers
    assert time.monotonic() - started < 300
