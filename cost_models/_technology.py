"""Technology tables: energy per operation and per memory access, and unit areas, at a process node.

The reference data are TOML files in ``cost_models/technology/``:

- ``horowitz_45nm.toml``: energy and area of integer and floating-point adds and
  multiplies, of an 8 KB SRAM read and of a DRAM read at 45 nm (Horowitz, ISSCC 2014),
  a register-file access from Eyeriss's normalised costs (Chen et al., ISCA 2016) and
  SRAM area per KiB.
- ``stillmaker_baas_2017.toml``: energy and area factors between nodes
  (Stillmaker & Baas, Integration 2017).

Rules used to go beyond the table rows (each is stated where it is applied):

- Integer width: between tabulated widths, energy and area are interpolated in
  log(bits)-log(value); outside them a multiplier scales as ``bits**2`` (an array
  multiplier has ``bits x bits`` partial products; Horowitz's 8b -> 32b mult grows
  15.5x against 16x) and an adder as ``bits`` (a ripple/prefix adder is linear in width).
- Float formats not in the table (``bf16``, ``tf32``, ``fp8``, ``fp6``, ``fp4``): between fp16
  and fp32 a multiply is fitted as ``a + b * m**2`` over the significand width ``m`` through
  fp16 (m = 11) and fp32 (m = 24), an add as ``a + b * bits`` through fp16 and fp32. Below
  fp16 they scale from fp16 as the integer widths do outside their table: a multiply as
  ``m**2``, an add as ``bits`` (extending the two-point lines instead would give an fp8 adder a
  negative area, and fp4 a negative multiplier).
- SRAM size: read energy per bit ``E(S) = E(8 KB) * (S / 8 KB) ** 0.5`` (Horowitz's cache
  figures, 8 KB -> 1 MB), never below one register-file access.
- Node: logic and SRAM energy scale by Stillmaker & Baas's fitted energy factor at each
  node's nominal supply, area by their area factor; DRAM energy is a property of the
  DRAM and its interface and is not scaled.

Example:
    >>> from cost_models import technology
    >>> tech = technology(28)
    >>> round(float(tech.int_mac_energy_pj(8, 32)), 3)
    0.126
    >>> tech.describe()[:38]
    'Horowitz ISSCC 2014 (45 nm) scaled to '
"""

from __future__ import annotations

import dataclasses
import functools
import math
import tomllib
from pathlib import Path

import numpy as np

from cost_models._workload import NumberFormat

TECHNOLOGY_DIR = Path(__file__).parent / "technology"
REFERENCE_NODE_NM = 45.0
"""Node of the reference energy and area table (Horowitz, ISSCC 2014)."""

_SIGNIFICAND_BITS = {
    NumberFormat.FP32: 24, NumberFormat.TF32: 11, NumberFormat.FP16: 11,
    NumberFormat.BF16: 8, NumberFormat.FP8: 4, NumberFormat.FP6: 4, NumberFormat.FP4: 2,
}
"""Significand width including the hidden bit, of the widest encoding a unit must run: fp8's e4m3,
fp6's e2m3 (e3m2 has 3), fp4's e2m1."""
_ARITHMETIC_BITS = {fmt: fmt.storage_bits for fmt in _SIGNIFICAND_BITS} | {NumberFormat.TF32: 19}
"""Width of the format an adder handles: its storage bits, except tf32 (19 bits held in 32)."""
FLOAT_FORMATS = tuple(_SIGNIFICAND_BITS)
"""Number formats costed as floating point; the rest (int8, int4) are integer."""


@dataclasses.dataclass(frozen=True)
class _WidthTable:
    """One operation's energy and area at the tabulated integer widths."""

    bits: np.ndarray
    energy_pj: np.ndarray
    area_um2: np.ndarray
    outside_exponent: float

    def at(self, bits: np.ndarray | float, column: np.ndarray) -> np.ndarray:
        bits = np.asarray(bits, dtype=np.float64)
        clipped = np.clip(bits, self.bits[0], self.bits[-1])
        inside = np.exp(np.interp(np.log(clipped), np.log(self.bits), np.log(column)))
        # Outside the table, scale from the nearest row by the stated power law.
        return inside * (bits / clipped) ** self.outside_exponent


@dataclasses.dataclass(frozen=True)
class Technology:
    """Energy per operation and per access, and unit areas, at one process node.

    Build one with :func:`technology`. Energies are in pJ, areas in um² (mm² where named).

    Args:
        node_nm: Process node the figures are scaled to.
        energy_factor: Logic/SRAM energy at ``node_nm`` divided by energy at 45 nm.
        area_factor: Area at ``node_nm`` divided by area at 45 nm.
        int_add: Integer add table (45 nm).
        int_mult: Integer multiply table (45 nm).
        float_ops: ``(op, format label) -> (energy_pj, area_um2)`` at 45 nm.
        sram_reference_pj_per_bit: Read energy per bit of the reference SRAM (45 nm).
        sram_reference_bytes: Size of the reference SRAM.
        sram_size_exponent: Exponent of the SRAM size rule.
        sram_area_um2_per_kib: SRAM area per KiB (45 nm).
        dram_pj_per_bit: DRAM read energy per bit (not node-scaled).
        rf_relative_to_mac: Register-file access energy per ``rf_word_bits`` word, in
            units of one integer MAC of that width.
        rf_word_bits: Word width of that register-file access.
    """

    node_nm: float
    energy_factor: float
    area_factor: float
    int_add: _WidthTable
    int_mult: _WidthTable
    float_ops: dict[tuple[str, str], tuple[float, float]]
    sram_reference_pj_per_bit: float
    sram_reference_bytes: float
    sram_size_exponent: float
    sram_area_um2_per_kib: float
    dram_pj_per_bit: float
    rf_relative_to_mac: float
    rf_word_bits: int

    def int_add_energy_pj(self, bits: np.ndarray | float) -> np.ndarray:
        """Energy of one integer add of ``bits`` width, in pJ."""
        return self.int_add.at(bits, self.int_add.energy_pj) * self.energy_factor

    def int_mult_energy_pj(self, bits: np.ndarray | float) -> np.ndarray:
        """Energy of one ``bits x bits`` integer multiply, in pJ."""
        return self.int_mult.at(bits, self.int_mult.energy_pj) * self.energy_factor

    def int_mac_energy_pj(self, bits: np.ndarray | float, acc_bits: np.ndarray | float) -> np.ndarray:
        """Energy of one MAC: a ``bits``-wide multiply plus an ``acc_bits``-wide accumulate, in pJ."""
        return self.int_mult_energy_pj(bits) + self.int_add_energy_pj(acc_bits)

    def float_energy_pj(self, op: str, fmt: NumberFormat) -> float:
        """Energy of one floating-point ``op`` (``"add"`` or ``"mult"``) in format ``fmt``, in pJ."""
        return self._float_op(op, fmt)[0] * self.energy_factor

    def float_mac_energy_pj(self, fmt: NumberFormat) -> float:
        """Energy of one floating-point multiply plus add in format ``fmt``, in pJ."""
        return self.float_energy_pj("mult", fmt) + self.float_energy_pj("add", fmt)

    def int_mac_area_um2(self, bits: float, acc_bits: float) -> float:
        """Area of one integer MAC unit (multiplier plus accumulator adder), in um²."""
        area = self.int_mult.at(bits, self.int_mult.area_um2) + self.int_add.at(acc_bits, self.int_add.area_um2)
        return float(area) * self.area_factor

    def int_add_area_um2(self, bits: float) -> float:
        """Area of one integer adder, in um²."""
        return float(self.int_add.at(bits, self.int_add.area_um2)) * self.area_factor

    def float_mac_area_um2(self, fmt: NumberFormat) -> float:
        """Area of one floating-point multiplier plus adder in format ``fmt``, in um²."""
        return (self._float_op("mult", fmt)[1] + self._float_op("add", fmt)[1]) * self.area_factor

    @property
    def register_file_pj_per_bit(self) -> float:
        """Energy per bit of a PE register-file access (Eyeriss: 1x a MAC per 16-bit word), in pJ."""
        mac = float(self.int_mac_energy_pj(self.rf_word_bits, self.rf_word_bits))
        return self.rf_relative_to_mac * mac / self.rf_word_bits

    def sram_pj_per_bit(self, size_bytes: np.ndarray | float) -> np.ndarray:
        """Read/write energy per bit of an SRAM of ``size_bytes``, in pJ (0 for no SRAM).

        ``E(S) = E_ref * (S / S_ref) ** 0.5`` with ``E_ref`` the 8 KB, 32-bit read of
        Horowitz (5 pJ / 32 bits), floored at one register-file access per bit.
        """
        size = np.asarray(size_bytes, dtype=np.float64)
        scaled = self.sram_reference_pj_per_bit * (size / self.sram_reference_bytes) ** self.sram_size_exponent
        return np.where(size > 0, np.maximum(scaled * self.energy_factor, self.register_file_pj_per_bit), 0.0)

    def sram_area_mm2(self, size_bytes: float) -> float:
        """Area of ``size_bytes`` of SRAM, in mm²."""
        return size_bytes / 1024.0 * self.sram_area_um2_per_kib * self.area_factor * 1e-6

    def describe(self) -> str:
        """One line naming the reference table, node and scaling used."""
        return (
            f"Horowitz ISSCC 2014 (45 nm) scaled to {self.node_nm:g} nm by Stillmaker & Baas 2017 "
            f"(energy x{self.energy_factor:.3g}, area x{self.area_factor:.3g}); SRAM energy ~ sqrt(size); "
            f"register file per Eyeriss (ISCA 2016); DRAM {self.dram_pj_per_bit:g} pJ/bit, not node-scaled"
        )

    def _float_op(self, op: str, fmt: NumberFormat) -> tuple[float, float]:
        fmt = NumberFormat(fmt)
        if fmt not in _SIGNIFICAND_BITS:
            raise ValueError(f"{fmt.label} is an integer format; use the int_* methods")
        if (op, fmt.label) in self.float_ops:
            return self.float_ops[(op, fmt.label)]
        # Two-point fits through fp16 and fp32 between them, power laws from fp16 below (module docstring).
        if op == "mult":
            x, x16, x32 = (_SIGNIFICAND_BITS[f] ** 2 for f in (fmt, NumberFormat.FP16, NumberFormat.FP32))
        else:
            x, x16, x32 = (_ARITHMETIC_BITS[f] for f in (fmt, NumberFormat.FP16, NumberFormat.FP32))
        lo, hi = self.float_ops[(op, "fp16")], self.float_ops[(op, "fp32")]
        if x < x16:
            return tuple(a * x / x16 for a in lo)
        return tuple(a + (b - a) * (x - x16) / (x32 - x16) for a, b in zip(lo, hi, strict=True))


@dataclasses.dataclass(frozen=True)
class NodeScaling:
    """Energy and area factors of a node relative to 45 nm (Stillmaker & Baas, 2017).

    Args:
        node_nm: Target node.
        energy_factor: Energy at ``node_nm`` / energy at 45 nm, each at its nominal Vdd.
        area_factor: Area at ``node_nm`` / area at 45 nm.
    """

    node_nm: float
    energy_factor: float
    area_factor: float


def node_scaling(node_nm: float) -> NodeScaling:
    """Scale factors from 45 nm to ``node_nm``, interpolated in log-log between table rows.

    Raises:
        ValueError: ``node_nm`` lies outside the table (7 to 130 nm).
    """
    table = _load("stillmaker_baas_2017.toml")["node"]
    nodes = np.array([row["node_nm"] for row in table], dtype=np.float64)
    if not nodes.min() <= node_nm <= nodes.max():
        raise ValueError(f"process node {node_nm:g} nm is outside the scaling table ({nodes.min():g} to "
                         f"{nodes.max():g} nm)")
    energy = np.array([np.polyval(row["energy_poly_vdd"], row["vdd_v"]) for row in table])
    area = np.array([row["area_rel_45nm"] for row in table], dtype=np.float64)
    order = np.argsort(nodes)
    reference = float(np.interp(math.log(REFERENCE_NODE_NM), np.log(nodes[order]), np.log(energy[order])))

    def at(values: np.ndarray) -> float:
        return float(np.exp(np.interp(math.log(node_nm), np.log(nodes[order]), np.log(values[order]))))

    return NodeScaling(node_nm=float(node_nm), energy_factor=at(energy) / math.exp(reference),
                       area_factor=at(area))


@functools.lru_cache(maxsize=32)
def technology(node_nm: float = REFERENCE_NODE_NM) -> Technology:
    """Load the reference tables and scale them to ``node_nm``.

    Args:
        node_nm: Process node in nm, 7 to 130.

    Raises:
        ValueError: The node is outside the scaling table or a table file is malformed.
    """
    data = _load("horowitz_45nm.toml")
    scaling = node_scaling(node_nm)
    tables = {}
    for op, exponent in (("add", 1.0), ("mult", 2.0)):
        rows = sorted((r for r in data["operation"] if r["op"] == op and r["format"] == "int"),
                      key=lambda r: r["bits"])
        tables[op] = _WidthTable(
            bits=np.array([r["bits"] for r in rows], dtype=np.float64),
            energy_pj=np.array([r["energy_pj"] for r in rows], dtype=np.float64),
            area_um2=np.array([r["area_um2"] for r in rows], dtype=np.float64),
            outside_exponent=exponent,
        )
    sram, dram, rf = data["sram"], data["dram"], data["register_file"]
    return Technology(
        node_nm=scaling.node_nm,
        energy_factor=scaling.energy_factor,
        area_factor=scaling.area_factor,
        int_add=tables["add"],
        int_mult=tables["mult"],
        float_ops={(r["op"], r["format"]): (float(r["energy_pj"]), float(r["area_um2"]))
                   for r in data["operation"] if r["format"] != "int"},
        sram_reference_pj_per_bit=sram["read_energy_pj"] / sram["word_bits"],
        sram_reference_bytes=float(sram["size_bytes"]),
        sram_size_exponent=float(sram["size_exponent"]),
        sram_area_um2_per_kib=float(sram["area_um2_per_kib"]),
        dram_pj_per_bit=dram["read_energy_pj"] / dram["word_bits"],
        rf_relative_to_mac=float(rf["relative_to_mac"]),
        rf_word_bits=int(rf["word_bits"]),
    )


@functools.lru_cache(maxsize=4)
def _load(filename: str) -> dict:
    path = TECHNOLOGY_DIR / filename
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"technology table {path}: {error}") from None
    _check_units(data, path)
    return data


def _check_units(data: dict, path: Path) -> None:
    """Reject numeric keys that do not name their unit (a table typo must not go unnoticed)."""
    unitless = {"node_nm", "bits", "word_bits", "size_exponent", "relative_to_mac", "vdd_v",
                "energy_poly_vdd", "area_rel_45nm"}
    units = ("_pj", "_um2", "_bytes", "_kib", "_nm", "_v")

    def walk(table: dict, where: str) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                walk(value, f"{where}{key}.")
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for row in value:
                    walk(row, f"{where}{key}[].")
            elif isinstance(value, int | float) and key not in unitless and not key.endswith(units) \
                    and "_per_" not in key:
                raise ValueError(f"technology table {path}: key {where}{key!r} does not name its unit")

    walk(data, "")
