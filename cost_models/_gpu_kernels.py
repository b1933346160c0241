"""Kernel classes of the GPU model: which kernel runs a layer and how long its device time is.

A layer runs as one kernel of one class (:data:`KERNEL_CLASSES`), each with its own physics:

* ``gemm``: linear layers and activation products (cuBLAS). Tensor-core GEMMs are timed with
  wave and tile quantisation on the tensor-core tile (:func:`tiled_gemm_seconds`); strict fp32
  runs on the CUDA cores with the SIMT tile (:data:`CUDA_CORE_TILE`), never the tensor-core one.
* ``conv``: dense and grouped convolutions as implicit GEMMs (cuDNN): the GEMM time over
  ``conv_efficiency``, with the input channels padded to a 16-byte vector
  (:func:`aligned_channels`: a 3-channel fp16 stem runs as 8 channels) and a penalty for
  channel counts below ``conv_channel_knee``.
* ``memory``: elementwise, norm, copy and global pooling kernels, bound by the bytes they
  move through L2 or DRAM (:func:`activation_memory`).
* ``window``: direct-window kernels, one thread per output reading its whole ``r x s``
  window: average and max pooling, at a fitted rate of window taps per SM clock, and
  depthwise convolutions (cuDNN's and PyTorch's depthwise kernels are direct convolutions,
  not implicit GEMMs: one filter of ``r s`` taps per channel leaves no GEMM to tile), at
  ``depthwise_taps_per_clk_sm`` multiply-adds per SM clock, twice that for 16-bit
  activations (packed ``half2`` FMAs; H100 whitepaper: 133.8 fp16 against 66.9 fp32
  non-tensor TFLOP/s). A depthwise conv's time is the larger of its bytes and its
  ``r s O`` taps, so a 7x7 one (ConvNeXt) costs more than a 3x3 one on the same tensor.

The timing of each class is a vector function of Workload columns; no Python loop per layer.
"""

from __future__ import annotations

import math

import numpy as np

from cost_models._workload import LayerKind

KERNEL_CLASSES: tuple[str, ...] = ("gemm", "conv", "window", "memory")
"""Kernel classes, in the order of the integer codes :func:`kernel_class` returns (the GEMM
engine's two first, so ``code <= CONV`` selects them)."""

GEMM, CONV, WINDOW, MEMORY = range(len(KERNEL_CLASSES))

MIN_TILE = 16
"""Smallest tensor-core GEMM tile side: the m16n8k16 MMA of a warp (PTX ISA, ``mma.sync``)."""

CUDA_CORE_TILE = (64, 64, 8)
"""``(m, n, k)`` of the CUDA-core (SIMT) fp32 GEMM tile: CUTLASS's SIMT SGEMM tiles are
64-128 x 64-128 x 8 and the thread block holds no tensor-core fragment, so K pads to 8,
not to the tensor-core ``gemm_tile_k``."""

VECTOR_BYTES = 16
"""Width of one vectorised global load (``ld.global.v4``): implicit-GEMM convolutions load
input channels in 16-byte vectors, so cuDNN pads channels to 16 / element-size (8 for fp16)."""


_CLASS_OF_KIND = np.full(max(LayerKind) + 1, MEMORY, dtype=np.int8)  # memory-bound unless listed
_CLASS_OF_KIND[[LayerKind.LINEAR, LayerKind.MATMUL]] = GEMM
_CLASS_OF_KIND[LayerKind.CONV] = CONV
_CLASS_OF_KIND[[LayerKind.POOL, LayerKind.MAX_POOL, LayerKind.DEPTHWISE_CONV]] = WINDOW


def kernel_class(kind: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The kernel class code (index into :data:`KERNEL_CLASSES`) of each layer.

    A pooling layer whose output is 1x1 is a global (adaptive) pool: a reduction kernel,
    memory-bound, not a direct-window kernel.
    """
    klass = _CLASS_OF_KIND[kind]
    pools = np.flatnonzero(klass == WINDOW)
    klass[pools[(p[pools] == 1) & (q[pools] == 1)]] = MEMORY
    return klass


def aligned_channels(channels: np.ndarray, element_bits: np.ndarray) -> np.ndarray:
    """Channels padded to a whole 16-byte vector of elements (3 fp16 channels load as 8)."""
    per_vector = np.maximum(1, VECTOR_BYTES * 8 // element_bits)
    return np.ceil(channels / per_vector) * per_vector


def _pow2_floor(x: np.ndarray) -> np.ndarray:
    return np.exp2(np.floor(np.log2(x)))


def _reuse(tile_m: int, tile_n: int) -> float:
    # MACs per operand element a tile loads per k-step: what keeps its SM fed.
    return tile_m * tile_n / (tile_m + tile_n)


def tiled_gemm_seconds(m: np.ndarray, n: np.ndarray, k: np.ndarray, groups: np.ndarray, *,
                       sm_flops: np.ndarray, sm_count: int, tile: tuple[int, int, int],
                       min_tile: int) -> np.ndarray:
    r"""Dense GEMM time of the best tile per layer, in seconds.

    The kernel picks a tile :math:`t_m \times t_n` (powers of two from ``min_tile`` up to
    ``tile[:2]``); a tile smaller than the saturating one is fed-limited and runs at
    :math:`\min(1, \rho(t_m, t_n) / \rho(T_m, T_n))` of the SM rate with operand reuse
    :math:`\rho(a, b) = ab / (a + b)`. With :math:`T = \lceil M/t_m \rceil g \lceil N/t_n \rceil`
    tiles, K padded to :math:`k_s = \lceil K / t_k \rceil` steps and, when :math:`T < S`,
    split-K over :math:`s = 2^{\lfloor \log_2 \min(\lfloor S/T \rfloor, k_s) \rfloor}` SMs,

    .. math::
        t = \min_{t_m, t_n} \left\lceil \frac{T s}{S} \right\rceil
        \frac{2\, t_m t_n \lceil k_s / s \rceil t_k}{P_{sm} \min(1, \rho / \rho_{full})}

    (wave and tile quantisation as in NVIDIA's "Matrix Multiplication Background User's
    Guide", plus K padding).

    Args:
        m, n, k: GEMM rows, columns and depth per group.
        groups: Independent products per layer (conv groups, attention heads x batch).
        sm_flops: Sustained FLOP/s of one SM for each layer.
        sm_count: Streaming multiprocessors.
        tile: ``(tile_m, tile_n, tile_k)`` of the saturating tile.
        min_tile: Smallest tile side the kernel library offers.
    """
    tile_m_max, tile_n_max, tile_k = tile
    sms = float(sm_count)
    k_steps = np.ceil(k / tile_k)
    full_reuse = _reuse(tile_m_max, tile_n_max)
    best = np.full(m.shape, np.inf)
    sides_m = [2**i * min_tile for i in range(int(math.log2(tile_m_max // min_tile)) + 1)]
    sides_n = [2**i * min_tile for i in range(int(math.log2(tile_n_max // min_tile)) + 1)]
    for tile_m in sides_m:
        for tile_n in sides_n:
            feed = min(1.0, _reuse(tile_m, tile_n) / full_reuse)
            tiles = np.ceil(m / tile_m) * groups * np.ceil(n / tile_n)
            # Few tiles leave SMs idle: split K over them; a power of two, so doubling the
            # tiles at most doubles the time.
            split = _pow2_floor(np.clip(np.floor(sms / tiles), 1.0, k_steps))
            waves = np.ceil(tiles * split / sms)
            seconds = waves * 2.0 * tile_m * tile_n * np.ceil(k_steps / split) * tile_k
            np.minimum(best, seconds / (sm_flops * feed), out=best)
    return best


def activation_memory(act_bytes: np.ndarray, *, l2_bytes: float, l2_bandwidth_bs: float,
                      dram_bandwidth_bs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Time and traffic of a layer's activation reads and writes, with L2 residency.

    A layer's input was written by the layer before it, and its output is read by the next,
    so the share :math:`f = \min(1, C_{L2} / B)` of its activation bytes *B* that fits in
    the L2 cache moves at the sustained L2 rate and the rest at the DRAM rate:

    .. math::
        t = \frac{f B}{BW_{L2}} + \frac{(1 - f) B}{BW_{DRAM}}

    which rises with *B* (for :math:`B > C_{L2}` it is :math:`C_{L2}/BW_{L2} + (B - C_{L2})/BW_{DRAM}`).

    Returns:
        ``(seconds, dram_bytes, l2_bytes)``; the two byte counts add up to ``act_bytes``.
    """
    resident = np.minimum(1.0, l2_bytes / np.maximum(act_bytes, 1.0))
    l2 = resident * act_bytes
    dram = act_bytes - l2
    return l2 / l2_bandwidth_bs + dram / dram_bandwidth_bs, dram, l2
