"""Canonical Huffman coding of a symbol stream: code lengths, coded size and table size.

Deep Compression's last stage (Han, Mao & Dally, "Deep Compression", ICLR 2016, §4)
Huffman-codes the stream of weight-sharing indices and the stream of relative sparse
indices, whose distributions are far from uniform. The code is Huffman's minimum-redundancy
prefix code (D. A. Huffman, "A Method for the Construction of Minimum-Redundancy Codes",
Proc. IRE 40(9), 1952); the codewords are assigned canonically (shorter codes first, then by
symbol), as DEFLATE does (RFC 1951 §3.2.2), so a file needs to store only each symbol's code
length to rebuild them.

Table size: a file stores the code length of every symbol of the alphabet (0 for an absent
symbol) in a fixed field of ``ceil(log2(max_length + 1))`` bits, preceded by an 8-bit header
giving that field width; see :func:`huffman_table_bits`.

Example:
    >>> lengths = huffman_code_lengths([5, 2, 1, 1])
    >>> lengths.tolist(), encoded_bits([5, 2, 1, 1], lengths)
    ([1, 2, 3, 3], 15)
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from nas._errors import InputError

TABLE_HEADER_BITS = 8
"""Bits of the table header that gives the width of each code-length field."""


def huffman_code_lengths(counts: np.ndarray | list[int]) -> np.ndarray:
    """Code length of each symbol in a Huffman code for the given frequencies.

    Args:
        counts: Occurrences of each symbol ``0 .. n-1`` (non-negative integers).

    Returns:
        ``int64`` lengths in bits; 0 for a symbol that never occurs, and 1 when only one
        symbol occurs (a decoder still needs one bit per symbol to count them).
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or np.any(counts < 0):
        raise InputError(f"counts must be a 1-D array of non-negative integers, got {counts!r}")
    lengths = np.zeros(len(counts), dtype=np.int64)
    present = np.flatnonzero(counts)
    if len(present) == 1:
        lengths[present] = 1
    if len(present) <= 1:
        return lengths
    # Each heap item is (weight, tie-break, symbols of the subtree); merging the two lightest
    # subtrees adds one bit to every symbol below them. The tie-break keeps the result
    # deterministic and never compares the lists.
    heap = [(int(counts[s]), i, [int(s)]) for i, s in enumerate(present)]
    heapq.heapify(heap)
    order = len(heap)
    while len(heap) > 1:
        w1, _, s1 = heapq.heappop(heap)
        w2, _, s2 = heapq.heappop(heap)
        merged = s1 + s2
        lengths[merged] += 1
        heapq.heappush(heap, (w1 + w2, order, merged))
        order += 1
    return lengths


def canonical_codes(lengths: np.ndarray | list[int]) -> np.ndarray:
    """Canonical codewords for the given code lengths (RFC 1951 §3.2.2).

    Args:
        lengths: Code length of each symbol in bits (0: symbol absent).

    Returns:
        ``int64`` codewords, read as ``lengths[s]``-bit unsigned integers, most significant bit
        first; 0 for absent symbols.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    codes = np.zeros(len(lengths), dtype=np.int64)
    code = 0
    previous = 0
    # Symbols sorted by (length, symbol); each code is the previous one plus one, shifted left
    # when the length grows.
    for symbol in np.lexsort((np.arange(len(lengths)), lengths)):
        length = int(lengths[symbol])
        if length == 0:
            continue
        code <<= length - previous
        codes[symbol] = code
        code += 1
        previous = length
    return codes


def encoded_bits(counts: np.ndarray | list[int], lengths: np.ndarray | list[int]) -> int:
    """Bits of the coded stream: ``sum(counts * lengths)``.

    Args:
        counts: Occurrences of each symbol.
        lengths: Code length of each symbol in bits, e.g. from :func:`huffman_code_lengths`.
    """
    return int(np.dot(np.asarray(counts, dtype=np.int64), np.asarray(lengths, dtype=np.int64)))


def huffman_table_bits(lengths: np.ndarray | list[int]) -> int:
    """Bits a file needs to rebuild the canonical code: one length field per alphabet symbol.

    ``8 + n * ceil(log2(max_length + 1))`` bits for an alphabet of ``n`` symbols: an 8-bit header
    holding the field width, then every symbol's code length (0 for an absent one).

    Args:
        lengths: Code length of each symbol of the alphabet in bits.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    field = max(1, math.ceil(math.log2(int(lengths.max(initial=0)) + 1)))
    return TABLE_HEADER_BITS + len(lengths) * field


def huffman_encode(symbols: np.ndarray, lengths: np.ndarray | list[int]) -> np.ndarray:
    """Encode a symbol stream with the canonical code of ``lengths``.

    Args:
        symbols: Integer symbols, each with a non-zero code length.
        lengths: Code length of each symbol of the alphabet in bits.

    Returns:
        The coded stream as a ``uint8`` array of bits (0 or 1), most significant bit first.
    """
    symbols = np.asarray(symbols, dtype=np.int64).ravel()
    lengths = np.asarray(lengths, dtype=np.int64)
    if np.any(lengths[symbols] == 0):
        raise InputError("a symbol to encode has no codeword (code length 0)")
    codes = canonical_codes(lengths)
    max_length = int(lengths.max(initial=0))
    # Bit j (from the most significant) of every codeword, left-aligned to max_length bits;
    # the valid bits of each symbol are the first lengths[symbol] of its row.
    shifts = np.arange(max_length - 1, -1, -1)
    aligned = codes[symbols] << (max_length - lengths[symbols])
    bits = (aligned[:, None] >> shifts[None, :]) & 1
    keep = np.arange(max_length)[None, :] < lengths[symbols][:, None]
    return bits[keep].astype(np.uint8)


def huffman_decode(bits: np.ndarray, lengths: np.ndarray | list[int]) -> np.ndarray:
    """Decode a bit stream made by :func:`huffman_encode` (a reference decoder, not a fast one).

    Args:
        bits: Coded bits (0 or 1), most significant bit first.
        lengths: Code length of each symbol of the alphabet in bits.

    Returns:
        The decoded ``int64`` symbols.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    codes = canonical_codes(lengths)
    table = {(int(lengths[s]), int(codes[s])): s for s in np.flatnonzero(lengths)}
    symbols = []
    length = code = 0
    for bit in np.asarray(bits, dtype=np.int64):
        code = (code << 1) | int(bit)
        length += 1
        symbol = table.get((length, code))
        if symbol is not None:
            symbols.append(symbol)
            length = code = 0
    if length:
        raise InputError(f"the stream ends inside a codeword ({length} trailing bits)")
    return np.asarray(symbols, dtype=np.int64)
