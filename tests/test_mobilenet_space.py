import csv
import dataclasses
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from workload_rows import workload_rows

from cost_models import MAC_KINDS, LayerKind
from search_spaces import (
    MobileNetArch,
    MobileNetSpace,
    build_model,
    get_space,
    list_spaces,
    model_workload,
    workload_from_module,
)
from search_spaces._mobilenet import (
    DEPTH_CHOICES,
    ELASTIC_DEPTH_STAGES,
    EXPAND_CHOICES,
    KERNEL_CHOICES,
    RESOLUTION_CHOICES,
    SEARCHED_STAGES,
    WIDTH_CHOICES,
    parameter_names,
)

ROOT = Path(__file__).parents[1]
TF_SLIM = Path(__file__).parent / "data" / "mobilenet_v2_tf_slim_checkpoints.csv"
MOBILENET_V2 = "r224_w1.0_k3e6-k3e6_k3e6-k3e6-k3e6_k3e6-k3e6-k3e6-k3e6_k3e6-k3e6-k3e6_k3e6-k3e6-k3e6_k3e6"


@st.composite
def archs(draw, resolutions=RESOLUTION_CHOICES):
    blocks = st.tuples(st.sampled_from(KERNEL_CHOICES), st.sampled_from(EXPAND_CHOICES))
    stages = tuple(
        tuple(draw(st.lists(blocks, min_size=depth, max_size=depth)))
        for depth in (draw(st.sampled_from(DEPTH_CHOICES)) if stage in ELASTIC_DEPTH_STAGES else 1
                      for stage in SEARCHED_STAGES)
    )
    return MobileNetArch(draw(st.sampled_from(resolutions)), draw(st.sampled_from(WIDTH_CHOICES)), stages)


# --- published reference points -----------------------------------------------------------------

def test_mobilenet_v2_point_is_torchvisions_network_layer_for_layer():
    arch = MobileNetArch.mobilenet_v2()
    assert str(arch) == MOBILENET_V2
    workload = MobileNetSpace().workload(MOBILENET_V2)
    # Sandler et al. 2018, Table 4: 300 M multiply-adds, 3.4 M parameters; torchvision: 3,504,872.
    assert (int(workload.macs.sum()), int(workload.params.sum())) == (300_774_272, 3_504_872)
    assert workload_rows(workload) == workload_rows(model_workload("mobilenet_v2"))


def test_mobilenet_v2_point_has_torchvisions_state_dict():
    with torch.device("meta"):
        ours = MobileNetSpace().build(MOBILENET_V2).state_dict()
        reference = build_model("mobilenet_v2").state_dict()
    assert {key: value.shape for key, value in ours.items()} == {key: value.shape for key, value in reference.items()}


def _tf_slim_rows():
    with open(TF_SLIM, newline="") as file:
        return list(csv.DictReader(line for line in file if not line.startswith("#")))


@pytest.mark.parametrize("row", _tf_slim_rows(), ids=lambda row: f"{row['width_mult']}_{row['resolution_px']}")
def test_every_published_tf_slim_checkpoint_is_reproduced(row):
    arch = MobileNetArch.mobilenet_v2(float(row["width_mult"]), int(row["resolution_px"]))
    workload = MobileNetSpace().workload(arch)
    # TF-slim's classifier has a 1001st (background) class: one more output of head channels + 1.
    head = int(workload.c[workload.name == "classifier.1"][0])
    macs = int(workload.macs.sum()) + head
    params = int(workload.weights[np.isin(workload.kind, MAC_KINDS)].sum()) + 1001 + head
    assert math.floor(macs / 1e6) == int(row["macs_m"])
    assert round(params / 1e6, 2) == float(row["params_m"])


def test_the_table_covers_every_width_and_resolution_of_the_space():
    rows = _tf_slim_rows()
    assert {float(row["width_mult"]) for row in rows} == set(WIDTH_CHOICES)
    assert {int(row["resolution_px"]) for row in rows} == set(RESOLUTION_CHOICES)


# --- analytic workload == traced module ----------------------------------------------------------

@settings(max_examples=12, deadline=None)
@given(arch=archs())
def test_analytic_workload_equals_the_traced_module(arch):
    space = MobileNetSpace()
    with torch.device("meta"):  # shapes are all a trace needs
        module = space.build(str(arch))
    analytic = space.workload(str(arch), batch_size=2)
    traced = workload_from_module(module, space.input_shape(arch), batch_size=2)
    assert workload_rows(analytic) == workload_rows(traced)
    assert int(analytic.params.sum()) == sum(p.numel() for p in module.parameters())
    kernels = [kernel for stage in arch.stages for kernel, _ in stage]
    depthwise = analytic.kind == LayerKind.DEPTHWISE_CONV
    assert analytic.r[depthwise].tolist() == [3, *kernels]


def test_built_module_runs_and_is_reproducible():
    space = MobileNetSpace(dataset="cifar10")
    genotype = "r96_w0.5_k5e4-k7e3_k3e6-k3e6_k7e4-k5e3-k3e3_k3e6-k3e6_k3e4-k3e6_k7e3"
    torch.manual_seed(0)
    first = space.build(genotype).eval()
    torch.manual_seed(0)
    second = space.build(genotype).eval()
    batch = torch.randn(2, *space.input_shape(genotype))
    with torch.no_grad():
        logits = first(batch)
        torch.testing.assert_close(second(batch), logits)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    # A residual block adds its input back: features.3 keeps the shape of features.2's output.
    assert first.features[3].residual and not first.features[2].residual


def test_extreme_archs_trace_to_their_analytic_workload():
    space = MobileNetSpace(dataset="cifar100")
    widest = MobileNetArch(224, 1.4, tuple(((7, 6),) * (4 if s in ELASTIC_DEPTH_STAGES else 1)
                                           for s in SEARCHED_STAGES))
    smallest = MobileNetArch(96, 0.35, tuple(((3, 3),) * (2 if s in ELASTIC_DEPTH_STAGES else 1)
                                             for s in SEARCHED_STAGES))
    for arch in (widest, smallest):
        with torch.device("meta"):
            module = space.build(arch)
        traced = workload_from_module(module, space.input_shape(arch))
        assert workload_rows(space.workload(arch)) == workload_rows(traced)
    # The space spans 7.0 M to 942 M MACs, beyond MobileNetV2's published 11 M to 582 M.
    assert int(space.workload(smallest).macs.sum()) == 7_049_072 - 1280 * 900
    assert int(space.workload(widest).macs.sum()) == 942_428_144 - 1792 * 900


# --- monotonicity ----------------------------------------------------------------------------------

def _macs(arch):
    return int(MobileNetSpace().workload(arch).macs.sum())


def _params(arch):
    return int(MobileNetSpace().workload(arch).params.sum())


def _bigger(choices, value):
    return [choice for choice in choices if choice > value]


@settings(max_examples=40, deadline=None)
@given(arch=archs(), data=st.data())
def test_more_depth_kernel_expansion_width_or_resolution_means_more_macs(arch, data):
    macs, params = _macs(arch), _params(arch)
    stage = data.draw(st.sampled_from(range(len(SEARCHED_STAGES))))
    block = data.draw(st.sampled_from(range(arch.depths[stage])))
    kernel, expand = arch.stages[stage][block]

    def with_block(new):
        blocks = list(arch.stages[stage])
        blocks[block] = new
        return dataclasses.replace(arch, stages=(*arch.stages[:stage], tuple(blocks), *arch.stages[stage + 1:]))

    bigger = []
    if SEARCHED_STAGES[stage] in ELASTIC_DEPTH_STAGES and arch.depths[stage] < max(DEPTH_CHOICES):
        deeper = (*arch.stages[stage], arch.stages[stage][-1])
        bigger.append(dataclasses.replace(arch, stages=(*arch.stages[:stage], deeper, *arch.stages[stage + 1:])))
    bigger += [with_block((larger, expand)) for larger in _bigger(KERNEL_CHOICES, kernel)]
    bigger += [with_block((kernel, larger)) for larger in _bigger(EXPAND_CHOICES, expand)]
    bigger += [dataclasses.replace(arch, width_mult=larger) for larger in _bigger(WIDTH_CHOICES, arch.width_mult)]
    for larger in bigger:
        assert _macs(larger) > macs, (str(arch), str(larger))
        assert _params(larger) > params, (str(arch), str(larger))
    for larger in _bigger(RESOLUTION_CHOICES, arch.resolution_px):
        sharper = dataclasses.replace(arch, resolution_px=larger)
        assert _macs(sharper) > macs and _params(sharper) == params


def test_macs_scale_with_batch_and_the_dataset_sets_the_classifier():
    one, four = MobileNetSpace().workload(MOBILENET_V2), MobileNetSpace().workload(MOBILENET_V2, batch_size=4)
    np.testing.assert_array_equal(four.macs, 4 * one.macs)
    np.testing.assert_array_equal(four.params, one.params)
    assert (four.n == 4).all() and len(set(one.name)) == len(one)
    cifar = get_space("mobilenet", dataset="cifar10").workload(MOBILENET_V2)
    assert cifar.k[-1] == 10 and int(one.params.sum()) - int(cifar.params.sum()) == 990 * 1281


# --- genotype strings --------------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(arch=archs())
def test_genotype_string_round_trips(arch):
    text = str(arch)
    assert MobileNetArch.parse(text) == arch and str(MobileNetArch.parse(text)) == text
    assert hash(MobileNetArch.parse(text)) == hash(arch)
    assert MobileNetSpace().describe_genotype(arch) == {"arch": text}


def test_equal_values_give_the_canonical_string():
    assert str(MobileNetArch.parse(MOBILENET_V2.replace("w1.0", "w1"))) == MOBILENET_V2
    assert MobileNetSpace().input_shape(MOBILENET_V2.replace("r224", "r128")) == (3, 128, 128)
    assert MobileNetSpace().input_shape() == (3, 224, 224)


def _edit(field, value):
    fields = MOBILENET_V2.split("_")
    fields[field] = value
    return "_".join(fields)


@pytest.mark.parametrize(("arch", "message"), [
    (_edit(0, "r225"), "resolution_px 225 must be one of 96, 128"),
    (_edit(0, "224"), "resolution_px field '224' must read 'r<number>'"),
    (_edit(1, "w0.9"), "width_mult 0.9 must be one of 0.35"),
    (_edit(1, "wide"), "width_mult field 'wide'"),
    (_edit(2, "k3e6"), "stage2_depth 1 must be one of 2, 3, 4"),
    (_edit(4, "k3e6-k3e6-k3e6-k3e6-k3e6"), "stage4_depth 5 must be one of 2, 3, 4"),
    (_edit(7, "k3e6-k3e6"), "stage7_depth 2 must be one of 1"),
    (_edit(2, "k4e6-k3e6"), "stage2_block1_kernel 4 must be one of 3, 5, 7"),
    (_edit(5, "k3e6-k3e5-k3e6"), "stage5_block2_expand 5 must be one of 3, 4, 6"),
    (_edit(3, "k3e6-k3x6-k3e6"), "stage3_block2 'k3x6' must read 'k<kernel>e<expansion>'"),
    (MOBILENET_V2.rsplit("_", 1)[0], "must have 8 '_'-separated fields"),
    ("", "must have 8 '_'-separated fields"),
    (None, "a mobilenet arch must be a string"),
])
def test_bad_genotypes_fail_in_one_line_naming_the_field(arch, message):
    for call in (lambda: MobileNetArch.parse(arch), lambda: MobileNetSpace().workload(arch)):
        with pytest.raises(ValueError, match="mobilenet") as error:
            call()
        assert message in str(error.value) and "\n" not in str(error.value)


def test_bad_options_and_params_fail_in_one_line():
    with pytest.raises(ValueError, match=r"mobilenet: unknown dataset 'imagenet16'; choose from imagenet, cifar10"):
        get_space("mobilenet", dataset="imagenet16")
    with pytest.raises(ValueError, match=r"mobilenet: parameters lack stage2_block4_kernel"):
        MobileNetSpace().from_params({name: 3 for name in parameter_names() if name != "stage2_block4_kernel"})
    with pytest.raises(ValueError, match=r"mobilenet width_mult 2.0 must be one of"):
        MobileNetArch(224, 2.0, MobileNetArch.mobilenet_v2().stages)


# --- sampling ---------------------------------------------------------------------------------------------

def test_sampling_through_an_optuna_study():
    space = get_space("mobilenet")
    assert "mobilenet" in list_spaces() and space.describe().startswith("MobileNetV2 / Once-for-All")

    def objective(trial):
        genotype = space.sample(trial)
        trial.set_user_attr("arch", genotype)
        return int(space.workload(genotype).macs.sum())

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    study.optimize(objective, n_trials=40)
    archs = [MobileNetArch.parse(trial.user_attrs["arch"]) for trial in study.trials]
    for trial, arch in zip(study.trials, archs, strict=True):
        # Every trial suggests the same flat parameters; a worker rebuilds the genotype from them.
        assert tuple(trial.params) == parameter_names()
        assert space.from_params(trial.params) == trial.user_attrs["arch"] == str(arch)
        assert trial.value == int(space.workload(arch).macs.sum())
    assert len(set(archs)) == 40
    assert {depth for arch in archs for depth in arch.depths[:-1]} == set(DEPTH_CHOICES)
    assert {arch.resolution_px for arch in archs} == set(RESOLUTION_CHOICES)


def test_unused_blocks_parameters_are_ignored():
    params = {name: 3 for name in parameter_names()}
    params.update(resolution_px=160, width_mult=0.75, **{f"stage{s}_depth": 2 for s in ELASTIC_DEPTH_STAGES})
    genotype = MobileNetSpace().from_params(params)
    params["stage3_block4_kernel"] = 7
    assert MobileNetSpace().from_params(params) == genotype == (
        "r160_w0.75_k3e3-k3e3_k3e3-k3e3_k3e3-k3e3_k3e3-k3e3_k3e3-k3e3_k3e3"
    )


def test_workload_is_analytic_and_fast():
    # Without torch: a subprocess that never imports it computes the reference point.
    code = ("import sys; from search_spaces import MobileNetSpace; "
            f"wl = MobileNetSpace().workload({MOBILENET_V2!r}); "
            "sys.exit(int(wl.macs.sum()) != 300774272 or 'torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    genotypes = [MobileNetSpace().sample(study.ask()) for _ in range(100)]
    started = time.perf_counter()
    for genotype in genotypes:
        MobileNetSpace().workload(genotype, batch_size=7)  # a batch size no other test uses: no cache hits
    assert time.perf_counter() - started < 2.0  # about 1 ms each
