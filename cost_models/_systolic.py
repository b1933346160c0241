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

Each overlap is a preset key, so what is hidden is stated per chip. With ``n = passes * folds *
chunks`` tiles, each streaming ``t = T/chunks`` rows:

- ``weight_load_overlap = false``, ``fill_drain_overlap = false`` (SCALE-Sim's analytical model):
  a tile can only be replaced once the previous one has drained, so every tile pays its preload
  and its fill/drain::

      cycles = passes * folds * (T + chunks * (2*rows + cols - 2))

  which is SCALE-Sim's ``2*S_R + S_C + T - 2`` per fold (SCALE-Sim reports one cycle less per
  layer: it counts the index of the last cycle; ``tests/data/scalesim_ws_cycles.csv`` holds the
  simulator's own cycles for AlexNet, ResNet-18 and MobileNetV2 layers).
- ``weight_load_overlap = true`` (a second, double-buffered set of stationary registers: TPU v1's
  "one 64 KiB tile of weights plus one for double-buffering (to hide the 256 cycles it takes to
  shift a tile in)", Jouppi et al., ISCA 2017, Sec. 2; Gemmini's two weight registers per PE): the
  next tile shifts in while the current one streams and drains; only the first preload shows, and a
  tile whose stream and drain are shorter than a preload waits for it::

      cycles = rows + (n - 1) * max(t + rows + cols - 2, rows) + t + rows + cols - 2

- ``fill_drain_overlap = true`` as well (TPU v1, Sec. 2 on Fig. 4: "The weights are preloaded, and
  take effect with the advancing wave alongside the first data of a new block"; this model's
  reading, the paper gives no cycle count for it): the next tile's operands enter the
  array right behind the current tile's, so the skew of tile ``i+1`` overlaps the drain of tile
  ``i``. Consecutive tiles of a layer are independent (partial sums of the reduction folds meet
  in the accumulators, not in the array), so the array drains only at the end of the layer, where
  the next layer depends on its outputs::

      cycles = (n - 1) * max(t, rows) + t + rows + (rows + cols - 2)

  It needs ``weight_load_overlap`` (the preset loader says so). A single tile takes SCALE-Sim's
  ``2*rows + cols + T - 2`` under every setting, and each overlap only removes cycles.

For output-stationary the stationary operand is the output tile, whose double-buffered registers
drain while the next tile accumulates. Under-utilisation follows:
``utilization = MACs / (cycles * rows * cols)``.

Ports: the array reads its stationary tiles through a weight port, its streamed operand through
an input port and writes its outputs through an output port (SCALE-Sim's filter, ifmap and ofmap
SRAMs), each ``*_bytes_per_cycle`` wide in the preset (0: as wide as the array needs). A port
narrower than the traffic needs stretches the layer to ``ceil(bytes / width)`` cycles
(``port_cycles`` in the breakdown; the layer's time is the larger of that and the array's cycles).

Partial sums of the reduction folds (weight- and input-stationary) are read and written once per
fold and output in the accumulators; ``partial_sum_path`` says whether those are an SRAM
(``"accumulator_sram"``, priced at SRAM energy of ``accumulator_bytes``) or register files
(``"register"``, at register-file energy); their capacity sets the chunks either way.

Activation-activation products (:attr:`LayerKind.MATMUL`, attention's ``QK^T`` and ``AV``) run as
GEMMs whose stationary operand is the second activation: ``N*groups`` products, none sharing a
stationary tile (each sample brings its own), loaded each time at the activation width, read from
and spilled with the activations (it has no weight bytes). A linear layer over ``rows`` tokens is
a GEMM of ``M = N*rows``. :attr:`LayerKind.COPY` (pure data movement) runs on the vector unit like
the other weight-free layers: it reads and writes its elements once, no arithmetic energy.

Operand widths: a layer's integer operands run on the narrowest supported MAC width
that holds both; wider operands take ``ceil(w/b_max) * ceil(a/b_max)`` passes when
``multipass`` is set (TPU v1 runs 16-bit operands at half or quarter speed) and are
unsupported otherwise; each pass re-runs the layer's tiles (back to back when double-buffered).
Narrower operands than the narrowest width gain nothing. Data are stored and moved at the
executed width. Floating-point layers (``math`` fp32 down to fp4) run only in formats listed
in ``float_formats``, stored and moved at the format's
:attr:`~cost_models.NumberFormat.storage_bits` (fp6 at 6, fp4 at 4) and priced at its float MAC
energy; a float format the array does not list is unsupported (NaN), never widened or run on
the integer MACs (not modelled: e2m1 and e2m3 values are small integers times a power of two,
which an int8 array could run exactly). A dense array computes zero weights like any other, so
pruning does not speed it up.

Off-chip traffic: weights come from DRAM at least once per layer. Activations stay on
chip while a layer's input and output fit the activation (then unified) buffer; otherwise
the layer spills (``dram_activation_bytes`` in the breakdown, beside ``dram_weight_bytes``).
Re-fetch factors per dataflow (``fit``: the operand fits its buffer):

- weight-stationary: weights ``x chunks`` unless they fit, inputs ``x ceil(N_out/cols)``;
- output-stationary: weights ``x ceil(M/rows)`` unless they fit, inputs ``x ceil(N_out/cols)``;
- input-stationary: weights ``x ceil(M/cols)`` unless they fit, inputs ``x chunks``.

A spilling layer takes the cheapest of four ways: the input re-fetched per sweep and the
output written once; ``M`` cut into ``ceil((in + out) / buffer)`` pieces that fit
(activations read once, weights re-read per piece); the input kept on chip (when it fits alone)
and the output written out once; the output kept on chip and the input re-fetched. A layer that
fits pays nothing, and no option costs more with a bigger buffer, so DRAM bytes, DRAM energy,
buffer bytes and latency never rise with buffer size (each access to a bigger SRAM does cost
more: the size rule below).

Latency is the roofline of the two: ``max(cycles / f, DRAM bytes / bandwidth)``, with the
bound named. Weight-free layers (pool, elementwise, norm, copy) run on a vector unit of
``vector_lanes`` lanes, ``ceil(max(ops, outputs) / lanes)`` cycles; without one they are
reported ``"unsupported"`` (NaN), never zero.

Energy (levels ``mac``, ``register_file``, ``buffer``, ``dram``): MACs x MAC energy at the
executed width (vector ops at an add's); per MAC one streamed-operand and one partial-sum
register write at Eyeriss's register-file cost (an upper estimate for pipeline flops);
every byte into or out of the array through its buffer (sized by the sqrt rule),
accumulator updates (read and write) at the accumulator's size (or at register-file energy
with ``partial_sum_path = "register"``), DRAM bytes at DRAM energy
(they also land in a buffer). Area: MAC units, vector lanes and SRAM only (no control, I/O or
interconnect), from :mod:`cost_models._technology`.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from cost_models._cost import Cost, CostModel, HardwareConfig
from cost_models._distinct_rows import DistinctRows
from cost_models._spec_fields import SpecFields
from cost_models._technology import FLOAT_FORMATS, Technology, technology
from cost_models._workload import MAC_KINDS, LayerKind, NumberFormat, Workload

_BOUND_LABELS = np.array(["compute", "memory", "unsupported"])
"""``layer_bound`` labels, indexed by a per-layer code (a take is faster than nested string ``where``)."""

DATAFLOWS = ("weight_stationary", "output_stationary", "input_stationary")
PARTIAL_SUM_PATHS = ("accumulator_sram", "register")

_ARRAY_KINDS = (*MAC_KINDS, LayerKind.MATMUL)
"""Kinds the array runs as GEMMs: convolutions, linear layers and activation-activation products."""

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
        weight_load_overlap: Shift the next stationary tile in while the current one computes
            (a second, double-buffered set of stationary registers; TPU v1's weight FIFO).
        fill_drain_overlap: Start the next tile's stream right behind the current one's, so the
            array fills and drains once per layer rather than once per tile (needs
            ``weight_load_overlap``: the new tile must already sit in the second registers).
        weight_read_bytes_per_cycle: Read port from the weight store into the array, in bytes per
            cycle (0: as wide as the array needs).
        input_read_bytes_per_cycle: Read port from the activation store into the array (0: as wide
            as needed).
        output_write_bytes_per_cycle: Write port from the array (or accumulators) back to the
            activation store (0: as wide as needed).
        partial_sum_path: Where partial sums of the reduction folds accumulate:
            ``"accumulator_sram"`` (an SRAM of ``accumulator_bytes`` below the array, read and
            written per update at SRAM energy) or ``"register"`` (register files of that size,
            at register-file energy).
        process_node_nm: Process node, in nm (scales energy and area).

    Example:
        >>> from cost_models import load_hardware
        >>> tpu = load_hardware("tpu_v1")
        >>> round(tpu.peak_ops_per_s / 1e12, 1)
        91.8
    """

    family: ClassVar[str] = "systolic"
    default_quantization: ClassVar[tuple[str, int, int]] = ("int8", 8, 8)
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
    weight_load_overlap: bool
    fill_drain_overlap: bool
    weight_read_bytes_per_cycle: float
    input_read_bytes_per_cycle: float
    output_write_bytes_per_cycle: float
    partial_sum_path: str
    process_node_nm: float

    @property
    def peak_ops_per_s(self) -> float:
        """Peak arithmetic rate at the native width: 2 ops (multiply, add) per MAC per cycle."""
        return 2.0 * self.rows * self.cols * self.clock_mhz * 1e6

    def roof(self, cost: Cost) -> tuple[float, float, str]:
        """2 x rows x cols x clock over the passes most layers needed at their operand width, and
        the off-chip bandwidth."""
        passes = cost.layer_detail["passes"]
        passes = passes[np.isfinite(passes) & (passes > 0)]
        fold = float(np.median(passes)) if len(passes) else 1.0
        peak = 2.0 * self.rows * self.cols * self.clock_mhz * 1e6 / fold
        return peak, self.offchip_bandwidth_gb_s * 1e9, f"{self.rows}x{self.cols} array, {fold:g} pass(es)"

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
        if "stationary_double_buffer" in data:
            SpecFields({}, origin=origin, allowed=()).fail(
                "stationary_double_buffer", "was split in two; set weight_load_overlap and fill_drain_overlap instead")
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
            weight_load_overlap=fields.boolean("weight_load_overlap"),
            fill_drain_overlap=fields.boolean("fill_drain_overlap"),
            weight_read_bytes_per_cycle=fields.number("weight_read_bytes_per_cycle", positive=False, default=0.0),
            input_read_bytes_per_cycle=fields.number("input_read_bytes_per_cycle", positive=False, default=0.0),
            output_write_bytes_per_cycle=fields.number("output_write_bytes_per_cycle", positive=False, default=0.0),
            partial_sum_path=fields.choice("partial_sum_path", PARTIAL_SUM_PATHS, default="accumulator_sram"),
            process_node_nm=fields.process_node(),
        )
        if config.fill_drain_overlap and not config.weight_load_overlap:
            fields.fail("fill_drain_overlap", "is true while weight_load_overlap is false; a tile can only "
                        "follow the previous one without a drain when its weights were loaded meanwhile")
        operand_bytes = config.weight_buffer_bytes + config.activation_buffer_bytes + config.unified_buffer_bytes
        if operand_bytes < config.rows * config.cols:
            fields.fail("unified_buffer_bytes", f"with the weight and activation buffers holds {operand_bytes} bytes; "
                        f"the array needs at least one {config.rows}x{config.cols} tile of 8-bit weights on chip, "
                        f"so give {config.rows * config.cols} bytes or more")
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
    # Both operands of an activation-activation product are activations.
    stationary_bits = np.where(workload.kind == LayerKind.MATMUL, workload.act_bits, workload.weight_bits)
    want = np.maximum(stationary_bits, workload.act_bits)
    index = np.searchsorted(native, want)
    fits = index < len(native)
    mac_bits = np.where(fits, native[np.minimum(index, len(native) - 1)], widest)
    passes = np.where(fits, 1, np.ceil(stationary_bits / widest) * np.ceil(workload.act_bits / widest))
    # Wider-than-native operands are split into native-width slices, each stored at that width.
    weight_bits = np.ceil(stationary_bits / mac_bits) * mac_bits
    act_bits = np.ceil(workload.act_bits / mac_bits) * mac_bits
    supported = fits | hw.multipass

    is_float = np.isin(workload.math, FLOAT_FORMATS)
    allowed_floats = [NumberFormat.parse(label) for label in hw.float_formats]
    float_bits = np.array([fmt.storage_bits for fmt in NumberFormat], dtype=np.float64)[workload.math]
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

    A convolution or linear layer is ``G = groups`` GEMMs of ``M = N*P*Q`` rows (a linear layer
    over ``rows`` tokens has ``P = rows``, ``Q = 1``). A :attr:`LayerKind.MATMUL` is ``G = N*groups``
    products of ``M = P*Q`` rows, ``K_red = C`` and ``N_out = K``: its second operand is an
    activation of each sample, so no two samples share it. Weight-free layers get the shape of
    their element count (unused by the MAC path).
    """
    groups = workload.groups.astype(np.float64)
    pixels = (workload.p * workload.q).astype(np.float64)
    m = workload.n * pixels
    k_red = workload.c / groups * workload.r * workload.s
    n_out = workload.k / groups
    matmul = np.flatnonzero(workload.kind == LayerKind.MATMUL)
    if len(matmul):
        m[matmul] = pixels[matmul]
        k_red[matmul] = workload.c[matmul]
        n_out[matmul] = workload.k[matmul]
        groups[matmul] *= workload.n[matmul]
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
        # Every term is the layer's own (a layer spills by its own bytes against the buffers):
        # each distinct row is costed once.
        rows = DistinctRows.of(workload)
        return rows.expand_cost(self._evaluate_rows(rows.table, hardware), workload)

    def _evaluate_rows(self, workload: Workload, hw: SystolicConfig) -> Cost:
        """The layers of ``workload`` costed one by one (array arithmetic)."""
        tech = technology(hw.process_node_nm)
        widths = _executed_widths(workload, hw)
        is_mac = np.isin(workload.kind, _ARRAY_KINDS)
        supported = widths.supported & (is_mac | (hw.vector_lanes > 0))

        # The GEMM mapping is computed on the array layers only (in a search space most layers are
        # weight-free); the other rows get 0 (re-fetch factors 1) and are masked below.
        rows = np.flatnonzero(is_mac)
        mac = {}
        for name, values in _map_gemm(*(dim[rows] for dim in gemm_dims(workload)), widths.passes[rows], hw).items():
            mac[name] = np.ones(len(workload)) if name.endswith("refetch") else np.zeros(len(workload))
            mac[name][rows] = values
        # The stationary operand: the weights, or for an activation-activation product the second
        # activation (each sample's own, ``N*groups*C*K`` elements at the activation width).
        matmul = workload.kind == LayerKind.MATMUL
        stationary_elems = np.where(matmul, workload.n * workload.groups * workload.c * workload.k, workload.weights)
        dram_weight, dram_act = _dram_traffic(workload, hw, widths, mac, is_mac, stationary_elems * matmul)
        dram_bytes = dram_weight + dram_act
        output_bytes = workload.output_elems * widths.act_bits / 8.0

        # What the array reads and writes through its three ports (SCALE-Sim's filter, ifmap and
        # ofmap SRAMs): the stationary tiles as loaded, the streamed operand per sweep, the outputs.
        stationary_bytes = np.where(is_mac, stationary_elems * mac["weight_stream"] * widths.weight_bits / 8.0, 0.0)
        input_port_bytes = np.where(is_mac, mac["input_stream"] * widths.act_bits / 8.0,
                                    workload.input_elems * widths.act_bits / 8.0)
        lanes = max(hw.vector_lanes, 1)
        vector_cycles = np.ceil(np.maximum(workload.ops, workload.output_elems) / lanes)
        array_cycles = np.where(is_mac, mac["cycles"], vector_cycles)
        port_cycles = np.zeros(len(workload))
        for port_bytes, rate in ((stationary_bytes, hw.weight_read_bytes_per_cycle),
                                 (input_port_bytes, hw.input_read_bytes_per_cycle),
                                 (output_bytes, hw.output_write_bytes_per_cycle)):
            if rate > 0:
                port_cycles = np.maximum(port_cycles, np.ceil(port_bytes / rate))
        cycles = np.maximum(array_cycles, port_cycles)
        compute_s = cycles / (hw.clock_mhz * 1e6)
        memory_s = dram_bytes / (hw.offchip_bandwidth_gb_s * 1e9)

        # On-chip traffic: what the array reads and writes, plus every DRAM byte landing in a buffer.
        buffer_weight_bytes = np.where(matmul, 0.0, stationary_bytes) + dram_weight
        buffer_act_bytes = input_port_bytes + np.where(matmul, stationary_bytes, 0.0) + output_bytes + dram_act
        accumulator_bytes = np.where(is_mac, mac["psum_updates"] * 2 * hw.accumulator_bits / 8.0, 0.0)
        accumulator_pj_per_bit = tech.register_file_pj_per_bit if hw.partial_sum_path == "register" else \
            tech.sram_pj_per_bit(hw.accumulator_bytes)
        # Per MAC a PE forwards its streamed operand and its partial sum through registers; the
        # stationary operand sits in a register that feeds the multiplier without an access.
        rf_bits = np.where(is_mac, workload.macs * widths.passes * (widths.mac_bits + hw.accumulator_bits), 0.0)

        energy = {
            "mac": _arithmetic_energy_pj(workload, widths, is_mac, hw, tech),
            "register_file": rf_bits * tech.register_file_pj_per_bit,
            "buffer": 8 * (buffer_weight_bytes * tech.sram_pj_per_bit(_weight_store_bytes(hw))
                           + buffer_act_bytes * tech.sram_pj_per_bit(_act_store_bytes(hw))
                           + accumulator_bytes * accumulator_pj_per_bit),
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
                "array_cycles": array_cycles * nan,
                "port_cycles": port_cycles * nan,
                "utilization": np.where(is_mac, workload.macs / (cycles * hw.rows * hw.cols), np.nan) * nan,
                "passes": widths.passes * nan,
                "macs_mapped": np.where(is_mac, mac["macs_mapped"], 0.0),
                "dram_bytes": dram_bytes * nan,
                "dram_weight_bytes": dram_weight * nan,
                "dram_activation_bytes": dram_act * nan,
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
    # ``tiles`` stationary tiles, each streaming ``stream`` rows; a tile takes ``rows`` cycles to
    # shift in and ``skew`` to fill and drain (module docstring, one equation per overlap setting).
    tiles = passes * folds * chunks
    stream = temporal / chunks
    if hw.fill_drain_overlap:
        cycles = (tiles - 1.0) * np.maximum(stream, hw.rows) + stream + hw.rows + skew
    elif hw.weight_load_overlap:
        cycles = hw.rows + (tiles - 1.0) * np.maximum(stream + skew, hw.rows) + stream + skew
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
                  is_mac: np.ndarray, stationary_act_elems: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DRAM bytes of weights and of activations per layer, for the cheapest way to spill.

    ``stationary_act_elems`` is the part of the input that the array holds stationary (the second
    operand of an activation-activation product), re-fetched like weights rather than like the
    streamed input.
    """
    weight_bytes = workload.weights * widths.weight_bits / 8.0
    input_bytes = workload.input_elems * widths.act_bits / 8.0
    stationary_in = stationary_act_elems * widths.act_bits / 8.0
    streamed_in = input_bytes - stationary_in
    output_bytes = workload.output_elems * widths.act_bits / 8.0
    act_bytes = input_bytes + output_bytes
    act_capacity = hw.activation_buffer_bytes + hw.unified_buffer_bytes
    acts_on_chip = act_bytes <= act_capacity
    # Activations take the unified buffer first; weights get what is left.
    unified_left = np.where(acts_on_chip, hw.unified_buffer_bytes
                            - np.maximum(act_bytes - hw.activation_buffer_bytes, 0.0), 0.0)
    weights_on_chip = weight_bytes <= hw.weight_buffer_bytes + unified_left
    weight_reads = np.where(weights_on_chip, 1.0, mac["weight_refetch"])
    refetched_in = np.where(is_mac, streamed_in * mac["input_refetch"] + stationary_in * mac["weight_refetch"],
                            input_bytes)

    # Activations that do not fit: the cheapest of (a) the input re-fetched per sweep and the output
    # written once, (b) M cut into pieces whose activations fit (read once, weights re-read per piece),
    # (c) the input kept on chip and the output written out once, (d) the output kept on chip and the
    # input re-fetched per sweep. Each option only gets cheaper as the buffer grows, so their minimum
    # never rises with buffer size. Worked out on the spilling layers only (most fit).
    dram_weight = np.where(is_mac, weight_bytes * weight_reads, 0.0)
    dram_act = np.zeros(len(workload))
    rows = np.flatnonzero(~acts_on_chip)
    if len(rows):
        w, reads, mac_row = weight_bytes[rows], weight_reads[rows], is_mac[rows]
        refetched, out, acts = refetched_in[rows], output_bytes[rows], act_bytes[rows]
        split_reads = np.where(weights_on_chip[rows], 1.0,
                               np.maximum(mac["weight_refetch"][rows], np.ceil(acts / max(act_capacity, 1))))
        options = np.stack([
            w * reads + refetched + out,
            np.where(mac_row, w * split_reads + acts, np.inf),
            np.where(input_bytes[rows] <= act_capacity, w * reads + out, np.inf),
            np.where(out <= act_capacity, w * reads + refetched, np.inf),
        ])
        best = np.argmin(options, axis=0)
        dram_weight[rows] = np.where(mac_row, w * np.where(best == 1, split_reads, reads), 0.0)
        dram_act[rows] = np.choose(best, [refetched + out, acts, out, refetched])
    return dram_weight, dram_act


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
