"""Weight sharing by 1-D k-means: each kept weight becomes an index into a small codebook.

Deep Compression (Han, Mao & Dally, "Deep Compression: Compressing Deep Neural Networks with
Pruning, Trained Quantization and Huffman Coding", ICLR 2016, §3) clusters the weights of
each layer with k-means into ``2**bits`` shared values and stores per weight only a
``bits``-wide index. Of the initialisations it compares (Forgy, density-based, linear),
linear — centroids evenly spaced between the smallest and largest weight — gave the best
accuracy (§3.2, Fig. 4), because it keeps centroids for the rare large weights that matter
most; it is the one used here. The paper then fine-tunes the centroids with the gradients of
their weights; that training step is not part of this module.

The clustering is Lloyd's algorithm on sorted values: in one dimension the clusters of
sorted centroids are contiguous runs of the sorted weights, split at the midpoints between
neighbouring centroids, so each iteration is one ``np.searchsorted`` and cumulative sums,
``O(k log n)`` after an ``O(n log n)`` sort.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from nas._errors import InputError


@dataclasses.dataclass(frozen=True)
class KMeans1D:
    """Result of :func:`kmeans_1d`.

    Args:
        centroids: The ``k`` cluster centres, sorted ascending.
        distortion: Sum of squared distances to the nearest centroid after each assignment
            step, first (linear initialisation) to last; non-increasing.
        iterations: Lloyd iterations run (assignment plus update).
    """

    centroids: np.ndarray
    distortion: np.ndarray
    iterations: int


def kmeans_1d(values: np.ndarray, k: int, *, max_iter: int = 300) -> KMeans1D:
    """Lloyd's k-means on scalars, linearly initialised between the minimum and the maximum.

    Iterates until the assignment stops changing (a fixed point) or ``max_iter`` is reached.
    A centroid whose cluster empties keeps its value. Deterministic.

    Args:
        values: The data, any shape (flattened); at least one value.
        k: Number of clusters, at least 1.
        max_iter: Upper bound on Lloyd iterations.

    Example:
        >>> result = kmeans_1d(np.array([0.0, 0.1, 0.9, 1.0]), 2)
        >>> result.centroids.tolist(), result.iterations
        ([0.05, 0.95], 1)
    """
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}")
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if x.size == 0:
        raise InputError("values is empty; k-means needs at least one value")
    s1 = np.concatenate(([0.0], np.cumsum(x)))
    s2 = np.concatenate(([0.0], np.cumsum(x * x)))
    centroids = np.linspace(x[0], x[-1], k)
    splits = _splits(x, centroids)
    distortion = [_distortion(s1, s2, splits, centroids)]
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        counts = np.diff(splits)
        sums = np.diff(s1[splits])
        # An empty cluster keeps its centroid; sorting keeps the midpoint split valid.
        centroids = np.sort(np.where(counts > 0, sums / np.maximum(counts, 1), centroids))
        new_splits = _splits(x, centroids)
        distortion.append(_distortion(s1, s2, new_splits, centroids))
        if np.array_equal(new_splits, splits):
            break
        splits = new_splits
    return KMeans1D(centroids=centroids, distortion=np.asarray(distortion), iterations=iterations)


def share_weights(
    weights: np.ndarray, bits: int, *, mask: np.ndarray | None = None, reserve_zero: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster a layer's kept weights into ``2**bits`` shared values (Deep Compression §3).

    Args:
        weights: The layer's weights, any shape.
        bits: Index width; the codebook has ``2**bits`` entries.
        mask: Boolean array like ``weights``, True where a weight is kept; defaults to the
            non-zero weights. Only kept weights are clustered.
        reserve_zero: Keep codebook entry 0 for the value 0.0 and cluster into the other
            ``2**bits - 1``; a compressed sparse column layout needs it for the filler entries
            of long zero runs (see :mod:`nas.compression._size`).

    Returns:
        ``(codebook, indices)``: ``float64`` codebook of ``2**bits`` values (ascending, after the
        reserved zero if any; unused entries repeat a centroid), and ``int64`` indices shaped
        like ``weights``, each kept weight's nearest codebook entry, -1 where not kept.

    Example:
        >>> codebook, indices = share_weights(np.array([[0.0, -1.0], [0.9, 1.1]]), 1)
        >>> codebook.tolist(), indices.tolist()
        ([-1.0, 1.0], [[-1, 0], [1, 1]])
    """
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 1 <= bits <= 16:
        raise InputError(f"bits must be an integer in 1..16, got {bits!r}")
    weights = np.asarray(weights, dtype=np.float64)
    mask = weights != 0 if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != weights.shape:
        raise InputError(f"mask has shape {mask.shape}; expected the weights' shape {weights.shape}")
    size = 2**bits
    clusters = size - 1 if reserve_zero else size
    if clusters < 1:
        raise InputError("reserve_zero needs bits >= 1 so that one cluster is left")
    indices = np.full(weights.shape, -1, dtype=np.int64)
    kept = weights[mask]
    if kept.size == 0:
        return np.zeros(size), indices
    centroids = kmeans_1d(kept, clusters).centroids
    # Nearest centroid: centroids are sorted, so compare against the midpoints between them.
    nearest = np.searchsorted((centroids[1:] + centroids[:-1]) / 2.0, kept, side="left")
    offset = 1 if reserve_zero else 0
    indices[mask] = nearest + offset
    codebook = np.concatenate(([0.0], centroids)) if reserve_zero else centroids
    return codebook, indices


def apply_weight_sharing(module: nn.Module, bits: int, *, reserve_zero: bool = False) -> dict[str, np.ndarray]:
    """Replace the weights of every convolution and linear layer by their shared values, in place.

    Each layer is clustered separately (Deep Compression shares weights within a layer, never
    across layers); zero weights (pruned) stay exactly zero and are not clustered.

    Args:
        module: A torch module; its ``nn.Conv1d/2d/3d`` and ``nn.Linear`` layers are changed.
        bits: Index width; ``2**bits`` shared values per layer.
        reserve_zero: Passed to :func:`share_weights`.

    Returns:
        ``{layer name: codebook}`` for the changed layers.

    Example:
        >>> layer = nn.Linear(64, 8)
        >>> codebooks = apply_weight_sharing(layer, 2)
        >>> len(torch.unique(layer.weight)), codebooks[""].shape
        (4, (4,))
    """
    codebooks = {}
    for name, layer in module.named_modules():
        if not isinstance(layer, nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Linear):
            continue
        weight = layer.weight.detach()
        codebook, indices = share_weights(weight.cpu().numpy(), bits, reserve_zero=reserve_zero)
        shared = np.where(indices >= 0, codebook[np.maximum(indices, 0)], 0.0)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(shared).to(dtype=weight.dtype, device=weight.device))
        codebooks[name] = codebook
    return codebooks


def _splits(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Start of each cluster in sorted ``x`` (plus ``len(x)``): split at the centroid midpoints."""
    boundaries = np.searchsorted(x, (centroids[1:] + centroids[:-1]) / 2.0, side="right")
    return np.concatenate(([0], boundaries, [len(x)]))


def _distortion(s1: np.ndarray, s2: np.ndarray, splits: np.ndarray, centroids: np.ndarray) -> float:
    """Sum over clusters of ``sum (x - c)**2 = S2 - 2 c S1 + n c**2``, from cumulative sums."""
    n = np.diff(splits)
    sum1 = np.diff(s1[splits])
    sum2 = np.diff(s2[splits])
    return float(np.sum(sum2 - 2.0 * centroids * sum1 + n * centroids**2))
