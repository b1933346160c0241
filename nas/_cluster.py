"""The Dask client every search, sweep and fidelity run computes on: a scheduler's, or a local cluster's."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from distributed import Client, LocalCluster
from distributed.security import Security

from nas._errors import NasError


class SchedulerError(NasError):
    """A Dask scheduler cannot be reached or needs settings that were not given (one line)."""


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
            raise SchedulerError(f"scheduler {scheduler}: a tls:// scheduler needs the cluster's CA file, certificate "
                              "and key (--tls-ca-file, --tls-cert, --tls-key)")
        try:
            client = Client(scheduler, timeout="10s", security=security)
        except OSError as error:
            raise SchedulerError(f"scheduler {scheduler}: cannot connect ({error}); check the address, or leave "
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
