"""Huffman coding and the byte accounting of compressed layers and networks.

References: D. A. Huffman, Proc. IRE 1952; Han, Mao & Dally, "Deep Compression", ICLR 2016
(arXiv:1510.00149), Table 4 and §2-§4.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cost_models import WorkloadBuilder, expected_padding
from nas.compression import (
    SIZE_KEYS,
    canonical_codes,
    compressed_size_bytes,
    encoded_bits,
    expected_compressed_size_bytes,
    huffman_code_lengths,
    huffman_decode,
    huffman_encode,
    huffman_table_bits,
    module_compressed_size_bytes,
    share_weights,
    workload_compressed_size_bytes,
)
from search_spaces._fc_benchmarks import deep_compression_alexnet

# --- Huffman coding -------------------------------------------------------------------------


def test_round_trip_of_a_random_stream_is_optimal():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.full(20, 0.5))
    symbols = rng.choice(20, size=5000, p=probabilities)
    counts = np.bincount(symbols, minlength=20)
    lengths = huffman_code_lengths(counts)
    bits = huffman_encode(symbols, lengths)
    assert len(bits) == encoded_bits(counts, lengths)
    np.testing.assert_array_equal(huffman_decode(bits, lengths), symbols)
    present = counts > 0
    # A Huffman code is complete (Kraft equality) and within 1 bit of the entropy per symbol.
    assert np.sum(2.0 ** -lengths[present]) == pytest.approx(1.0, abs=1e-12)
    p = counts[present] / counts.sum()
    entropy = float(-np.sum(p * np.log2(p)))
    average = encoded_bits(counts, lengths) / counts.sum()
    assert entropy <= average < entropy + 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=2, max_size=40).filter(lambda c: sum(x > 0 for x in c) >= 2))
def test_codes_are_complete_prefix_free_and_canonical(counts):
    lengths = huffman_code_lengths(counts)
    present = np.flatnonzero(lengths)
    assert set(present) == {i for i, c in enumerate(counts) if c > 0}
    assert np.sum(2.0 ** -lengths[present]) == pytest.approx(1.0, abs=1e-12)
    codes = canonical_codes(lengths)
    words = [format(int(codes[s]), f"0{int(lengths[s])}b") for s in present]
    assert not any(a != b and b.startswith(a) for a in words for b in words)
    # A more frequent symbol never gets a longer code.
    order = present[np.argsort(np.asarray(counts)[present], kind="stable")]
    assert np.all(np.diff(lengths[order]) <= 0)


def test_single_symbol_and_table_size():
    assert huffman_code_lengths([0, 7, 0]).tolist() == [0, 1, 0]
    # 8-bit header + 256 fields of ceil(log2(12 + 1)) = 4 bits.
    assert huffman_table_bits(np.r_[12, np.ones(255, dtype=int)]) == 8 + 256 * 4


# --- One layer, by hand ---------------------------------------------------------------------

# An 8 x 8 linear layer (rows: 8 outputs, columns: 8 inputs); each column's non-zeros, as
# {row: value}. With 2-bit relative indices a run of 4 or more zeros needs a filler.
_HAND_COLUMNS = {
    0: {0: 1.0},  # 0 zeros before row 0
    1: {7: -1.0},  # 7 zeros: 7 // 4 = 1 filler, then relative index 7 % 4 = 3
    3: {0: 1.0, 1: 0.5},  # 0 and 0 zeros
    4: {4: 1.0},  # 4 zeros: 1 filler, relative index 0
    5: {3: -1.0, 7: 1.0},  # 3 and 3 zeros
    7: {5: 0.5},  # 5 zeros: 1 filler, relative index 1
}


def _hand_layer():
    weight = np.zeros((8, 8))
    for column, entries in _HAND_COLUMNS.items():
        for row, value in entries.items():
            weight[row, column] = value
    return weight


def test_hand_computed_csc_layer():
    size = compressed_size_bytes(_hand_layer(), bits=2, biases=8, relative_index_bits=2)
    entries = 8 + 3  # 8 non-zeros + 3 fillers
    expected = {
        "weight_bytes": 0,
        "indices_bytes": 3,  # ceil(11 entries x 2 bits / 8)
        "relative_index_bytes": 3,  # ceil(11 x 2 bits / 8)
        "pointer_bytes": 36,  # (8 columns + 1) x 32 bits
        "codebook_bytes": 16,  # 2**2 shared values (0, -1, 0.5, 1) x 32 bits
        "huffman_table_bytes": 0,
        "bias_bytes": 32,  # 8 x 32 bits
    }
    expected["total_bytes"] = sum(expected.values())
    assert entries * 2 / 8 <= expected["indices_bytes"]
    assert size == expected


def test_hand_computed_csc_layer_with_huffman():
    size = compressed_size_bytes(_hand_layer(), bits=2, biases=8, relative_index_bits=2, huffman=True)
    # Weight-index symbols: -1.0 x2, 0.5 x2, 1.0 x4, filler zero x3 -> Huffman lengths 2, 2, 2, 2.
    # Relative indices: 0 x4, 1 x1, 3 x3 + 3 fillers (3) -> lengths 2, 2, 0, 1.
    assert size["indices_bytes"] == 3  # 11 x 2 bits = 22 bits
    assert size["relative_index_bytes"] == 2  # 4 x 2 + 1 x 2 + 6 x 1 = 16 bits
    assert size["huffman_table_bytes"] == 2 + 2  # each: 8-bit header + 4 symbols x 2-bit fields
    assert size["total_bytes"] == 3 + 2 + 36 + 16 + 4 + 32


def test_dense_layout_and_validation():
    weight = np.ones((16, 4, 3, 3))
    fp32 = compressed_size_bytes(weight, bits=32, layout="dense", biases=16)
    assert fp32["weight_bytes"] == 576 * 4 and fp32["codebook_bytes"] == 0 and fp32["total_bytes"] == 576 * 4 + 64
    int4 = compressed_size_bytes(weight, bits=4, layout="dense")
    assert int4["weight_bytes"] == 288 and int4["codebook_bytes"] == 16 * 4  # one 32-bit scale per channel
    per_tensor = compressed_size_bytes(weight, bits=4, layout="dense", per_channel_scales=False)
    assert per_tensor["codebook_bytes"] == 4
    with pytest.raises(ValueError, match="distinct non-zero weights"):
        compressed_size_bytes(np.arange(1.0, 10.0).reshape(3, 3), bits=2)
    with pytest.raises(ValueError, match="layout must be one of"):
        compressed_size_bytes(weight, bits=4, layout="coo")
    with pytest.raises(ValueError, match="groups must divide"):
        compressed_size_bytes(weight, bits=4, groups=3, layout="csc")


def test_exact_fillers_match_the_expected_value():
    # Weights kept independently with probability d: the exact count from a random mask
    # agrees with pad(n) of the sparse-engine model (fc8's shape, 4-bit relative index).
    rng = np.random.default_rng(3)
    density, rows, columns = 0.1, 1000, 2000
    weight = np.where(rng.random((rows, columns)) < density, 1.0, 0.0)
    exact = compressed_size_bytes(weight, bits=1)
    expected = expected_compressed_size_bytes(weight.size, rows, density=density, bits=1)
    expected_entries = weight.size * density + columns * expected_padding(rows, density, 4)
    assert float(expected["relative_index_bytes"]) == pytest.approx(expected_entries * 4 / 8)
    assert exact["relative_index_bytes"] == pytest.approx(float(expected["relative_index_bytes"]), rel=0.01)


# --- Five-bit sharing and Huffman coding of a trained-looking tensor -------------------------


def test_laplacian_layer_five_bits_with_huffman():
    # Trained weights are roughly Laplacian; 5-bit sharing with linear initialisation puts
    # most weights in the few central clusters, which Huffman coding then shortens.
    rng = np.random.default_rng(4)
    weight = rng.laplace(size=(512, 1024))
    codebook, indices = share_weights(weight, 5)
    shared = codebook[indices]
    size = compressed_size_bytes(shared, bits=5, biases=512, huffman=True)
    n = weight.size
    counts = np.bincount(indices.ravel(), minlength=32)
    index_bits = encoded_bits(counts, huffman_code_lengths(counts))
    # Unpruned: every relative index is 0, a one-symbol stream of one bit per entry.
    tables = math.ceil(huffman_table_bits(huffman_code_lengths(counts)) / 8) + math.ceil(
        huffman_table_bits([1] + [0] * 15) / 8)
    # indices + relative indices + 1025 pointers + 32 codebook floats + tables + 512 biases
    expected_total = math.ceil(index_bits / 8) + n / 8 + 1025 * 4 + 32 * 4 + tables + 512 * 4
    assert size["total_bytes"] == expected_total
    ratio = (n + 512) * 4 / size["total_bytes"]
    # 32 bits -> under 5 bits of index (Huffman) + 1 bit of relative index per weight.
    assert 32 / 6 < ratio < 32 / 4
    p = counts[counts > 0] / n
    assert index_bits / n < float(-np.sum(p * np.log2(p))) + 1


# --- Whole networks -------------------------------------------------------------------------


def test_module_size_sums_its_layers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8, 4))
    size = module_compressed_size_bytes(model, {"0": 32, "3": 8}, layout="dense")
    assert set(size["layers"]) == {"0", "3", "(other parameters)"}
    assert size["layers"]["0"]["total_bytes"] == 8 * 27 * 4
    assert size["layers"]["3"]["total_bytes"] == 32 + 4 * 4 + 4 * 4  # int8 weights, 4 scales, 4 biases
    assert size["layers"]["(other parameters)"]["bias_bytes"] == 16 * 4  # batch-norm scale and shift
    assert size["total_bytes"] == sum(layer["total_bytes"] for layer in size["layers"].values())
    with pytest.raises(ValueError, match="no entry for layer '3'"):
        module_compressed_size_bytes(model, {"0": 8}, layout="dense")


def test_workload_size_uses_the_ir_compression_state():
    builder = WorkloadBuilder()
    builder.conv("conv", c=16, h=8, w=8, k=32, r=3, groups=2)
    builder.pool("pool", c=32, h=6, w=6, r=2, stride=2)
    builder.linear("fc", c=288, k=10)
    workload = builder.build().with_compression(weight_density=np.array([0.3, 1.0, 1.0]), weight_bits=8)
    size = workload_compressed_size_bytes(workload)
    assert set(size) == set(SIZE_KEYS)
    conv = expected_compressed_size_bytes(32 * 8 * 9, 16, density=0.3, bits=8)  # the builder's conv has no bias
    assert all(size[key][0] == pytest.approx(float(conv[key])) for key in SIZE_KEYS)
    assert size["total_bytes"][1] == 0
    assert size["total_bytes"][2] == 2880 + 10 * 4 + 10 * 4  # int8 weights, 10 scales, 10 biases
    assert workload.per_network(size["total_bytes"])[0] == pytest.approx(size["total_bytes"].sum())


# --- AlexNet: Deep Compression's published result --------------------------------------------

# Caffe reference AlexNet (Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep
# Convolutional Neural Networks", NIPS 2012): (out channels, in channels per group, kernel
# height, kernel width, groups). conv2, conv4 and conv5 are split over the paper's two GPUs.
ALEXNET_CAFFE = {
    "conv1": (96, 3, 11, 11, 1),
    "conv2": (256, 48, 5, 5, 2),
    "conv3": (384, 256, 3, 3, 1),
    "conv4": (384, 192, 3, 3, 2),
    "conv5": (256, 192, 3, 3, 2),
    "fc6": (4096, 9216, 1, 1, 1),
    "fc7": (4096, 4096, 1, 1, 1),
    "fc8": (1000, 4096, 1, 1, 1),
}
# Deep Compression, Table 4, row "Total": 240 MB -> 3.7 % (27x) after pruning and quantization
# (P+Q), 2.88 % (35x, 6.9 MB) with Huffman coding (P+Q+H); 11 % of the weights kept, 5.4 weight
# bits on average. Index bits: Table 4 lists 4 for every layer (the released AlexNet file
# stores 4-bit relative indices too), whereas §2's text mentions 8 bits for conv and 5 for fc;
# we follow the table.
PAPER_RATIO_PQ = 27.0
PAPER_RATIO_PQH = 35.0
RELATIVE_INDEX_BITS = 4


def _fp32_bytes():
    return sum((k * c * r * s + k) * 4 for k, c, r, s, _ in ALEXNET_CAFFE.values())


def test_table4_transcription_matches_the_paper_totals():
    table = deep_compression_alexnet()
    weights = {name: k * c * r * s for name, (k, c, r, s, _) in ALEXNET_CAFFE.items()}
    kept = {name: weights[name] * table[name].weight_density for name in weights}
    assert sum(kept.values()) / sum(weights.values()) == pytest.approx(0.11, abs=0.005)
    average_bits = sum(kept[name] * table[name].weight_bits for name in kept) / sum(kept.values())
    assert average_bits == pytest.approx(5.4, abs=0.05)
    assert _fp32_bytes() / 1e6 == pytest.approx(240, rel=0.02)  # 61M parameters x 4 bytes


def test_alexnet_expected_size_near_27x_before_huffman():
    table = deep_compression_alexnet()
    total = 0.0
    for name, (k, c, r, s, groups) in ALEXNET_CAFFE.items():
        size = expected_compressed_size_bytes(
            k * c * r * s, k // groups, density=table[name].weight_density, bits=table[name].weight_bits,
            biases=k, relative_index_bits=RELATIVE_INDEX_BITS)
        total += float(size["total_bytes"])
    ratio = _fp32_bytes() / total
    # We get 25.1x. Tolerance +-10 %: Table 4 rounds densities to whole percents (fc6's 9 % is
    # 8.5-9.5 %, +-6 % of its entries), and the paper does not say how it counted fillers, column
    # pointers and biases; we count all of them (fillers alone add ~28 % to fc6's entries).
    assert ratio == pytest.approx(PAPER_RATIO_PQ, rel=0.10)


def test_alexnet_with_huffman_on_laplacian_weights():
    # Stand-in weights: Laplacian, magnitude-pruned to Table 4's densities, shared into 2**bits
    # values (one reserved for the filler zero), Huffman coded; fillers and codes counted exactly.
    table = deep_compression_alexnet()
    rng = np.random.default_rng(5)
    total = before = 0.0
    for name, (k, c, r, s, groups) in ALEXNET_CAFFE.items():
        weight = rng.laplace(size=(k, c, r, s)).astype(np.float32)
        magnitude = np.abs(weight).ravel()
        kept = round(table[name].weight_density * weight.size)
        weight[np.abs(weight) < np.partition(magnitude, weight.size - kept)[weight.size - kept]] = 0.0
        codebook, indices = share_weights(weight, table[name].weight_bits, reserve_zero=True)
        shared = np.where(indices >= 0, codebook[np.maximum(indices, 0)], 0.0)
        options = {"bits": table[name].weight_bits, "groups": groups, "biases": k,
                   "relative_index_bits": RELATIVE_INDEX_BITS}
        total += compressed_size_bytes(shared, huffman=True, **options)["total_bytes"]
        before += compressed_size_bytes(shared, **options)["total_bytes"]
    assert _fp32_bytes() / before == pytest.approx(PAPER_RATIO_PQ, rel=0.10)
    # We get 29.9x against the paper's 35x. Tolerance -20 %/+0 %: Huffman's gain depends on the
    # real weights. Our weight-index stream gains about as the paper's (fc6: 5 -> 4.1 bits per
    # entry; Table 4's average is 5.4 -> 4), but independent random positions make the zero runs
    # nearly geometric and the relative indices gain less (fc6: 4 -> 3.7 bits per entry; Table 4:
    # 4 -> 3.2 for the trained AlexNet). So we must land below 35x, not far below.
    assert 0.8 * PAPER_RATIO_PQH <= _fp32_bytes() / total <= PAPER_RATIO_PQH
