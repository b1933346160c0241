"""Technology tables: the Horowitz 45 nm reference, width and size rules, node scaling."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cost_models import NumberFormat, node_scaling, technology
from cost_models._technology import _check_units


@pytest.fixture(scope="module")
def tech45():
    return technology(45)


def test_reference_table_is_reproduced_at_45nm(tech45):
    # Horowitz, ISSCC 2014.
    assert tech45.int_add_energy_pj(8) == pytest.approx(0.03)
    assert tech45.int_add_energy_pj(32) == pytest.approx(0.1)
    assert tech45.int_mult_energy_pj(8) == pytest.approx(0.2)
    assert tech45.int_mult_energy_pj(32) == pytest.approx(3.1)
    assert tech45.float_energy_pj("add", NumberFormat.FP16) == pytest.approx(0.4)
    assert tech45.float_energy_pj("mult", NumberFormat.FP16) == pytest.approx(1.1)
    assert tech45.float_energy_pj("add", NumberFormat.FP32) == pytest.approx(0.9)
    assert tech45.float_energy_pj("mult", NumberFormat.FP32) == pytest.approx(3.7)
    assert tech45.sram_pj_per_bit(8192) * 32 == pytest.approx(5.0)
    assert tech45.dram_pj_per_bit * 32 == pytest.approx(640.0)


def test_width_rules(tech45):
    # Inside the table: log-log interpolation, close to quadratic (mult) and linear (add).
    assert 3.8 < tech45.int_mult_energy_pj(16) / tech45.int_mult_energy_pj(8) < 4.1
    assert 1.6 < tech45.int_add_energy_pj(16) / tech45.int_add_energy_pj(8) < 2.1
    # Outside it: exactly quadratic and linear.
    assert tech45.int_mult_energy_pj(64) / tech45.int_mult_energy_pj(32) == pytest.approx(4.0)
    assert tech45.int_add_energy_pj(4) / tech45.int_add_energy_pj(8) == pytest.approx(0.5)
    assert tech45.int_mac_energy_pj(8, 32) == pytest.approx(0.2 + 0.1)


@given(st.integers(1, 63))
def test_energy_and_area_grow_with_width(bits):
    tech = technology(45)
    assert tech.int_mult_energy_pj(bits + 1) > tech.int_mult_energy_pj(bits) > 0
    assert tech.int_add_energy_pj(bits + 1) > tech.int_add_energy_pj(bits) > 0
    assert tech.int_mac_area_um2(bits + 1, 32) > tech.int_mac_area_um2(bits, 32) > 0


def test_float_formats_between_fp16_and_fp32(tech45):
    fp16, fp32 = (tech45.float_mac_energy_pj(f) for f in (NumberFormat.FP16, NumberFormat.FP32))
    assert tech45.float_mac_energy_pj(NumberFormat.FP8) < tech45.float_mac_energy_pj(NumberFormat.BF16) < fp16
    assert fp16 <= tech45.float_mac_energy_pj(NumberFormat.TF32) < fp32
    with pytest.raises(ValueError, match="integer format"):
        tech45.float_mac_energy_pj(NumberFormat.INT8)


def test_narrow_floats_cost_less_and_never_go_negative(tech45):
    # Below fp16 the units scale from fp16 as integer widths do: multiply ~ significand**2, add ~ bits.
    narrowing = [NumberFormat.FP16, NumberFormat.BF16, NumberFormat.FP8, NumberFormat.FP6, NumberFormat.FP4]
    for op in ("mult", "add"):
        energy = [tech45.float_energy_pj(op, f) for f in narrowing]
        assert all(e > 0 for e in energy) and energy == sorted(energy, reverse=True), op
    areas = [tech45.float_mac_area_um2(f) for f in narrowing]
    assert all(a > 0 for a in areas) and areas == sorted(areas, reverse=True)
    # fp4 e2m1 multiplies 2-bit significands: (2/11)**2 of fp16's multiplier; its add is 4/16 of fp16's.
    assert tech45.float_energy_pj("mult", NumberFormat.FP4) == pytest.approx(1.1 * 4 / 121)
    assert tech45.float_energy_pj("add", NumberFormat.FP4) == pytest.approx(0.4 * 4 / 16)


def test_sram_energy_grows_as_sqrt_of_size(tech45):
    assert tech45.sram_pj_per_bit(4 * 65536) / tech45.sram_pj_per_bit(65536) == pytest.approx(2.0)
    # Horowitz's 1 MB cache read is ~10x the 8 KB one (sqrt(128) = 11.3).
    assert 9 < tech45.sram_pj_per_bit(2**20) / tech45.sram_pj_per_bit(8192) < 12
    # Tiny arrays cost at least a register-file access; no SRAM costs nothing.
    assert tech45.sram_pj_per_bit(16) == pytest.approx(tech45.register_file_pj_per_bit)
    assert tech45.sram_pj_per_bit(0) == 0


def test_register_file_is_one_16bit_mac_per_eyeriss(tech45):
    assert tech45.register_file_pj_per_bit * 16 == pytest.approx(float(tech45.int_mac_energy_pj(16, 16)))


def test_dram_is_two_hundred_macs_per_word(tech45):
    # The DESIGN's "DRAM access ~100-200x a MAC" holds per word at matched width (Horowitz:
    # 640 pJ vs 3.2 pJ at 32 bits). Per byte against an 8-bit MAC it is larger (~500x):
    # narrow arithmetic shrinks quadratically, DRAM bits do not.
    word_ratio = tech45.dram_pj_per_bit * 32 / tech45.int_mac_energy_pj(32, 32)
    assert 100 <= word_ratio <= 250
    byte_ratio = tech45.dram_pj_per_bit * 8 / tech45.int_mac_energy_pj(8, 32)
    assert 100 <= byte_ratio <= 1000


def test_node_scaling():
    assert node_scaling(45).energy_factor == pytest.approx(1.0)
    assert node_scaling(45).area_factor == pytest.approx(1.0)
    nodes = [130, 90, 65, 45, 32, 28, 20, 16, 14, 10, 7]
    energy = [node_scaling(n).energy_factor for n in nodes]
    area = [node_scaling(n).area_factor for n in nodes]
    assert all(a > b for a, b in zip(energy, energy[1:], strict=False))
    assert all(a > b for a, b in zip(area, area[1:], strict=False))
    # Stillmaker & Baas's area table row for 45 nm -> 32 nm.
    assert node_scaling(32).area_factor == pytest.approx(0.46)
    for bad in (5, 180):
        with pytest.raises(ValueError, match="outside the scaling table"):
            node_scaling(bad)


def test_scaled_technology_says_what_it_did():
    tech28 = technology(28)
    assert tech28.int_mac_energy_pj(8, 32) == pytest.approx(0.3 * node_scaling(28).energy_factor)
    # DRAM energy belongs to the DRAM, not to the accelerator's node.
    assert tech28.dram_pj_per_bit == technology(45).dram_pj_per_bit
    line = tech28.describe()
    assert "28 nm" in line and "Stillmaker" in line and "Horowitz" in line and "\n" not in line


def test_sram_area_per_mib_at_45nm(tech45):
    assert tech45.sram_area_mm2(2**20) == pytest.approx(1024 * 4000e-6)
    assert tech45.int_mac_area_um2(8, 32) == pytest.approx(282 + 137)


def test_unitless_numeric_key_is_rejected():
    with pytest.raises(ValueError, match="does not name its unit"):
        _check_units({"sram": {"read_energy": 5.0}}, "demo.toml")
    _check_units({"sram": {"read_energy_pj": 5.0}}, "demo.toml")


def test_expected_values_are_finite_across_widths(tech45):
    bits = np.arange(1, 65)
    assert np.all(np.isfinite(tech45.int_mac_energy_pj(bits, 32)))
    assert not math.isnan(tech45.float_mac_area_um2(NumberFormat.FP8))
