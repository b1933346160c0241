"""The bytes a compressed network's file really holds, per layer, indices and tables included.

Two layouts:

``"dense"``
    Every weight stored at ``bits`` bits (32: fp32; fewer: a uniformly quantized layer, which
    also stores its 32-bit scales, one per output channel or one per tensor, counted as its
    ``codebook_bytes``; ``nas.compression._quantization`` scales per channel by default).

``"csc"``
    Deep Compression / EIE compressed sparse columns (Han, Mao & Dally, "Deep Compression",
    ICLR 2016, §2-§4; Han et al., "EIE", ISCA 2016, §III). A layer's weights are ``groups``
    matrices of ``k / groups`` rows (output channels) and ``c / groups * r * s`` columns. Each
    kept weight is an entry of a ``bits``-wide index into a codebook of ``2**bits`` 32-bit
    shared values and a ``relative_index_bits``-wide count ``b`` of zeros since the previous
    entry of its column. A run of ``2**b`` or more zeros needs filler entries: a non-zero after
    ``L`` zeros is preceded by ``L // 2**b`` fillers (weight index pointing at the value 0,
    relative index ``2**b - 1``), so the codebook reserves one entry for zero whenever a layer
    has fillers. Each column has a start pointer (plus one end pointer) of ``pointer_bits``.
    Optionally the weight-index stream and the relative-index stream are Huffman coded
    (Deep Compression §4), adding their canonical code tables (:mod:`nas.compression._huffman`).

Biases (and any other unquantized parameter) are stored as 32-bit floats.

From actual weights the fillers and Huffman codes are counted exactly and every stream is
rounded up to whole bytes; from a density alone (:func:`expected_compressed_size_bytes`,
:func:`workload_compressed_size_bytes`) the fillers are their expected number when weights are
kept independently with probability ``d``, ``pad(n)`` of :func:`cost_models.expected_padding` (per
column of ``n`` rows: ``d * sum_{j=1..J} r**j (n - j 2**b)``, ``r = (1-d)**(2**b)``,
``J = floor((n-1) / 2**b)``), and Huffman coding is not modelled: its gain depends on the
weight distribution, which a density does not give.

Every function returns a dict with the keys of :data:`SIZE_KEYS`, in bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from torch import nn

from cost_models import MAC_KINDS, SparsityPattern, Workload, expected_padding
from nas._errors import InputError
from nas.compression._huffman import encoded_bits, huffman_code_lengths, huffman_table_bits

SIZE_KEYS = (
    "weight_bytes",
    "indices_bytes",
    "relative_index_bytes",
    "pointer_bytes",
    "codebook_bytes",
    "huffman_table_bytes",
    "bias_bytes",
    "total_bytes",
)
"""Keys of every size breakdown: dense weight values, codebook indices, relative (zero-run)
indices, column pointers, codebook or quantization scale, Huffman tables, 32-bit biases, and
their sum."""

LAYOUTS = ("dense", "csc")
FLOAT_BITS = 32
"""Bits of a stored float: codebook entries, quantization scales, biases."""


def compressed_size_bytes(
    weight: np.ndarray,
    *,
    bits: int,
    layout: str = "csc",
    groups: int = 1,
    biases: int = 0,
    relative_index_bits: int = 4,
    pointer_bits: int = 32,
    huffman: bool = False,
    per_channel_scales: bool = True,
) -> dict[str, float]:
    """Bytes of one layer stored from its actual (pruned, shared) weights.

    Args:
        weight: The layer's weight tensor, ``k x c/groups x ...`` (conv) or ``k x c`` (linear);
            zeros are pruned weights. For ``"csc"`` its non-zero values must already be shared
            (at most ``2**bits`` distinct values, one fewer when the layer needs fillers).
        bits: Bits per dense weight, or codebook index width for ``"csc"``.
        layout: ``"dense"`` or ``"csc"`` (see the module docstring).
        groups: Convolution groups: the weight is ``groups`` block matrices.
        biases: Number of 32-bit bias values stored with the layer.
        relative_index_bits: Width ``b`` of the zero-run count of a CSC entry.
        pointer_bits: Width of a column pointer.
        huffman: Huffman-code the CSC weight-index and relative-index streams.
        per_channel_scales: A quantized ``"dense"`` layer stores one scale per output channel
            (True) or one per tensor.

    Example:
        >>> w = np.array([[0.5, 0.0], [0.0, -0.5]])
        >>> compressed_size_bytes(w, bits=1, biases=2)["total_bytes"]  # 1 + 1 + 12 + 8 + 8
        30.0
    """
    weight = np.asarray(weight)
    _check(layout, bits, relative_index_bits, pointer_bits, huffman)
    if layout == "dense":
        return _breakdown(weight_bytes=math.ceil(weight.size * bits / 8),
                          codebook_bytes=_scale_bytes(bits, weight.shape[0] if per_channel_scales else 1),
                          bias_bytes=biases * FLOAT_BITS / 8)
    span = 2**relative_index_bits
    columns = _columns(weight, groups)
    column, row = np.nonzero(columns)  # ordered by column, then row: the CSC entry order
    first = np.ones(len(row), dtype=bool)
    first[1:] = column[1:] != column[:-1]
    previous = np.where(first, -1, np.concatenate(([-1], row[:-1])))
    zeros_before = row - previous - 1
    fillers = int(np.sum(zeros_before // span))
    values, value_symbol = np.unique(columns[column, row], return_inverse=True)
    if len(values) + (fillers > 0) > 2**bits:
        raise InputError(
            f"the layer has {len(values)} distinct non-zero weights"
            f"{' and needs a zero for fillers' if fillers else ''}; "
            f"a {bits}-bit codebook holds {2**bits}: share the weights first (share_weights(..., reserve_zero=True))"
        )
    entries = len(row) + fillers
    pointers = columns.shape[0] + 1
    common = {"pointer_bytes": math.ceil(pointers * pointer_bits / 8),
              "codebook_bytes": 2**bits * FLOAT_BITS / 8, "bias_bytes": biases * FLOAT_BITS / 8}
    if not huffman:
        return _breakdown(indices_bytes=math.ceil(entries * bits / 8),
                          relative_index_bytes=math.ceil(entries * relative_index_bits / 8), **common)
    # Fillers carry the zero code (one more symbol) and the largest relative index.
    weight_counts = np.bincount(value_symbol.ravel(), minlength=2**bits)
    if fillers:
        weight_counts[len(values)] += fillers
    relative_counts = np.bincount(zeros_before % span, minlength=span)
    relative_counts[span - 1] += fillers
    weight_lengths = huffman_code_lengths(weight_counts)
    relative_lengths = huffman_code_lengths(relative_counts)
    return _breakdown(
        indices_bytes=math.ceil(encoded_bits(weight_counts, weight_lengths) / 8),
        relative_index_bytes=math.ceil(encoded_bits(relative_counts, relative_lengths) / 8),
        huffman_table_bytes=math.ceil(huffman_table_bits(weight_lengths) / 8)
        + math.ceil(huffman_table_bits(relative_lengths) / 8),
        **common,
    )


def expected_compressed_size_bytes(
    weights: np.ndarray | int,
    rows: np.ndarray | int,
    *,
    density: np.ndarray | float,
    bits: np.ndarray | int,
    biases: np.ndarray | int = 0,
    relative_index_bits: int = 4,
    pointer_bits: int = 32,
) -> dict[str, np.ndarray]:
    """Expected bytes of layers in the CSC layout from their density alone (no Huffman coding).

    Vectorised: every argument but the two widths broadcasts, one element per layer; scalar
    arguments give float values.

    Args:
        weights: Weights of the layer (all of them, pruned ones included).
        rows: Rows of each column, ``k / groups`` (output channels per group).
        density: Fraction of weights kept, in (0, 1].
        bits: Codebook index width.
        biases: Number of 32-bit bias values.
        relative_index_bits: Width ``b`` of the zero-run count.
        pointer_bits: Width of a column pointer.

    Example:
        >>> size = expected_compressed_size_bytes(4096 * 1000, 1000, density=0.25, bits=5, biases=1000)
        >>> round(float(size["total_bytes"]))
        1183990
    """
    weights, rows, density, bits, biases = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (weights, rows, density, bits, biases)))
    if np.any((density <= 0) | (density > 1)):
        raise InputError(f"density must lie in (0, 1], got {density}")
    columns = weights / rows
    entries = weights * density + columns * expected_padding(rows, density, relative_index_bits)
    return _breakdown(
        indices_bytes=entries * bits / 8,
        relative_index_bytes=entries * relative_index_bits / 8,
        pointer_bytes=(columns + 1) * pointer_bits / 8,
        codebook_bytes=2**bits * FLOAT_BITS / 8,
        bias_bytes=biases * FLOAT_BITS / 8,
    )


def module_compressed_size_bytes(
    module: nn.Module,
    bits: int | Mapping[str, int],
    *,
    layout: str = "csc",
    relative_index_bits: int = 4,
    pointer_bits: int = 32,
    huffman: bool = False,
    per_channel_scales: bool = True,
) -> dict[str, object]:
    """Bytes of a whole torch network's file: :func:`compressed_size_bytes` of every layer.

    Every ``nn.Conv1d/2d/3d`` and ``nn.Linear`` weight is stored in ``layout`` (its bias as
    32-bit floats); every other parameter (e.g. batch-norm scales) as 32-bit floats, under the
    layer name ``"(other parameters)"``.

    Args:
        module: The network, already pruned (zeros) and, for ``"csc"``, weight-shared.
        bits: Index (``"csc"``) or value (``"dense"``) width, one for all layers or per layer
            name (a layer missing from the mapping is an error).
        layout, relative_index_bits, pointer_bits, huffman, per_channel_scales: As in
            :func:`compressed_size_bytes`.

    Returns:
        The totals under :data:`SIZE_KEYS` and ``"layers"``: ``{layer name: breakdown}``.
    """
    layers: dict[str, dict[str, float]] = {}
    stored: set[int] = set()
    for name, layer in module.named_modules():
        if not isinstance(layer, nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Linear):
            continue
        if not isinstance(bits, int) and name not in bits:
            raise InputError(f"bits has no entry for layer {name!r}; it lists {', '.join(bits)}")
        layer_bits = bits if isinstance(bits, int) else bits[name]
        bias = layer.bias.numel() if layer.bias is not None else 0
        layers[name] = compressed_size_bytes(
            layer.weight.detach().cpu().numpy(), bits=layer_bits, layout=layout,
            groups=getattr(layer, "groups", 1), biases=bias, relative_index_bits=relative_index_bits,
            pointer_bits=pointer_bits, huffman=huffman, per_channel_scales=per_channel_scales)
        stored.update(id(p) for p in layer.parameters(recurse=False))
    other = sum(p.numel() for p in module.parameters() if id(p) not in stored)
    if other:
        layers["(other parameters)"] = _breakdown(bias_bytes=other * FLOAT_BITS / 8)
    totals = {key: float(sum(size[key] for size in layers.values())) for key in SIZE_KEYS}
    return {**totals, "layers": layers}


def workload_compressed_size_bytes(
    workload: Workload,
    *,
    shared_weights: bool = True,
    relative_index_bits: int = 4,
    pointer_bits: int = 32,
    per_channel_scales: bool = True,
) -> dict[str, np.ndarray]:
    """Expected bytes of each layer of a :class:`~cost_models.Workload`, from its compression state.

    A 2:4 layer (pattern N_M) stores its kept values and 2 bits of position metadata per kept
    value, NVIDIA's compressed format (Mishra et al. 2021). Any other pruned layer
    (``weight_density < 1``) takes the CSC layout with ``weight_bits``-wide entries (expected
    fillers, no Huffman coding). An unpruned one takes the dense layout at ``weight_bits``. With
    ``shared_weights`` the entries are codebook indices and each layer stores its codebook;
    without, they are the quantized values themselves and a layer below 32 bits stores its
    quantization scales instead. Parameters that are not weights (biases, norm scales) are
    32-bit floats. Sum a column over each network with :meth:`Workload.per_network`.

    Args:
        workload: Layers with ``weights``, ``params``, ``k``, ``groups``, ``weight_density``,
            ``pattern`` and ``weight_bits``.
        shared_weights: Whether weights are codebook indices (Deep Compression weight sharing).
        relative_index_bits: Width of the zero-run count of a CSC entry.
        pointer_bits: Width of a column pointer.
        per_channel_scales: A quantized layer stores one scale per output channel (True) or
            one per tensor.

    Returns:
        ``{key: one value per layer}`` for every key of :data:`SIZE_KEYS`.

    Example:
        >>> from cost_models import WorkloadBuilder
        >>> b = WorkloadBuilder()
        >>> b.linear("fc", c=4096, k=1000)
        >>> size = workload_compressed_size_bytes(b.build().with_compression(weight_density=0.25, weight_bits=5))
        >>> round(float(size["total_bytes"][0]))
        1183990
    """
    _check("csc", 1, relative_index_bits, pointer_bits, False)
    has_weights = np.isin(workload.kind, MAC_KINDS) & (workload.weights > 0)
    n_m = has_weights & (workload.pattern == SparsityPattern.N_M)
    sparse = has_weights & (workload.weight_density < 1) & ~n_m
    rows = np.where(has_weights, workload.k / workload.groups, 1.0)
    biases = (workload.params - workload.weights).astype(np.float64)
    bits = workload.weight_bits.astype(np.float64)
    scales = np.where(has_weights, _scale_bytes(bits, workload.k if per_channel_scales else 1), 0.0)
    csc = expected_compressed_size_bytes(
        workload.weights, rows, density=workload.weight_density, bits=workload.weight_bits,
        biases=biases, relative_index_bits=relative_index_bits, pointer_bits=pointer_bits)
    if not shared_weights:
        csc = _breakdown(**{**csc, "codebook_bytes": scales})
    kept = workload.weights * workload.weight_density
    structured = _breakdown(weight_bytes=kept * bits / 8, relative_index_bytes=kept * _N_M_INDEX_BITS / 8,
                            codebook_bytes=scales, bias_bytes=biases * FLOAT_BITS / 8)
    dense = _breakdown(weight_bytes=workload.weights * bits / 8, codebook_bytes=scales,
                       bias_bytes=biases * FLOAT_BITS / 8)
    return {key: np.where(n_m, structured[key], np.where(sparse, csc[key], dense[key])) for key in SIZE_KEYS}


_N_M_INDEX_BITS = 2
"""Position metadata per kept weight of a 2:4 tensor: which 2 of 4 (NVIDIA Ampere whitepaper, 2020)."""


def _columns(weight: np.ndarray, groups: int) -> np.ndarray:
    """The CSC columns of a layer as rows of a C-ordered array: ``groups * (c/groups*r*s)`` x ``k/groups``."""
    k = weight.shape[0]
    if groups < 1 or k % groups:
        raise InputError(f"groups must divide the {k} output channels, got {groups}")
    return np.ascontiguousarray(weight.reshape(groups, k // groups, -1).transpose(0, 2, 1)).reshape(-1, k // groups)


def _scale_bytes(bits: np.ndarray | int, scales: np.ndarray | int) -> np.ndarray:
    """``scales`` 32-bit scales for a uniformly quantized dense layer, none for a float one."""
    return np.where(np.asarray(bits) < FLOAT_BITS, np.asarray(scales) * FLOAT_BITS / 8, 0.0)


def _breakdown(**parts: np.ndarray | float) -> dict:
    sizes = {key: parts.get(key, 0.0) for key in SIZE_KEYS[:-1]}
    sizes = {key: float(value) if np.ndim(value) == 0 else value for key, value in sizes.items()}
    sizes["total_bytes"] = sum(sizes.values())
    return sizes


def _check(layout: str, bits: int, relative_index_bits: int, pointer_bits: int, huffman: bool) -> None:
    if layout not in LAYOUTS:
        raise InputError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    for name, value in (("bits", bits), ("relative_index_bits", relative_index_bits),
                        ("pointer_bits", pointer_bits)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 1 <= value <= 64:
            raise InputError(f"{name} must be an integer in 1..64, got {value!r}")
    if huffman and layout != "csc":
        raise InputError("huffman=True applies to the 'csc' layout's index streams only")
