import dataclasses

import optuna
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from workload_rows import workload_rows

from search_spaces import ResNetArch, ResNetSpace, build_model, get_space, model_workload, workload_from_module
from search_spaces._resnet import (
    BLOCK_CHOICES,
    DEPTH_CHOICES,
    EXPANSION_CHOICES,
    RESOLUTION_CHOICES,
    WIDTH_CHOICES,
    parameter_names,
)

RESNET50 = "bottleneck_r224_w1.0_d3-4-6-3_e4-4-4-4"

# torchvision's weights tables (torchvision.models.resnet, v0.13+): exact parameters and GMACs per
# 224x224 image ("_ops", 3 decimals); the MACs must round to them.
TORCHVISION = {
    "resnet18": (11_689_512, 1.814),
    "resnet34": (21_797_672, 3.664),
    "resnet50": (25_557_032, 4.089),
    "wide_resnet50_2": (68_883_240, 11.398),
}


@st.composite
def archs(draw, resolutions=RESOLUTION_CHOICES):
    block = draw(st.sampled_from(BLOCK_CHOICES))
    depths = tuple(draw(st.lists(st.sampled_from(DEPTH_CHOICES), min_size=4, max_size=4)))
    expansions = tuple(draw(st.lists(st.sampled_from(EXPANSION_CHOICES), min_size=4, max_size=4)))
    return ResNetArch(block, draw(st.sampled_from(resolutions)), draw(st.sampled_from(WIDTH_CHOICES)), depths,
                      expansions if block == "bottleneck" else ())


def _macs(arch):
    return int(ResNetSpace().workload(arch).macs.sum())


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_points_have_the_published_size(name):
    params, gmacs = TORCHVISION[name]
    workload = ResNetSpace().workload(ResNetArch.torchvision(name))
    assert int(workload.params.sum()) == params
    assert round(int(workload.macs.sum()) / 1e9, 3) == gmacs


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_reference_models_are_points_of_the_space_layer_for_layer(name):
    arch = ResNetArch.torchvision(name)
    assert workload_rows(ResNetSpace().workload(arch)) == workload_rows(model_workload(name))
    with torch.device("meta"):
        ours, reference = ResNetSpace().build(arch).state_dict(), build_model(name).state_dict()
    assert {key: value.shape for key, value in ours.items()} == {key: value.shape for key, value in reference.items()}
    assert str(ResNetArch.torchvision("resnet50")) == RESNET50


@settings(max_examples=12, deadline=None)
@given(arch=archs())
def test_analytic_workload_equals_the_traced_module(arch):
    space = ResNetSpace(dataset="cifar100")
    with torch.device("meta"):  # shapes are all a trace needs
        module = space.build(str(arch))
    analytic = space.workload(str(arch), batch_size=3)
    assert workload_rows(analytic) == workload_rows(workload_from_module(module, space.input_shape(arch), batch_size=3))
    assert int(analytic.params.sum()) == sum(p.numel() for p in module.parameters())
    assert sum(name.endswith(".add") for name in analytic.name) == sum(arch.depths)


def test_built_module_runs():
    space, genotype = ResNetSpace(dataset="cifar10"), "bottleneck_r128_w0.5_d1-2-1-1_e2-3-4-3"
    torch.manual_seed(0)
    module = space.build(genotype).eval()
    with torch.no_grad():
        logits = module(torch.randn(2, *space.input_shape(genotype)))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    # Width 0.5 and expansion 3 in stage 2: 256 outer channels, 256 / 3 rounded to 88 inner ones.
    assert (module.layer2[0].conv1.out_channels, module.layer2[0].conv3.out_channels) == (88, 256)


@settings(max_examples=40, deadline=None)
@given(arch=archs(), stage=st.sampled_from(range(4)))
def test_more_depth_width_or_resolution_means_more_macs_and_more_expansion_fewer(arch, stage):
    macs = _macs(arch)
    if arch.depths[stage] < max(DEPTH_CHOICES):
        depths = tuple(depth + (index == stage) for index, depth in enumerate(arch.depths))
        assert _macs(dataclasses.replace(arch, depths=depths)) > macs
    for width in (w for w in WIDTH_CHOICES if w > arch.width_mult):
        assert _macs(dataclasses.replace(arch, width_mult=width)) > macs
    for resolution in (r for r in RESOLUTION_CHOICES if r > arch.resolution_px):
        assert _macs(dataclasses.replace(arch, resolution_px=resolution)) > macs
    if arch.block == "bottleneck":
        for expansion in (e for e in EXPANSION_CHOICES if e > arch.expansions[stage]):
            expansions = tuple(expansion if index == stage else e for index, e in enumerate(arch.expansions))
            assert _macs(dataclasses.replace(arch, expansions=expansions)) < macs


@settings(max_examples=100, deadline=None)
@given(arch=archs())
def test_genotype_string_round_trips(arch):
    text = str(arch)
    assert ResNetArch.parse(text) == arch and str(ResNetArch.parse(text)) == text
    assert ResNetSpace().describe_genotype(arch) == {"arch": text}


@pytest.mark.parametrize(("arch", "message"), [
    ("bottleneck_r225_w1.0_d3-4-6-3_e4-4-4-4", "resolution_px 225 must be one of 128, 160"),
    ("bottleneck_r224_w2.0_d3-4-6-3_e4-4-4-4", "width_mult 2.0 must be one of 0.5"),
    ("bottleneck_r224_w1.0_d3-4-7-3_e4-4-4-4", "stage3_depth 7 must be one of 1, 2, 3, 4, 5, 6"),
    ("bottleneck_r224_w1.0_d3-4-6_e4-4-4-4", "has 3 stage depths; expected 4"),
    ("bottleneck_r224_w1.0_d3-4-6-3_e4-4-4-5", "stage4_expansion 5 must be one of 2, 3, 4"),
    ("bottleneck_r224_w1.0_d3-4-6-3_x4-4-4-4", "expansions field 'x4-4-4-4' must read 'e<n1-n2-n3-n4>'"),
    ("bottleneck_r224_w1.0_d3-4-6-3", "must have 5 '_'-separated fields"),
    ("basic_r224_w1.0_d3-4-6-3_e4-4-4-4", "must have 4 '_'-separated fields"),
    ("dense_r224_w1.0_d3-4-6-3", "block 'dense' must be one of basic, bottleneck"),
    ("basic_r224_w1.0_da-b-c-d", "depths field 'da-b-c-d'"),
    (42, "a resnet arch must be a string"),
])
def test_bad_genotypes_fail_in_one_line_naming_the_field(arch, message):
    for call in (lambda: ResNetArch.parse(arch), lambda: ResNetSpace().workload(arch)):
        with pytest.raises(ValueError, match="resnet") as error:
            call()
        assert message in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ValueError, match=r"resnet: 'resnet101' is not in the space; choose from resnet18"):
        ResNetArch.torchvision("resnet101")


def test_sampling_through_an_optuna_study():
    space = get_space("resnet", dataset="imagenet")

    def objective(trial):
        genotype = space.sample(trial)
        trial.set_user_attr("arch", genotype)
        return int(space.workload(genotype).macs.sum())

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    study.optimize(objective, n_trials=30)
    archs = [ResNetArch.parse(trial.user_attrs["arch"]) for trial in study.trials]
    for trial in study.trials:
        assert tuple(trial.params) == parameter_names()
        assert space.from_params(trial.params) == trial.user_attrs["arch"]
    assert {arch.block for arch in archs} == set(BLOCK_CHOICES)
    assert len(set(archs)) == 30
    # Basic blocks have no expansion: theirs are ignored.
    params = dict(study.trials[0].params, block="basic")
    assert space.from_params(params) == space.from_params(dict(params, stage1_expansion=3, stage4_expansion=2))


def test_bad_options_and_params_fail_in_one_line():
    with pytest.raises(ValueError, match=r"resnet: unknown dataset 'svhn'; choose from imagenet, cifar10, cifar100"):
        get_space("resnet", dataset="svhn")
    with pytest.raises(ValueError, match=r"resnet: parameters lack stage2_expansion"):
        ResNetSpace().from_params({name: 3 for name in parameter_names() if name != "stage2_expansion"})
    assert ResNetSpace().input_shape("basic_r160_w1.0_d2-2-2-2") == (3, 160, 160)
