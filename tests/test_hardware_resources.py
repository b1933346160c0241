"""`HardwareConfig.resources()`: MAC units and on-chip SRAM of every family, for equal-budget studies."""

import pytest

from cost_models import list_presets, load_hardware

KiB = 1024
MiB = 1024 * KiB

# Dense fp16 MACs per SM per clock that the datasheets' peaks imply (tensor cores: 64 FMA per
# Volta/Turing core, 8 per SM; Ampere 1024 per SM, Hopper 2048; GeForce Turing accumulates fp16 in
# fp32 at half rate; Pascal has no tensor cores and runs fp16 GEMMs on its 128 fp32 cores per SM),
# L2 bytes and L1/shared-memory bytes per SM, as the preset comments cite them.
GPUS = {
    "h100": (2048, 50 * MiB, 256 * KiB),
    "a100": (1024, 40 * MiB, 192 * KiB),
    "v100": (512, 6 * MiB, 128 * KiB),
    "t4": (512, 4 * MiB, 96 * KiB),
    "rtx_2080ti": (256, 5632 * KiB, 96 * KiB),
    "titan_rtx": (512, 6 * MiB, 96 * KiB),
    "gtx_1080ti": (128, 2816 * KiB, 144 * KiB),
    "titan_xp": (128, 3 * MiB, 144 * KiB),
    "titan_x": (128, 3 * MiB, 144 * KiB),
    "jetson_agx_orin": (1024, 4 * MiB, 192 * KiB),
}


def test_every_preset_reports_both_resources():
    for name in list_presets():
        resources = load_hardware(name).resources()
        assert set(resources) == {"mac_units", "onchip_sram_bytes"}, name
        assert all(isinstance(v, float) and v > 0 for v in resources.values()), name


def test_accelerator_presets_match_their_papers():
    # TPU v1 (Jouppi et al. 2017): 256 x 256 MACs; 24 MiB unified buffer, 4 MiB of accumulators
    # and the four 64 KiB tiles of the weight FIFO.
    assert load_hardware("tpu_v1").resources() == {"mac_units": 65536.0,
                                                   "onchip_sram_bytes": 24 * MiB + 4 * MiB + 256 * KiB}
    # Gemmini's default: 16 x 16 MACs, 256 KiB scratchpad and 64 KiB accumulator.
    assert load_hardware("edge_systolic").resources() == {"mac_units": 256.0, "onchip_sram_bytes": 320 * KiB}
    # EIE: 64 PEs, each with 128 KB of sparse-matrix SRAM, 2 KB of activation SRAM and (this
    # preset's lower bound, see eie.toml) 25,089 16-bit pointers.
    eie = load_hardware("eie").resources()
    assert eie == {"mac_units": 64.0, "onchip_sram_bytes": 64 * (128 * KiB + 2 * KiB + 25089 * 2)}


@pytest.mark.parametrize("name", sorted(GPUS))
def test_gpu_presets_match_their_datasheets(name):
    per_sm_macs, l2_bytes, l1_bytes = GPUS[name]
    gpu = load_hardware(name)
    resources = gpu.resources()
    # Peak / clock recovers the per-SM MAC count within the datasheets' rounding of the peak.
    assert resources["mac_units"] == pytest.approx(gpu.sm_count * per_sm_macs, rel=0.005)
    assert resources["onchip_sram_bytes"] == l2_bytes + gpu.sm_count * l1_bytes


@pytest.mark.parametrize(("preset", "key", "small", "large", "grows"), [
    ("tpu_v1", "rows", 64, 128, {"mac_units"}),
    ("tpu_v1", "cols", 64, 128, {"mac_units"}),
    ("tpu_v1", "activation_buffer_bytes", MiB, 8 * MiB, {"onchip_sram_bytes"}),
    ("tpu_v1", "weight_buffer_bytes", 64 * KiB, MiB, {"onchip_sram_bytes"}),
    ("edge_systolic", "unified_buffer_bytes", 64 * KiB, 512 * KiB, {"onchip_sram_bytes"}),
    ("edge_systolic", "accumulator_bytes", 64 * KiB, 128 * KiB, {"onchip_sram_bytes"}),
    ("eie", "n_pes", 32, 256, {"mac_units", "onchip_sram_bytes"}),
    ("eie", "sparse_matrix_sram_bytes_per_pe", 64 * KiB, 256 * KiB, {"onchip_sram_bytes"}),
    ("eie", "pointer_sram_bytes_per_pe", 32 * KiB, 64 * KiB, {"onchip_sram_bytes"}),
    ("eie", "activation_sram_bytes_per_pe", 0, 4 * KiB, {"onchip_sram_bytes"}),
    ("h100", "sm_count", 66, 132, {"onchip_sram_bytes"}),
    ("h100", "l2_cache_bytes", 25 * MiB, 50 * MiB, {"onchip_sram_bytes"}),
    ("h100", "l1_shared_bytes_per_sm", 128 * KiB, 256 * KiB, {"onchip_sram_bytes"}),
    ("h100", "peak_tflops", {"fp32": 66.9, "fp16": 494.7}, {"fp32": 66.9, "fp16": 989.4}, {"mac_units"}),
])
def test_resources_grow_with_the_keys_that_size_them(preset, key, small, large, grows):
    # Through load_hardware's overrides, as a hardware search sizes a design.
    before = load_hardware(preset, {key: small}).resources()
    after = load_hardware(preset, {key: large}).resources()
    for resource in before:
        if resource in grows:
            assert after[resource] > before[resource], resource
        else:
            assert after[resource] == before[resource], resource


def test_a_faster_clock_holds_no_more_gpu_mac_units_at_the_same_peak():
    # The same datasheet peak at a higher clock means fewer MACs per cycle.
    h100 = load_hardware("h100")
    faster = load_hardware("h100", {"boost_clock_mhz": 2 * h100.boost_clock_mhz}).resources()
    assert faster["mac_units"] == pytest.approx(h100.resources()["mac_units"] / 2)
