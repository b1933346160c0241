"""A throwaway PostgreSQL server for tests and benchmarks: Debian's binaries, a temporary folder, a free port.

`.ci/run` installs the binaries (`apt-get install postgresql`); nothing here needs a
server to be running already.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No server can be started here; the message says what is missing."""


def postgres_bindir() -> Path | None:
    """Folder of `initdb` and `pg_ctl`: on PATH, else the newest of Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return candidates[-1].parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server(*, fsync: bool = False) -> Iterator[str]:
    """Run a throwaway PostgreSQL server on 127.0.0.1; yield the URL of its `postgres` database.

    Run as root, the server runs as the `postgres` user (PostgreSQL refuses root).

    Args:
        fsync: Make commits durable, as a production server does (tests do not need it;
            a benchmark that compares storages does).

    Raises:
        PostgresUnavailable: The binaries, or the `postgres` user when run as root, are missing.
    """
    bindir = postgres_bindir()
    if bindir is None:
        raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="nas-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server as") from None
        os.chown(root, account.pw_uid, account.pw_gid)
        # runuser lives in /usr/sbin, which a minimal PATH (cron, env -i, some CI runners) lacks.
        runuser = shutil.which("runuser", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
        if runuser is None:
            shutil.rmtree(root)
            raise PostgresUnavailable("running as root and runuser (util-linux) is missing to start the server")
        as_user = [runuser, "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    options = f"-h 127.0.0.1 -p {port} -k {root} -c max_connections=200" + ("" if fsync else " -c fsync=off")
    try:
        subprocess.run([*as_user, bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--no-sync"], check=True, capture_output=True)
        subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-o", options,
                        "-w", "-t", "60", "start"], check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
