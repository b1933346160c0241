"""Fake quantization (formats, rounding, modules) and the bits it sets in the Workload IR."""

import copy
import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cost_models import NumberFormat, WorkloadBuilder, evaluate
from nas.compression import (
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

SMALL_FLOATS = ["fp4_e2m1", "fp6_e2m3", "fp6_e3m2", "fp8_e4m3", "fp8_e5m2"]

# Spec numbers, independent of the registry: (max finite, min subnormal, distinct finite
# values with +0 and -0 merged): OCP MX v1.0 element data types (fp6, fp4) and
# Micikevicius et al. 2022, table 1 (fp8).
SPEC = {
    "fp4_e2m1": (6.0, 0.5, 15),
    "fp6_e2m3": (7.5, 0.125, 63),
    "fp6_e3m2": (28.0, 0.0625, 63),
    "fp8_e4m3": (448.0, 2.0**-9, 253),  # 256 codes less the two NaNs S.1111.111
    "fp8_e5m2": (57344.0, 2.0**-16, 247),  # 256 codes less the 8 inf/NaN codes S.11111.xx
}


def decode_all(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Every finite value of a float format, decoded from its bit codes, sorted; and whether
    its mantissa field is even (the tie-break of round-to-nearest-even)."""
    fmt = quant_format(name)
    e, m, bias = fmt.exponent_bits, fmt.mantissa_bits, fmt.bias
    top = 2**e - 1
    found: dict[float, bool] = {}
    for sign in (1.0, -1.0):
        for exp in range(2**e):
            for man in range(2**m):
                if fmt.has_inf and exp == top:  # IEEE-like: the top exponent is inf/NaN
                    continue
                if fmt.has_nan and not fmt.has_inf and exp == top and man == 2**m - 1:  # e4m3 NaN
                    continue
                # exponent field 0: subnormal, no hidden bit, exponent of the smallest normal
                value = (man / 2**m + (exp > 0)) * 2.0 ** (max(exp, 1) - bias)
                found[sign * value] = man % 2 == 0
    values = np.array(sorted(found))
    return values, np.array([found[v] for v in values])


def reference_round(x: np.ndarray, values: np.ndarray, even: np.ndarray) -> np.ndarray:
    """Nearest of ``values`` to each ``x`` (saturating), ties to the even mantissa."""
    x = np.clip(x, values[0], values[-1])
    hi = np.clip(np.searchsorted(values, x), 1, len(values) - 1)
    lo = hi - 1
    d_lo, d_hi = x - values[lo], values[hi] - x
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & even[hi])
    return np.where(pick_hi, values[hi], values[lo])


def probe_inputs(values: np.ndarray, seed: int = 0) -> np.ndarray:
    """Every value, every midpoint and its float64 neighbours, random and out-of-range inputs."""
    rng = np.random.default_rng(seed)
    mid = (values[:-1] + values[1:]) / 2
    top = values[-1]
    magnitudes = np.exp2(rng.uniform(math.log2(values[values > 0][0]) - 3, math.log2(top) + 1, 20000))
    return np.concatenate([
        values, mid, np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf),
        rng.uniform(-1.5 * top, 1.5 * top, 20000), magnitudes * rng.choice([-1.0, 1.0], magnitudes.size),
        [top * 1.03, -top * 1.03, 1e30, -1e30, np.inf, -np.inf],
    ])


@pytest.mark.parametrize("name", SMALL_FLOATS)
def test_registry_matches_an_enumeration_of_the_codes(name):
    values, _ = decode_all(name)
    fmt = quant_format(name)
    max_value, min_subnormal, count = SPEC[name]
    assert values[-1] == fmt.max_value == max_value
    assert values[values > 0][0] == fmt.min_subnormal == min_subnormal
    assert len(values) == count
    assert fmt.bits == 1 + fmt.exponent_bits + fmt.mantissa_bits


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", SMALL_FLOATS)
def test_rounding_is_nearest_even_onto_the_representable_values(name, dtype):
    values, even = decode_all(name)
    x = torch.tensor(probe_inputs(values), dtype=dtype)
    out = round_to_format(x, name)
    assert out.dtype == dtype
    out = out.double().numpy()
    # every output is representable, and is the nearest one to its input (ties to even)
    assert np.isin(out, values).all()
    np.testing.assert_array_equal(out, reference_round(x.double().numpy(), values, even))
    # every representable value maps to itself
    own = torch.tensor(values, dtype=dtype)
    assert torch.equal(round_to_format(own, name), own)


@pytest.mark.parametrize("name", SMALL_FLOATS + ["fp16", "bf16"])
def test_saturates_at_max_with_no_inf_and_keeps_nan(name):
    fmt = quant_format(name)
    x = torch.tensor([fmt.max_value * 1.5, -fmt.max_value * 1.5, math.inf, -math.inf, 1e300, math.nan],
                     dtype=torch.float64)
    out = round_to_format(x, name)
    assert out[:5].tolist() == [fmt.max_value, -fmt.max_value, fmt.max_value, -fmt.max_value, fmt.max_value]
    assert math.isnan(out[5])


def test_e4m3_past_max_saturates_rather_than_rounding_to_the_nan_code():
    # 464 is halfway between 448 and 480, the value the NaN code would have had.
    assert round_to_format(torch.tensor([464.0, 470.0, 432.0]), "fp8_e4m3").tolist() == [448.0, 448.0, 448.0]


@pytest.mark.parametrize(("name", "dtype"), [("fp16", torch.float16), ("bf16", torch.bfloat16)])
def test_fp16_and_bf16_agree_with_torch_casts(name, dtype):
    rng = np.random.default_rng(1)
    finfo = torch.finfo(dtype)
    magnitudes = np.exp2(rng.uniform(math.log2(finfo.smallest_normal) - 12, math.log2(finfo.max), 50000))
    x = torch.tensor(magnitudes * rng.choice([-1.0, 1.0], magnitudes.size), dtype=torch.float32)
    x = x[x.abs() <= finfo.max]
    assert torch.equal(round_to_format(x, name), x.to(dtype).float())


@pytest.mark.parametrize("name", SMALL_FLOATS)
def test_fake_quantize_float_scales_absmax_to_the_format_max(name):
    values, _ = decode_all(name)
    grid = torch.tensor(values)
    # absmax == max gives scale 1: the representable values come back unchanged
    assert torch.equal(fake_quantize(grid, name), grid)
    x = torch.randn(1000, dtype=torch.float64) * 1e-3
    out = fake_quantize(x, name)
    scale = x.abs().max() / quant_format(name).max_value
    assert float(out.abs().max()) == pytest.approx(float(x.abs().max()), rel=1e-12)
    assert np.isin((out / scale).numpy().round(9), np.round(values, 9)).all()


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(2, 8), symmetric=st.booleans(), seed=st.integers(0, 2**31 - 1),
       shift=st.floats(-3, 3), spread=st.floats(1e-3, 1e3))
def test_integer_error_is_at_most_half_a_step(bits, symmetric, seed, shift, spread):
    x = (torch.randn(512, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift) * spread
    out = fake_quantize(x, f"int{bits}", symmetric=symmetric)
    if symmetric:
        scale = x.abs().max() / (2 ** (bits - 1) - 1)
        levels = 2**bits - 1
    else:
        scale = (x.max().clamp(min=0) - x.min().clamp(max=0)) / (2**bits - 1)
        levels = 2**bits
    assert (out - x).abs().max() <= scale / 2 * (1 + 1e-9)
    assert len(torch.unique(out)) <= levels
    assert fake_quantize(torch.zeros(3), f"int{bits}", symmetric=symmetric).tolist() == [0.0, 0.0, 0.0]


def test_int_rounding_ties_to_even():
    # scale 1 (absmax 127): 0.5 -> 0, 1.5 -> 2, 2.5 -> 2
    x = torch.tensor([0.5, 1.5, 2.5, -2.5, 127.0])
    assert fake_quantize(x, "int8").tolist() == [0.0, 2.0, 2.0, -2.0, 127.0]


# fp8's exponent spans the four decades of this weight, so per-channel scales barely
# help it (measured 0.024 vs 0.027); they matter for integers and the narrow floats.
@pytest.mark.parametrize("name", ["int4", "int8", "fp4_e2m1", "fp6_e2m3"])
def test_per_channel_beats_per_tensor_on_channels_of_different_ranges(name):
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(16, 8, 3, 3, generator=gen) * torch.logspace(-3, 1, 16).reshape(16, 1, 1, 1)

    def mean_channel_error(out):
        return ((out - weight).flatten(1).norm(dim=1) / weight.flatten(1).norm(dim=1)).mean()

    per_channel = mean_channel_error(fake_quantize(weight, name, per_channel_axis=0))
    per_tensor = mean_channel_error(fake_quantize(weight, name))
    assert per_channel < 0.25 * per_tensor


def test_gradient_passes_straight_through():
    x = torch.randn(64, requires_grad=True)
    out = fake_quantize(x, "int2")
    assert torch.equal(out.detach(), fake_quantize(x.detach(), "int2"))
    out.sum().backward()
    assert torch.equal(x.grad, torch.ones(64))


def test_unknown_names_and_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown quantization format 'int9'; choose from int2, .*fp4_e2m1$"):
        quant_format("int9")
    with pytest.raises(ValueError, match="symmetric=False"):
        fake_quantize(torch.ones(2), "fp8_e4m3", symmetric=False)
    with pytest.raises(ValueError, match="per_channel_axis=2"):
        fake_quantize(torch.ones(2, 2), "int8", per_channel_axis=2)
    with pytest.raises(ValueError, match="not a float format"):
        round_to_format(torch.ones(2), "int8")
    assert set(FORMATS) >= {f"int{b}" for b in range(2, 9)} | {"fp16", "bf16", *SMALL_FLOATS}


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    ).eval()


def relative_change(weight_format, act_format):
    net = conv_net()
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = net(x)
        quantized = quantize_module(copy.deepcopy(net), weight_format, act_format)(x)
    return float((quantized - reference).norm() / reference.norm())


def test_8_bit_network_is_close_and_2_bit_is_far():
    # measured: int8/int8 0.003, fp8 e4m3 0.016, int4/int4 0.035, int2/int2 0.67
    assert relative_change("int8", "int8") < 0.02
    assert relative_change("fp8_e4m3", "fp8_e4m3") < 0.05
    assert relative_change("int2", "int2") > 0.3


def test_quantize_module_changes_weights_in_place_and_pickles():
    net = conv_net()
    first = net[0]
    weight, bias = first.weight, first.bias.detach().clone()
    assert quantize_module(net, "int4", "int8") is net
    assert net[0].weight is weight and torch.equal(net[0].bias, bias)
    for row in weight.detach():
        assert len(torch.unique(row)) <= 15
    quantize_module(net, "int4", "int8")  # a second call replaces the activation hook
    hooks = [h for h in first._forward_pre_hooks.values() if isinstance(h, ActivationFakeQuant)]
    assert len(hooks) == 1
    x = torch.randn(2, 3, 16, 16)
    clone = pickle.loads(pickle.dumps(net))
    with torch.no_grad():
        assert torch.equal(clone(x), net(x))


def small_workload():
    b = WorkloadBuilder(batch_size=2)
    p, q = b.conv("conv", c=3, h=8, w=8, k=8, r=3, padding=1)
    b.pool("pool", c=8, h=p, w=q, r=1, global_pool=True)
    b.linear("fc", c=8, k=10)
    return b.build()


@pytest.mark.parametrize(("weights", "acts", "math_format"), [
    ("int8", "int8", NumberFormat.INT8),
    ("int5", "int6", NumberFormat.INT8),
    ("int4", "int4", NumberFormat.INT4),
    ("int2", "int3", NumberFormat.INT4),
    ("int4", "int8", NumberFormat.INT8),
    ("fp8_e4m3", "fp8_e5m2", NumberFormat.FP8),
    ("fp4_e2m1", "fp6_e3m2", NumberFormat.FP6),
    ("fp4_e2m1", "fp4_e2m1", NumberFormat.FP4),
    ("fp6_e2m3", "fp6_e3m2", NumberFormat.FP6),
    ("fp4_e2m1", "fp8_e5m2", NumberFormat.FP8),
    ("int4", "fp4_e2m1", NumberFormat.FP16),
    ("int8", "fp8_e4m3", NumberFormat.FP16),
    ("fp16", "fp16", NumberFormat.FP16),
    ("bf16", "bf16", NumberFormat.BF16),
    ("fp16", "bf16", NumberFormat.TF32),
])
def test_quantize_workload_sets_bits_and_math(weights, acts, math_format):
    wl = quantize_workload(small_workload(), weights, acts)
    assert (wl.weight_bits == FORMATS[weights].bits).all()
    assert (wl.act_bits == FORMATS[acts].bits).all()
    assert (wl.math == math_format).all()


def _every_value(fmt) -> torch.Tensor:
    """All finite values of a float format, built from its fields (subnormals, normals), both signs."""
    steps = 2 ** fmt.mantissa_bits
    subnormal = [m / steps * fmt.min_normal for m in range(steps)]
    normal = [(1 + m / steps) * 2.0 ** (e - fmt.bias) for e in range(1, 2 ** fmt.exponent_bits) for m in range(steps)]
    magnitudes = torch.tensor([v for v in subnormal + normal if v <= fmt.max_value], dtype=torch.float64)
    return torch.cat([magnitudes, -magnitudes])


TF32 = QuantFormat("tf32", 19, "float", 8, 10, 127, (2 - 2.0**-10) * 2.0**127, True, True)
"""NVIDIA's tf32: fp32's 8-bit exponent, a 10-bit mantissa (not a quantization format, a GEMM input)."""


def test_every_value_lists_a_format_exactly():
    fp4 = _every_value(FORMATS["fp4_e2m1"])
    assert sorted(set(fp4.abs().tolist())) == [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    assert len(_every_value(FORMATS["fp6_e3m2"])) == len(_every_value(FORMATS["fp6_e2m3"])) == 64


@pytest.mark.parametrize("name", ["fp4_e2m1", "fp6_e2m3", "fp6_e3m2", "fp8_e4m3", "fp8_e5m2", "fp16", "bf16"])
def test_a_format_widens_only_to_formats_that_hold_its_values(name):
    # NumberFormat.wider is what a GPU runs a missing format in: the network's numbers must not change.
    values = _every_value(FORMATS[name])
    for wider in ir_format(name).wider:
        if wider == NumberFormat.FP32:
            holds = torch.equal(values.float().double(), values)
        else:
            encodings = [TF32] if wider == NumberFormat.TF32 else \
                [fmt for key, fmt in FORMATS.items() if key.split("_")[0] == wider.label]
            assert encodings, wider.label
            holds = any(torch.equal(round_to_format(values, fmt), values) for fmt in encodings)
        assert holds, (name, wider.label)


def test_a_float_format_is_stored_at_its_own_bits():
    for name, fmt in FORMATS.items():
        stored = ir_format(name).storage_bits
        assert stored == fmt.bits if fmt.kind == "float" else stored >= fmt.bits, name


def test_weight_only_quantization_keeps_activations_and_their_math():
    fp16 = small_workload().with_compression(weight_bits=16, act_bits=16, math=NumberFormat.FP16)
    wl = quantize_workload(fp16, "int4")
    assert (wl.weight_bits == 4).all() and (wl.act_bits == 16).all() and (wl.math == NumberFormat.FP16).all()
    np.testing.assert_allclose(wl.weight_bytes, small_workload().weight_bytes / 8)


def test_fp8_speeds_up_a_large_gemm_on_h100_but_not_on_a100():
    b = WorkloadBuilder(batch_size=8192)
    b.linear("gemm", c=8192, k=8192, bias=False)
    wl = b.build()
    fp16, fp8 = quantize_workload(wl, "fp16", "fp16"), quantize_workload(wl, "fp8_e4m3", "fp8_e4m3")
    h100_16, h100_8 = evaluate(fp16, "h100"), evaluate(fp8, "h100")
    a100_16, a100_8 = evaluate(fp16, "a100"), evaluate(fp8, "a100")
    assert h100_8.layer_detail["math_run"].tolist() == ["fp8"]
    assert a100_8.layer_detail["math_run"].tolist() == ["fp16"]
    assert h100_8.layer_bound.tolist() == a100_8.layer_bound.tolist() == ["compute"]
    assert h100_16.summary()["latency_s"] / h100_8.summary()["latency_s"] > 1.8
    assert a100_8.summary()["latency_s"] == pytest.approx(a100_16.summary()["latency_s"], rel=1e-9)
    # the bytes moved still halve on both (through L2 and DRAM together): only the arithmetic widens
    def moved(cost):
        return cost.layer_detail["dram_bytes"][0] + cost.layer_detail["l2_bytes"][0]

    assert moved(a100_8) == pytest.approx(moved(a100_16) / 2)
    assert moved(h100_8) == pytest.approx(moved(h100_16) / 2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_keep_their_dtype_and_round_as_float32_does(dtype):
    x = torch.randn(4096, generator=torch.Generator().manual_seed(2)).to(dtype)
    for name in SMALL_FLOATS:
        out = round_to_format(x, name)
        assert out.dtype == dtype
        assert torch.equal(out.float(), round_to_format(x.float(), name))
    assert fake_quantize(x, "int8", per_channel_axis=0).dtype == dtype
