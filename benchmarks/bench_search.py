"""Time the search's orchestration: driver overhead per trial on each storage, and trials/s on 1 and 2 workers.

Run from the repository root: ``python -m benchmarks.bench_search [n_trials]`` (default 200).

1. Driver overhead per trial, without Dask: the driver's ask (sampler, suggestions, the
   first heartbeat) and tell (the metrics as one user attr, the values) on an in-memory storage,
   a journal file, and PostgreSQL (a throwaway local server with fsync on, as in
   production; skipped where Debian's server binaries are missing). The evaluation
   between ask and tell is not timed.
2. Whole searches on a LocalCluster with 1 and 2 workers: ``oracle`` trials cost a few ms
   of work, so their rate measures orchestration (ask/tell, journal writes, Dask round
   trips); ``synflow`` trials run a torch proxy of 0.1-1 s (proxy-bound), so their rate
   measures how well the workers are kept busy.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
import tomllib
import warnings
from pathlib import Path

from distributed import LocalCluster
from optuna.storages import InMemoryStorage

from nas.run import (
    HEARTBEAT_INTERVAL_S,
    Heartbeat,
    ask_trial,
    driver_id,
    load_or_create_study,
    open_storage,
    run_search,
    tell_trial,
)
from nas.study import evaluate_candidate, parse_spec
from tests.pg_server import PostgresUnavailable, postgres_server

STUDY = Path(__file__).parents[1] / "studies" / "quickstart.toml"


def spec_for(kind: str, n_trials: int):
    data = tomllib.loads(STUDY.read_text())
    data["study"].update(name=f"bench_{kind}", n_trials=n_trials)
    if kind == "synflow":
        data["accuracy"] = {"source": "synflow"}
        data["objectives"][0] = {"metric": "log_synflow", "direction": "maximize"}
    return parse_spec(data)


def driver_overhead_ms(storage, n_trials: int) -> tuple[float, float]:
    """Mean wall time of the driver's ask and tell per trial, in ms, over ``n_trials`` oracle trials."""
    spec = spec_for("oracle", n_trials)
    study = load_or_create_study(spec, storage)
    space = spec.make_space()
    heartbeat = Heartbeat(study, storage, HEARTBEAT_INTERVAL_S)  # not started: only the beat each ask records
    ask_s = tell_s = 0.0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        for _ in range(n_trials):
            started = time.perf_counter()
            trial = ask_trial(study, storage, spec, space, driver_id(), heartbeat)
            asked = time.perf_counter()
            metrics = {**evaluate_candidate(spec, dict(trial.params), trial.number), "worker": "bench"}
            telling = time.perf_counter()
            heartbeat.discard(trial.number)
            tell_trial(study, spec, trial, metrics)
            ask_s += asked - started
            tell_s += time.perf_counter() - telling
    return 1e3 * ask_s / n_trials, 1e3 * tell_s / n_trials


def storage_rows(n_trials: int) -> list[tuple]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        journal = Path(tmp) / "bench.journal"
        storages = {
            "in-memory": lambda: InMemoryStorage(),
            "journal file": lambda: open_storage(journal, heartbeat_interval_s=HEARTBEAT_INTERVAL_S),
        }
        try:
            url = stack.enter_context(postgres_server(fsync=True))
            storages["PostgreSQL"] = lambda: open_storage(url, heartbeat_interval_s=HEARTBEAT_INTERVAL_S)
        except PostgresUnavailable as reason:
            print(f"PostgreSQL skipped: {reason}")
        for name, make in storages.items():
            ask_ms, tell_ms = driver_overhead_ms(make(), n_trials)
            rows.append((name, n_trials, ask_ms, tell_ms, ask_ms + tell_ms))
    return rows


def cluster_rows(n_trials: int) -> list[tuple]:
    rows = []
    for workers in (1, 2):
        with (
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
            tempfile.TemporaryDirectory() as tmp,
        ):
            for kind, trials in (("oracle", n_trials), ("synflow", max(20, n_trials // 5))):
                # A few warm-up trials import torch and load tables on every worker first.
                run_search(spec_for(kind, 2 * workers), storage=Path(tmp) / f"warm_{kind}.journal",
                           scheduler=cluster.scheduler_address, progress=False)
                started = time.perf_counter()
                study = run_search(spec_for(kind, trials), storage=Path(tmp) / f"{kind}.journal",
                                   scheduler=cluster.scheduler_address, progress=False)
                wall_s = time.perf_counter() - started
                done = study.get_trials(deepcopy=False)
                eval_ms = 1e3 * sum(t.user_attrs.get("metrics", {}).get("eval_time_s", 0.0) for t in done) / len(done)
                overhead_ms = 1e3 * wall_s / len(done) - eval_ms / workers
                rows.append((kind, workers, len(done), wall_s, len(done) / wall_s, eval_ms, overhead_ms))
    return rows


def print_table(header: tuple[str, ...], rows: list[tuple]) -> None:
    widths = [max(len(h), 12) for h in header]
    print(" | ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        cells = [str(v) if isinstance(v, str | int) else f"{v:.2f}" for v in row]
        print(" | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))


def main(n_trials: int = 200) -> None:
    print_table(("storage", "trials", "ask_ms", "tell_ms", "driver_ms_per_trial"), storage_rows(n_trials))
    print("Driver overhead without Dask: ask (sampler, one write per suggestion, the driver attr, the first\n"
          "heartbeat) and tell (~25 metrics as one user attr, the values); evaluation not timed.\n")
    print_table(("trials", "workers", "n", "wall_s", "trials_per_s", "eval_ms_per_trial", "overhead_ms_per_trial"),
                cluster_rows(n_trials))
    print("Warm workers, cluster start excluded, journal storage. overhead = wall per trial - eval time per trial /\n"
          "workers: the driver's ask/tell, journal writes and Dask round trips not hidden behind evaluation.")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
