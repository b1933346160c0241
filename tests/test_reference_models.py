import copy
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from workload_rows import workload_rows

from cost_models import LayerKind, SparsityPattern
from search_spaces import (
    LayerCompression,
    build_model,
    deep_compression_alexnet,
    eie_benchmark_layers,
    eie_published_latency_us,
    list_models,
    model_input_shape,
    model_workload,
    workload_from_module,
)
from search_spaces._fc_benchmarks import _parse
from search_spaces._reference_models import shipped_versions

ROOT = Path(__file__).parents[1]

# The 12 torchvision models measured on an H100 (the project's h100/torchvision.csv, torch 2.11 +
# torchvision 0.26): parameters, and MACs of one 224x224 image counted by
# torch.utils.flop_counter.FlopCounterMode (convolutions, matrix products, attention; FLOPs / 2).
MEASURED = {
    "alexnet": (61_100_840, 714_188_480),
    "convnext_tiny": (28_589_128, 4_455_531_264),
    "densenet121": (7_978_856, 2_834_161_664),
    "efficientnet_b0": (5_288_548, 385_814_752),
    "mobilenet_v2": (3_504_872, 300_774_272),
    "mobilenet_v3_large": (5_483_032, 216_589_760),
    "regnet_y_400mf": (4_344_144, 401_842_848),
    "resnet18": (11_689_512, 1_814_073_344),
    "resnet50": (25_557_032, 4_089_184_256),
    "squeezenet1_0": (1_248_424, 818_924_576),
    "vgg16": (138_357_544, 15_470_264_320),
    "vit_b_16": (86_567_656, 17_563_828_224),
}
# torchvision's model tables (docs of torchvision.models, v0.13+): GMACs per 224x224 image
# (listed as "GFLOPS") rounded to 2 decimals, for the five models written here as modules.
PUBLISHED_GMACS = {"alexnet": 0.71, "mobilenet_v2": 0.30, "resnet18": 1.81, "resnet50": 4.09, "vgg16": 15.47}
GMACS_TOLERANCE = 0.005
MODULES = sorted(PUBLISHED_GMACS)


def _params(module):
    return sum(parameter.numel() for parameter in module.parameters())


def test_registry_lists_the_measured_models():
    assert list_models() == sorted(MEASURED)
    assert all(model_input_shape(name) == (3, 224, 224) for name in list_models())


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_workload_matches_the_flop_counter_and_params(name):
    params, macs = MEASURED[name]
    workload = model_workload(name)
    assert int(workload.params.sum()) == params
    assert int(workload.macs.sum()) == macs
    assert workload.n_networks == 1 and set(workload.n.tolist()) == {1}
    assert len(set(workload.name.tolist())) == len(workload)


@pytest.mark.parametrize("name", MODULES)
def test_modules_written_here_trace_to_the_shipped_torchvision_rows(name):
    with torch.device("meta"):
        module = build_model(name)
    traced = workload_from_module(module, model_input_shape(name), batch_size=2)
    assert workload_rows(traced) == workload_rows(model_workload(name, batch_size=2))
    assert abs(int(traced.macs.sum()) / 2 / 1e9 - PUBLISHED_GMACS[name]) <= GMACS_TOLERANCE


@pytest.mark.parametrize("name", MODULES)
def test_module_holds_published_params_and_classifies(name):
    net = build_model(name).eval()
    assert _params(net) == MEASURED[name][0]
    with torch.no_grad():
        logits = net(torch.randn(1, *model_input_shape(name)))
    assert logits.shape == (1, 1000)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_macs_scale_linearly_with_batch(name):
    one, eight = model_workload(name), model_workload(name, batch_size=8)
    assert eight.name.tolist() == one.name.tolist()
    np.testing.assert_array_equal(eight.macs, 8 * one.macs)
    np.testing.assert_array_equal(eight.output_elems, 8 * one.output_elems)
    np.testing.assert_array_equal(eight.params, one.params)


def test_shipped_trace_names_its_versions():
    versions = shipped_versions()
    assert versions["torch"].startswith("2.13") and versions["torchvision"].startswith("0.28")


def test_vgg16_macs_by_hand():
    # Thirteen same-padded 3x3 convolutions at 224, 112, 56, 28, 14 px, then three linear layers.
    stages = ((224, 3, 64), (224, 64, 64), (112, 64, 128), (112, 128, 128), (56, 128, 256),
              (56, 256, 256), (56, 256, 256), (28, 256, 512), (28, 512, 512), (28, 512, 512),
              (14, 512, 512), (14, 512, 512), (14, 512, 512))
    macs = sum(size * size * c_in * c_out * 9 for size, c_in, c_out in stages)
    macs += 25088 * 4096 + 4096 * 4096 + 4096 * 1000
    assert int(model_workload("vgg16").macs.sum()) == macs == 15_470_264_320


def test_workload_layers_follow_the_architectures():
    resnet = model_workload("resnet50")
    kinds = dict(zip(resnet.name.tolist(), resnet.kind.tolist(), strict=True))
    assert sum(name.endswith(".add") for name in kinds) == 16  # one residual sum per bottleneck
    assert kinds["layer2.0.downsample.0"] == LayerKind.CONV and kinds["fc"] == LayerKind.LINEAR
    mobilenet = model_workload("mobilenet_v2")
    assert int((mobilenet.kind == LayerKind.DEPTHWISE_CONV).sum()) == 17
    assert sum(name.endswith(".add") for name in mobilenet.name.tolist()) == 10
    # Each of DenseNet-121's 58 dense layers concatenates its inputs, and each of its 4 blocks its outputs.
    densenet = model_workload("densenet121")
    copies = densenet.name[densenet.kind == LayerKind.COPY].tolist()
    assert len(copies) == 62 and all(name.endswith(".cat") for name in copies)
    assert sum(".denselayer" not in name for name in copies) == 4


def test_vit_has_attention_and_tokens():
    vit = model_workload("vit_b_16")
    rows = dict(zip(vit.name.tolist(), range(len(vit)), strict=True))
    layer = "encoder.layers.encoder_layer_11.self_attention"
    qk, softmax, av = (rows[f"{layer}.{step}"] for step in ("qk", "softmax", "av"))
    # 12 heads of (197 x 64) @ (64 x 197), then (197 x 197) @ (197 x 64)
    assert [(vit.groups[i], vit.h[i], vit.c[i], vit.k[i]) for i in (qk, av)] == [(12, 197, 64, 197),
                                                                              (12, 197, 197, 64)]
    assert vit.kind[[qk, softmax, av]].tolist() == [LayerKind.MATMUL, LayerKind.ELEMENTWISE, LayerKind.MATMUL]
    in_proj = rows[f"{layer}.in_proj"]
    assert (vit.kind[in_proj], vit.h[in_proj], vit.c[in_proj], vit.k[in_proj]) == (LayerKind.LINEAR, 197, 768, 2304)
    assert int((vit.kind == LayerKind.MATMUL).sum()) == 24 and int((vit.kind == LayerKind.NORM).sum()) == 25
    # The class token is counted on the concatenation that prepends it, the position embedding on its add.
    assert (vit.kind[rows["cat"]], int(vit.params[rows["cat"]])) == (LayerKind.COPY, 768)
    assert int(vit.params[rows["encoder.add"]]) == 197 * 768


def test_convnext_layer_scale_and_channels_last_linears():
    convnext = model_workload("convnext_tiny")
    rows = dict(zip(convnext.name.tolist(), range(len(convnext)), strict=True))
    assert convnext.kind[rows["features.1.0.block.0"]] == LayerKind.DEPTHWISE_CONV
    pointwise = rows["features.1.0.block.3"]  # nn.Linear over the 56 x 56 positions
    assert (convnext.kind[pointwise], convnext.h[pointwise], convnext.k[pointwise]) == (LayerKind.LINEAR, 3136, 384)
    assert (convnext.kind[rows["features.1.0.mul"]], int(convnext.params[rows["features.1.0.mul"]])) == (
        LayerKind.ELEMENTWISE, 96)


@pytest.mark.parametrize(("name", "keys"), [
    ("alexnet", {"features.0.weight", "features.10.bias", "classifier.1.weight", "classifier.6.bias"}),
    ("vgg16", {"features.28.weight", "classifier.0.weight", "classifier.3.bias", "classifier.6.weight"}),
    ("resnet18", {"conv1.weight", "bn1.running_var", "layer2.0.downsample.1.weight", "layer4.1.conv2.weight"}),
    ("resnet50", {"layer1.0.conv3.weight", "layer3.5.bn3.bias", "layer4.0.downsample.0.weight", "fc.bias"}),
    ("mobilenet_v2", {"features.0.0.weight", "features.1.conv.1.weight", "features.2.conv.3.running_mean",
                      "features.18.1.weight", "classifier.1.weight"}),
])
def test_parameter_names_follow_torchvision(name, keys):
    with torch.device("meta"):
        assert keys <= set(build_model(name).state_dict())


def test_num_classes_sets_the_classifier():
    with torch.device("meta"):
        assert build_model("mobilenet_v2", num_classes=10)(torch.zeros(2, 3, 224, 224)).shape == (2, 10)


def test_bad_names_and_options_fail_in_one_line():
    for call in (lambda: build_model("resnet"), lambda: model_workload("resnet"), lambda: model_input_shape("")):
        with pytest.raises(ValueError, match="unknown reference model") as error:
            call()
        assert "\n" not in str(error.value) and "mobilenet_v2" in str(error.value)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("alexnet", num_classes=0)
    with pytest.raises(ValueError, match="batch_size"):
        model_workload("alexnet", batch_size=0)


def test_importing_search_spaces_does_not_import_torch():
    code = ("import sys, search_spaces; search_spaces.eie_benchmark_layers(); "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# --- the EIE benchmark -------------------------------------------------------------------------

# EIE (Han et al., ISCA 2016) Table III: (inputs, outputs), weight density, activation density.
EIE_TABLE_III = {
    "Alex-6": (9216, 4096, 0.09, 0.351),
    "Alex-7": (4096, 4096, 0.09, 0.353),
    "Alex-8": (4096, 1000, 0.25, 0.375),
    "VGG-6": (25088, 4096, 0.04, 0.183),
    "VGG-7": (4096, 4096, 0.04, 0.375),
    "VGG-8": (4096, 1000, 0.23, 0.411),
    "NT-We": (4096, 600, 0.10, 1.0),
    "NT-Wd": (600, 8791, 0.11, 1.0),
    "NT-LSTM": (1201, 2400, 0.10, 1.0),
}


def test_eie_layers_have_the_papers_shapes_and_compression():
    layers = eie_benchmark_layers()
    assert list(layers) == list(EIE_TABLE_III)
    for name, (inputs, outputs, weight_density, act_density) in EIE_TABLE_III.items():
        layer = layers[name]
        assert len(layer) == 1 and layer.name.tolist() == [name]
        assert (layer.kind[0], layer.c[0], layer.k[0]) == (LayerKind.LINEAR, inputs, outputs)
        assert layer.macs[0] == layer.weights[0] == layer.params[0] == inputs * outputs
        assert layer.weight_density[0] == weight_density and layer.act_density[0] == act_density
        assert layer.pattern[0] == SparsityPattern.UNSTRUCTURED
        assert (layer.weight_bits[0], layer.act_bits[0]) == (4, 16)
        assert layer.effective_macs[0] == pytest.approx(inputs * outputs * weight_density)


def test_eie_layers_scale_with_batch():
    one, many = eie_benchmark_layers(), eie_benchmark_layers(batch_size=64)
    for name in EIE_TABLE_III:
        assert many[name].macs[0] == 64 * one[name].macs[0]
        assert many[name].weight_density[0] == one[name].weight_density[0]


def test_eie_published_latency():
    actual, theoretical = eie_published_latency_us(), eie_published_latency_us(theoretical=True)
    assert list(actual) == list(theoretical) == list(EIE_TABLE_III)
    assert (actual["Alex-6"], actual["VGG-6"], actual["NT-LSTM"]) == (30.3, 34.4, 7.5)
    assert (theoretical["Alex-6"], theoretical["NT-We"]) == (28.1, 5.2)
    assert all(theoretical[name] <= actual[name] for name in actual)


def test_deep_compression_alexnet():
    layers = deep_compression_alexnet()
    assert list(layers) == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    assert layers["conv1"] == LayerCompression(weight_density=0.84, weight_bits=8)
    assert layers["fc6"] == LayerCompression(weight_density=0.09, weight_bits=5)
    assert layers["fc8"] == LayerCompression(weight_density=0.25, weight_bits=5)


def test_returned_tables_are_copies():
    eie_benchmark_layers().clear()
    eie_published_latency_us().clear()
    assert len(eie_benchmark_layers()) == len(eie_published_latency_us()) == 9


@pytest.fixture(scope="module")
def data():
    return tomllib.loads((ROOT / "search_spaces" / "data" / "fc_benchmarks.toml").read_text())


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["eie_layers"]["layers"]["Alex-6"].update(weight_percent=0), r"Alex-6\.weight_percent is 0"),
    (lambda d: d["eie_layers"]["layers"]["VGG-6"].pop("inputs"), r"VGG-6 has .*expected keys"),
    # FLOP % (both operands non-zero) cannot exceed the 4 % of weights by more than its rounding.
    (lambda d: d["eie_layers"]["layers"]["VGG-6"].update(flop_percent=6), r"VGG-6\.flop_percent is 6"),
    (lambda d: d["eie_layers"].update(weight_bits=4.5), r"eie_layers\.weight_bits is 4\.5"),
    (lambda d: d["eie_latency"]["actual_us"].pop("NT-Wd"), r"actual_us lists .*expected the layers"),
    (lambda d: d["eie_latency"]["theoretical_us"].update({"Alex-7": 99.0}), r"'Alex-7' .* lower bound"),
    (lambda d: d["deep_compression_alexnet"].update(source=""), r"'source' must cite"),
    (lambda d: d.pop("eie_latency"), r"missing table \[eie_latency\]"),
])
def test_data_file_is_validated(data, edit, message):
    broken = copy.deepcopy(data)
    edit(broken)
    with pytest.raises(ValueError, match=message):
        _parse(broken)
