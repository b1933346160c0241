import csv
from pathlib import Path

import numpy as np
import pytest

from nas.benchmarks import NB201AccuracyTable

SOURCE = Path("/work/shared/data/nb201_accuracy.csv")


@pytest.fixture(scope="module")
def table():
    return NB201AccuracyTable()


def _column(table, dataset, split):
    return np.array([table.accuracy_pct(i, dataset, split) for i in range(15_625)])


@pytest.mark.parametrize(
    ("dataset", "split", "index", "best"),
    [
        # Optima of NB201 (see ../shared/data/README.md, checked against HPOBench's list).
        ("cifar10", "test", 6111, 94.3733),
        ("cifar10", "valid", 6111, 91.6067),
        ("cifar100", "test", 9930, 73.5133),
        ("cifar100", "valid", 9930, 73.4933),
        ("imagenet16", "test", 857, 47.3111),
        ("imagenet16", "valid", 10676, 46.7333),
    ],
)
def test_best_cells(table, dataset, split, index, best):
    column = _column(table, dataset, split)
    assert int(np.argmax(column)) == index
    assert round(column.max(), 4) == best


@pytest.mark.parametrize(
    ("dataset", "valid", "test"),
    # cifar10 "valid" is scored on held-out training images, not the balanced test set.
    [("cifar10", 9.71, 10.0), ("cifar100", 1.0, 1.0), ("imagenet16", 0.83, 0.83)],
)
def test_the_all_none_cell_is_at_chance(table, dataset, valid, test):
    metrics = table.metrics(1651, dataset)
    assert list(metrics) == ["accuracy_valid_pct", "accuracy_test_pct"]
    assert round(metrics["accuracy_valid_pct"], 2) == valid
    assert round(metrics["accuracy_test_pct"], 2) == test


def test_values_are_floats_in_percent(table):
    value = table.accuracy_pct(0, "cifar10")
    assert type(value) is float and value == 81.982667
    assert table.accuracy_pct(0, "cifar10", split="test") == 85.863333


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, "imagenet"), "unknown dataset 'imagenet'; choose from cifar10, cifar100, imagenet16"),
        ((0, "cifar10", "train"), "unknown split 'train'; choose from valid, test"),
        ((15_625, "cifar10"), r"arch_index must be an integer in \[0, 15624\], got 15625"),
        ((-1, "cifar10"), "got -1"),
        (("7", "cifar10"), "got '7'"),
        ((True, "cifar10"), "got True"),
    ],
)
def test_bad_lookups_fail_in_one_line(table, args, message):
    with pytest.raises(ValueError, match=message):
        table.accuracy_pct(*args)


def test_numpy_integers_are_accepted(table):
    assert table.metrics(np.int64(6111), "cifar100") == table.metrics(6111, "cifar100")


@pytest.mark.skipif(not SOURCE.exists(), reason="shared data absent")
def test_shipped_table_equals_the_source(table):
    with open(SOURCE, newline="") as file:
        rows = list(csv.DictReader(file))
    for dataset in ("cifar10", "cifar100", "imagenet16"):
        for split in ("valid", "test"):
            expected = [float(row[f"{dataset}_{split}_acc"]) for row in rows]
            assert _column(table, dataset, split).tolist() == expected
