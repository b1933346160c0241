"""`nas cost`: one network on one preset, per-layer table and totals."""

import re

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from cost_models import LayerKind
from nas import cost_network
from nas.cost import apply_precision, format_cost
from search_spaces import get_space, model_workload

CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def run(*args):
    return CliRunner().invoke(main, ["cost", *args])


def totals(output: str) -> dict[str, float]:
    return {m[0]: float(m[1]) for m in re.findall(r"^(latency_s|energy_j|area_mm2)\s+(\S+)$", output, re.M)}


def test_table_and_totals_agree_with_the_model():
    result = run("--space", "nb201", "--arch", CONV3, "--hardware", "h100", "--batch-size", "64")
    assert result.exit_code == 0, result.output
    workload = get_space("nb201").workload(CONV3, batch_size=64)
    expected = cost_network(workload, "h100", "fp16")
    got = totals(result.output)
    assert got["latency_s"] == pytest.approx(expected.latency_s[0], rel=1e-5)
    assert got["energy_j"] == pytest.approx(expected.energy_j[0], rel=1e-5)
    layer_rows = [line for line in result.output.splitlines() if line.startswith(("stem.", "stage", "head", "lastact"))]
    assert len(layer_rows) == len(workload)
    assert "bounds       " in result.output and "energy       power-based" in result.output


def test_top_keeps_the_slowest_layers_in_network_order():
    workload = get_space("nb201").workload(CONV3, batch_size=8)
    cost = cost_network(workload, "tpu_v1")
    text = format_cost(cost, top=4)
    shown = [line.split()[0] for line in text.splitlines()[1:5]]
    slowest = set(np.argsort(-cost.layer_latency_s, kind="stable")[:4])
    assert shown == [workload.name[i] for i in sorted(slowest)]
    assert f"(4 of {len(workload)} layers: the slowest)" in text


def test_default_precision_follows_the_family():
    workload = get_space("nb201").workload(CONV3, batch_size=16)
    assert cost_network(workload, "tpu_v1").latency_s[0] == cost_network(workload, "tpu_v1", "int8").latency_s[0]
    on_gpu = cost_network(workload, "h100")
    convs = workload.kind == LayerKind.CONV
    assert set(on_gpu.layer_detail["math_run"][convs]) == {"fp16"}
    assert on_gpu.latency_s[0] == cost_network(workload, "h100", "fp16").latency_s[0]


def test_unsupported_layers_are_reported_not_zero():
    # EIE lowers convolutions, average pools and sums to matrix-vector products; max pooling has no lowering.
    result = run("--model", "resnet18", "--hardware", "eie")
    assert result.exit_code == 0, result.output
    assert "UNSUPPORTED  1 layers cannot run on this hardware: maxpool" in result.output
    assert np.isnan(totals(result.output)["latency_s"])
    cost = cost_network(model_workload("resnet18"), "eie")
    assert not cost.unsupported[cost.workload.kind != LayerKind.MAX_POOL].any(), "EIE defaults to 4-bit weights"
    subtotal = float(re.search(r"layers alone: (\S+) s", result.output)[1])
    assert subtotal == pytest.approx(np.nansum(cost.layer_latency_s), rel=1e-5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--hardware", "h100"), "give either --model NAME, or --space NAME with --arch GENOTYPE"),
        (("--hardware", "h1000", "--space", "nb201", "--arch", CONV3), "unknown preset 'h1000'"),
        (("--hardware", "h100", "--space", "nb201", "--arch", "|conv~0|"), "arch"),
        (("--hardware", "h100", "--space", "nb201", "--arch", CONV3, "--precision", "fp64"), "unknown 'fp64'"),
    ],
)
def test_bad_input_gives_a_clear_error(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_apply_precision_sets_bits_and_math():
    workload = apply_precision(get_space("nb201").workload(CONV3), "int8")
    assert set(workload.weight_bits) == {8} and set(workload.act_bits) == {8}
    with pytest.raises(ValueError, match="choose from fp32"):
        apply_precision(workload, "int3")


def test_reference_model_is_traced_and_costed():
    result = run("--model", "resnet18", "--hardware", "tpu_v1", "--top", "2")
    assert result.exit_code == 0, result.output
    assert "(2 of " in result.output and "layers: the slowest)" in result.output
    assert totals(result.output)["latency_s"] > 0
    unknown = run("--model", "resnet19", "--hardware", "tpu_v1")
    assert unknown.exit_code == 2
    assert "resnet18" in unknown.output


def test_fp4_on_a_b200_runs_on_its_fp4_tensor_cores():
    args = ("--space", "nb201", "--arch", CONV3, "--batch-size", "256")
    fp4, fp8 = (run(*args, "--hardware", "b200", "--precision", p) for p in ("fp4", "fp8"))
    assert fp4.exit_code == 0 and fp8.exit_code == 0, fp4.output + fp8.output
    workload = get_space("nb201").workload(CONV3, batch_size=256)
    expected = cost_network(workload, "b200", "fp4")
    assert set(expected.layer_detail["math_run"][expected.layer_detail["engine"] == "gemm"]) == {"fp4"}
    assert totals(fp4.output)["latency_s"] == pytest.approx(expected.latency_s[0], rel=1e-5)
    assert totals(fp4.output)["latency_s"] < totals(fp8.output)["latency_s"]
