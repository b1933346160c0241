"""The re-scoring of ``benchmarks/bench_joint_vs_sequential.py``: its arithmetic on a tiny fake front
(the trainer is replaced, the hypervolume and Pareto code are the product's)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks import bench_joint_vs_sequential as bench
from nas.results import hypervolume

DIRECTIONS = ["maximize", "minimize", "minimize"]


def _run(points: list[tuple[str, list[float]]]) -> bench.Run:
    run = bench.Run(SimpleNamespace(directions=DIRECTIONS))
    for name, values in points:
        run.params.append({"id": name})
        run.values.append(values)
    return run


def test_rescoring_replaces_accuracy_on_the_final_fronts_only() -> None:
    joint = _run([("a", [90.0, 1.0, 1.0]), ("b", [80.0, 0.5, 1.0]), ("c", [70.0, 2.0, 2.0])])
    sequential = _run([("d", [95.0, 2.0, 2.0])])
    trained_pct = {"a": 50.0, "b": 85.0, "d": 60.0}
    asked: list[str] = []

    def measure(params: dict) -> float:
        asked.append(params["id"])
        return trained_pct[params["id"]]

    hv, front = bench.rescored_hypervolumes({"joint": joint, "sequential": sequential}, DIRECTIONS, measure)

    assert sorted(asked) == ["a", "b", "d"]  # c is dominated: not on the final front, never trained
    union = np.array([[50.0, 1.0, 1.0], [85.0, 0.5, 1.0], [60.0, 2.0, 2.0]])
    # Trained, b dominates a: the re-scored joint front is b alone, and a adds no volume.
    assert front == {"joint": 1, "sequential": 1}
    assert hv["joint"] == pytest.approx(hypervolume(union[1:2], DIRECTIONS, bounds=union))
    assert hv["sequential"] == pytest.approx(hypervolume(union[2:], DIRECTIONS, bounds=union))
    assert hv["joint"] > hv["sequential"]  # before re-scoring, d held the best accuracy


def test_rescorer_trains_each_architecture_once(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = bench.study_spec("estimator")
    trained: list[str] = []
    calls: list[tuple[float, int]] = []

    def fake_train(space, genotype, settings, seed):
        trained.append(genotype)
        return SimpleNamespace(genotype=genotype, seed=seed)

    def fake_accuracy(network, choice, *, fine_tune_epochs, fine_tune_learning_rate, batch_size):
        calls.append((choice.prune_ratio, fine_tune_epochs))
        return 90.0 - 10 * choice.prune_ratio

    monkeypatch.setattr(bench, "train_network", fake_train)
    monkeypatch.setattr(bench, "compressed_accuracy_pct", fake_accuracy)
    rescorer = bench.Rescorer(spec)
    cell = {f"edge_{a}_{b}": "nor_conv_3x3" for a, b in ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))}
    dense = {**cell, "prune_ratio": 0.0, "prune_pattern": "channel", "weight_format": "int8"}
    pruned = {**dense, "prune_ratio": 0.5}

    assert [rescorer(dense), rescorer(pruned), rescorer(dense)] == [90.0, 85.0, 90.0]
    assert len(trained) == 1
    # The estimator's assumed fine-tune (none in this study) is the one applied, once per compression.
    assert calls == [(0.0, spec.accuracy.fine_tune_epochs), (0.5, spec.accuracy.fine_tune_epochs)]
