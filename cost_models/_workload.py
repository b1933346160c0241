"""The Workload IR: an ordered, struct-of-arrays description of a network's layers.

Every cost model reads only a :class:`Workload`. One workload may hold the layers of
many networks back to back (the ``network`` column says which), so a model evaluates
thousands of networks with array arithmetic and no Python loop per layer.

Shapes follow the usual convolution notation (Eyeriss, Timeloop): a layer reads an
input of ``n x c x h x w``, applies ``k`` filters of ``c / groups x r x s`` with a
``stride``, and writes an output of ``n x k x p x q``. A linear layer is a 1x1
convolution on a 1x1 input (``h = w = r = s = p = q = 1``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Sequence

import numpy as np


class LayerKind(enum.IntEnum):
    """What a layer computes; cost models dispatch on it."""

    CONV = 0
    """Dense or grouped 2-D convolution (MACs on weights)."""
    DEPTHWISE_CONV = 1
    """Convolution with ``groups == c == k`` (one filter per channel)."""
    LINEAR = 2
    """Fully connected layer / matrix multiply (MACs on weights)."""
    POOL = 3
    """Average pooling over an ``r x s`` window (no weights; a linear map of its inputs)."""
    ELEMENTWISE = 4
    """Add, activation, or any op that touches each element a fixed number of times."""
    NORM = 5
    """Inference-time batch normalisation: a per-channel affine transform."""
    MAX_POOL = 6
    """Max pooling over an ``r x s`` window (no weights; compares, not a linear map)."""
    MATMUL = 7
    """Product of two activations (attention scores, attention-weighted values): per sample,
    ``groups`` independent ``(p x c) @ (c x k)`` products; no weights."""
    COPY = 8
    """Data movement with no arithmetic (concatenation, padding, a layout change that
    materialises a tensor): reads ``input_elems`` and writes ``output_elems``."""


class SparsityPattern(enum.IntEnum):
    """How the zero weights of a pruned layer are laid out."""

    DENSE = 0
    """No pruning; ``weight_density`` is 1."""
    UNSTRUCTURED = 1
    """Any weight may be zero (magnitude pruning); only sparse engines can skip them."""
    N_M = 2
    """N of every M consecutive weights kept; ``N / M == weight_density`` (2:4 is 0.5)."""
    CHANNEL = 3
    """Whole filters removed; shapes already shrunk, so ``weight_density`` stays 1."""


class NumberFormat(enum.IntEnum):
    """The arithmetic a layer's MACs run in (a layer's storage bits are separate columns).

    Codes are stable (stored in workloads and results); a new format takes the next code.
    ``FP8`` is e4m3 or e5m2, ``FP6`` e3m2 or e2m3, ``FP4`` e2m1 (OCP Microscaling Formats
    v1.0, 2023): a datapath that runs the format runs each of its encodings.

    Example:
        >>> NumberFormat.FP4.storage_bits, [f.label for f in NumberFormat.FP4.wider][:2]
        (4, ['fp6', 'fp8'])
    """

    FP32 = 0
    TF32 = 1
    FP16 = 2
    BF16 = 3
    FP8 = 4
    INT8 = 5
    INT4 = 6
    FP6 = 7
    FP4 = 8

    @property
    def label(self) -> str:
        """Lower-case name used in presets and study files, e.g. ``"fp16"``."""
        return self.name.lower()

    @property
    def storage_bits(self) -> int:
        """Bits one value occupies in memory (tf32 is stored as fp32; fp6 packs four values in 3 bytes)."""
        return _STORAGE_BITS[self]

    @property
    def wider(self) -> tuple[NumberFormat, ...]:
        """Formats that hold every value of this one exactly, nearest first (itself excluded).

        Where a datapath lacks a format, the value runs in one of these and the network's
        numbers do not change, only its speed and energy.
        """
        return _WIDER[self]

    @classmethod
    def parse(cls, label: str) -> NumberFormat:
        """Look a format up by its label, with an error that lists the choices."""
        try:
            return cls[label.upper()]
        except KeyError:
            choices = ", ".join(f.label for f in cls)
            raise ValueError(f"unknown number format {label!r}; choose from {choices}") from None


_STORAGE_BITS = {
    NumberFormat.FP32: 32, NumberFormat.TF32: 32, NumberFormat.FP16: 16, NumberFormat.BF16: 16,
    NumberFormat.FP8: 8, NumberFormat.INT8: 8, NumberFormat.INT4: 4, NumberFormat.FP6: 6, NumberFormat.FP4: 4,
}
"""Storage bits of each format: the one table every model reads (:attr:`NumberFormat.storage_bits`)."""

_WIDER: dict[NumberFormat, tuple[NumberFormat, ...]] = {
    NumberFormat.FP32: (),
    NumberFormat.TF32: (NumberFormat.FP32,),
    # fp16's 5-bit exponent and bf16's 8-bit one fit tf32's 8 bits, their 10 and 7 mantissa bits its 10.
    NumberFormat.FP16: (NumberFormat.TF32, NumberFormat.FP32),
    NumberFormat.BF16: (NumberFormat.TF32, NumberFormat.FP32),
    # int8 and both fp8 encodings fit fp16 (e5m2 is fp16's exponent with 2 mantissa bits).
    NumberFormat.FP8: (NumberFormat.FP16, NumberFormat.TF32, NumberFormat.FP32),
    NumberFormat.INT8: (NumberFormat.FP16, NumberFormat.TF32, NumberFormat.FP32),
    NumberFormat.INT4: (NumberFormat.INT8, NumberFormat.FP16, NumberFormat.TF32, NumberFormat.FP32),
    # e3m2 and e2m3 (max 28 and 7.5, at most 3 mantissa bits) are e4m3 values.
    NumberFormat.FP6: (NumberFormat.FP8, NumberFormat.FP16, NumberFormat.TF32, NumberFormat.FP32),
    # e2m1 (0, 0.5, 1, 1.5, 2, 3, 4, 6) is an e3m2 and an e2m3 value.
    NumberFormat.FP4: (NumberFormat.FP6, NumberFormat.FP8, NumberFormat.FP16, NumberFormat.TF32, NumberFormat.FP32),
}
"""Formats holding every value of the key, nearest first (:attr:`NumberFormat.wider`)."""

MAC_KINDS = (LayerKind.CONV, LayerKind.DEPTHWISE_CONV, LayerKind.LINEAR)
"""Kinds whose work is multiply-accumulates on a weight tensor (the prunable layers)."""

GEMM_KINDS = (LayerKind.CONV, LayerKind.LINEAR, LayerKind.MATMUL)
"""Kinds a GEMM engine runs: dense convolutions (as implicit GEMM), linear layers and
activation-activation products."""

MAX_BATCH_SIZE = 1 << 20
"""Largest batch a workload takes: far above any real batch, and low enough that a batch's
MACs (up to ~1e11 per sample for the largest networks here) stay exact in int64."""

_BUILT_COLUMNS = ("n", "c", "h", "w", "k", "r", "s", "p", "q", "stride", "groups",
                  "macs", "ops", "weights", "params", "input_elems", "output_elems")


@dataclasses.dataclass(frozen=True, eq=False)
class Workload:
    """Layers of one or more networks as parallel numpy columns (one row per layer).

    Build one with :class:`WorkloadBuilder`; change its compression state with
    :meth:`with_compression`; stack several with :meth:`concat`.

    Args:
        name: Layer names, unique within a network (e.g. ``"cells.3.edge_2_1.conv"``).
        network: Index of the network each layer belongs to (0-based, non-decreasing).
        kind: :class:`LayerKind` code.
        n, c, h, w: Batch, input channels, input height, input width.
        k, r, s: Output channels, kernel height, kernel width.
        p, q: Output height and width.
        stride, groups: Convolution stride and channel groups.
        macs: Multiply-accumulates of the layer for the whole batch (0 for non-MAC kinds).
        ops: Other arithmetic operations (pool adds/compares, adds, activations, affine).
        weights: Number of weights in the kernel tensor (the prunable, quantizable part).
        params: All trainable parameters: weights plus bias and affine terms.
        input_elems: Activation elements read (all inputs, whole batch).
        output_elems: Activation elements written (whole batch).
        weight_density: Fraction of weights that are non-zero (1 - pruning ratio).
        pattern: :class:`SparsityPattern` code.
        weight_bits: Bits per stored weight (before any sparse encoding).
        act_bits: Bits per activation element.
        act_density: Expected fraction of non-zero input activations (1.0 if unknown).
        math: :class:`NumberFormat` code of the arithmetic.
        joint_density: Measured fraction of the dense MACs whose weight and input activation are
            both non-zero (EIE's Table III "FLOP %"), or NaN where not measured: models then assume
            the two independent (``weight_density * act_density``, see :attr:`mac_density`).
            Non-zero activations may meet denser weight columns than the average (or sparser),
            so a measured value can differ from the product. Optional (all NaN by default);
            :meth:`with_compression` resets it wherever it changes either density.

    Example:
        >>> from cost_models import WorkloadBuilder
        >>> b = WorkloadBuilder(batch_size=1)
        >>> p, q = b.conv("stem", c=3, h=32, w=32, k=16, r=3, s=3, padding=1)
        >>> wl = b.build()
        >>> int(wl.macs.sum())
        442368
    """

    name: np.ndarray
    network: np.ndarray
    kind: np.ndarray
    n: np.ndarray
    c: np.ndarray
    h: np.ndarray
    w: np.ndarray
    k: np.ndarray
    r: np.ndarray
    s: np.ndarray
    p: np.ndarray
    q: np.ndarray
    stride: np.ndarray
    groups: np.ndarray
    macs: np.ndarray
    ops: np.ndarray
    weights: np.ndarray
    params: np.ndarray
    input_elems: np.ndarray
    output_elems: np.ndarray
    weight_density: np.ndarray
    pattern: np.ndarray
    weight_bits: np.ndarray
    act_bits: np.ndarray
    act_density: np.ndarray
    math: np.ndarray
    joint_density: np.ndarray | None = None

    def __post_init__(self) -> None:
        size = len(self.name)
        if self.joint_density is None:
            object.__setattr__(self, "joint_density", np.full(size, np.nan))
        for field in dataclasses.fields(self):
            column = getattr(self, field.name)
            if column.ndim != 1 or len(column) != size:
                raise ValueError(
                    f"workload column {field.name!r} has shape {column.shape}; "
                    f"every column must be 1-D with {size} rows"
                )
            column.flags.writeable = False
        if size and np.any(np.diff(self.network) < 0):
            raise ValueError("workload column 'network' must be non-decreasing")
        if np.any((self.weight_density <= 0) | (self.weight_density > 1)):
            raise ValueError("weight_density must lie in (0, 1]; a fully pruned layer is removed instead")
        if np.any((self.act_density < 0) | (self.act_density > 1)):
            raise ValueError("act_density must lie in [0, 1]")
        if np.any(self.weight_bits < 1) or np.any(self.act_bits < 1):
            raise ValueError("weight_bits and act_bits must be at least 1")
        joint = self.joint_density
        known = ~np.isnan(joint)
        # Frechet bounds: P(w and a) lies between max(0, P(w) + P(a) - 1) and min(P(w), P(a)).
        low = np.maximum(self.weight_density + self.act_density - 1.0, 0.0)
        high = np.minimum(self.weight_density, self.act_density)
        if np.any(known & ((joint < low - 1e-9) | (joint > high + 1e-9))):
            raise ValueError("joint_density must lie between max(0, weight_density + act_density - 1) and "
                             "min(weight_density, act_density) (or be NaN: not measured)")

    def __len__(self) -> int:
        return len(self.name)

    @property
    def n_networks(self) -> int:
        """Number of networks stacked in this workload."""
        return int(self.network[-1]) + 1 if len(self) else 0

    @property
    def weight_bytes(self) -> np.ndarray:
        """Bytes of the non-zero weights at ``weight_bits``, per layer, without index overhead."""
        return self.weights * self.weight_density * self.weight_bits / 8.0

    @property
    def input_bytes(self) -> np.ndarray:
        """Bytes of activations read per layer at ``act_bits`` (whole batch)."""
        return self.input_elems * self.act_bits / 8.0

    @property
    def output_bytes(self) -> np.ndarray:
        """Bytes of activations written per layer at ``act_bits`` (whole batch)."""
        return self.output_elems * self.act_bits / 8.0

    @property
    def effective_macs(self) -> np.ndarray:
        """MACs left after skipping zero weights (``macs * weight_density``)."""
        return self.macs * self.weight_density

    @property
    def mac_density(self) -> np.ndarray:
        """Fraction of the dense MACs with both operands non-zero: :attr:`joint_density` where
        measured, else ``weight_density * act_density`` (independence)."""
        return np.where(np.isnan(self.joint_density), self.weight_density * self.act_density, self.joint_density)

    def per_network(self, values: np.ndarray) -> np.ndarray:
        """Sum a per-layer column over the layers of each network.

        Args:
            values: One value per layer.

        Returns:
            Array of length :attr:`n_networks`.
        """
        return np.bincount(self.network, weights=np.asarray(values, dtype=np.float64),
                           minlength=self.n_networks)

    def select(self, mask: np.ndarray) -> Workload:
        """Return the layers where ``mask`` is true (network indices are kept)."""
        return Workload(**{f.name: getattr(self, f.name)[mask] for f in dataclasses.fields(self)})

    def with_compression(
        self,
        *,
        weight_density: float | np.ndarray | None = None,
        pattern: SparsityPattern | np.ndarray | None = None,
        weight_bits: int | np.ndarray | None = None,
        act_bits: int | np.ndarray | None = None,
        act_density: float | np.ndarray | None = None,
        math: NumberFormat | np.ndarray | None = None,
        layers: np.ndarray | None = None,
    ) -> Workload:
        """Return a copy with new compression state, broadcast over ``layers``.

        Shapes never change here: channel pruning rebuilds the workload with smaller
        shapes instead. Only MAC layers (conv, depthwise, linear) take a weight density
        or pattern; the weight-free layers keep density 1 and :attr:`SparsityPattern.DENSE`.

        Args:
            weight_density: Non-zero fraction of weights, in (0, 1].
            pattern: Sparsity pattern of the pruned weights.
            weight_bits: Bits per weight.
            act_bits: Bits per activation.
            act_density: Expected non-zero fraction of input activations.
            math: Arithmetic format of the MACs.
            layers: Boolean mask of layers to change; default all.
        """
        mask = np.ones(len(self), dtype=bool) if layers is None else np.asarray(layers, dtype=bool)
        has_weights = np.isin(self.kind, MAC_KINDS)
        changes = {}
        for field, value, where in (
            ("weight_density", weight_density, mask & has_weights),
            ("pattern", pattern, mask & has_weights),
            ("weight_bits", weight_bits, mask),
            ("act_bits", act_bits, mask),
            ("act_density", act_density, mask),
            ("math", math, mask),
        ):
            if value is None:
                continue
            column = getattr(self, field).copy()
            column[where] = np.broadcast_to(np.asarray(value), column.shape)[where]
            changes[field] = column
        # A measured joint density belongs to the densities it was measured at.
        changed = np.zeros(len(self), dtype=bool)
        for field in ("weight_density", "act_density"):
            if field in changes:
                changed |= changes[field] != getattr(self, field)
        if changed.any():
            changes["joint_density"] = np.where(changed, np.nan, self.joint_density)
        return dataclasses.replace(self, **changes)

    def with_joint_density(self, joint_density: float | np.ndarray, layers: np.ndarray | None = None) -> Workload:
        """Return a copy with a measured :attr:`joint_density` (NaN: not measured) on ``layers``.

        Example:
            >>> from cost_models import WorkloadBuilder
            >>> b = WorkloadBuilder(batch_size=1)
            >>> b.linear("fc", c=8, k=8)
            >>> wl = b.build().with_compression(weight_density=0.04, act_density=0.183)
            >>> round(float(wl.with_joint_density(0.01).mac_density[0]), 4), round(float(wl.mac_density[0]), 5)
            (0.01, 0.00732)
        """
        mask = np.ones(len(self), dtype=bool) if layers is None else np.asarray(layers, dtype=bool)
        column = self.joint_density.copy()
        column[mask] = np.broadcast_to(np.asarray(joint_density, dtype=np.float64), column.shape)[mask]
        return dataclasses.replace(self, joint_density=column)

    @classmethod
    def concat(cls, workloads: Sequence[Workload]) -> Workload:
        """Stack workloads into one, renumbering networks so they stay distinct."""
        if not workloads:
            raise ValueError("concat needs at least one workload")
        columns: dict[str, list[np.ndarray]] = {f.name: [] for f in dataclasses.fields(cls)}
        offset = 0
        for workload in workloads:
            for field in dataclasses.fields(cls):
                column = getattr(workload, field.name)
                columns[field.name].append(column + offset if field.name == "network" else column)
            offset += workload.n_networks
        return cls(**{name: np.concatenate(parts) for name, parts in columns.items()})

    def to_dict(self) -> dict[str, np.ndarray]:
        """Columns by name, with ``kind``, ``pattern`` and ``math`` as label strings."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["kind"] = np.array([LayerKind(v).name.lower() for v in self.kind])
        out["pattern"] = np.array([SparsityPattern(v).name.lower() for v in self.pattern])
        out["math"] = np.array([NumberFormat(v).label for v in self.math])
        return out


class WorkloadBuilder:
    """Append layers one at a time, computing MACs, parameters and shapes; then :meth:`build`.

    All layers start dense at fp32 (32-bit weights and activations, activation density 1).

    Args:
        batch_size: ``n`` of every layer.

    Example:
        >>> b = WorkloadBuilder(batch_size=8)
        >>> b.linear("fc", c=64, k=10)
        >>> b.build().macs.tolist()
        [5120]
    """

    def __init__(self, batch_size: int = 1) -> None:
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must lie in [1, {MAX_BATCH_SIZE}], got {batch_size}")
        self.batch_size = int(batch_size)
        self._rows: list[dict[str, object]] = []

    def __len__(self) -> int:
        return len(self._rows)

    def conv(
        self,
        name: str,
        *,
        c: int,
        h: int,
        w: int,
        k: int,
        r: int,
        s: int | None = None,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        bias: bool = False,
    ) -> tuple[int, int]:
        """Add a 2-D convolution; return its output ``(p, q)``.

        Depthwise convolutions (``groups == c == k``) are tagged
        :attr:`LayerKind.DEPTHWISE_CONV`.
        """
        s = r if s is None else s
        if c % groups or k % groups:
            raise ValueError(f"layer {name!r}: channels c={c}, k={k} must be divisible by groups={groups}")
        p = (h + 2 * padding - r) // stride + 1
        q = (w + 2 * padding - s) // stride + 1
        if p < 1 or q < 1:
            raise ValueError(f"layer {name!r}: a {r}x{s} kernel does not fit a {h}x{w} input")
        n = self.batch_size
        weights = k * (c // groups) * r * s
        kind = LayerKind.DEPTHWISE_CONV if groups == c == k and groups > 1 else LayerKind.CONV
        self._add(
            name, kind, c=c, h=h, w=w, k=k, r=r, s=s, p=p, q=q, stride=stride, groups=groups,
            macs=n * k * p * q * (c // groups) * r * s, ops=n * k * p * q if bias else 0,
            weights=weights, params=weights + (k if bias else 0),
            input_elems=n * c * h * w, output_elems=n * k * p * q,
        )
        return p, q

    def linear(self, name: str, *, c: int, k: int, bias: bool = True, rows: int = 1) -> None:
        """Add a fully connected layer with ``c`` inputs and ``k`` outputs.

        ``rows`` is how many vectors of one sample it maps (the tokens of a transformer):
        the GEMM is ``(n * rows) x c`` by ``c x k``, stored as ``h = p = rows``, ``w = q = 1``.
        """
        n = self.batch_size
        if rows < 1:
            raise ValueError(f"layer {name!r}: rows must be >= 1, got {rows}")
        self._add(
            name, LayerKind.LINEAR, c=c, h=rows, w=1, k=k, r=1, s=1, p=rows, q=1, stride=1, groups=1,
            macs=n * rows * c * k, ops=n * rows * k if bias else 0, weights=c * k,
            params=c * k + (k if bias else 0), input_elems=n * rows * c, output_elems=n * rows * k,
        )

    def matmul(self, name: str, *, m: int, c: int, k: int, groups: int = 1) -> None:
        """Add ``groups`` products of two activations per sample, each ``(m x c) @ (c x k)``.

        Stored as ``h = p = m`` (rows), ``c`` (the reduced dimension), ``k`` (columns) and
        ``groups`` (heads); both operands are inputs, so ``weights == 0``.
        """
        if min(m, c, k, groups) < 1:
            raise ValueError(f"layer {name!r}: matmul dimensions must be >= 1, got m={m}, c={c}, k={k}, "
                             f"groups={groups}")
        n = self.batch_size
        self._add(
            name, LayerKind.MATMUL, c=c, h=m, w=1, k=k, r=1, s=1, p=m, q=1, stride=1, groups=groups,
            macs=n * groups * m * c * k, ops=0, weights=0, params=0,
            input_elems=n * groups * (m * c + c * k), output_elems=n * groups * m * k,
        )

    def copy(self, name: str, *, c: int, h: int, w: int) -> None:
        """Add a data-movement kernel that writes a ``c x h x w`` tensor per sample (a
        concatenation, padding or layout change): it reads and writes that many elements."""
        n = self.batch_size
        elems = n * c * h * w
        self._add(
            name, LayerKind.COPY, c=c, h=h, w=w, k=c, r=1, s=1, p=h, q=w, stride=1, groups=c,
            macs=0, ops=0, weights=0, params=0, input_elems=elems, output_elems=elems,
        )

    def pool(
        self, name: str, *, c: int, h: int, w: int, r: int, stride: int = 1, padding: int = 0,
        global_pool: bool = False, mode: str = "avg",
    ) -> tuple[int, int]:
        """Add an ``r x r`` average (``mode="avg"``) or max (``mode="max"``) pooling layer, or a
        global one; return its output ``(p, q)``."""
        if mode not in ("avg", "max"):
            raise ValueError(f"layer {name!r}: pooling mode {mode!r}; choose avg or max")
        if global_pool:
            r_h, r_w, stride, padding = h, w, 1, 0
        else:
            r_h = r_w = r
        p = (h + 2 * padding - r_h) // stride + 1
        q = (w + 2 * padding - r_w) // stride + 1
        n = self.batch_size
        self._add(
            name, LayerKind.MAX_POOL if mode == "max" else LayerKind.POOL,
            c=c, h=h, w=w, k=c, r=r_h, s=r_w, p=p, q=q, stride=stride, groups=c,
            macs=0, ops=n * c * p * q * r_h * r_w, weights=0, params=0,
            input_elems=n * c * h * w, output_elems=n * c * p * q,
        )
        return p, q

    def elementwise(self, name: str, *, c: int, h: int, w: int, inputs: int = 1) -> None:
        """Add an op applied to every element: a fill such as ``zeros_like`` (0 inputs: it only
        writes), an activation (1 input) or a sum (2+ inputs)."""
        n = self.batch_size
        elems = n * c * h * w
        self._add(
            name, LayerKind.ELEMENTWISE, c=c, h=h, w=w, k=c, r=1, s=1, p=h, q=w, stride=1, groups=c,
            macs=0, ops=elems * max(inputs - 1, 1), weights=0, params=0,
            input_elems=elems * inputs, output_elems=elems,
        )

    def norm(self, name: str, *, c: int, h: int, w: int, affine: bool = True) -> None:
        """Add an inference-time batch norm (scale and shift per channel)."""
        n = self.batch_size
        elems = n * c * h * w
        self._add(
            name, LayerKind.NORM, c=c, h=h, w=w, k=c, r=1, s=1, p=h, q=w, stride=1, groups=c,
            macs=0, ops=2 * elems, weights=0, params=2 * c if affine else 0,
            input_elems=elems, output_elems=elems,
        )

    def _add(self, name: str, kind: LayerKind, **columns: int) -> None:
        self._rows.append({"name": name, "kind": int(kind), "n": self.batch_size, **columns})

    def build(self) -> Workload:
        """Freeze the layers added so far into a :class:`Workload` (one network)."""
        return _from_rows(self._rows)


def _from_rows(rows: Iterable[dict[str, object]]) -> Workload:
    rows = list(rows)
    size = len(rows)

    def column(key: str, dtype: type) -> np.ndarray:
        return np.fromiter((row[key] for row in rows), dtype=dtype, count=size)

    data: dict[str, np.ndarray] = {"name": np.array([row["name"] for row in rows], dtype=object)}
    for key in _BUILT_COLUMNS:
        data[key] = column(key, np.int64)
    data["kind"] = column("kind", np.int8)
    data["network"] = np.zeros(size, dtype=np.int64)
    data["weight_bits"] = np.full(size, 32, dtype=np.int64)
    data["act_bits"] = np.full(size, 32, dtype=np.int64)
    data["weight_density"] = np.ones(size)
    data["act_density"] = np.ones(size)
    data["pattern"] = np.full(size, SparsityPattern.DENSE, dtype=np.int8)
    data["math"] = np.full(size, NumberFormat.FP32, dtype=np.int8)
    data["joint_density"] = np.full(size, np.nan)
    return Workload(**data)
