"""GPU cost model: a per-layer roofline with tensor-core peaks, tiling, 2:4 sparsity and launch cost.

A GPU is described by a :class:`GPUConfig` (loaded from ``cost_models/presets/<name>.toml``)
and costed by :class:`GPURooflineModel`. Every layer is one kernel; the model evaluates
all layers of all networks in a :class:`~cost_models.Workload` with array arithmetic.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from cost_models._cost import Cost, CostModel, HardwareConfig, HardwareSpecError
from cost_models._spec_fields import SpecFields
from cost_models._workload import LayerKind, NumberFormat, SparsityPattern, Workload

# Formats a request may widen to when the GPU lacks it, nearest first. Each listed
# format represents every value of the requested one exactly (fp16 and bf16 fit in
# tf32's 8-bit exponent and 10-bit mantissa; int8 and fp8 fit in fp16), so widening
# changes speed, not the network's numbers. fp32 is required of every GPU.
_WIDER: dict[NumberFormat, tuple[NumberFormat, ...]] = {
    NumberFormat.FP32: (),
    NumberFormat.TF32: (NumberFormat.FP32,),
    NumberFormat.FP16: (NumberFormat.TF32, NumberFormat.FP32),
    NumberFormat.BF16: (NumberFormat.TF32, NumberFormat.FP32),
    NumberFormat.FP8: (NumberFormat.FP16, NumberFormat.TF32, NumberFormat.FP32),
    NumberFormat.INT8: (NumberFormat.FP16, NumberFormat.TF32, NumberFormat.FP32),
    NumberFormat.INT4: (NumberFormat.INT8, NumberFormat.FP16, NumberFormat.TF32, NumberFormat.FP32),
}

_SPARSE_MAX_SPEEDUP = 1.7
"""Asymptotic 2:4 speed-up of a very large GEMM: the top of the 1.3-1.7x that Mishra et
al. 2021 (arXiv:2104.08378) report for large GEMMs on A100, below the 2x of the
tensor-core datasheet because metadata loads, the dense operand and the epilogue are
not halved."""

_SPARSE_HALF_GAIN_FLOP = 2.0 * 2048.0**3
"""Dense GEMM work (FLOP) at which 2:4 gives half its asymptotic gain. Chosen so a
2048^3 GEMM gains ~1.35x and a 4096^3 one ~1.6x, between NVIDIA's cuSPARSELt blog
(1.5x and more on large GEMMs) and NVIDIA/CUDALibrarySamples#57 (1.1x at 4096^3);
layers of a few MFLOP gain almost nothing (pytorch/pytorch#111339: a 4096x4096
matrix-vector product is slower sparse than dense)."""

_SPARSE_METADATA_BITS = 2.0
"""Index bits stored per kept weight of a 2:4 tensor (NVIDIA Ampere whitepaper, 2020)."""

_VECTOR_BLOCK_OUTPUTS = 1024
"""Outputs one thread block of a CUDA-core kernel computes (256 threads x 4): the
granularity at which vector layers are spread over SMs."""

_MIN_TILE = 16
"""Smallest GEMM tile side: the m16n8k16 MMA of a warp (PTX ISA, ``mma.sync``)."""

_BOUNDS = np.array(["compute", "memory", "launch"])


@dataclasses.dataclass(frozen=True)
class GPUConfig(HardwareConfig):
    """A GPU, as one preset file describes it; every key names its unit.

    Peaks are dense datasheet numbers; the model derates them with the two
    ``*_efficiency`` keys. A format the chip lacks is left out of ``peak_tflops``
    and runs in the next wider one it has (see :meth:`run_format`).

    Args:
        name: Configuration name (the preset's file stem unless the file sets one).
        source: Datasheet or whitepaper the numbers come from.
        peak_tflops: Dense peak of the GEMM engine per :class:`NumberFormat` label,
            in TFLOP/s (tensor cores where the chip has them; fp32 is the CUDA-core rate
            on every GPU, and pre-Volta parts list CUDA-core rates only).
        vector_fp32_tflops: CUDA-core fp32 peak in TFLOP/s, for layers that are not GEMMs.
        sparse_2_4: Whether sparse tensor cores run 2:4 weights (Ampere and later).
        memory_bandwidth_gbs: DRAM bandwidth in GB/s (1e9 B/s).
        memory_efficiency: Fraction of ``memory_bandwidth_gbs`` a streaming kernel sustains.
        l1_bandwidth_gbs: Load bandwidth of all SMs' L1 (L1/texture) caches together, in
            GB/s: bytes per clock per SM x ``sm_count`` x boost clock.
        l2_bandwidth_gbs: Load bandwidth of the L2 cache to the SMs, in GB/s.
        l1_caches_global_loads: Whether an ordinary global load (``ld.global``, no ``__ldg``)
            is cached in L1 by default. False on consumer Pascal (GP10x caches global loads
            in L2 only unless a kernel opts in; Pascal Tuning Guide), true from Volta on.
        sm_count: Streaming multiprocessors.
        boost_clock_mhz: The clock the datasheet's peaks are quoted at, in MHz (peak /
            clock gives MACs per cycle).
        l2_cache_bytes: L2 cache capacity, in bytes.
        l1_shared_bytes_per_sm: SRAM of one SM's L1 data cache and shared memory (one
            array from Volta on; Pascal's separate shared memory plus L1/texture caches),
            in bytes.
        gemm_tile_m: Rows (output pixels) of the smallest GEMM tile that keeps an SM at peak.
        gemm_tile_n: Columns (output channels) of that tile.
        gemm_tile_k: Reduction depth of one mainloop step, in elements; K is padded to it.
        gemm_efficiency: Fraction of the datasheet GEMM peak a tuned kernel sustains on
            a large GEMM (clock throttling at the power limit, instruction overhead).
        kernel_launch_overhead_us: Host time to issue one kernel, in microseconds.
        tdp_w: Board power limit in watts.
        idle_power_w: Board power at working clocks with no arithmetic, in watts.
        memory_power_fraction: Share of ``tdp_w - idle_power_w`` drawn by streaming DRAM
            at full bandwidth with the math units idle.
        die_area_mm2: Die area in mm^2.
        process_node_nm: Foundry process node in nm.

    Example:
        >>> from cost_models import load_hardware
        >>> h100 = load_hardware("h100")
        >>> h100.peak_tflops["fp16"], h100.run_format("int4").label
        (989.4, 'int8')
    """

    family: ClassVar[str] = "gpu"

    name: str
    source: str
    peak_tflops: dict[str, float] = dataclasses.field(hash=False)
    vector_fp32_tflops: float
    sparse_2_4: bool
    memory_bandwidth_gbs: float
    memory_efficiency: float
    l1_bandwidth_gbs: float
    l2_bandwidth_gbs: float
    l1_caches_global_loads: bool
    sm_count: int
    boost_clock_mhz: float
    l2_cache_bytes: int
    l1_shared_bytes_per_sm: int
    gemm_tile_m: int
    gemm_tile_n: int
    gemm_tile_k: int
    gemm_efficiency: float
    kernel_launch_overhead_us: float
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
        config = cls(
            name=fields.string("name"),
            source=fields.string("source"),
            peak_tflops=fields.number_table("peak_tflops", [f.label for f in NumberFormat], required=["fp32"]),
            vector_fp32_tflops=fields.number("vector_fp32_tflops"),
            sparse_2_4=fields.boolean("sparse_2_4"),
            memory_bandwidth_gbs=fields.number("memory_bandwidth_gbs"),
            memory_efficiency=fields.fraction("memory_efficiency"),
            l1_bandwidth_gbs=fields.number("l1_bandwidth_gbs"),
            l2_bandwidth_gbs=fields.number("l2_bandwidth_gbs"),
            l1_caches_global_loads=fields.boolean("l1_caches_global_loads"),
            sm_count=fields.integer("sm_count"),
            boost_clock_mhz=fields.number("boost_clock_mhz"),
            l2_cache_bytes=fields.integer("l2_cache_bytes"),
            l1_shared_bytes_per_sm=fields.integer("l1_shared_bytes_per_sm"),
            gemm_tile_m=fields.power_of_two("gemm_tile_m", minimum=_MIN_TILE),
            gemm_tile_n=fields.power_of_two("gemm_tile_n", minimum=_MIN_TILE),
            gemm_tile_k=fields.integer("gemm_tile_k"),
            gemm_efficiency=fields.fraction("gemm_efficiency"),
            kernel_launch_overhead_us=fields.number("kernel_launch_overhead_us"),
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
        return config

    @property
    def window_cache_level(self) -> str:
        """The cache that serves a window kernel's repeated reads: ``"l1"`` or ``"l2"``."""
        return "l1" if self.l1_caches_global_loads else "l2"

    @property
    def window_cache_bandwidth_gbs(self) -> float:
        """Bandwidth of :attr:`window_cache_level`, in GB/s."""
        return self.l1_bandwidth_gbs if self.l1_caches_global_loads else self.l2_bandwidth_gbs

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
        return next(f for f in (fmt, *_WIDER[fmt]) if f.label in self.peak_tflops)


def _pow2_floor(x: np.ndarray) -> np.ndarray:
    return np.exp2(np.floor(np.log2(x)))


def _reuse(tile_m: int, tile_n: int) -> float:
    # MACs per operand element a tile loads per k-step: what keeps its SM fed.
    return tile_m * tile_n / (tile_m + tile_n)


def _gemm_seconds(m: np.ndarray, n: np.ndarray, k: np.ndarray, groups: np.ndarray,
                  sm_flops: np.ndarray, hw: GPUConfig) -> np.ndarray:
    """Dense GEMM time of the best tile per layer; see :class:`GPURooflineModel`."""
    sms = float(hw.sm_count)
    k_steps = np.ceil(k / hw.gemm_tile_k)
    full_reuse = _reuse(hw.gemm_tile_m, hw.gemm_tile_n)
    best = np.full(m.shape, np.inf)
    sides_m = [2**i * _MIN_TILE for i in range(int(math.log2(hw.gemm_tile_m // _MIN_TILE)) + 1)]
    sides_n = [2**i * _MIN_TILE for i in range(int(math.log2(hw.gemm_tile_n // _MIN_TILE)) + 1)]
    for tile_m in sides_m:
        for tile_n in sides_n:
            feed = min(1.0, _reuse(tile_m, tile_n) / full_reuse)
            tiles = np.ceil(m / tile_m) * groups * np.ceil(n / tile_n)
            # Few tiles leave SMs idle: split K over them; a power of two, so doubling the
            # tiles at most doubles the time.
            split = _pow2_floor(np.clip(np.floor(sms / tiles), 1.0, k_steps))
            waves = np.ceil(tiles * split / sms)
            seconds = waves * 2.0 * tile_m * tile_n * np.ceil(k_steps / split) * hw.gemm_tile_k
            np.minimum(best, seconds / (sm_flops * feed), out=best)
    return best


class GPURooflineModel(CostModel):
    r"""Per-layer roofline of a GPU with tiling, 2:4 sparsity, launch cost and power-based energy.

    Each layer is one kernel. Conv and linear layers run as implicit GEMMs on the GEMM
    engine (tensor cores where present); depthwise conv, pooling, elementwise and norm
    layers run on the CUDA cores at ``vector_fp32_tflops``. Work is counted dense:
    :math:`F = 2\,\mathrm{MACs} + \mathrm{ops}` FLOP (``flop`` column).

    **Format.** A GEMM requested in format *f* (``workload.math``) runs in *f* if the GPU
    lists it in ``peak_tflops``, else in the nearest wider format that holds its values
    (int4 -> int8 -> fp16 -> tf32 -> fp32; fp8 -> fp16; bf16 -> tf32 -> fp32); column
    ``math_run``. Vector layers are costed at the fp32 CUDA-core rate whatever their
    format (they are memory-bound in practice).

    **GEMM compute time.** A conv is a GEMM of :math:`M = n p q` rows, :math:`N = k/g`
    columns and depth :math:`K = (c/g) r s` in each of *g* groups (a linear layer:
    :math:`M = n, N = k, K = c`). Per SM the peak is
    :math:`P_{sm} = \eta_{gemm} P_f / S` (``gemm_efficiency``, ``peak_tflops``, ``sm_count``).
    The kernel picks a tile :math:`t_m \times t_n` (powers of two from 16 up to
    ``gemm_tile_m x gemm_tile_n``); a tile smaller than that saturating tile is fed-limited
    and runs at :math:`P_{sm} \min(1, \rho(t_m, t_n) / \rho(T_m, T_n))` with operand reuse
    :math:`\rho(a, b) = ab / (a + b)`. With :math:`T = \lceil M/t_m \rceil g \lceil N/t_n \rceil`
    tiles, K padded to :math:`k_s = \lceil K / t_k \rceil` steps of ``gemm_tile_k`` and, when
    :math:`T < S`, split-K over :math:`s = 2^{\lfloor \log_2 \min(\lfloor S/T \rfloor, k_s) \rfloor}`
    SMs (partial sums stay in L2),

    .. math::
        t_{gemm} = \min_{t_m, t_n} \left\lceil \frac{T s}{S} \right\rceil
        \frac{2\, t_m t_n \lceil k_s / s \rceil t_k}{P_{sm} \min(1, \rho / \rho_{full})}

    i.e. wave and tile quantisation as in NVIDIA's "Matrix Multiplication Background User's
    Guide" (Deep Learning Performance docs), plus K padding. A fused bias adds :math:`\mathrm{ops} / (\eta P_f)`.

    **2:4 sparsity.** A GEMM whose weights are N:M with density <= 1/2 (2:4-compatible)
    on a ``sparse_2_4`` GPU, in a tensor-core format (not fp32), runs
    :math:`t_{gemm} / \sigma` with

    .. math::
        \sigma = 1 + (\sigma_{max} - 1) \frac{W}{W + W_{1/2}}, \quad W = t_{gemm} \eta P_f,

    *W* being the dense work the kernel executes (FLOP, tile padding included),
    :math:`\sigma_{max} = 1.7`, :math:`W_{1/2} = 2 \cdot 2048^3` FLOP: below 2x because
    metadata loads, the dense operand and the epilogue are not halved, and growing with
    the executed work (Mishra et al. 2021, arXiv:2104.08378: 1.3-1.7x on large GEMMs;
    NVIDIA Ampere whitepaper). :math:`t / \sigma(W)` rises with :math:`t`, so a larger
    layer is never faster. Unstructured sparsity, N:M denser than 1/2 and pre-Ampere GPUs
    give :math:`\sigma = 1` (column ``sparse_speedup``).

    **Vector compute time.** :math:`t_{vec} = F / (P_{vec} u)` with SM occupancy
    :math:`u = O / (\lceil \lceil O/1024 \rceil / S \rceil S \cdot 1024)` for *O* outputs,
    1024 outputs per thread block.

    **Memory time.** :math:`t_{mem} = B / (\eta_{mem} BW)` with bytes moved through DRAM
    :math:`B = (I + O)\,b_{act}/8 + W_{stored} + (\mathrm{params} - \mathrm{weights})\,b_w/8`;
    weights are stored dense (zeros included, a dense kernel reads them) except 2:4 weights
    on sparse tensor cores: half the weights plus 2 index bits per kept weight. Activation
    sparsity does not shrink GPU tensors.

    **Window reads (cache time).** A pooling or depthwise layer on the CUDA cores is a
    direct kernel, one thread per output (PyTorch's ``avg_pool2d``/``max_pool2d`` and
    depthwise kernels): each output loads its :math:`R \times S` window from global memory
    with no register reuse between neighbouring outputs. DRAM sees each input about once
    (:math:`t_{mem}`), but the cache that serves the loads moves every tap:

    .. math::
        t_{cache} = \frac{R\, S\, O\, b_{act} / 8}{BW_{cache}}

    (``cache_bytes``, ``cache_s``; *O* outputs, :math:`b_{act}` activation bits). The level
    is the one a plain ``ld.global`` is cached in: L1 from Volta on (``l1_bandwidth_gbs``,
    the unified L1/shared-memory cache holds the few input rows a block's windows share),
    L2 on consumer Pascal (``l2_bandwidth_gbs``), whose L1/texture cache keeps global loads
    only when a kernel opts in (``__ldg`` or ``-dlcm=ca``; Pascal Tuning Guide, "Unified
    L1/Texture Cache") and PyTorch's pooling kernels do not. The window's arithmetic
    (*R S* adds per pooled output, *2 R S* per depthwise output) is already in *F*.
    Other layers read each element once: :math:`t_{cache} = 0`. Column ``cache_level``.

    **Latency.** The host issues kernels asynchronously, so a per-kernel launch overhead
    :math:`t_{launch}` hides behind longer kernels and paces shorter ones; compute and
    memory overlap (roofline):

    .. math::
        t = \max(t_{compute}, t_{mem}, t_{cache}, t_{launch})

    and ``layer_bound`` names the largest term; :math:`t_{cache}` is data movement, so a
    layer it sets is ``"memory"``-bound (``cache_s > memory_s`` tells which level).

    **Energy** (power-based). With compute activity :math:`a_c = (F / P_{nom}) / t`
    (``utilization``; :math:`P_{nom}` is the datasheet peak of the engine, doubled for 2:4)
    and memory activity :math:`a_m = \phi (B / BW) / t` (``memory_power_fraction`` φ),
    board power is :math:`P_{idle} + (P_{TDP} - P_{idle}) \min(1, a_c + a_m)`; the energy
    levels are ``static`` :math:`P_{idle} t`, and ``compute`` and ``dram``, the dynamic part
    split in proportion to :math:`a_c` and :math:`a_m`. The cap at TDP is the board's power
    limiter. ``area_mm2`` is the die area.

    **Not modelled.** The power of cache traffic (only DRAM activity enters the energy), the
    index arithmetic of a direct window kernel (integer division of the output index,
    bounds, the ``count_include_pad=False`` divisor: the Workload IR does not record it and
    its instruction count depends on the framework build), sector rounding of misaligned
    taps, activations that stay in L2 between layers, kernel fusion, and a
    framework's per-op host overhead beyond ``kernel_launch_overhead_us`` (eager PyTorch
    spends tens of microseconds per op: raise that key to model it).

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
        hw = hardware
        wl = workload
        gemm = (wl.kind == LayerKind.CONV) | (wl.kind == LayerKind.LINEAR)

        run_of = np.array([hw.run_format(f) for f in NumberFormat], dtype=np.int8)
        peak_of = np.array([hw.peak_tflops[NumberFormat(r).label] * 1e12 for r in run_of])
        math_run = np.where(gemm, run_of[wl.math], NumberFormat.FP32)
        peak = np.where(gemm, peak_of[wl.math], hw.vector_fp32_tflops * 1e12)

        sparse = (gemm & hw.sparse_2_4 & (wl.pattern == SparsityPattern.N_M)
                  & (wl.weight_density <= 0.5) & (math_run != NumberFormat.FP32))
        flop = 2.0 * wl.macs + wl.ops

        compute_s = np.empty(len(wl))
        sparse_speedup = np.ones(len(wl))
        g = np.flatnonzero(gemm)
        gemm_flops = peak[g] * hw.gemm_efficiency
        groups = wl.groups[g].astype(float)
        dense_s = _gemm_seconds(
            m=(wl.n[g] * wl.p[g] * wl.q[g]).astype(float),
            n=wl.k[g] / groups,
            k=(wl.c[g] // wl.groups[g] * wl.r[g] * wl.s[g]).astype(float),
            groups=groups,
            sm_flops=gemm_flops / hw.sm_count,
            hw=hw,
        )
        executed = dense_s * gemm_flops
        gain = 1.0 + (_SPARSE_MAX_SPEEDUP - 1.0) * executed / (executed + _SPARSE_HALF_GAIN_FLOP)
        sparse_speedup[g] = np.where(sparse[g], gain, 1.0)
        compute_s[g] = dense_s / sparse_speedup[g] + wl.ops[g] / gemm_flops

        v = np.flatnonzero(~gemm)
        outputs = wl.output_elems[v].astype(float)
        waves = np.ceil(np.ceil(outputs / _VECTOR_BLOCK_OUTPUTS) / hw.sm_count)
        occupancy = outputs / (waves * hw.sm_count * _VECTOR_BLOCK_OUTPUTS)
        compute_s[v] = flop[v] / (peak[v] * occupancy)

        stored_weight_bits = np.where(sparse, 0.5 * (wl.weight_bits + _SPARSE_METADATA_BITS), wl.weight_bits)
        dram_bytes = ((wl.input_elems + wl.output_elems) * wl.act_bits
                      + wl.weights * stored_weight_bits + (wl.params - wl.weights) * wl.weight_bits) / 8.0
        bandwidth = hw.memory_bandwidth_gbs * 1e9
        memory_s = dram_bytes / (bandwidth * hw.memory_efficiency)
        launch_s = np.full(len(wl), hw.kernel_launch_overhead_us * 1e-6)

        window = np.isin(wl.kind, (LayerKind.POOL, LayerKind.MAX_POOL, LayerKind.DEPTHWISE_CONV))
        cache_bytes = np.where(window, (wl.r * wl.s) * wl.output_elems * wl.act_bits / 8.0, 0.0)
        cache_s = cache_bytes / (hw.window_cache_bandwidth_gbs * 1e9)

        terms = np.stack([compute_s, np.maximum(memory_s, cache_s), launch_s])
        latency_s = terms.max(axis=0)
        bound = _BOUNDS[terms.argmax(axis=0)]

        utilization = flop / (peak * np.where(sparse, 2.0, 1.0)) / latency_s
        memory_activity = hw.memory_power_fraction * dram_bytes / bandwidth / latency_s
        cap = 1.0 / np.maximum(1.0, utilization + memory_activity)
        dynamic_w = hw.tdp_w - hw.idle_power_w
        energy = {
            "static": hw.idle_power_w * latency_s,
            "compute": dynamic_w * utilization * cap * latency_s,
            "dram": dynamic_w * memory_activity * cap * latency_s,
        }
        labels = np.array([f.label for f in NumberFormat])
        detail = {
            "compute_s": compute_s,
            "memory_s": memory_s,
            "cache_s": cache_s,
            "launch_s": launch_s,
            "utilization": utilization,
            "arithmetic_intensity_flop_per_byte": flop / dram_bytes,
            "flop": flop,
            "dram_bytes": dram_bytes,
            "cache_bytes": cache_bytes,
            "cache_level": np.where(window, hw.window_cache_level, "-"),
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
