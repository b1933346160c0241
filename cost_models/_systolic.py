"""A TPU-like systolic array: convolutions lowered to GEMM and tiled onto ``rows x cols`` MACs.

Lowering (per layer, im2col): ``G = groups`` independent GEMMs of
``M = N*P*Q`` rows, reduction ``K_red = C/G * R*S`` and ``N_out = K/G`` columns, so
``MACs = G * M * K_red * N_out``. A depthwise convolution is ``G = C`` GEMMs of
``K_red = R*S`` and ``N_out = 1``: it fills one column of ``R*S`` rows, which is how
badly it maps on a real systolic array (no block-diagonal packing is assumed).

Tiling (SCALE-Sim's analytical model, Samajdar et al., ISPASS 2020): each dataflow maps
two GEMM dimensions onto the array (spatial rows ``S_r``, spatial columns ``S_c``) and
streams the third through it (temporal ``T``):

============== ========== ========== =========
dataflow       ``S_r``    ``S_c``    ``T``
============== ========== ========== =========
weight_st.     ``K_red``  ``N_out``  ``M``
output_st.     ``M``      ``N_out``  ``K_red``
input_st.      ``K_red``  ``M``      ``N_out``
============== ========== ========== =========

The array runs ``folds = G * ceil(S_r / rows) * ceil(S_c / cols)`` folds. For weight-
and input-stationary, partial sums of ``T x cols`` outputs must fit the accumulators, so
``T`` is cut into ``chunks = ceil(T / floor(acc_entries / cols))``; each chunk reloads the
stationary tile. Loading a stationary tile takes ``rows`` cycles (it is shifted in one row per
cycle), and an operand entering the array reaches the last PE ``rows + cols - 2`` cycles later
(the skew fill/drain).

Without double buffering (SCALE-Sim's analytical model) a tile can only be replaced once the
previous one has drained, so every (fold, chunk) pays its preload and its fill/drain::

    cycles = passes * folds * (T + chunks * (2*rows + cols - 2))

which is SCALE-Sim's ``2*S_R + S_C + T - 2`` per fold.

With a double-buffered stationary operand (``stationary_double_buffer``; TPU v1: "The matrix
unit holds one 64 KiB tile of weights plus one for double-buffering (to hide the 256 cycles it
takes to shift a tile in)" and the weight FIFO is four tiles deep, Jouppi et al., ISCA 2017,
Sec. 2) the next tile is shifted in while the current one computes, and its operands enter the
array right behind the current tile's: the skew of tile ``i+1`` overlaps the drain of tile ``i``.
Consecutive tiles of a layer are independent (partial sums of the reduction folds meet in the
accumulators, not in the array), so the array drains only at the end of the layer, where the next
layer depends on its outputs. Of ``n = passes * folds * chunks`` tiles, each but the last holds
the array for its stream ``t = T/chunks``, or for the ``rows`` cycles of the next preload when its
stream is shorter; the first preload, the last stream and one fill/drain show once::

    cycles = (n - 1) * max(t, rows) + t + rows + (rows + cols - 2)

(a single tile still takes SCALE-Sim's ``2*rows + cols + T - 2``, and it is never more than the
cycles without double buffering). Under-utilisation follows:
``utilization = MACs / (cycles * rows * cols)``. For output-stationary the stationary operand
is the output tile, whose double-buffered registers drain while the next tile accumulates.

Operand widths: a layer's integer operands run on the narrowest supported MAC width
that holds both; wider operands take ``ceil(w/b_max) * ceil(a/b_max)`` passes when
``multipass`` is set (TPU v1 runs 16-bit operands at half or quarter speed) and are
unsupported otherwise; each pass re-runs the layer's tiles (back to back when double-buffered).
Narrower operands than the narrowest width gain nothing. Data are stored and moved at the
executed width. Floating-point layers run only in formats listed
in ``float_formats``. A dense array computes zero weights like any other, so pruning does
not speed it up.

Off-chip traffic: weights come from DRAM at least once per layer. Activations stay on
chip while a layer's input and output fit the activation (then unified) buffer; otherwise
they stream from DRAM. Re-fetch factors per dataflow (``fit``: the operand fits its buffer):

- weight-stationary: weights ``x chunks`` unless they fit, inputs ``x ceil(N_out/cols)``;
- output-stationary: weights ``x ceil(M/rows)`` unless they fit, inputs ``x ceil(N_out/cols)``;
- input-stationary: weights ``x ceil(M/cols)`` unless they fit, inputs ``x chunks``.

When activations spill, the other loop order is also costed (``M`` cut into
``ceil((in + out) / buffer)`` pieces that fit, activations read once, weights re-read per
piece) and the one with fewer DRAM bytes is taken.

Latency is the roofline of the two: ``max(cycles / f, DRAM bytes / bandwidth)``, with the
bound named. Weight-free layers (pool, elementwise, norm) run on a vector unit of
``vector_lanes`` lanes, ``ceil(max(ops, outputs) / lanes)`` cycles; without one they are
reported ``"unsupported"`` (NaN), never zero.

Energy (levels ``mac``, ``register_file``, ``buffer``, ``dram``): MACs x MAC energy at the
executed width (vector ops at an add's); per MAC one streamed-operand and one partial-sum
register write at Eyeriss's register-file cost (an upper estimate for pipeline flops);
every byte into or out of the array through its buffer (sized by the sqrt rule),
accumulator updates (read and write) at the accumulator's size, DRAM bytes at DRAM energy
(they also land in a buffer). Area: MAC units, vector lanes and SRAM only (no control, I/O or
interconnect), from :mod:`cost_models._technology`.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from cost_models._cost import Cost, CostModel, HardwareConfig
from cost_models._spec_fields import SpecFields
from cost_models._technology import FLOAT_FORMATS, Technology, technology
from cost_models._workload import MAC_KINDS, NumberFormat, Workload

_BOUND_LABELS = np.array(["compute", "memory", "unsupported"])
"""``layer_bound`` labels, indexed by a per-layer code (a take is faster than nested string ``where``)."""

DATAFLOWS = ("weight_stationary", "output_stationary", "input_stationary")

_STORAGE_BITS = {NumberFormat.FP32: 32, NumberFormat.TF32: 32, NumberFormat.FP16: 16,
                 NumberFormat.BF16: 16, NumberFormat.FP8: 8}
"""Bits a float operand occupies in memory (tf32 is stored as fp32)."""


@dataclasses.dataclass(frozen=True)
class SystolicConfig(HardwareConfig):
    """A systolic-array accelerator (TPU-like); loaded from a ``family = "systolic"`` preset.

    Args:
        name: Configuration name.
        source: Datasheet or paper the numbers come from.
        rows: MAC rows of the array.
        cols: MAC columns of the array.
        clock_mhz: Array clock, in MHz.
        dataflow: ``"weight_stationary"``, ``"output_stationary"`` or ``"input_stationary"``.
        operand_bits: Integer operand widths the MACs support natively, in bits.
        multipass: Run operands wider than the widest supported width in several passes.
        float_formats: Float formats the MACs also support (labels such as ``"bf16"``).
        accumulator_bits: Width of partial sums, in bits.
        weight_buffer_bytes: On-chip storage for weights only.
        activation_buffer_bytes: On-chip storage for activations only.
        unified_buffer_bytes: Storage shared by activations (first) and weights.
        accumulator_bytes: Partial-sum storage below the array.
        offchip_bandwidth_gb_s: DRAM bandwidth, in GB/s (1e9 bytes/s).
        vector_lanes: Elements per cycle of the vector unit for weight-free layers (0: none).
        stationary_double_buffer: Preload the next stationary tile while the current runs.
        process_node_nm: Process node, in nm (scales energy and area).

    Example:
        >>> from cost_models import load_hardware
        >>> tpu = load_hardware("tpu_v1")
        >>> round(tpu.peak_ops_per_s / 1e12, 1)
        91.8
    """

    family: ClassVar[str] = "systolic"
    name: str
    source: str
    rows: int
    cols: int
    clock_mhz: float
    dataflow: str
    operand_bits: tuple[int, ...]
    multipass: bool
    float_formats: tuple[str, ...]
    accumulator_bits: int
    weight_buffer_bytes: int
    activation_buffer_bytes: int
    unified_buffer_bytes: int
    accumulator_bytes: int
    offchip_bandwidth_gb_s: float
    vector_lanes: int
    stationary_double_buffer: bool
    process_node_nm: float

    @property
    def peak_ops_per_s(self) -> float:
        """Peak arithmetic rate at the native width: 2 ops (multiply, add) per MAC per cycle."""
        return 2.0 * self.rows * self.cols * self.clock_mhz * 1e6

    def resources(self) -> dict[str, float]:
        """``mac_units``: the ``rows x cols`` MACs of the array (at the narrowest of ``operand_bits``;
        the vector lanes are not MACs); ``onchip_sram_bytes``: the weight, activation, unified and
        accumulator buffers.

        Example:
            >>> from cost_models import load_hardware
            >>> load_hardware("tpu_v1").resources()
            {'mac_units': 65536.0, 'onchip_sram_bytes': 29622272.0}
        """
        sram = self.weight_buffer_bytes + self.activation_buffer_bytes + self.unified_buffer_bytes + \
            self.accumulator_bytes
        return {"mac_units": float(self.rows * self.cols), "onchip_sram_bytes": float(sram)}

    @classmethod
    def from_mapping(cls, data: dict, *, origin: str) -> SystolicConfig:
        fields = SpecFields(data, origin=origin, allowed=[f.name for f in dataclasses.fields(cls)])
        accumulator_bits = fields.integer("accumulator_bits", maximum=64, default=32)
        config = cls(
            name=fields.string("name"),
            source=fields.string("source"),
            rows=fields.integer("rows"),
            cols=fields.integer("cols"),
            clock_mhz=fields.number("clock_mhz"),
            dataflow=fields.choice("dataflow", DATAFLOWS),
            operand_bits=fields.integer_list("operand_bits"),
            multipass=fields.boolean("multipass", default=False),
            float_formats=fields.choice_list("float_formats", [f.label for f in FLOAT_FORMATS], default=[]),
            accumulator_bits=accumulator_bits,
            weight_buffer_bytes=fields.integer("weight_buffer_bytes", minimum=0),
            activation_buffer_bytes=fields.integer("activation_buffer_bytes", minimum=0),
            unified_buffer_bytes=fields.integer("unified_buffer_bytes", minimum=0, default=0),
            accumulator_bytes=fields.integer("accumulator_bytes"),
            offchip_bandwidth_gb_s=fields.number("offchip_bandwidth_gb_s"),
            vector_lanes=fields.integer("vector_lanes", minimum=0),
            stationary_double_buffer=fields.boolean("stationary_double_buffer", default=True),
            process_node_nm=fields.process_node(),
        )
        if config.accumulator_bytes * 8 < config.cols * accumulator_bits:
            fields.fail("accumulator_bytes", f"is {config.accumulator_bytes}; it must hold at least one "
                        f"row of {config.cols} partial sums of {accumulator_bits} bits")
        return config


@dataclasses.dataclass(frozen=True)
class _Widths:
    """Executed operand widths of each layer on one array."""

    mac_bits: np.ndarray
    weight_bits: np.ndarray
    act_bits: np.ndarray
    passes: np.ndarray
    is_float: np.ndarray
    supported: np.ndarray


def _executed_widths(workload: Workload, hw: SystolicConfig) -> _Widths:
    native = np.asarray(hw.operand_bits)
    widest = native[-1]
    want = np.maximum(workload.weight_bits, workload.act_bits)
    index = np.searchsorted(native, want)
    fits = index < len(native)
    mac_bits = np.where(fits, native[np.minimum(index, len(native) - 1)], widest)
    passes = np.where(fits, 1, np.ceil(workload.weight_bits / widest) * np.ceil(workload.act_bits / widest))
    # Wider-than-native operands are split into native-width slices, each stored at that width.
    weight_bits = np.ceil(workload.weight_bits / mac_bits) * mac_bits
    act_bits = np.ceil(workload.act_bits / mac_bits) * mac_bits
    supported = fits | hw.multipass

    is_float = np.isin(workload.math, FLOAT_FORMATS)
    allowed_floats = [NumberFormat.parse(label) for label in hw.float_formats]
    float_bits = np.zeros(len(workload))
    for fmt, bits in _STORAGE_BITS.items():
        float_bits[workload.math == fmt] = bits
    return _Widths(
        mac_bits=np.where(is_float, float_bits, mac_bits),
        weight_bits=np.where(is_float, float_bits, weight_bits),
        act_bits=np.where(is_float, float_bits, act_bits),
        passes=np.where(is_float, 1.0, passes),
        is_float=is_float,
        supported=np.where(is_float, np.isin(workload.math, allowed_floats), supported),
    )


def gemm_dims(workload: Workload) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The im2col GEMM of each layer: ``(G, M, K_red, N_out)`` with ``MACs = G*M*K_red*N_out``.

    Weight-free layers get the shape of their element count (unused by the MAC path).
    """
    groups = workload.groups.astype(np.float64)
    m = (workload.n * workload.p * workload.q).astype(np.float64)
    k_red = workload.c / groups * workload.r * workload.s
    n_out = workload.k / groups
    return groups, m, k_red, n_out


class SystolicArrayModel(CostModel):
    """Cost a workload on a :class:`SystolicConfig` (see the module docstring for the equations).

    Example:
        >>> from cost_models import NumberFormat, WorkloadBuilder, evaluate
        >>> b = WorkloadBuilder(batch_size=1)
        >>> b.linear("fc", c=4096, k=4096)
        >>> wl = b.build().with_compression(weight_bits=8, act_bits=8, math=NumberFormat.INT8)
        >>> evaluate(wl, "tpu_v1").layer_bound.tolist()
        ['memory']
    """

    family: ClassVar[str] = "systolic"

    def evaluate(self, workload: Workload, hardware: HardwareConfig) -> Cost:
        if not isinstance(hardware, SystolicConfig):
            raise TypeError(f"SystolicArrayModel costs SystolicConfig, not {type(hardware).__name__}")
        hw = hardware
        tech = technology(hw.process_node_nm)
        widths = _executed_widths(workload, hw)
        is_mac = np.isin(workload.kind, MAC_KINDS)
        supported = widths.supported & (is_mac | (hw.vector_lanes > 0))

        # The GEMM mapping is computed on the MAC layers only (in a search space most layers are
        # weight-free); the other rows get 0 (re-fetch factors 1) and are masked below.
        rows = np.flatnonzero(is_mac)
        mac = {}
        for name, values in _map_gemm(*(dim[rows] for dim in gemm_dims(workload)), widths.passes[rows], hw).items():
            mac[name] = np.ones(len(workload)) if name.endswith("refetch") else np.zeros(len(workload))
            mac[name][rows] = values
        dram_weight, dram_act = _dram_traffic(workload, hw, widths, mac, is_mac)
        dram_bytes = dram_weight + dram_act
        output_bytes = workload.output_elems * widths.act_bits / 8.0

        lanes = max(hw.vector_lanes, 1)
        vector_cycles = np.ceil(np.maximum(workload.ops, workload.output_elems) / lanes)
        cycles = np.where(is_mac, mac["cycles"], vector_cycles)
        compute_s = cycles / (hw.clock_mhz * 1e6)
        memory_s = dram_bytes / (hw.offchip_bandwidth_gb_s * 1e9)

        # On-chip traffic: what the array reads and writes, plus every DRAM byte landing in a buffer.
        buffer_weight_bytes = np.where(is_mac, workload.weights * mac["weight_stream"] * widths.weight_bits / 8.0,
                                       0.0) + dram_weight
        buffer_act_bytes = np.where(is_mac, mac["input_stream"] * widths.act_bits / 8.0,
                                    workload.input_elems * widths.act_bits / 8.0) + output_bytes + dram_act
        accumulator_bytes = np.where(is_mac, mac["psum_updates"] * 2 * hw.accumulator_bits / 8.0, 0.0)
        # Per MAC a PE forwards its streamed operand and its partial sum through registers; the
        # stationary operand sits in a register that feeds the multiplier without an access.
        rf_bits = np.where(is_mac, workload.macs * widths.passes * (widths.mac_bits + hw.accumulator_bits), 0.0)

        energy = {
            "mac": _arithmetic_energy_pj(workload, widths, is_mac, hw, tech),
            "register_file": rf_bits * tech.register_file_pj_per_bit,
            "buffer": 8 * (buffer_weight_bytes * tech.sram_pj_per_bit(_weight_store_bytes(hw))
                           + buffer_act_bytes * tech.sram_pj_per_bit(_act_store_bytes(hw))
                           + accumulator_bytes * tech.sram_pj_per_bit(hw.accumulator_bytes)),
            "dram": 8 * dram_bytes * tech.dram_pj_per_bit,
        }
        nan = np.where(supported, 1.0, np.nan)
        latency = np.maximum(compute_s, memory_s) * nan
        bound = _BOUND_LABELS[np.where(supported, np.where(compute_s >= memory_s, 0, 1), 2)]
        return Cost(
            hardware=hw.name,
            workload=workload,
            layer_latency_s=latency,
            layer_energy_by_level_j={level: e * 1e-12 * nan for level, e in energy.items()},
            layer_bound=bound,
            layer_detail={
                "compute_s": compute_s * nan,
                "memory_s": memory_s * nan,
                "cycles": cycles * nan,
                "utilization": np.where(is_mac, workload.macs / (cycles * hw.rows * hw.cols), np.nan) * nan,
                "passes": widths.passes * nan,
                "macs_mapped": np.where(is_mac, mac["macs_mapped"], 0.0),
                "dram_bytes": dram_bytes * nan,
                "buffer_bytes": (buffer_weight_bytes + buffer_act_bytes) * nan,
                "accumulator_bytes": accumulator_bytes * nan,
                "register_file_bytes": rf_bits / 8.0 * nan,
            },
            area_mm2=_area_mm2(hw, tech),
            energy_method=f"{tech.describe()}; systolic {hw.dataflow} tiling after SCALE-Sim (ISPASS 2020)",
        )


def _map_gemm(groups: np.ndarray, m: np.ndarray, k_red: np.ndarray, n_out: np.ndarray, passes: np.ndarray,
              hw: SystolicConfig) -> dict[str, np.ndarray]:
    """Folds, cycles, re-fetch factors and operand stream counts of GEMMs (:func:`gemm_dims`)."""
    spatial_r, spatial_c, temporal = {
        "weight_stationary": (k_red, n_out, m),
        "output_stationary": (m, n_out, k_red),
        "input_stationary": (k_red, m, n_out),
    }[hw.dataflow]
    folds_r = np.ceil(spatial_r / hw.rows)
    folds_c = np.ceil(spatial_c / hw.cols)
    if hw.dataflow == "output_stationary":
        chunks = np.ones_like(temporal)
    else:
        acc_entries = hw.accumulator_bytes * 8 // hw.accumulator_bits
        chunks = np.ceil(temporal / max(acc_entries // hw.cols, 1))
    folds = groups * folds_r * folds_c
    skew = hw.rows + hw.cols - 2
    if hw.stationary_double_buffer:
        # Tiles follow each other back to back: a tile holds the array for its stream, or for
        # the ``rows`` cycles of shifting in the next stationary tile when the stream is
        # shorter; the first preload, the last stream and one fill/drain show once per layer
        # (module docstring).
        tiles = passes * folds * chunks
        stream = temporal / chunks
        cycles = (tiles - 1.0) * np.maximum(stream, hw.rows) + stream + hw.rows + skew
    else:
        # SCALE-Sim: every (fold, chunk) loads its tile, then fills and drains the array.
        cycles = passes * folds * (temporal + chunks * (skew + hw.rows))

    streamed_inputs = groups * m * k_red  # im2col elements in one sweep of the input
    weight_stream, input_stream, weight_refetch, input_refetch = {
        # weight-stationary: weights loaded once per chunk; inputs swept once per column fold.
        "weight_stationary": (chunks, streamed_inputs * folds_c, chunks, folds_c),
        # output-stationary: weights swept per fold of M (rows), inputs per fold of N_out.
        "output_stationary": (folds_r, streamed_inputs * folds_c, folds_r, folds_c),
        # input-stationary: inputs loaded once per chunk of N_out; weights swept per fold of M.
        "input_stationary": (folds_c, streamed_inputs * chunks, folds_c, chunks),
    }[hw.dataflow]
    psum_updates = np.zeros_like(m) if hw.dataflow == "output_stationary" else groups * m * n_out * folds_r
    return {
        "cycles": cycles,
        "macs_mapped": groups * spatial_r * spatial_c * temporal,
        "weight_stream": weight_stream,
        "input_stream": input_stream,
        "weight_refetch": weight_refetch,
        "input_refetch": input_refetch,
        "psum_updates": psum_updates,
    }


def _dram_traffic(workload: Workload, hw: SystolicConfig, widths: _Widths, mac: dict[str, np.ndarray],
                  is_mac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DRAM bytes of weights and of activations per layer, for the cheaper of two loop orders."""
    weight_bytes = workload.weights * widths.weight_bits / 8.0
    input_bytes = workload.input_elems * widths.act_bits / 8.0
    output_bytes = workload.output_elems * widths.act_bits / 8.0
    act_bytes = input_bytes + output_bytes
    act_capacity = hw.activation_buffer_bytes + hw.unified_buffer_bytes
    acts_on_chip = act_bytes <= act_capacity
    # Activations take the unified buffer first; weights get what is left.
    unified_left = np.where(acts_on_chip, hw.unified_buffer_bytes
                            - np.maximum(act_bytes - hw.activation_buffer_bytes, 0.0), 0.0)
    weights_on_chip = weight_bytes <= hw.weight_buffer_bytes + unified_left

    # Activations that do not fit: either re-fetch the input per fold (weights read as
    # usual) or cut M into pieces whose activations fit (weights re-read per piece).
    m_pieces = np.ceil(act_bytes / max(act_capacity, 1))
    weight_reads = np.where(weights_on_chip, 1.0, mac["weight_refetch"])
    split_reads = np.where(weights_on_chip, 1.0, np.maximum(mac["weight_refetch"], m_pieces))
    refetch_total = weight_bytes * weight_reads + input_bytes * mac["input_refetch"] + output_bytes
    split = ~acts_on_chip & (weight_bytes * split_reads + act_bytes < refetch_total)
    dram_weight = np.where(is_mac, weight_bytes * np.where(split, split_reads, weight_reads), 0.0)
    # Weight-free layers read their input and write their output once.
    spilled_act = np.where(is_mac & ~split, input_bytes * mac["input_refetch"] + output_bytes, act_bytes)
    return dram_weight, np.where(acts_on_chip, 0.0, spilled_act)


def _arithmetic_energy_pj(workload: Workload, widths: _Widths, is_mac: np.ndarray, hw: SystolicConfig,
                          tech: Technology) -> np.ndarray:
    """MACs at the executed width, or vector-unit ops at an add's energy, in pJ."""
    mac_pj = tech.int_mac_energy_pj(widths.mac_bits, hw.accumulator_bits)
    add_pj = tech.int_add_energy_pj(widths.act_bits)
    for fmt in FLOAT_FORMATS:
        rows = widths.is_float & (workload.math == fmt)
        if rows.any():
            mac_pj = np.where(rows, tech.float_mac_energy_pj(fmt), mac_pj)
            add_pj = np.where(rows, tech.float_energy_pj("add", fmt), add_pj)
    return np.where(is_mac, workload.macs * widths.passes * mac_pj, workload.ops * add_pj)


def _weight_store_bytes(hw: SystolicConfig) -> int:
    """Size of the SRAM weights pass through (0: straight from DRAM into the array)."""
    return hw.weight_buffer_bytes or hw.unified_buffer_bytes


def _act_store_bytes(hw: SystolicConfig) -> int:
    return hw.activation_buffer_bytes or hw.unified_buffer_bytes


def _area_mm2(hw: SystolicConfig, tech: Technology) -> float:
    """MAC array sized for its widest mode, vector lanes and all SRAM, in mm²."""
    pe_um2 = max([tech.int_mac_area_um2(bits, hw.accumulator_bits) for bits in hw.operand_bits]
                 + [tech.float_mac_area_um2(NumberFormat.parse(f)) for f in hw.float_formats])
    sram = hw.weight_buffer_bytes + hw.activation_buffer_bytes + hw.unified_buffer_bytes + hw.accumulator_bytes
    lanes_um2 = hw.vector_lanes * tech.int_add_area_um2(hw.accumulator_bits)
    return (hw.rows * hw.cols * pe_um2 + lanes_um2) * 1e-6 + tech.sram_area_mm2(sram)
