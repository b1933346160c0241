"""Benchmark tables: the trained accuracies of NAS-Bench-201, read from package data.

The lowest room of :mod:`nas`: a table is plain data, so the proxies (scored against it)
and the study (which may use it as an oracle) both stand on it.

Example:
    >>> from nas.benchmarks import DATASETS
    >>> DATASETS
    ('cifar10', 'cifar100', 'imagenet16')
"""

from nas.benchmarks._nb201_table import DATASETS, SPLITS, NB201AccuracyTable, read_nb201_table

__all__ = ["DATASETS", "SPLITS", "NB201AccuracyTable", "read_nb201_table"]
