"""Cost each distinct layer once: the rows of a workload that agree on every column, and the map back.

A stacked search space repeats a few layer shapes in every network: the 2,876,625 layers of all
15,625 NAS-Bench-201 cells (CIFAR-10, batch 1) are 30 distinct rows. A model whose per-layer
cost depends on the layer's own row only costs :attr:`DistinctRows.table` and gathers the result
back to every layer with :meth:`DistinctRows.expand_cost`; a term that depends on other layers
(EIE's per-network weight residency) is worked out on the whole workload and enters the rows as
one more per-layer key, :meth:`DistinctRows.split`.

Two layers are the same row when every column but ``name`` and ``network`` holds the same bits
(so ``0.0`` and ``-0.0`` differ, and NaN equals NaN). The rows are found in linear time plus one
sort of a 64-bit key (:func:`_rows`): the columns are the digits of a few exact mixed-radix keys,
hashed into one, and each layer's keys are checked against its row's representative, so two
different layers are never merged. Costs are bit-identical
to costing every layer: numpy's elementwise arithmetic gives the same result for a value wherever
it sits in an array.

The rows of a workload are remembered while it lives (a workload is immutable), so costing one
stacked workload on many hardware points, as a sweep does, finds them once.

Example:
    >>> from cost_models import WorkloadBuilder, Workload
    >>> b = WorkloadBuilder(batch_size=1)
    >>> b.linear("fc", c=64, k=10)
    >>> one = b.build()
    >>> rows = DistinctRows.of(Workload.concat([one] * 5000), min_rows=0)
    >>> len(rows.table), rows.index[:3].tolist()
    (1, [0, 0, 0])
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from cost_models._cost import Cost
from cost_models._workload import Workload

MIN_ROWS = 4096
"""Workloads shorter than this are costed row by row: finding their repeats costs about what it saves."""

MAX_DISTINCT_SHARE = 0.5
"""Above this share of distinct rows a workload is costed row by row (the gather would cost more)."""

_NOT_KEYS = ("name", "network")
"""Columns no cost model reads per row: a layer's name, and the network it belongs to."""

_HASH_MULTIPLIER = np.int64(-7046029254386353131)
"""Odd 64-bit multiplier (0x9E3779B97F4A7C15, Knuth's golden ratio) of the polynomial row hash."""

_SAMPLE_STEP = 61
"""Stride of the layers first searched for each row's representative (prime: no network period)."""

_FOUND: weakref.WeakKeyDictionary[Workload, DistinctRows] = weakref.WeakKeyDictionary()
"""Distinct rows of the workloads alive, so repeated costing of one workload finds them once."""


@dataclasses.dataclass(frozen=True, eq=False)
class DistinctRows:
    """The distinct rows of a workload and which of them each layer is.

    Args:
        table: One row per distinct layer (its ``network`` column is meaningless: all 0 unless
            :attr:`identity`).
        index: For each layer of the workload, its row of ``table``.
        identity: ``table`` is the workload itself (too short or too varied to be worth it):
            :meth:`expand` and :meth:`expand_cost` return their input.
    """

    table: Workload
    index: np.ndarray
    identity: bool

    @classmethod
    def of(cls, workload: Workload, *, min_rows: int | None = None) -> DistinctRows:
        """Find the distinct rows of ``workload`` (every column but ``name`` and ``network``).

        Args:
            workload: The layers.
            min_rows: Below this many layers, return the identity (every layer its own row);
                default :data:`MIN_ROWS`.
        """
        size = len(workload)
        if size < max(MIN_ROWS if min_rows is None else min_rows, 1):
            return cls.identity_of(workload)
        if workload in _FOUND:
            return _FOUND[workload]
        columns = [_bits(getattr(workload, f.name)) for f in dataclasses.fields(workload) if f.name not in _NOT_KEYS]
        found = _rows(columns, max_rows=int(MAX_DISTINCT_SHARE * size))
        if found is None:
            return cls.identity_of(workload)  # not remembered: it would hold its own key alive
        index, representative = found
        table = {f.name: getattr(workload, f.name)[representative] for f in dataclasses.fields(workload)}
        table["network"] = np.zeros(len(representative), dtype=np.int64)
        index.flags.writeable = False  # remembered: shared by every later call
        rows = _FOUND[workload] = cls(table=Workload(**table), index=index, identity=False)
        return rows

    @classmethod
    def identity_of(cls, workload: Workload) -> DistinctRows:
        """Every layer its own row (no search)."""
        return cls(table=workload, index=np.arange(len(workload)), identity=True)

    def expand(self, values: np.ndarray) -> np.ndarray:
        """A per-row column of :attr:`table`, per layer of the workload."""
        return values if self.identity else values[self.index]

    def split(self, key: np.ndarray) -> tuple[DistinctRows, np.ndarray]:
        """Make layers of one row that differ in a per-layer boolean ``key`` distinct rows.

        Returns:
            The refined rows, and ``key`` per row of their table.
        """
        key = np.asarray(key, dtype=bool)
        if self.identity:
            return self, key
        rows = len(self.table)
        combined = self.index + rows * key
        present = np.flatnonzero(np.bincount(combined, minlength=2 * rows))
        renumber = np.zeros(2 * rows, dtype=np.intp)
        renumber[present] = np.arange(len(present))
        table = self.table.select(present % rows)
        return DistinctRows(table=table, index=renumber[combined], identity=False), present >= rows

    def expand_cost(self, cost: Cost, workload: Workload) -> Cost:
        """The cost of every layer of ``workload`` from ``cost``, the cost of :attr:`table`."""
        if self.identity:
            return cost
        return cost.take(self.index, workload)


def _bits(column: np.ndarray) -> np.ndarray:
    """A column as integers with the same bits (floats compared bit for bit), for equality and hashing."""
    if column.dtype.kind == "f":
        return column.view(np.int64 if column.dtype.itemsize == 8 else np.int32)
    if column.dtype.kind in "iub":
        return column
    raise TypeError(f"workload column of dtype {column.dtype} cannot key distinct rows")


def _rows(columns: list[np.ndarray], max_rows: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Row of each layer and one layer per row (any of its layers), from the key ``columns``; None
    when there are more than ``max_rows`` rows.

    The columns that vary are packed, narrowest first, into as few exact keys as hold them: each
    key is a mixed-radix number whose digits are columns (in base the column's range) while the
    product of the ranges fits 62 bits. One key identifies the rows. Several (a stacked search
    space's MAC and element counts span millions each) are folded into one polynomial hash, the
    layers grouped by it, and every key checked against its row's representative, so a hash
    collision is caught and the rows found again by sorting the keys themselves.
    """
    lows = [int(column.min()) for column in columns]
    spans = [int(column.max()) - low + 1 for column, low in zip(columns, lows, strict=True)]
    keys: list[np.ndarray] = []
    product = 2**62
    for span, i in sorted((span, i) for i, span in enumerate(spans) if span > 1):
        if product * span >= 2**62:
            keys.append(columns[i].astype(np.int64))
            product = span
            continue
        # key * span + (column - low), less the constant low * (the weights of later digits): the same
        # key up to one constant offset (modulo 2**64), which keeps keys distinct and saves a pass.
        keys[-1] *= span
        keys[-1] += columns[i]
        product *= span
    if len(keys) <= 1:
        return _group(keys[0] if keys else np.zeros(len(columns[0]), dtype=np.int64), max_rows)
    hashed = keys[0].copy()
    for key in keys[1:]:
        np.multiply(hashed, _HASH_MULTIPLIER, out=hashed)  # wraps modulo 2**64, as a hash should
        hashed += key
    found = _group(hashed, max_rows)
    if found is None or _all_set_by_rows(keys, *found):
        return found
    # A hash collision merged two rows.
    index, representative = _exact_rows(keys)
    return None if len(representative) > max_rows else (index, representative)


def _group(key: np.ndarray, max_rows: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Row of each layer and one layer per row for equal ``key``s (None: more than ``max_rows`` rows)."""
    ordered = np.sort(key)
    starts = np.empty(len(key), dtype=bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    rows = int(starts.sum())
    if rows > max_rows:
        return None
    index = np.searchsorted(ordered[starts], key)
    # Any layer of a row represents it: looked for among every _SAMPLE_STEP-th layer first (a
    # repeated row is almost always there), among all layers if a row is missing from those.
    representative = np.full(rows, -1, dtype=np.intp)
    representative[index[::_SAMPLE_STEP]] = np.arange(0, len(key), _SAMPLE_STEP)
    if (representative < 0).any():
        representative[index] = np.arange(len(key))
    return index, representative


def _all_set_by_rows(columns: list[np.ndarray], index: np.ndarray, representative: np.ndarray) -> bool:
    """Whether every layer holds its row's representative's value in each of ``columns``."""
    return all(np.array_equal(column[representative][index], column) for column in columns)


def _exact_rows(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Row of each layer and one layer per row, by sorting the keys themselves (slow, exact)."""
    stacked = np.stack(keys, axis=1)
    _, representative, index = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    return index.reshape(-1), representative
