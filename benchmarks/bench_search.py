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
    for kind, trials in (("oracle", n_trials), ("synflow", max(20, n_trials // 5))):
        for workers in (1, 2):
            spec = spec_for(kind, trials)
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                study = run_search(spec, storage=Path(tmp) / "bench.journal", n_workers=workers, progress=False)
                wall_s = time.perf_counter() - started
            done = study.get_trials(deepcopy=False)
            eval_s = sum(t.user_attrs.get("eval_time_s", 0.0) for t in done)
            overhead_ms = 1e3 * max(wall_s * workers - eval_s, 0.0) / len(done)
            rows.append((kind, workers, len(done), wall_s, len(done) / wall_s, 1e3 * eval_s / len(done), overhead_ms))
    header = ("trials", "workers", "n", "wall_s", "trials_per_s", "eval_ms_per_trial", "overhead_ms_per_trial")
    print(" | ".join(f"{h:>21s}" for h in header))
    for row in rows:
        print(" | ".join(f"{v:>21}" if isinstance(v, str | int) else f"{v:>21.2f}" for v in row))
    print("wall_s includes starting the LocalCluster (about 2-4 s); overhead = workers x wall - eval time.")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
