"""A real `dask scheduler` and `dask worker` processes on 127.0.0.1, for tests of remote and shared clusters."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from distributed import Client

REPO = Path(__file__).parents[1]


@contextlib.contextmanager
def dask_processes(n_workers: int) -> Iterator[tuple[str, set[str]]]:
    """Start a scheduler and ``n_workers`` one-thread workers; yield (scheduler address, worker addresses)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    dask = [sys.executable, "-m", "dask"]
    processes = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    try:
        for _ in range(n_workers):
            processes.append(subprocess.Popen(
                [*dask, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                 "--host", "127.0.0.1"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO,
            ))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(n_workers, timeout=120)
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
