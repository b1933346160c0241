"""Compression as search dimensions: pruning, quantization, weight sharing, Huffman coding, file size.

Each technique acts on both views of a network: the torch module (masks, fake quantization,
shared weights, for accuracy proxies) and the Workload IR (density, pattern, shapes, bits, for
the cost models).

Example:
    >>> import numpy as np
    >>> from nas.compression import share_weights
    >>> codebook, indices = share_weights(np.array([0.0, -1.0, 0.9, 1.1]), 1)
    >>> codebook.tolist(), indices.tolist()
    ([-1.0, 1.0], [-1, 0, 1, 1])
"""

from nas.compression._accuracy_estimator import (
    CHANCE_PCT,
    FIT_SPLIT,
    MIN_LEARNT_PCT,
    ROW_COLUMNS,
    ROWS_FILE,
    AccuracyEstimator,
    CompressionFeatures,
    activation_error,
    compression_features,
    fit_accuracy_estimator,
    fit_mask,
    fit_on_rows,
    held_out_scores,
    is_fit_cell,
    load_accuracy_estimator,
    read_estimator_rows,
    row_features,
)
from nas.compression._huffman import (
    canonical_codes,
    encoded_bits,
    huffman_code_lengths,
    huffman_decode,
    huffman_encode,
    huffman_table_bits,
)
from nas.compression._pruning import (
    PRUNING_PATTERNS,
    PRUNING_SCOPES,
    PruningPolicy,
    kept_channels,
    prune_module,
    prune_workload,
)
from nas.compression._quantization import (
    FORMATS,
    ActivationFakeQuant,
    QuantFormat,
    fake_quantize,
    ir_format,
    quant_format,
    quantize_module,
    quantize_workload,
    round_to_format,
)
from nas.compression._sensitivity import (
    SENSITIVITY_RATIOS,
    format_sensitivity,
    pruning_sensitivity,
    sensitivity_figure,
    suggest_layer_ratios,
)
from nas.compression._size import (
    SIZE_KEYS,
    compressed_size_bytes,
    expected_compressed_size_bytes,
    module_compressed_size_bytes,
    workload_compressed_size_bytes,
)
from nas.compression._weight_sharing import KMeans1D, apply_weight_sharing, kmeans_1d, share_weights

__all__ = [
    "CHANCE_PCT",
    "FIT_SPLIT",
    "MIN_LEARNT_PCT",
    "ROW_COLUMNS",
    "ROWS_FILE",
    "AccuracyEstimator",
    "CompressionFeatures",
    "activation_error",
    "compression_features",
    "fit_accuracy_estimator",
    "fit_mask",
    "fit_on_rows",
    "held_out_scores",
    "is_fit_cell",
    "load_accuracy_estimator",
    "read_estimator_rows",
    "row_features",
    "PRUNING_PATTERNS",
    "PRUNING_SCOPES",
    "PruningPolicy",
    "kept_channels",
    "prune_module",
    "prune_workload",
    "SENSITIVITY_RATIOS",
    "format_sensitivity",
    "pruning_sensitivity",
    "sensitivity_figure",
    "suggest_layer_ratios",
    "FORMATS",
    "ActivationFakeQuant",
    "QuantFormat",
    "fake_quantize",
    "ir_format",
    "quant_format",
    "quantize_module",
    "quantize_workload",
    "round_to_format",
    "SIZE_KEYS",
    "KMeans1D",
    "apply_weight_sharing",
    "canonical_codes",
    "compressed_size_bytes",
    "encoded_bits",
    "expected_compressed_size_bytes",
    "huffman_code_lengths",
    "huffman_decode",
    "huffman_encode",
    "huffman_table_bits",
    "kmeans_1d",
    "module_compressed_size_bytes",
    "share_weights",
    "workload_compressed_size_bytes",
]
