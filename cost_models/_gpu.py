"""GPU cost model: kernel-class physics calibrated on a measured H100, in two execution modes.

A GPU is described by a :class:`GPUConfig` (loaded from ``cost_models/presets/<name>.toml``)
and costed by :class:`GPURooflineModel`. Every layer is one kernel of one class
(:mod:`cost_models._gpu_kernels`: GEMM, implicit-GEMM conv, memory-bound, direct window);
the model evaluates all layers of all networks in a :class:`~cost_models.Workload` with
array arithmetic. How kernels are issued (eager PyTorch or a CUDA graph) is the preset's
``execution_mode`` (:mod:`cost_models._gpu_execution`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from cost_models._cost import Cost, CostModel, HardwareConfig, HardwareSpecError
from cost_models._distinct_rows import DistinctRows
from cost_models._gpu_execution import EXECUTION_MODES
from cost_models._gpu_kernels import (
    CONV,
    CUDA_CORE_TILE,
    KERNEL_CLASSES,
    MIN_TILE,
    WINDOW,
    activation_memory,
    aligned_channels,
    kernel_class,
    tiled_gemm_seconds,
)
from cost_models._spec_fields import SpecFields
from cost_models._workload import LayerKind, NumberFormat, SparsityPattern, Workload

_TILE_BITS = {**{fmt: fmt.storage_bits for fmt in NumberFormat}, NumberFormat.FP6: 8}
"""Operand bits of each format in a tensor-core tile: a K-step of ``gemm_tile_k`` 16-bit
elements is a 128-byte row, which holds twice the 8-bit elements (CUTLASS's fp8 tiles are
128 deep where its fp16 tiles are 64), four times the fp4 ones and half the tf32 ones. fp6
takes a byte: Blackwell's fp6 MMAs (the f8f6f4 kind, at the fp8 rate) read operands
unpacked to one per byte in shared memory (CUTLASS's ``float_e3m2_unpacksmem_t``)."""

_SPARSE_METADATA_BITS = 2.0
"""Index bits stored per kept weight of a 2:4 tensor (NVIDIA Ampere whitepaper, 2020)."""

_VECTOR_BLOCK_OUTPUTS = 1024
"""Outputs one thread block of a CUDA-core kernel computes (256 threads x 4): the
granularity at which vector layers are spread over SMs."""

FLOOR_KEYS: tuple[str, ...] = (*KERNEL_CLASSES, "norm_16bit")
"""Keys of ``kernel_floor_us``: one per kernel class, and the 16-bit batch norm, whose
channels-last kernel has a floor of its own (~6 us on an H100 at any batch)."""

ISSUE_KEYS: tuple[str, ...] = (*(kind.name.lower() for kind in LayerKind), "elementwise_binary", "norm_16bit")
"""Keys of ``eager_issue_us``: one per :class:`~cost_models.LayerKind`, and two op classes whose host
cost differs from their kind's: an elementwise op on two tensors (``a + b``, ``x * scale``: a
tensor operator, no ``nn.Module`` call; measured 8-12 us against 13-17 us for a ReLU module) and
the 16-bit batch norm (cuDNN's channels-last half path: 44-48 us against 31-32 us in fp32)."""

_HALF2_TAPS = 2.0
"""16-bit depthwise taps per fp32 tap: packed ``half2`` FMAs (``__hfma2``) do two per instruction
(H100 whitepaper: 133.8 non-tensor fp16 TFLOP/s against 66.9 fp32)."""

_BOUNDS = np.array(["compute", "memory", "launch"])


@dataclasses.dataclass(frozen=True)
class GPUConfig(HardwareConfig):
    """A GPU, as one preset file describes it; every key names its unit.

    Peaks are dense datasheet numbers at ``boost_clock_mhz``; the model runs them at
    ``sustained_clock_mhz`` (the power-capped clock under load) and a measured or fitted
    per-format efficiency. A format the chip lacks is left out of ``peak_tflops`` and runs
    in the next wider one it has (see :meth:`run_format`).

    Args:
        name: Configuration name (the preset's file stem unless the file sets one).
        source: Datasheet or whitepaper the numbers come from.
        peak_tflops: Dense datasheet peak of the GEMM engine per :class:`NumberFormat`
            label, in TFLOP/s at ``boost_clock_mhz`` (tensor cores where the chip has them;
            fp32 is the CUDA-core rate on every GPU, and pre-Volta parts list CUDA-core
            rates only).
        vector_fp32_tflops: CUDA-core fp32 peak in TFLOP/s, for layers that are not GEMMs.
        sparse_2_4: Whether sparse tensor cores run 2:4 weights (Ampere and later).
        sparse_max_speedup: 2:4 speed-up of a very large GEMM over dense (below the
            datasheet's 2x: metadata, the dense operand and the epilogue are not halved).
        sparse_overhead_us: Fixed extra time of a 2:4 kernel (compressed-operand setup),
            in microseconds: why 2:4 is slower than dense on small GEMMs.
        memory_bandwidth_gbs: DRAM bandwidth in GB/s (1e9 B/s), datasheet.
        memory_efficiency: Fraction of ``memory_bandwidth_gbs`` a network's streaming
            kernels sustain.
        l2_bandwidth_gbs: Load bandwidth of the L2 cache to the SMs, in GB/s.
        l2_efficiency: Fraction of ``l2_bandwidth_gbs`` a streaming kernel on an
            L2-resident tensor sustains.
        sm_count: Streaming multiprocessors.
        boost_clock_mhz: The clock the datasheet's peaks are quoted at, in MHz.
        sustained_clock_mhz: SM clock under sustained dense load (the power cap), in MHz;
            every arithmetic peak is scaled by ``sustained_clock_mhz / boost_clock_mhz``.
        l2_cache_bytes: L2 cache capacity, in bytes.
        l1_shared_bytes_per_sm: SRAM of one SM's L1 data cache and shared memory, in bytes.
        gemm_tile_m: Rows (output pixels) of the smallest GEMM tile that keeps an SM at peak.
        gemm_tile_n: Columns (output channels) of that tile.
        gemm_tile_k: Reduction depth of one mainloop step, in 16-bit elements (a 128-byte
            row; 8-bit formats hold twice the elements, tf32 half); K is padded to it.
        gemm_efficiency: Per-format fraction of the clock-scaled peak a tuned kernel
            reaches on a large GEMM (one entry per ``peak_tflops`` key).
        conv_efficiency: Fraction of the GEMM rate an implicit-GEMM convolution reaches
            (cuDNN's im2col address generation and halo loads).
        conv_cuda_core_efficiency: The same for a strict-fp32 convolution on the CUDA cores, in
            MACs of the direct convolution per peak MAC slot: above 1 where cuDNN's fp32
            algorithms (Winograd, FFT) do fewer multiplies than the convolution's MACs.
        conv_channel_knee: Channels per group (input or output, the smaller) from which
            a convolution runs at ``conv_efficiency``.
        conv_channel_exponent: Below the knee, the conv rate scales as
            ``(channels / knee) ** exponent``.
        window_taps_per_clk_sm: Window taps (one input element read for one output) a
            direct pooling kernel retires per SM clock, keyed ``fp32`` (32-bit activations)
            and ``fp16`` (16-bit and narrower).
        depthwise_taps_per_clk_sm: Multiply-add taps (one input element times one weight for
            one output) a direct depthwise convolution retires per SM clock with 32-bit
            activations; 16-bit ones run twice as many (packed ``half2`` FMAs).
        kernel_floor_us: Shortest device time of one kernel per class (keys
            :data:`FLOOR_KEYS`), in microseconds, launch gap excluded; for a convolution
            the part outside its K loop (prologue, epilogue).
        conv_floor_us_per_k_step: What each mainloop step of a convolution's K loop (one
            128-byte row of the padded ``c r s`` depth per tensor-core step, 8 fp32 elements
            on the CUDA cores) adds to its shortest kernel, in microseconds: a tile runs its
            K loop serially, so a 1x1 conv (one step) is shorter than a 3x3 one on the same
            channels (nine).
        graph_launch_us: Gap per kernel when a CUDA graph replays, in microseconds.
        eager_issue_us: Host time to issue one op in eager PyTorch, per
            :class:`~cost_models.LayerKind` label and the op classes of :data:`ISSUE_KEYS`,
            in microseconds.
        execution_mode: ``"cuda_graph"`` or ``"eager"``: how the layers' kernels are issued.
        tdp_w: Board power limit in watts.
        idle_power_w: Board power at working clocks with no arithmetic, in watts.
        memory_power_fraction: Share of ``tdp_w - idle_power_w`` drawn by streaming DRAM
            at full bandwidth with the math units idle.
        die_area_mm2: Die area in mm^2.
        process_node_nm: Foundry process node in nm.

    Example:
        >>> from cost_models import load_hardware
        >>> h100 = load_hardware("h100")
        >>> h100.peak_tflops["fp16"], h100.run_format("int4").label, h100.execution_mode
        (989.4, 'int8', 'cuda_graph')
    """

    family: ClassVar[str] = "gpu"
    default_quantization: ClassVar[tuple[str, int, int]] = ("fp16", 16, 16)

    name: str
    source: str
    peak_tflops: dict[str, float] = dataclasses.field(hash=False)
    vector_fp32_tflops: float
    sparse_2_4: bool
    sparse_max_speedup: float
    sparse_overhead_us: float
    memory_bandwidth_gbs: float
    memory_efficiency: float
    l2_bandwidth_gbs: float
    l2_efficiency: float
    sm_count: int
    boost_clock_mhz: float
    sustained_clock_mhz: float
    l2_cache_bytes: int
    l1_shared_bytes_per_sm: int
    gemm_tile_m: int
    gemm_tile_n: int
    gemm_tile_k: int
    gemm_efficiency: dict[str, float] = dataclasses.field(hash=False)
    conv_efficiency: float
    conv_cuda_core_efficiency: float
    conv_channel_knee: int
    conv_channel_exponent: float
    window_taps_per_clk_sm: dict[str, float] = dataclasses.field(hash=False)
    depthwise_taps_per_clk_sm: float
    kernel_floor_us: dict[str, float] = dataclasses.field(hash=False)
    conv_floor_us_per_k_step: float
    graph_launch_us: float
    eager_issue_us: dict[str, float] = dataclasses.field(hash=False)
    execution_mode: str
    tdp_w: float
    idle_power_w: float
    memory_power_fraction: float
    die_area_mm2: float
    process_node_nm: float

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, origin: str = "gpu config") -> GPUConfig:
        """Build and validate a config from a parsed TOML table.

        Args:
            data: The table; a ``family`` key, if present, must be ``"gpu"``.
            origin: Where the table came from (a path), quoted in error messages.

        Raises:
            HardwareSpecError: One line naming ``origin``, the key, its bad value and what
                to give instead: for an unknown, missing, mistyped or out-of-range key.
        """
        data = dict(data)
        family = data.pop("family", cls.family)
        if family != cls.family:
            raise HardwareSpecError(f"{origin}: key 'family' is {family!r}; give {cls.family!r} here")
        fields = SpecFields(data, origin=origin, allowed=[f.name for f in dataclasses.fields(cls)])
        formats = [f.label for f in NumberFormat]
        peak_tflops = fields.number_table("peak_tflops", formats, required=["fp32"])
        config = cls(
            name=fields.string("name"),
            source=fields.string("source"),
            peak_tflops=peak_tflops,
            vector_fp32_tflops=fields.number("vector_fp32_tflops"),
            sparse_2_4=fields.boolean("sparse_2_4"),
            sparse_max_speedup=fields.number("sparse_max_speedup"),
            sparse_overhead_us=fields.number("sparse_overhead_us", positive=False),
            memory_bandwidth_gbs=fields.number("memory_bandwidth_gbs"),
            memory_efficiency=fields.fraction("memory_efficiency"),
            l2_bandwidth_gbs=fields.number("l2_bandwidth_gbs"),
            l2_efficiency=fields.fraction("l2_efficiency"),
            sm_count=fields.integer("sm_count"),
            boost_clock_mhz=fields.number("boost_clock_mhz"),
            sustained_clock_mhz=fields.number("sustained_clock_mhz"),
            l2_cache_bytes=fields.integer("l2_cache_bytes"),
            l1_shared_bytes_per_sm=fields.integer("l1_shared_bytes_per_sm"),
            gemm_tile_m=fields.power_of_two("gemm_tile_m", minimum=MIN_TILE),
            gemm_tile_n=fields.power_of_two("gemm_tile_n", minimum=MIN_TILE),
            gemm_tile_k=fields.integer("gemm_tile_k"),
            gemm_efficiency=fields.number_table("gemm_efficiency", formats, required=list(peak_tflops)),
            conv_efficiency=fields.fraction("conv_efficiency"),
            conv_cuda_core_efficiency=fields.number("conv_cuda_core_efficiency"),
            conv_channel_knee=fields.integer("conv_channel_knee"),
            conv_channel_exponent=fields.number("conv_channel_exponent", positive=False),
            window_taps_per_clk_sm=fields.number_table("window_taps_per_clk_sm", ["fp32", "fp16"],
                                                       required=["fp32", "fp16"]),
            depthwise_taps_per_clk_sm=fields.number("depthwise_taps_per_clk_sm"),
            kernel_floor_us=fields.number_table("kernel_floor_us", FLOOR_KEYS, required=FLOOR_KEYS),
            conv_floor_us_per_k_step=fields.number("conv_floor_us_per_k_step", positive=False),
            graph_launch_us=fields.number("graph_launch_us"),
            eager_issue_us=fields.number_table("eager_issue_us", ISSUE_KEYS, required=ISSUE_KEYS),
            execution_mode=fields.choice("execution_mode", EXECUTION_MODES),
            tdp_w=fields.number("tdp_w"),
            idle_power_w=fields.number("idle_power_w"),
            memory_power_fraction=fields.fraction("memory_power_fraction"),
            die_area_mm2=fields.number("die_area_mm2"),
            # Not fields.process_node: GPUs go below the 7 nm floor of the node-scaling table
            # (H100 is 4 nm), and this model's energy is power-based, never node-scaled.
            process_node_nm=fields.number("process_node_nm"),
        )
        if config.idle_power_w >= config.tdp_w:
            fields.fail("idle_power_w", f"is {config.idle_power_w!r}; give a number below tdp_w = {config.tdp_w!r}")
        if config.sustained_clock_mhz > config.boost_clock_mhz:
            fields.fail("sustained_clock_mhz", f"is {config.sustained_clock_mhz!r}; give a clock at most "
                        f"boost_clock_mhz = {config.boost_clock_mhz!r}")
        for label, value in config.gemm_efficiency.items():
            if value > 1.0:
                fields.fail(f"gemm_efficiency.{label}", f"is {value!r}; give a number in (0, 1]")
        return config

    @property
    def clock_scale(self) -> float:
        """``sustained_clock_mhz / boost_clock_mhz``: the share of datasheet peaks a loaded chip runs at."""
        return self.sustained_clock_mhz / self.boost_clock_mhz

    def sustained_tflops(self, fmt: NumberFormat | str) -> float:
        """GEMM rate of a large GEMM requested in ``fmt``, in TFLOP/s: datasheet peak of the format it
        runs in x :attr:`clock_scale` x ``gemm_efficiency``.

        Example:
            >>> from cost_models import load_hardware
            >>> round(load_hardware("h100").sustained_tflops("fp16"))  # measured 731 at 8192^3
            731
        """
        label = self.run_format(fmt).label
        return self.peak_tflops[label] * self.clock_scale * self.gemm_efficiency[label]

    def roof(self, cost: Cost) -> tuple[float, float, str]:
        """The datasheet tensor peak of the format most GEMM layers ran in, and the nominal DRAM bandwidth."""
        detail = cost.layer_detail
        gemm = detail["engine"] == "gemm"
        formats, counts = np.unique(detail["math_run"][gemm] if gemm.any() else detail["math_run"],
                                    return_counts=True)
        math = str(formats[np.argmax(counts)])
        peak_tflops = self.peak_tflops.get(math, self.vector_fp32_tflops)
        return peak_tflops * 1e12, self.memory_bandwidth_gbs * 1e9, f"{math} peak"

    def resources(self) -> dict[str, float]:
        """``mac_units``: dense fp16 MACs per cycle of the GEMM engine, ``onchip_sram_bytes``: L2 plus
        every SM's L1/shared memory.

        MACs per cycle are the peak of the format an fp16 GEMM runs in (:meth:`run_format`:
        tensor cores where present, fp32 CUDA cores on Pascal) over 2 ``boost_clock_mhz``.
        fp16 because it is every tensor core's native multiplier width and the default
        precision of GPUs here; int8 or fp8 rates pack two or four operands into the same
        multipliers and would count them twice. A GeForce Turing part runs fp16 with fp32
        accumulation at half rate, so it counts half its fp16 multipliers. Register files
        (256 KiB per SM from Volta on) are registers, not counted as SRAM, like the PE
        registers of the other families.

        Example:
            >>> from cost_models import load_hardware
            >>> {k: round(v) for k, v in load_hardware("h100").resources().items()}
            {'mac_units': 270328, 'onchip_sram_bytes': 87031808}
        """
        macs_per_s = self.peak_tflops[self.run_format(NumberFormat.FP16).label] * 1e12 / 2.0
        return {
            "mac_units": macs_per_s / (self.boost_clock_mhz * 1e6),
            "onchip_sram_bytes": float(self.l2_cache_bytes + self.sm_count * self.l1_shared_bytes_per_sm),
        }

    def run_format(self, fmt: NumberFormat | str) -> NumberFormat:
        """The format a GEMM requested in ``fmt`` runs in: ``fmt`` itself or the nearest wider one."""
        fmt = NumberFormat.parse(fmt) if isinstance(fmt, str) else NumberFormat(fmt)
        return next(f for f in (fmt, *fmt.wider) if f.label in self.peak_tflops)


class GPURooflineModel(CostModel):
    r"""Per-layer kernel-class model of a GPU: each layer is one kernel, timed by the physics of its class.

    Work is counted dense: :math:`F = 2\,\mathrm{MACs} + \mathrm{ops}` FLOP (``flop``).
    Every arithmetic rate runs at the sustained clock: a datasheet peak *P* (at
    ``boost_clock_mhz``) becomes :math:`P \cdot f_{sus}/f_{boost}` (``sustained_clock_mhz``:
    1410 MHz on an H100 SXM under dense tensor-core load at its 700 W cap, not the
    1830 MHz of its peaks).

    **Format.** A GEMM requested in format *f* (``workload.math``) runs in *f* if the GPU
    lists it in ``peak_tflops``, else in the nearest wider format that holds its values
    (:attr:`~cost_models.NumberFormat.wider`: int4 -> int8 -> fp16 -> tf32 -> fp32;
    fp4 -> fp6 -> fp8 -> fp16; bf16 -> tf32 -> fp32); ``math_run``. Widening changes the
    arithmetic only: weights and activations move at the workload's ``weight_bits`` and
    ``act_bits`` (fp4 weights on an H100, which has no fp4 or fp6 tensor cores, stream at 4 bits
    and are converted to fp8 in the kernel; a B200 runs them at its fp4 rate).

    **GEMM class** (linear layers: :math:`M = n p q`, *N* = k, *K* = c; activation
    products (``MATMUL``): *n g* products of :math:`p \times c` by :math:`c \times k`). The
    rate is :math:`P_f \cdot f_{sus}/f_{boost} \cdot \eta_f` (``gemm_efficiency``, measured
    at 8192^3); tensor-core formats are timed with wave and tile quantisation on the
    ``gemm_tile_*`` tile, K padded to a 128-byte row (``gemm_tile_k`` 16-bit elements, twice
    as many 8-bit ones: the fp8/fp16 ratio grows with K and M toward its large-GEMM value);
    strict fp32 runs on the CUDA cores with the SIMT tile
    (:func:`~cost_models._gpu_kernels.tiled_gemm_seconds`).

    **Conv class** (dense and grouped convolutions): the implicit GEMM of
    :math:`M = n p q`, :math:`N = k/g`, :math:`K = \tilde c\, r s` per group, with the
    channels :math:`\tilde c` padded to a 16-byte vector (a 3-channel fp16 stem loads 8),
    over :math:`\eta_{conv} \min(1, \min(\tilde c, k/g)/c_0)^{\alpha}` (``conv_efficiency``, or
    ``conv_cuda_core_efficiency`` for strict fp32 on the CUDA cores; ``conv_channel_knee``
    :math:`c_0`, ``conv_channel_exponent`` :math:`\alpha`): narrow convolutions leave the
    tensor-core tile underfed beyond what tile quantisation counts.

    **2:4 sparsity.** A GEMM-class layer whose weights are N:M with density <= 1/2 on a
    ``sparse_2_4`` GPU, in a tensor-core format, runs
    :math:`t_{dense}/\sigma_{max} + t_{sp}` (``sparse_max_speedup``, ``sparse_overhead_us``):
    faster than dense only on large GEMMs (``sparse_speedup`` = dense / sparse time).
    Weights are stored halved plus 2 index bits per kept weight, but stream in the time of the
    dense weights (measured: 2:4 never beats dense where the weights bound the time).

    **Memory class** (elementwise, norm, copy, global pooling): arithmetic on
    the CUDA cores (:math:`F / (P_{vec} u)`, occupancy *u* over 1024-output blocks) against
    moving the bytes. **Window class** (average and max pooling with a window, depthwise
    convolutions): a direct kernel, one thread per output reading its :math:`r \times s`
    window, at :math:`\tau` taps per SM clock: :math:`t = r s O / (\tau S f_{sus})`, with
    :math:`\tau` = ``window_taps_per_clk_sm`` for pooling and ``depthwise_taps_per_clk_sm``
    (doubled for 16-bit activations: packed ``half2`` FMAs) for depthwise convolutions.

    **Memory time** (every class). Activation bytes :math:`B_a = (I + O) b_{act}/8` move
    through L2 for the share that fits (:math:`f = \min(1, C_{L2}/B_a)`, at
    ``l2_efficiency`` x ``l2_bandwidth_gbs``) and DRAM for the rest, at ``memory_efficiency``
    x ``memory_bandwidth_gbs``; weights and other parameters are read from DRAM
    (``dram_bytes`` + ``l2_bytes`` = all bytes moved).

    **Latency.** Device time is :math:`t_{dev} = \max(t_{compute}, t_{mem}, t_{floor})` with
    the class's shortest kernel ``kernel_floor_us`` (a convolution's grows by
    ``conv_floor_us_per_k_step`` per step of its K loop). The ``execution_mode`` adds the issue
    cost: ``cuda_graph`` :math:`t = t_{dev} + t_{gap}` (``graph_launch_us``), ``eager``
    :math:`t = \max(t_{dev}, t_{issue})` (``eager_issue_us`` of the layer kind, of the op
    classes of :data:`ISSUE_KEYS`: the host issues a layer while the GPU runs the one before;
    see :mod:`~cost_models._gpu_execution` for why not a deeper queue). ``layer_bound`` names
    the largest of compute, memory and launch (the floor plus the gap, or the floor and the
    host issue).

    **Energy** (power-based). With compute activity :math:`a_c = (F / P_{nom}) / t`
    (``utilization``; :math:`P_{nom}` the datasheet peak of the engine, doubled for 2:4)
    and memory activity :math:`a_m = \phi (B_{DRAM} / BW) / t` (``memory_power_fraction`` φ),
    board power is :math:`P_{idle} + (P_{TDP} - P_{idle}) \min(1, a_c + a_m)`; the energy
    levels are ``static`` :math:`P_{idle} t`, and ``compute`` and ``dram``, the dynamic part
    split in proportion to :math:`a_c` and :math:`a_m`. ``area_mm2`` is the die area.

    **Not modelled.** Kernel fusion (each layer is one kernel), the power of cache traffic,
    host-side variance of eager mode (measured at 30-60 % between days on the same card), the
    Python cost of nested ``nn.Module`` calls and of host-only ops (views, identities) in eager
    mode (only per-op issue is counted), and cuDNN's algorithm choice beyond implicit GEMM
    (Winograd and FFT show only as ``conv_cuda_core_efficiency`` above 1 for strict fp32).

    Example:
        >>> from cost_models import GPURooflineModel, NumberFormat, WorkloadBuilder, load_hardware
        >>> b = WorkloadBuilder(batch_size=256)
        >>> _ = b.conv("conv", c=64, h=56, w=56, k=64, r=3, padding=1)
        >>> fp16 = b.build().with_compression(math=NumberFormat.FP16, weight_bits=16, act_bits=16)
        >>> h100 = load_hardware("h100")
        >>> cost = GPURooflineModel().evaluate(fp16, h100)
        >>> cost.layer_bound.tolist(), cost.layer_detail["math_run"].tolist()
        (['compute'], ['fp16'])
        >>> round(GPURooflineModel.ridge_point_flop_per_byte(h100, "fp16"))
        295
    """

    family: ClassVar[str] = "gpu"

    @staticmethod
    def ridge_point_flop_per_byte(hardware: GPUConfig, fmt: NumberFormat | str) -> float:
        """Arithmetic intensity (FLOP/B) above which a dense GEMM in ``fmt`` is compute-bound.

        Datasheet peak of the format it runs in over datasheet DRAM bandwidth,
        e.g. 989.4e12 / 3.35e12 = 295 FLOP/B for fp16 on an H100 SXM.
        """
        peak = hardware.peak_tflops[hardware.run_format(fmt).label] * 1e12
        return peak / (hardware.memory_bandwidth_gbs * 1e9)

    def evaluate(self, workload: Workload, hardware: HardwareConfig) -> Cost:
        """Cost every layer of ``workload`` on the GPU ``hardware``; see the class docstring."""
        if not isinstance(hardware, GPUConfig):
            raise TypeError(f"GPURooflineModel costs GPUConfig hardware, got {type(hardware).__name__}")
        # Every term is the layer's own (L2 residency, floors and issue costs included): each
        # distinct row is costed once.
        rows = DistinctRows.of(workload)
        return rows.expand_cost(self._evaluate_rows(rows.table, hardware), workload)

    def _evaluate_rows(self, wl: Workload, hw: GPUConfig) -> Cost:
        """The layers of ``wl`` costed one by one (array arithmetic)."""
        size = len(wl)
        klass = kernel_class(wl.kind, wl.p, wl.q)
        gemm = klass <= CONV

        run_of = np.array([hw.run_format(f) for f in NumberFormat], dtype=np.int8)
        nominal_of = np.array([hw.peak_tflops[NumberFormat(r).label] * 1e12 for r in run_of])
        sustained_of = np.array([hw.sustained_tflops(f) * 1e12 for f in NumberFormat])
        bits_of = np.array([_TILE_BITS[NumberFormat(r)] for r in run_of])
        math_run = np.where(gemm, run_of[wl.math], NumberFormat.FP32)
        vector_flops = hw.vector_fp32_tflops * 1e12 * hw.clock_scale
        nominal = np.where(gemm, nominal_of[wl.math], hw.vector_fp32_tflops * 1e12)
        flop = 2.0 * wl.macs + wl.ops

        sparse = wl.pattern == SparsityPattern.N_M
        if hw.sparse_2_4 and sparse.any():
            sparse &= gemm & (wl.weight_density <= 0.5) & (math_run != NumberFormat.FP32)
        else:
            sparse[:] = False
        compute_s = np.empty(size)

        g = np.flatnonzero(gemm)
        conv = klass[g] == CONV
        matmul = wl.kind[g] == LayerKind.MATMUL
        groups = wl.groups[g].astype(float)
        channels = (wl.c[g] // wl.groups[g]).astype(float)
        # Sub-byte and odd widths load in power-of-two containers (fp6 unpacks to a byte, int5 is int8).
        load_bits = np.exp2(np.ceil(np.log2(wl.act_bits[g])))
        k_depth = np.where(conv, aligned_channels(channels, load_bits) * wl.r[g] * wl.s[g], channels)
        rows = np.where(matmul, wl.p[g], wl.n[g] * wl.p[g] * wl.q[g]).astype(float)
        products = np.where(matmul, wl.n[g] * groups, np.where(conv, groups, 1.0))
        cols = np.where(conv, wl.k[g] / groups, wl.k[g]).astype(float)
        gemm_flops = sustained_of[wl.math[g]]
        dense_s = np.empty(g.size)
        cuda_core = math_run[g] == NumberFormat.FP32
        for on_cuda_cores in (False, True):
            part = cuda_core == on_cuda_cores
            if not part.any():
                continue
            if on_cuda_cores:
                tile, min_tile, tile_k = CUDA_CORE_TILE[:2], MIN_TILE, np.full(part.sum(), CUDA_CORE_TILE[2])
            else:
                tile, min_tile = (hw.gemm_tile_m, hw.gemm_tile_n), MIN_TILE
                tile_k = hw.gemm_tile_k * 16 // bits_of[wl.math[g][part]]
                # A K that fits half a step runs the half-depth tile the autotuner also offers
                # (a 16-channel 1x1 conv pads its K to 32, not 64).
                tile_k = np.where(k_depth[part] * 2 <= tile_k, tile_k // 2, tile_k)
            # tiled_gemm_seconds takes one K-step per call: group the layers by it.
            seconds = np.empty(part.sum())
            for step in np.unique(tile_k):
                same = tile_k == step
                idx = np.flatnonzero(part)[same]
                seconds[same] = tiled_gemm_seconds(
                    rows[idx], cols[idx], k_depth[idx], products[idx], sm_flops=gemm_flops[idx] / hw.sm_count,
                    sm_count=hw.sm_count, tile=(*tile, int(step)), min_tile=min_tile)
            dense_s[part] = seconds
        # Narrow convolutions underfeed the tile beyond what its padding counts. The input side
        # counts the channels of the padded K (what the tiles load), so more input channels
        # never make a convolution faster.
        step = np.where(cuda_core, CUDA_CORE_TILE[2], hw.gemm_tile_k * 16 // bits_of[wl.math[g]])
        padded_channels = np.ceil(k_depth / step) * step / (wl.r[g] * wl.s[g])
        conv_k_steps = np.where(conv, np.ceil(k_depth / step), 0.0)
        narrow = np.minimum(padded_channels, cols) / hw.conv_channel_knee
        conv_rate = (np.where(cuda_core, hw.conv_cuda_core_efficiency, hw.conv_efficiency)
                     * np.minimum(1.0, narrow) ** hw.conv_channel_exponent)
        dense_s = np.where(conv, dense_s / conv_rate, dense_s)
        compute_s[g] = dense_s + wl.ops[g] / gemm_flops

        v = np.flatnonzero(~gemm)
        outputs = wl.output_elems[v].astype(float)
        waves = np.ceil(np.ceil(outputs / _VECTOR_BLOCK_OUTPUTS) / hw.sm_count)
        occupancy = outputs / (waves * hw.sm_count * _VECTOR_BLOCK_OUTPUTS)
        compute_s[v] = flop[v] / (vector_flops * occupancy)
        w = np.flatnonzero(klass == WINDOW)
        taps_per_clk = np.where(wl.act_bits[w] <= 16, hw.window_taps_per_clk_sm["fp16"],
                                hw.window_taps_per_clk_sm["fp32"])
        # A depthwise conv is a direct-window kernel too (one output per thread, r x s taps times
        # weights); 16-bit activations run as packed half2 FMAs, two taps per instruction.
        depthwise = wl.kind[w] == LayerKind.DEPTHWISE_CONV
        taps_per_clk[depthwise] = hw.depthwise_taps_per_clk_sm * np.where(wl.act_bits[w][depthwise] <= 16,
                                                                         _HALF2_TAPS, 1.0)
        taps_per_s = taps_per_clk * hw.sm_count * hw.sustained_clock_mhz * 1e6
        window_s = (wl.r[w] * wl.s[w]) * wl.output_elems[w] / taps_per_s
        compute_s[w] = np.maximum(compute_s[w], window_s)

        dense_weight_bytes = wl.params * (wl.weight_bits / 8.0)
        weight_bytes = dense_weight_bytes.copy()
        sparse_rows = np.flatnonzero(sparse)
        # 2:4 stores half the weights plus 2 index bits per kept weight.
        bits = wl.weight_bits[sparse_rows]
        weight_bytes[sparse_rows] -= wl.weights[sparse_rows] * (bits - 0.5 * (bits + _SPARSE_METADATA_BITS)) / 8.0
        act_bytes = (wl.input_elems + wl.output_elems) * (wl.act_bits / 8.0)
        dram_bandwidth = hw.memory_bandwidth_gbs * 1e9
        act_s, dram_act, l2_bytes = activation_memory(
            act_bytes, l2_bytes=float(hw.l2_cache_bytes), l2_bandwidth_bs=hw.l2_bandwidth_gbs * 1e9 * hw.l2_efficiency,
            dram_bandwidth_bs=dram_bandwidth * hw.memory_efficiency)
        dram_rate = dram_bandwidth * hw.memory_efficiency
        memory_s = act_s + weight_bytes / dram_rate
        dram_bytes = dram_act + weight_bytes

        floor_of = np.array([hw.kernel_floor_us[name] for name in KERNEL_CLASSES]) * 1e-6
        floor_s = floor_of[klass]
        floor_s[g] += conv_k_steps * (hw.conv_floor_us_per_k_step * 1e-6)
        norms = np.flatnonzero(wl.kind == LayerKind.NORM)
        floor_s[norms[wl.act_bits[norms] <= 16]] = hw.kernel_floor_us["norm_16bit"] * 1e-6
        # 2:4 halves the multiplies (less metadata and epilogue: sparse_max_speedup) and pays a
        # fixed setup of the compressed operand (cuSPARSELt) on top of the device time. Its
        # weight stream gains nothing: measured on the H100, 2:4 never beats dense where the
        # weights bound the time (M <= 128, gemm.csv), so the compressed operand streams at
        # the time of the dense one (the bytes moved are still the compressed ones).
        setup_s = np.zeros(size)
        setup_s[sparse_rows] = hw.sparse_overhead_us * 1e-6
        memory_s[sparse_rows] = act_s[sparse_rows] + dense_weight_bytes[sparse_rows] / dram_rate
        dense_device_s = np.maximum(np.maximum(compute_s[sparse_rows], memory_s[sparse_rows]), floor_s[sparse_rows])
        compute_s[sparse_rows] /= hw.sparse_max_speedup
        device_s = np.maximum(np.maximum(compute_s, memory_s), floor_s)
        device_s[sparse_rows] += setup_s[sparse_rows]
        sparse_speedup = np.ones(size)
        sparse_speedup[sparse_rows] = dense_device_s / device_s[sparse_rows]
        if hw.execution_mode == "cuda_graph":
            gap_s = hw.graph_launch_us * 1e-6
            launch_s = np.full(size, gap_s)
            latency_s = device_s + gap_s
            overhead_s = floor_s + gap_s
            overhead_s[sparse_rows] += setup_s[sparse_rows]
        else:
            issue_of = np.array([hw.eager_issue_us[kind.name.lower()] for kind in LayerKind]) * 1e-6
            launch_s = issue_of[wl.kind]
            binary = np.flatnonzero((wl.kind == LayerKind.ELEMENTWISE) & (wl.input_elems > wl.output_elems))
            launch_s[binary] = hw.eager_issue_us["elementwise_binary"] * 1e-6
            launch_s[norms[wl.act_bits[norms] <= 16]] = hw.eager_issue_us["norm_16bit"] * 1e-6
            latency_s = np.maximum(device_s, launch_s)
            overhead_s = np.maximum(floor_s + setup_s, launch_s)
        # The largest of compute, memory and overhead (ties go to the first, as argmax would).
        code = (memory_s > compute_s).astype(np.int8)
        code[overhead_s > np.maximum(compute_s, memory_s)] = 2
        bound = _BOUNDS[code]

        nominal[sparse_rows] *= 2.0  # sparse tensor cores' nominal rate
        utilization = flop / nominal
        utilization /= latency_s
        memory_activity = dram_bytes * (hw.memory_power_fraction / dram_bandwidth)
        memory_activity /= latency_s
        # Dynamic power share, capped at TDP by the board's limiter: (TDP - idle) x latency / max(1, a_c + a_m).
        scaled = np.add(utilization, memory_activity)
        np.maximum(scaled, 1.0, out=scaled)
        np.divide(latency_s * (hw.tdp_w - hw.idle_power_w), scaled, out=scaled)
        energy = {
            "static": hw.idle_power_w * latency_s,
            "compute": utilization * scaled,
            "dram": memory_activity * scaled,
        }
        labels = np.array([f.label for f in NumberFormat])
        detail = {
            "compute_s": compute_s,
            "memory_s": memory_s,
            "floor_s": floor_s,
            "setup_s": setup_s,
            "device_s": device_s,
            "launch_s": launch_s,
            "utilization": utilization,
            "arithmetic_intensity_flop_per_byte": flop / np.maximum(dram_bytes + l2_bytes, 1.0),
            "flop": flop,
            "dram_bytes": dram_bytes,
            "l2_bytes": l2_bytes,
            "kernel_class": np.array(KERNEL_CLASSES)[klass],
            "math_run": labels[math_run],
            "engine": np.where(gemm, "gemm", "vector"),
            "sparse_speedup": sparse_speedup,
        }
        return Cost(
            hardware=hw.name,
            workload=wl,
            layer_latency_s=latency_s,
            layer_energy_by_level_j=energy,
            layer_bound=bound,
            layer_detail=detail,
            area_mm2=hw.die_area_mm2,
            energy_method=(
                "power-based: idle_power_w x latency (static) + (tdp_w - idle_power_w) x latency x "
                "min(1, utilization + memory_power_fraction x bandwidth utilization), split into compute "
                "and dram; tdp from the datasheet, idle power and memory share estimated per preset"
            ),
        )
