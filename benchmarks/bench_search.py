"""Time whole searches: trials/s and driver overhead per trial, with 1 and 2 Dask workers.

Run from the repository root: ``python -m benchmarks.bench_search [n_trials]`` (default 200).

Two trial kinds: ``oracle`` trials cost a few ms of work (table look-up plus the GPU
model), so their rate measures orchestration (Optuna ask/tell, journal writes, Dask
round trips); ``synflow`` trials run a torch proxy of 0.1-1 s, so their rate measures
how well workers are kept busy.
"""

from __future__ import annotations

import sys
import tempfile
import time
import tomllib
from pathlib import Path

from distributed import LocalCluster

from nas import parse_spec, run_search

STUDY = Path(__file__).parents[1] / "studies" / "quickstart.toml"


def spec_for(kind: str, n_trials: int):
    data = tomllib.loads(STUDY.read_text())
    data["study"].update(name=f"bench_{kind}", n_trials=n_trials)
    if kind == "synflow":
        data["accuracy"] = {"source": "synflow"}
        data["objectives"][0] = {"metric": "log_synflow", "direction": "maximize"}
    return parse_spec(data)


def main(n_trials: int = 200) -> None:
    rows = []
    for workers in (1, 2):
        with (
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
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
                eval_ms = 1e3 * sum(t.user_attrs.get("eval_time_s", 0.0) for t in done) / len(done)
                overhead_ms = 1e3 * wall_s / len(done) - eval_ms / workers
                rows.append((kind, workers, len(done), wall_s, len(done) / wall_s, eval_ms, overhead_ms))
    header = ("trials", "workers", "n", "wall_s", "trials_per_s", "eval_ms_per_trial", "overhead_ms_per_trial")
    print(" | ".join(f"{h:>21s}" for h in header))
    for row in rows:
        print(" | ".join(f"{v:>21}" if isinstance(v, str | int) else f"{v:>21.2f}" for v in row))
    print("Warm workers, cluster start excluded. overhead = wall per trial - eval time per trial / workers:")
    print("the driver's ask/tell, journal writes and Dask round trips not hidden behind evaluation.")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
