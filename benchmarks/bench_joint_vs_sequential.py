"""Joint versus sequential co-design at an equal trial budget, scored by hypervolume.

Run from the repository root: ``python -m benchmarks.bench_joint_vs_sequential`` (options:
``--trials``, ``--seeds``, ``--first-seed``, ``--accuracy``, ``--rescore``).

The problem is ``studies/joint_vs_sequential.toml``: a NAS-Bench-201 cell, its pruning (channel or
unstructured, ratio 0-0.9), its weight format (int8 or int4) and the shape and dataflow of an
int8 systolic array, for three objectives: synflow (max), energy-delay product (min) and area
(min).

* **joint**: every trial picks all of them at once, with the study's sampler (NSGA-II);
* **sequential**: the usual pipeline, one decision after another: the architecture (40 % of
  the budget, uncompressed, int8, on the preset's 16 x 16 array), then pruning, then the weight
  format, then the hardware (20 % each). Each later stage searches its own parameters plus a
  categorical ``base``: which design carried forward from the earlier stages it refines. The
  designs carried forward are the Pareto front of every trial so far (at most
  :data:`CARRIED`, spread along the synflow axis). Every stage uses the same sampler.

Both get the same number of trials, and every trial of either counts: the final front of each
is the non-dominated set of all its trials. Hypervolumes are normalised by the union of both
runs' points (ideal and nadir of all trials of that seed), so the two numbers are comparable.

Accuracy: the synflow proxy computed on the *compressed* network (pruning masks and fake
quantization applied), i.e. the product's own ``accuracy.source = "synflow"``. The NAS-Bench-201
table would be exact for the architecture but knows nothing of pruning or int4 weights, so
using it would let both searches prune for free; synflow is a proxy with only a moderate rank
correlation with trained accuracy, so the numbers say which search finds better trade-offs *in
the proxy*, not in trained accuracy. ``--accuracy estimator`` swaps the first objective for
``estimated_accuracy_pct`` of ``accuracy.source = "estimator"`` (the NB201 table's dense accuracy
less the loss the compression is estimated to cost, :class:`~nas.compression.AccuracyEstimator`),
everything else equal. Trials run in-process (Optuna in memory, the product's
:func:`~nas.study.suggest_candidate`, :func:`~nas.study.evaluate_candidate` and
:func:`~nas.study.suggest_compression`), one after another.

``--rescore trained`` then measures each strategy's final front with the ``trained`` source
(:class:`Rescorer`): the dense reduced network of every distinct architecture on the fronts is
trained once (:func:`~nas.study.train_network`, the default :class:`~nas.study.TrainedSettings`:
NB201 at C=8, one cell per stage, 16 px, 2 epochs on the shipped MNIST, seed = the study seed, so
an architecture on both fronts is one network), each point's compression is applied to a copy
with the product's own code (:func:`~nas.study.compressed_accuracy_pct`) with the fine-tune the
study's accuracy assumed (``accuracy.fine_tune_epochs``; 0 here, prune after training without
fine-tune), and that held-out accuracy replaces the first objective. The hypervolumes are
recomputed on the re-scored front points only (dominated ones count for nothing), normalised
by the union of both strategies' re-scored points of that seed (the trained accuracy of the
other trials is not measured, so the bounds cannot be all trials as above).
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from nas import pareto_mask
from nas.proxies import ProxyError
from nas.results import hypervolume
from nas.study import (
    CandidateError,
    CompressionSection,
    choice_from_params,
    compressed_accuracy_pct,
    evaluate_candidate,
    make_sampler,
    parse_spec,
    suggest_candidate,
    suggest_compression,
    train_network,
)

STUDY = Path(__file__).parents[1] / "studies" / "joint_vs_sequential.toml"
STAGES = (("arch", 0.4), ("prune", 0.2), ("bits", 0.2), ("hardware", 0.2))
"""Sequential stages and their share of the trial budget."""
CARRIED = 8
"""Most designs a sequential stage hands to the next."""


class Run:
    """The trials of one strategy: parameters and objective values, with a shared trial counter."""

    def __init__(self, spec) -> None:
        self.spec = spec
        self.params: list[dict] = []
        self.values: list[list[float]] = []
        self.failed = 0

    def evaluate(self, params: dict) -> list[float] | None:
        try:
            metrics = evaluate_candidate(self.spec, params, len(self.params) + self.failed)
        except (CandidateError, ProxyError):  # what the runner records as a failed trial
            self.failed += 1
            return None
        row = [metrics[o.metric] for o in self.spec.objectives]
        self.params.append(params)
        self.values.append(row)
        return row

    def front(self) -> list[int]:
        return np.flatnonzero(pareto_mask(np.array(self.values), self.spec.directions)).tolist()


def run_joint(spec, n_trials: int, seed: int) -> Run:
    run = Run(spec)
    space = spec.make_space()
    study = optuna.create_study(directions=spec.directions, sampler=_sampler(spec, seed))
    for _ in range(n_trials):
        trial = study.ask()
        suggest_candidate(trial, spec, space)
        _tell(study, trial, run.evaluate(dict(trial.params)))
    return run


def run_sequential(spec, n_trials: int, seed: int) -> Run:
    run = Run(spec)
    space = spec.make_space()
    section = spec.compression
    preset = spec.hardware.presets[0]
    budgets = np.diff(np.round(np.cumsum([0.0, *(share for _, share in STAGES)]) * n_trials).astype(int))
    carried: list[dict] = [{}]
    for (stage, _), budget in zip(STAGES, budgets, strict=True):
        study = optuna.create_study(directions=spec.directions, sampler=_sampler(spec, seed + len(run.params)))
        for _ in range(budget):
            trial = study.ask()
            base = carried[trial.suggest_categorical("base", list(range(len(carried))))] if len(carried) > 1 \
                else carried[0]
            if stage == "arch":
                space.sample(trial)
            elif stage == "prune":
                suggest_compression(trial, CompressionSection(prune_ratio=section.prune_ratio,
                                                              pattern=section.pattern), [])
            elif stage == "bits":
                suggest_compression(trial, CompressionSection(weight_format=section.weight_format), [])
            else:
                for name, choices in spec.hardware.searched_keys(preset).items():
                    trial.suggest_categorical(name, choices)
            params = {**base, **{k: v for k, v in trial.params.items() if k != "base"}}
            if stage == "arch":  # uncompressed until the later stages decide
                params.update(prune_ratio=0.0, weight_format=spec.hardware.precision)
            _tell(study, trial, run.evaluate(params))
        carried = [run.params[i] for i in _spread(run, run.front(), CARRIED)]
    return run


def _tell(study: optuna.Study, trial: optuna.Trial, row: list[float] | None) -> None:
    if row is None:
        study.tell(trial, state=TrialState.FAIL)
    else:
        study.tell(trial, row)


def _spread(run: Run, front: list[int], most: int) -> list[int]:
    """At most ``most`` front members, evenly spaced along the first objective."""
    if len(front) <= most:
        return front
    ordered = sorted(front, key=lambda i: run.values[i][0])
    return [ordered[i] for i in np.linspace(0, len(ordered) - 1, most).round().astype(int)]


def _sampler(spec, seed: int):
    return make_sampler(spec.study.sampler, seed=seed, population_size=spec.study.population_size)


def study_spec(accuracy: str):
    """The benchmark's study, with the estimator's accuracy as first objective when ``accuracy == "estimator"``."""
    data = tomllib.loads(STUDY.read_text(encoding="utf-8"))
    if accuracy == "estimator":
        data["accuracy"] = {"source": "estimator"}
        data["objectives"][0]["metric"] = "estimated_accuracy_pct"
    return parse_spec(data, origin=f"{STUDY.name} (accuracy {accuracy})")


class Rescorer:
    """The ``trained`` source's accuracy (%) of a candidate's parameters, every dense training cached.

    One dense training per distinct architecture (seed: the study's seed) and one compressed
    evaluation per distinct (architecture, compression), whichever run or seed asks.
    """

    def __init__(self, spec) -> None:
        self.spec = spec
        self.space = spec.make_space()
        self.settings = spec.accuracy.training.model_copy(update={"fine_tune_epochs": spec.accuracy.fine_tune_epochs})
        self.trained: dict[str, object] = {}
        self.accuracy_pct: dict[tuple[str, str], float] = {}
        self.seconds = 0.0

    def __call__(self, params: dict) -> float:
        genotype = self.space.from_params(params)
        choice = choice_from_params(self.spec.compression, params)
        key = (genotype, repr(choice))
        if key not in self.accuracy_pct:
            started = time.perf_counter()
            if genotype not in self.trained:
                self.trained[genotype] = train_network(self.space, genotype, self.settings, self.spec.study.seed)
            self.accuracy_pct[key] = compressed_accuracy_pct(
                self.trained[genotype], choice, fine_tune_epochs=self.settings.fine_tune_epochs,
                fine_tune_learning_rate=self.settings.fine_tune_learning_rate, batch_size=self.settings.batch_size)
            self.seconds += time.perf_counter() - started
        return self.accuracy_pct[key]


def rescored_hypervolumes(runs: dict[str, Run], directions, measure) -> tuple[dict[str, float], dict[str, int]]:
    """Hypervolume of each run's final front with the first objective replaced by ``measure(params)``.

    Returns:
        The normalised hypervolume per run (bounds: the re-scored points of all runs) and the
        size of each re-scored front (its points that stay non-dominated).
    """
    rescored = {}
    for name, run in runs.items():
        front = run.front()
        values = np.array([run.values[i] for i in front], dtype=float)
        values[:, 0] = [measure(run.params[i]) for i in front]
        rescored[name] = values
    union = np.concatenate(list(rescored.values()))
    hv = {name: hypervolume(values, directions, bounds=union) for name, values in rescored.items()}
    return hv, {name: int(pareto_mask(values, directions).sum()) for name, values in rescored.items()}


def _spread_text(ratios: list[float]) -> str:
    std = np.std(ratios, ddof=1) if len(ratios) > 1 else 0.0
    return f"mean {np.mean(ratios):.3f}, std {std:.3f}, range {min(ratios):.3f}-{max(ratios):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=150, help="trial budget of each strategy")
    parser.add_argument("--seeds", type=int, default=2, help="runs of each strategy")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seed of the first run (to split seeds over processes)")
    parser.add_argument("--accuracy", choices=("synflow", "estimator"), default="synflow",
                        help="accuracy objective: the study's synflow proxy, or the compression-aware estimator")
    parser.add_argument("--rescore", choices=("none", "trained"), default="none",
                        help="re-score both final fronts with the trained source's accuracy")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    spec = study_spec(args.accuracy)
    directions = spec.directions
    objectives = ", ".join(f"{o.metric} ({o.direction[:3]})" for o in spec.objectives)
    print(f"{STUDY.name}: {args.trials} trials per strategy, objectives {objectives}, "
          f"sampler {spec.study.sampler} (population {spec.study.population_size})")

    rows = [["seed", "strategy", "trials", "failed", "front", "hv", "hv / hv joint",
             f"best {spec.objectives[0].metric}", "best edp_j_s", "s"]]
    if args.rescore == "trained":
        rows[0] += ["trained front", "hv trained", "hv trained / joint"]
        rescorer = Rescorer(spec)
    ratios, trained_ratios = [], []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        runs, seconds = {}, {}
        for name, strategy in (("joint", run_joint), ("sequential", run_sequential)):
            started = time.perf_counter()
            runs[name] = strategy(spec, args.trials, seed)
            seconds[name] = time.perf_counter() - started
            print(f"seed {seed} {name}: {args.trials} trials in {seconds[name]:.0f} s", file=sys.stderr, flush=True)
        union = np.concatenate([np.array(run.values) for run in runs.values()])
        hv = {name: hypervolume(np.array(run.values), directions, bounds=union) for name, run in runs.items()}
        ratios.append(hv["sequential"] / hv["joint"])
        if args.rescore == "trained":
            hv_trained, front_trained = rescored_hypervolumes(runs, directions, rescorer)
            trained_ratios.append(hv_trained["sequential"] / hv_trained["joint"])
            print(f"seed {seed} re-scored: hv trained joint {hv_trained['joint']:.4f}, sequential "
                  f"{hv_trained['sequential']:.4f}; {len(rescorer.trained)} networks trained, "
                  f"{len(rescorer.accuracy_pct)} compressed, {rescorer.seconds:.0f} s so far",
                  file=sys.stderr, flush=True)
        for name, run in runs.items():
            values = np.array(run.values)
            rows.append([str(seed), name, str(len(run.values) + run.failed), str(run.failed),
                         str(len(run.front())), f"{hv[name]:.4f}", f"{hv[name] / hv['joint']:.3f}",
                         f"{values[:, 0].max():.2f}", f"{values[:, 1].min():.3g}", f"{seconds[name]:.0f}"])
            if args.rescore == "trained":
                rows[-1] += [str(front_trained[name]), f"{hv_trained[name]:.4f}",
                             f"{hv_trained[name] / hv_trained['joint']:.3f}"]
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    print()
    for row in rows:
        print("  ".join(cell.ljust(w) if j < 2 else cell.rjust(w)
                        for j, (cell, w) in enumerate(zip(row, widths, strict=True))))
    print(f"\nhv: normalised hypervolume of each strategy's front, bounds = all trials of both (per seed); "
          f"sequential / joint over seeds: {_spread_text(ratios)}")
    if args.rescore == "trained":
        print(f"hv trained: the same fronts re-scored by the trained source ({rescorer.settings.regime()}), "
              f"bounds = both re-scored fronts (per seed); "
              f"sequential / joint over seeds: {_spread_text(trained_ratios)}; "
              f"{len(rescorer.trained)} networks trained, {len(rescorer.accuracy_pct)} compressed evaluations, "
              f"{rescorer.seconds:.0f} s")


if __name__ == "__main__":
    main()
