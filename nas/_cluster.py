"""The Dask client every search, sweep and fidelity run computes on: a scheduler's, or a local cluster's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from distributed import Client, LocalCluster


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
    # ":0": the scheduler's HTTP server (and dashboard, if bokeh is installed) on a free port;
    # None would still bind 8787 and warn when another cluster on the machine holds it.
    with (
        LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        yield client
