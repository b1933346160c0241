"""Trained accuracies of all 15,625 NAS-Bench-201 cells, used as an accuracy oracle.

The numbers are NB201's 200-epoch accuracies (mean over training seeds) shipped in
``nas/data/nb201_accuracy.csv.gz``; see ``nas/data/README.md`` for their sources.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import io
import operator

import numpy as np

from nas._errors import InputError

DATASETS = ("cifar10", "cifar100", "imagenet16")
"""Dataset names, as in :class:`search_spaces.NB201Space`."""
SPLITS = ("valid", "test")
"""Evaluation splits; see :class:`NB201AccuracyTable` for what each means per dataset."""
_N_ARCHS = 15_625


class NB201AccuracyTable:
    """Look up the trained accuracy of an NB201 cell by its official index.

    The table is read from the package data on first use and shared by every instance.

    Splits, as NB201 defines them (Dong & Yang, ICLR 2020):

    * ``cifar10``: ``valid`` is the ``cifar10-valid`` setting (trained on 25k images,
      scored on the 25k held-out training images); ``test`` is the ``cifar10`` setting
      (trained on 50k, scored on the 10k test set). The two come from different trainings.
    * ``cifar100`` and ``imagenet16`` (ImageNet16-120): ``valid`` and ``test`` are the
      two halves of the official test set (``x-valid``, ``x-test``); ``test`` is the
      number NB201 papers report. ``valid`` is derived as ``2 * ori-test - x-test``.

    Example:
        >>> table = NB201AccuracyTable()
        >>> table.accuracy_pct(6111, "cifar10", split="test")
        94.373333
        >>> table.metrics(1651, "cifar100")
        {'accuracy_valid_pct': 1.0, 'accuracy_test_pct': 1.0}
    """

    def accuracy_pct(self, arch_index: int, dataset: str, split: str = "valid") -> float:
        """Accuracy in % of cell ``arch_index`` on ``dataset`` and ``split``.

        Args:
            arch_index: Official NB201 index, 0 .. 15,624 (see :func:`search_spaces.arch_to_index`).
            dataset: ``"cifar10"``, ``"cifar100"`` or ``"imagenet16"``.
            split: ``"valid"`` or ``"test"``.

        Raises:
            ValueError: Unknown dataset or split, or an index out of range (one line).
        """
        if split not in SPLITS:
            raise InputError(f"nb201 accuracy: unknown split {split!r}; choose from {', '.join(SPLITS)}")
        row = _row(arch_index)
        return float(_table()[f"{_dataset(dataset)}_{split}_acc"][row])

    def metrics(self, arch_index: int, dataset: str) -> dict[str, float]:
        """Both accuracies in %: ``{"accuracy_valid_pct": ..., "accuracy_test_pct": ...}``."""
        return {f"accuracy_{split}_pct": self.accuracy_pct(arch_index, dataset, split) for split in SPLITS}


def _dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise InputError(f"nb201 accuracy: unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    return dataset


def _row(arch_index: int) -> int:
    try:
        row = operator.index(arch_index)
    except TypeError:
        row = -1
    if isinstance(arch_index, bool) or not 0 <= row < _N_ARCHS:
        raise InputError(f"nb201 accuracy: arch_index must be an integer in [0, {_N_ARCHS - 1}], got {arch_index!r}")
    return row


@functools.cache
def read_nb201_table(filename: str) -> dict[str, np.ndarray]:
    """Read a shipped per-cell NB201 table (``nas/data/<filename>``, gzipped CSV) into read-only columns.

    The first column must be ``arch_index`` holding 0..15624 in order, so row ``i`` is cell ``i``.

    Raises:
        RuntimeError: The file is not such a table (a broken install).
    """
    resource = importlib.resources.files("nas") / "data" / filename
    text = gzip.decompress(resource.read_bytes()).decode("ascii")
    header, _, body = text.partition("\n")
    columns = header.split(",")
    values = np.loadtxt(io.StringIO(body), delimiter=",", ndmin=2)
    if values.shape != (_N_ARCHS, len(columns)) or np.any(values[:, 0] != np.arange(_N_ARCHS)):
        raise RuntimeError(f"{resource} is not a 15,625-row NB201 table indexed by arch_index; reinstall the package")
    table = {name: values[:, position] for position, name in enumerate(columns)}
    for column in table.values():
        column.flags.writeable = False
    return table


def _table() -> dict[str, np.ndarray]:
    return read_nb201_table("nb201_accuracy.csv.gz")
