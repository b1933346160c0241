"""Search quality on NAS-Bench-201: how much of the exact Pareto front NSGA-II, TPE and random search find.

Run from the repository root: ``python -m benchmarks.bench_search_quality`` (options: ``--presets``,
``--seeds``, ``--budgets``, ``--population``).

For each GPU preset, the sweep of ``studies/sweep_nb201_gpu_oracle.toml`` (with the preset swapped
in) costs all 15,625 cells: true CIFAR-10 validation accuracy (the NB201 table), latency and energy
of a batch of 64 in fp16 from the roofline model. Its front is exact. Then NSGA-II, TPE and random
search each run the same problem (``SweepSpec.study_spec``: same space, hardware, precision, batch
and objectives) for the largest budget, once per seed, and the front found after each budget is
scored by its hypervolume divided by the exhaustive front's, both normalised by the same bounds:

* ``hv all``: bounds are all 15,625 cells, as :func:`nas.results.hypervolume` documents for comparing a
  search with the truth (the nadir is the worst cell: 10 % accuracy, the slowest network);
* ``hv front``: bounds are the exhaustive front's ideal and nadir only (reference 10 % beyond);
  a found point counts only if it lies in that box, so this one is stricter about the corners.

``front cells`` counts the exhaustive front's cells that the search evaluated. The trials run
in-process (Optuna in memory, :func:`~nas.study.suggest_candidate` and :func:`~nas.study.evaluate_candidate`
per trial, no Dask): an oracle trial costs about a millisecond, so Dask round trips would only
add noise. Every trial's objectives are checked against the sweep's values for the same cell.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import optuna

from nas import run_sweep
from nas.results import hypervolume
from nas.study import evaluate_candidate, make_sampler, suggest_candidate
from nas.sweep import load_sweep_spec, parse_sweep_spec

SWEEP = Path(__file__).parents[1] / "studies" / "sweep_nb201_gpu_oracle.toml"
SAMPLERS = ("nsga2", "tpe", "random")


def sweep_spec_for(preset: str):
    data = load_sweep_spec(SWEEP).model_dump(exclude_defaults=False)
    data["hardware"]["preset"] = preset
    data["policies"] = []
    return parse_sweep_spec(data, origin=str(SWEEP))


def run_one(spec, sampler: str, seed: int, n_trials: int, population: int) -> np.ndarray:
    """Objective values of every trial, in trial order, shape ``(n_trials, n_objectives)``; and the cells."""
    study_spec = spec.study_spec(name=f"{sampler}_{seed}", n_trials=n_trials, sampler=sampler, seed=seed,
                                 population_size=population)
    space = study_spec.make_space()
    study = optuna.create_study(directions=study_spec.directions,
                                sampler=make_sampler(sampler, seed=seed, population_size=population))
    values, cells = [], []
    for _ in range(n_trials):
        trial = study.ask()
        suggest_candidate(trial, study_spec, space)
        metrics = evaluate_candidate(study_spec, trial.params, trial.number)
        row = [metrics[o.metric] for o in study_spec.objectives]
        study.tell(trial, row)
        values.append(row)
        cells.append(metrics["arch_index"])
    return np.array(values), np.array(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="jetson_agx_orin,h100", help="comma-separated GPU presets")
    parser.add_argument("--seeds", type=int, default=3, help="runs per sampler and preset")
    parser.add_argument("--budgets", default="100,300,500", help="trial counts at which the front is scored")
    parser.add_argument("--population", type=int, default=20, help="NSGA-II generation size")
    args = parser.parse_args()
    budgets = sorted(int(b) for b in args.budgets.split(","))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    rows = [["preset", "sampler", "trials", "hv all", "hv front", "front cells", "distinct cells", "s/run"]]
    for preset in args.presets.split(","):
        spec = sweep_spec_for(preset)
        started = time.perf_counter()
        sweep = run_sweep(spec)
        sweep_s = time.perf_counter() - started
        directions = spec.directions
        every = np.stack([sweep[o.metric].values for o in spec.objectives], axis=1)
        front_mask = sweep.is_pareto.values
        front = every[front_mask]
        front_cells = set(sweep.arch_index.values[front_mask].tolist())
        exact = {"all": hypervolume(front, directions, bounds=every),
                 "front": hypervolume(front, directions, bounds=front)}
        position = {int(cell): i for i, cell in enumerate(sweep.arch_index.values)}
        print(f"{preset}: swept {len(every):,} cells in {sweep_s:.1f} s; exact front {len(front)} cells, "
              f"hypervolume {exact['all']:.4f} (all-cells box), {exact['front']:.4f} (front box)")

        for sampler in SAMPLERS:
            scores = {budget: [] for budget in budgets}
            seconds = []
            for seed in range(args.seeds):
                started = time.perf_counter()
                values, cells = run_one(spec, sampler, seed, budgets[-1], args.population)
                seconds.append(time.perf_counter() - started)
                np.testing.assert_allclose(values, every[[position[int(c)] for c in cells]], rtol=1e-12,
                                           err_msg="a trial disagrees with the sweep for the same cell")
                for budget in budgets:
                    found = values[:budget]
                    scores[budget].append((
                        hypervolume(found, directions, bounds=every) / exact["all"],
                        hypervolume(found, directions, bounds=front) / exact["front"],
                        len(front_cells & set(cells[:budget].tolist())),
                        len(set(cells[:budget].tolist())),
                    ))
            for budget in budgets:
                hv_all, hv_front, hits, distinct = np.array(scores[budget]).T
                rows.append([preset, sampler, str(budget), _mean_sd(hv_all), _mean_sd(hv_front),
                             f"{hits.mean():.1f} / {len(front_cells)}", f"{distinct.mean():.0f}",
                             f"{np.mean(seconds):.1f}"])
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    print()
    for row in rows:
        print("  ".join(cell.ljust(w) if j < 2 else cell.rjust(w) for j, (cell, w) in enumerate(zip(row, widths,
                                                                                                   strict=True))))
    print(f"\nhv: hypervolume of the front found / of the exhaustive front, mean ± sd over {args.seeds} seeds; "
          f"NSGA-II population {args.population}; s/run: wall time of one {budgets[-1]}-trial run.")


def _mean_sd(values: np.ndarray) -> str:
    return f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.3f}"


if __name__ == "__main__":
    main()
