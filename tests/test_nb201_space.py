import csv
import itertools
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from workload_rows import workload_rows

from cost_models import LayerKind
from search_spaces import (
    NB201_DATASETS,
    NB201_EDGES,
    NB201_N_ARCHS,
    NB201_OPS,
    NB201Space,
    arch_to_index,
    deployed_plan,
    format_arch,
    get_space,
    index_to_arch,
    list_spaces,
    parse_arch,
    validate_arch,
    workload_from_module,
)
from search_spaces._nb201_torch import NB201Cell

ROOT = Path(__file__).parents[1]
PUBLISHED = Path(__file__).parent / "data" / "nb201_published_flops_params.csv"
ALL_CONV3 = format_arch(["nor_conv_3x3"] * 6)
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
six_ops = st.lists(st.sampled_from(NB201_OPS), min_size=6, max_size=6).map(tuple)


# --- arch strings and the official index -------------------------------------------------

@given(six_ops)
def test_format_then_parse_round_trips(ops):
    arch = format_arch(ops)
    assert parse_arch(arch) == ops
    assert validate_arch(arch) == arch
    assert arch.count("+") == 2 and arch.startswith("|") and arch.endswith("|")


def test_edges_follow_the_arch_string_order():
    arch = "|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|skip_connect~2|"
    ops = dict(zip(NB201_EDGES, parse_arch(arch), strict=True))
    assert ops == {"edge_0_1": "skip_connect", "edge_0_2": "nor_conv_1x1", "edge_1_2": "nor_conv_3x3",
                   "edge_0_3": "avg_pool_3x3", "edge_1_3": "none", "edge_2_3": "skip_connect"}


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        ("|none~0|+|none~0|none~1|", "3 '+'-separated node groups"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|", "node 3 must read like"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 must read like"),
        ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "entry 'none~2' of node 2 must read 'OP~1'"),
        ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", "must read 'OP~0'"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv' on edge_0_1"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|max_pool_3x3~2|", "unknown op 'max_pool_3x3' on edge_2_3"),
        (42, "must be a string"),
    ],
)
def test_malformed_arch_strings_fail_in_one_line(arch, message):
    with pytest.raises(ValueError) as error:
        parse_arch(arch)
    assert message in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ValueError):
        validate_arch(arch)


def test_format_rejects_wrong_length_and_unknown_ops():
    with pytest.raises(ValueError, match="has 6 edge ops, got 5"):
        format_arch(["none"] * 5)
    with pytest.raises(ValueError, match="unknown op 'conv' on edge_1_2"):
        format_arch(["none", "none", "conv", "none", "none", "none"])


@pytest.mark.parametrize(
    ("index", "arch"),
    [
        (0, "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"),
        (1, "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"),
        (1462, ALL_CONV3),
        (1651, ALL_NONE),
        (6111, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"),
    ],
)
def test_official_index_of_known_cells(index, arch):
    assert index_to_arch(index) == arch
    assert arch_to_index(arch) == index


def test_official_index_is_a_bijection_onto_the_space():
    archs = [index_to_arch(i) for i in range(NB201_N_ARCHS)]
    assert [arch_to_index(arch) for arch in archs] == list(range(NB201_N_ARCHS))
    enumerated = {format_arch(ops) for ops in itertools.product(NB201_OPS, repeat=6)}
    assert set(archs) == enumerated
    assert archs != sorted(enumerated)  # the official order is not an enumeration


@pytest.mark.parametrize("index", [-1, NB201_N_ARCHS, 2.0, True, "3", None])
def test_index_out_of_range_fails_in_one_line(index):
    with pytest.raises(ValueError, match=r"arch_index must be an integer in \[0, 15624\]"):
        index_to_arch(index)


def test_arch_to_index_rejects_malformed_strings():
    with pytest.raises(ValueError, match="unknown op"):
        arch_to_index(ALL_NONE.replace("none~2", "zero~2"))


@pytest.mark.skipif(not Path("/work/shared/data/nb201_accuracy.csv").exists(), reason="shared data absent")
def test_shipped_index_order_equals_the_source_table():
    with open("/work/shared/data/nb201_accuracy.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [index_to_arch(int(row["arch_index"])) for row in rows] == [row["arch"] for row in rows]


# --- the space ----------------------------------------------------------------------------

def test_registry():
    assert "nb201" in list_spaces()
    assert isinstance(get_space("nb201"), NB201Space)
    assert get_space("nb201", dataset="imagenet16").dataset == "imagenet16"
    with pytest.raises(ValueError, match="unknown search space 'nb101'; choose from .*nb201"):
        get_space("nb101")
    with pytest.raises(ValueError, match="unknown option 'C'; allowed: dataset"):
        get_space("nb201", C=16)


def test_dataset_is_validated():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; choose from cifar10, cifar100, imagenet16"):
        NB201Space(dataset="imagenet")


@pytest.mark.parametrize(
    ("dataset", "classes", "shape"),
    [("cifar10", 10, (3, 32, 32)), ("cifar100", 100, (3, 32, 32)), ("imagenet16", 120, (3, 16, 16))],
)
def test_dataset_geometry(dataset, classes, shape):
    space = NB201Space(dataset=dataset)
    assert space.input_shape() == shape
    workload = space.workload(ALL_NONE)
    assert workload.name[-1] == "head.classifier" and workload.k[-1] == classes
    assert workload.h[0] == shape[1]
    module = space.build(ALL_NONE).eval()
    assert module(torch.zeros(2, *shape)).shape == (2, classes)


def test_sample_suggests_the_six_edges_and_from_params_rebuilds_the_arch():
    space = NB201Space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        arch = space.sample(trial)
        assert list(trial.params) == list(NB201_EDGES)
        assert space.from_params(trial.params) == arch
        study.tell(trial, 0.0)
    distribution = study.trials[0].distributions["edge_1_3"]
    assert tuple(distribution.choices) == NB201_OPS


def test_from_params_names_missing_edges():
    with pytest.raises(ValueError, match="parameters lack edge_1_3, edge_2_3"):
        NB201Space().from_params({edge: "none" for edge in NB201_EDGES[:4]})


def test_describe():
    space = NB201Space()
    assert space.describe_genotype(ALL_NONE) == {"arch": ALL_NONE, "arch_index": 1651}
    assert "15,625" in space.describe()


def test_importing_the_space_does_not_import_torch():
    code = "import sys, search_spaces._nb201; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# --- the workload -------------------------------------------------------------------------

def test_workload_layers_of_the_all_none_network():
    workload = NB201Space(graph="reference").workload(ALL_NONE, batch_size=2)
    # Stem 2 + two reduction blocks of 9 + head 4, and in each of the 15 cells the six zero
    # ops (x.mul(0.), as NB201 runs them) and the three sums of two tensors.
    assert len(workload) == 24 + 15 * (6 + 3)
    cell = [str(name).removeprefix("stage3.cell4.") for name in workload.name if name.startswith("stage3.cell4.")]
    assert cell == ["edge_0_1.zero", "edge_0_2.zero", "edge_1_2.zero", "node2.add",
                    "edge_0_3.zero", "edge_1_3.zero", "node3.add", "edge_2_3.zero", "node3.add:2"]
    zero = workload.name == "stage3.cell4.edge_2_3.zero"
    elems = 2 * 64 * 8 * 8
    assert workload.kind[zero][0] == LayerKind.ELEMENTWISE
    assert (workload.ops[zero][0], workload.input_elems[zero][0], workload.output_elems[zero][0]) == (elems,) * 3
    # The zero ops and sums add work and traffic, never MACs or parameters.
    in_cells = np.char.find(workload.name.astype(str), ".cell") >= 0
    assert (workload.kind[in_cells] == LayerKind.ELEMENTWISE).all()
    assert workload.macs[in_cells].sum() == 0 and workload.params[in_cells].sum() == 0


def test_workload_of_a_cell_with_dead_edges_and_node_sums():
    # node 1 = conv(x) feeds only zero ops (edge_1_2, edge_1_3 are none) but is still computed,
    # and so are the zeros and the sums they enter, as in NB201's reference network.
    arch = format_arch(["nor_conv_1x1", "skip_connect", "none", "avg_pool_3x3", "none", "nor_conv_3x3"])
    workload = NB201Space(graph="reference").workload(arch)
    cell = [(str(name).removeprefix("stage1.cell0."), int(kind), int(c))
            for name, kind, c in zip(workload.name, workload.kind, workload.c, strict=True)
            if name.startswith("stage1.cell0.")]
    assert cell == [
        ("edge_0_1.relu", LayerKind.ELEMENTWISE, 16), ("edge_0_1.conv", LayerKind.CONV, 16),
        ("edge_0_1.bn", LayerKind.NORM, 16), ("edge_1_2.zero", LayerKind.ELEMENTWISE, 16),
        ("node2.add", LayerKind.ELEMENTWISE, 16), ("edge_0_3.pool", LayerKind.POOL, 16),
        ("edge_1_3.zero", LayerKind.ELEMENTWISE, 16), ("node3.add", LayerKind.ELEMENTWISE, 16),
        ("edge_2_3.relu", LayerKind.ELEMENTWISE, 16), ("edge_2_3.conv", LayerKind.CONV, 16),
        ("edge_2_3.bn", LayerKind.NORM, 16), ("node3.add:2", LayerKind.ELEMENTWISE, 16),
    ]
    for add in ("node2.add", "node3.add", "node3.add:2"):
        row = workload.name == f"stage1.cell0.{add}"
        assert workload.input_elems[row][0] == 2 * workload.output_elems[row][0] == 2 * workload.ops[row][0]


def test_zero_ops_cost_work_but_keep_macs_and_params():
    space = NB201Space(graph="reference")
    for conv in ("nor_conv_1x1", "nor_conv_3x3"):
        with_zero = space.workload(format_arch([conv, "none", "none", "none", "none", conv]))
        with_skip = space.workload(format_arch([conv, "skip_connect", "skip_connect", "skip_connect",
                                                "skip_connect", conv]))
        assert int(with_zero.macs.sum()) == int(with_skip.macs.sum())
        assert int(with_zero.params.sum()) == int(with_skip.params.sum())
        # A skip is free; a zero edge is a multiply over the whole tensor (4 per cell here).
        extra = int(with_zero.ops.sum()) - int(with_skip.ops.sum())
        assert extra == 4 * sum(c * s * s for c, s in zip((16, 32, 64), (32, 16, 8), strict=True)) * 5
        assert len(with_zero) == len(with_skip) + 4 * 15


def test_workload_names_are_unique_and_batch_scales_work():
    space = NB201Space()
    one, four = space.workload(ALL_CONV3), space.workload(ALL_CONV3, batch_size=4)
    assert len(set(one.name)) == len(one)
    assert (four.n == 4).all()
    np.testing.assert_array_equal(four.macs, 4 * one.macs)
    np.testing.assert_array_equal(four.params, one.params)


def _random_archs():
    rng = random.Random(20)
    picks = [(dataset, index_to_arch(rng.randrange(NB201_N_ARCHS))) for dataset in NB201_DATASETS for _ in range(10)]
    return [*picks, ("cifar10", ALL_CONV3), ("imagenet16", ALL_NONE), ("cifar100", index_to_arch(0))]


@pytest.mark.parametrize("graph", ["deployed", "reference"])
@pytest.mark.parametrize(("dataset", "arch"), _random_archs())
def test_analytic_workload_equals_the_traced_module(dataset, arch, graph):
    space = NB201Space(dataset=dataset, graph=graph)
    torch.manual_seed(0)
    module = space.build(arch)
    analytic = space.workload(arch, batch_size=3)
    traced = workload_from_module(module, space.input_shape(), batch_size=3)
    assert int(analytic.macs.sum()) == int(traced.macs.sum())
    assert int(analytic.params.sum()) == int(traced.params.sum()) == sum(p.numel() for p in module.parameters())
    # Every layer matches in the same order: name, kind, shape, work, parameters and traffic,
    # the zero ops (x.mul(0.)) and the node sums (two tensors at a time) included.
    assert workload_rows(analytic) == workload_rows(traced)
    ops = parse_arch(arch)
    if graph == "reference":
        assert sum(name.endswith(".zero") for name in traced.name) == sum(op == "none" for op in ops) * 15
        assert sum(".node" in name for name in traced.name) == 3 * 15
    else:
        live, zeros = deployed_plan(ops)
        assert sum(name.endswith(".zeros") for name in traced.name) == 15 * zeros
        assert sum(".node" in name for name in traced.name) == 15 * sum(max(n - 1, 0) for n in live)


def test_none_edges_are_zero_leaf_modules_without_parameters():
    from search_spaces._nb201_torch import Zero

    arch = format_arch(["none", "nor_conv_3x3", "none", "skip_connect", "none", "avg_pool_3x3"])
    module = NB201Space(graph="reference").build(arch)
    modules = dict(module.named_modules())
    assert isinstance(modules["stage2.cell3.edge_1_2.zero"], Zero)
    assert not list(modules["stage2.cell3.edge_1_2.zero"].children())
    zero_modules = [name for name, m in modules.items() if isinstance(m, Zero)]
    assert len(zero_modules) == 3 * 15
    assert sum(p.numel() for p in module.parameters()) == int(NB201Space().workload(arch).params.sum())


def test_deployed_graph_skips_none_edges_and_sums_only_live_inputs():
    # node1 = conv1x1(x); node2 = node1 (edge_0_2 none); node3 = pool(x) + conv3x3(node2) (edge_1_3 none).
    arch = format_arch(["nor_conv_1x1", "none", "skip_connect", "avg_pool_3x3", "none", "nor_conv_3x3"])
    workload = NB201Space().workload(arch)
    cell = [str(name).removeprefix("stage1.cell0.") for name in workload.name if name.startswith("stage1.cell0.")]
    assert cell == ["edge_0_1.relu", "edge_0_1.conv", "edge_0_1.bn", "edge_0_3.pool",
                    "edge_2_3.relu", "edge_2_3.conv", "edge_2_3.bn", "node3.add"]
    # An all-none node read by a live edge is materialised once per cell; the output too.
    dead_input = format_arch(["none", "none", "nor_conv_3x3", "skip_connect", "none", "none"])
    assert deployed_plan(parse_arch(dead_input)) == ((0, 1, 1), True)
    names = [str(n).removeprefix("stage2.cell1.") for n in NB201Space().workload(dead_input).name
             if n.startswith("stage2.cell1.")]
    assert names == ["zeros", "edge_1_2.relu", "edge_1_2.conv", "edge_1_2.bn"]
    assert deployed_plan(parse_arch(ALL_NONE)) == ((0, 0, 0), True)
    # MACs and parameters do not depend on the graph.
    for index in (0, 1651, 4000, 15624):
        arch = index_to_arch(index)
        deployed, reference = NB201Space().workload(arch), NB201Space(graph="reference").workload(arch)
        assert int(deployed.macs.sum()) == int(reference.macs.sum())
        assert int(deployed.params.sum()) == int(reference.params.sum())
        assert len(deployed) <= len(reference)


def test_graph_is_validated():
    with pytest.raises(ValueError, match="unknown graph 'fused'; choose from deployed, reference"):
        NB201Space(graph="fused")


@pytest.mark.parametrize("graph", ["deployed", "reference"])
def test_nb201_cell_semantics(graph):
    x = torch.randn(2, 16, 8, 8)
    skips = NB201Cell(["skip_connect"] * 6, 16, graph)
    # node1 = x, node2 = x + node1, node3 = x + node1 + node2.
    torch.testing.assert_close(skips(x), 4 * x)
    assert not NB201Cell(["none"] * 6, 16, graph)(x).any()
    chain = NB201Cell(["skip_connect", "none", "skip_connect", "none", "none", "skip_connect"], 16, graph)
    torch.testing.assert_close(chain(x), x)
    dead = NB201Cell(["none", "none", "avg_pool_3x3", "skip_connect", "none", "none"], 16, graph)
    torch.testing.assert_close(dead(x), x)


# --- published NB201 numbers --------------------------------------------------------------

def _published():
    with open(PUBLISHED, newline="") as file:
        return list(csv.DictReader(line for line in file if not line.startswith("#")))


def _naslib_flops(workload):
    """NAS-Bench-Suite-Zero's `flops`: tensorwatch/torchstat counting of one image.

    Conv and linear MACs (no linear bias), batch norm 2 per element, ReLU 1 per element,
    pooling kernel-area per output, and the global pool as (h + 1) * (w + 1) per channel
    (torchstat's adaptive-pool formula); tensor sums are not counted.
    """
    relu = np.char.endswith(workload.name.astype(str), ".relu")
    global_pool = workload.name == "head.pool"
    counted = (np.isin(workload.kind, (LayerKind.NORM, LayerKind.POOL)) | relu) & ~global_pool
    quirk = workload.c * (workload.h + 1) * (workload.w + 1)
    return int(workload.macs.sum() + workload.ops[counted].sum() + quirk[global_pool].sum())


def test_published_params_and_flops():
    rows = _published()
    assert len(rows) == 120 and {row["dataset"] for row in rows} == set(NB201_DATASETS)
    spaces = {dataset: NB201Space(dataset=dataset) for dataset in NB201_DATASETS}
    for row in rows:
        workload = spaces[row["dataset"]].workload(index_to_arch(int(row["arch_index"])))
        digits = len(row["params"].split(".")[1])
        assert round(int(workload.params.sum()) / 1e6, digits) == float(row["params"]), row
        # flops are printed to 8 significant digits
        assert float(f"{_naslib_flops(workload) / 1e6:.8g}") == float(row["flops"]), row


def test_all_conv3x3_cifar10_network_has_nb201s_published_size():
    assert int(NB201Space(dataset="cifar10").workload(ALL_CONV3).params.sum()) == 1_531_546
    published = next(row for row in _published() if row["dataset"] == "cifar10" and row["arch_index"] == "1462")
    assert published["params"] == "1.531546"
    assert math.isclose(float(published["flops"]), 222.86099)
