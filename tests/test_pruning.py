import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cost_models import NumberFormat, SparsityPattern, WorkloadBuilder, evaluate
from nas.compression import PruningPolicy, kept_channels, prune_module, prune_workload
from search_spaces import NB201Space, _nb201_torch, index_to_arch, parse_arch, workload_from_module

ARCH = index_to_arch(1462)  # every edge nor_conv_3x3
MIXED = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"


def _nb201(arch=ARCH, seed=0):
    torch.manual_seed(seed)
    return NB201Space("cifar10").build(arch)


def _chain(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, groups=32, padding=1), nn.ReLU(),  # depthwise: follows its input's channels
        nn.Conv2d(32, 64, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10),
    )


def _shrink_chain(chain, masks):
    """Physically rebuild a channel-pruned chain with only the kept channels."""
    layers, keep_in = [], torch.arange(3)
    for index, layer in enumerate(chain):
        mask = masks.get(str(index))
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            rows = layer.weight.shape[0]
            keep_out = torch.arange(rows) if mask is None else torch.nonzero(mask.flatten(1).any(1)).flatten()
            if isinstance(layer, nn.Conv2d) and layer.groups > 1:
                new = nn.Conv2d(len(keep_out), len(keep_out), layer.kernel_size, padding=layer.padding,
                                groups=len(keep_out), bias=layer.bias is not None)
                new.weight.data = layer.weight.data[keep_out].clone()
            else:
                new = (nn.Conv2d(len(keep_in), len(keep_out), layer.kernel_size, padding=layer.padding,
                                 bias=layer.bias is not None) if isinstance(layer, nn.Conv2d)
                       else nn.Linear(len(keep_in), len(keep_out)))
                new.weight.data = layer.weight.data[keep_out][:, keep_in].clone()
            if layer.bias is not None:
                new.bias.data = layer.bias.data[keep_out].clone()
            layers.append(new)
            keep_in = keep_out
        elif isinstance(layer, nn.BatchNorm2d):
            new = nn.BatchNorm2d(len(keep_in))
            for key in ("weight", "bias", "running_mean", "running_var"):
                getattr(new, key).data = getattr(layer, key).data[keep_in].clone()
            layers.append(new)
        else:
            layers.append(layer)
    return nn.Sequential(*layers)


def _check_same_costs(expected, actual):
    assert expected.name.tolist() == actual.name.tolist()
    for column in ("c", "k", "groups", "macs", "ops", "weights", "params", "input_elems", "output_elems"):
        assert getattr(expected, column).tolist() == getattr(actual, column).tolist(), column


# ----------------------------------------------------------------------------- policy


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"ratio": 1.0}, "ratio"),
    ({"ratio": -0.1}, "ratio"),
    ({"ratio": True}, "ratio"),
    ({"pattern": "4:8"}, "pattern"),
    ({"scope": "network"}, "scope"),
    ({"pattern": "channel", "scope": "global"}, "scope"),
    ({"pattern": "2:4", "ratio": 0.3}, "ratio"),
    ({"pattern": "2:4", "ratio": 0.5, "layer_ratios": {"fc": 0.25}}, "layer_ratios"),
    ({"layer_ratios": {"fc": 1.5}}, "layer_ratios['fc']"),
    ({"layer_ratios": [("fc", 0.5)]}, "layer_ratios"),
    ({"prune_first_conv": True}, "prune_first_conv"),
])
def test_policy_is_validated_with_one_line_naming_the_field(kwargs, field):
    with pytest.raises(ValueError) as error:
        PruningPolicy(**kwargs)
    assert str(error.value).startswith(f"PruningPolicy.{field}: ")
    assert "\n" not in str(error.value)


def test_policy_is_frozen_and_copies_layer_ratios():
    ratios = {"head.classifier": 0.1}
    policy = PruningPolicy(ratio=0.5, layer_ratios=ratios)
    ratios["head.classifier"] = 0.9
    assert policy.ratio_for("head.classifier") == 0.1
    assert policy.ratio_for("stem.conv") == 0.5
    assert hash(policy) == hash(PruningPolicy(ratio=0.5, layer_ratios={"x": 0.2}))


# ----------------------------------------------------------------------------- masks


def test_unstructured_layer_masks_have_exact_sparsity_and_are_applied():
    net = _nb201(MIXED)
    policy = PruningPolicy(ratio=0.7, layer_ratios={"head.classifier": 0.2})
    masks = prune_module(net, policy)
    modules = dict(net.named_modules())
    assert set(masks) == {name for name, m in modules.items() if isinstance(m, (nn.Conv2d, nn.Linear))}
    for name, mask in masks.items():
        assert mask.dtype == torch.bool and mask.shape == modules[name].weight.shape
        assert mask.numel() - int(mask.sum()) == round(policy.ratio_for(name) * mask.numel())
        assert torch.all(modules[name].weight[~mask] == 0)


def test_global_masks_share_one_threshold_and_have_exact_total_sparsity():
    net = _nb201(MIXED)
    policy = PruningPolicy(ratio=0.8, scope="global", layer_ratios={"head.classifier": 0.0})
    weights = {name: m.weight.detach().abs().clone() for name, m in net.named_modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))}
    masks = prune_module(net, policy)
    pooled = [name for name in masks if name != "head.classifier"]
    total = sum(masks[name].numel() for name in pooled)
    assert total - sum(int(masks[name].sum()) for name in pooled) == round(0.8 * total)
    assert bool(masks["head.classifier"].all())
    kept_min = min(float(weights[name][masks[name]].min()) for name in pooled)
    dropped_max = max(float(weights[name][~masks[name]].max()) for name in pooled)
    assert dropped_max <= kept_min
    densities = {float(masks[name].float().mean()) for name in pooled}
    assert len(densities) > 1  # one threshold, so layers lose different fractions


def test_two_four_masks_keep_two_of_every_four_input_channels():
    net = _nb201()
    masks = prune_module(net, PruningPolicy(ratio=0.5, pattern="2:4"))
    assert "stem.conv" not in masks  # 3 input channels: no groups of 4
    assert {"head.classifier", "stage1.cell0.edge_0_1.conv", "stage3.reduction.shortcut.conv"} <= set(masks)
    modules = dict(net.named_modules())
    for name, mask in masks.items():
        quads = mask.movedim(1, -1).reshape(-1, 4)  # groups of 4 consecutive input channels
        assert torch.all(quads.sum(1) == 2), name
        assert torch.all(modules[name].weight[~mask] == 0)


def test_two_four_keeps_the_two_largest_of_each_group():
    layer = nn.Linear(8, 1, bias=False)
    layer.weight.data = torch.tensor([[0.1, -3.0, 2.0, 0.0, 5.0, 1.0, -1.5, 0.2]])
    masks = prune_module(nn.Sequential(layer), PruningPolicy(ratio=0.5, pattern="2:4"))
    assert masks["0"].tolist() == [[False, True, True, False, True, False, True, False]]


def test_channel_masks_zero_whole_filters_of_smallest_l1_norm():
    net = _chain()
    weights = {name: m.weight.detach().clone() for name, m in net.named_modules() if hasattr(m, "weight")}
    masks = prune_module(net, PruningPolicy(ratio=0.25, pattern="channel"))
    # conv 0 (first) pins 16; the classifier pins 10; 32 (conv 3 and the depthwise conv 7), 64 and 48 shrink.
    assert sorted(masks) == ["14", "3", "7", "9"]
    for name, mask in masks.items():
        filters = mask.flatten(1)
        assert torch.all(filters.all(1) | ~filters.any(1)), name
        assert int(filters.any(1).sum()) == kept_channels(mask.shape[0], 0.25)
    assert torch.equal(masks["3"].flatten(1).any(1), masks["7"].flatten(1).any(1))
    norms = weights["9"].abs().flatten(1).sum(1)
    kept = masks["9"].flatten(1).any(1)
    assert norms[~kept].max() <= norms[kept].min()
    assert torch.all(net[10].weight[~kept] == 0) and torch.all(net[10].bias[~kept] == 0)


def test_channel_pruning_refuses_what_it_cannot_keep_consistent():
    grouped = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Conv2d(8, 8, 3, groups=2), nn.Linear(8, 2))
    with pytest.raises(ValueError, match="grouped convolution '1'"):
        prune_module(grouped, PruningPolicy(ratio=0.5, pattern="channel"))
    same_width = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Conv2d(8, 16, 1), nn.Conv2d(16, 16, 1), nn.Linear(16, 2))
    with pytest.raises(ValueError, match="'1' and '2' both write 16 channels but have ratios 0.5 and 0.25"):
        prune_module(same_width, PruningPolicy(ratio=0.5, pattern="channel", layer_ratios={"2": 0.25}))
    group_norm = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Conv2d(8, 16, 1), nn.GroupNorm(4, 16), nn.Conv2d(16, 4, 1))
    with pytest.raises(ValueError, match="GroupNorm '2' of 16 channels cannot keep removed channels at zero"):
        prune_module(group_norm, PruningPolicy(ratio=0.5, pattern="channel"))
    assert bool(group_norm[1].weight.all())  # refused before anything was changed
    with pytest.raises(ValueError, match=r"layer_ratios: 'nope' is not a weight layer"):
        prune_module(_chain(), PruningPolicy(layer_ratios={"nope": 0.5}))


# ----------------------------------------------------------------------------- IR


def test_ir_density_equals_the_masks_kept_fraction_per_layer():
    net = _nb201(MIXED)
    policy = PruningPolicy(ratio=0.6, scope="global")
    masks = prune_module(net, policy)
    dense = workload_from_module(net, (3, 32, 32))
    pruned = prune_workload(dense, policy, masks)
    for name, density, pattern in zip(pruned.name, pruned.weight_density, pruned.pattern, strict=True):
        if name in masks:
            assert density == pytest.approx(float(masks[name].float().mean()))
            assert pattern == SparsityPattern.UNSTRUCTURED
        else:
            assert density == 1.0 and pattern == SparsityPattern.DENSE
    _check_same_costs(dense, pruned)  # shapes and work unchanged
    by_policy = prune_workload(NB201Space().workload(MIXED), PruningPolicy(ratio=0.6))
    mac = by_policy.weights > 0
    assert np.all(by_policy.weight_density[mac] == pytest.approx(0.4))


def test_ir_two_four_matches_the_masked_layers():
    net = _nb201(MIXED)
    policy = PruningPolicy(ratio=0.5, pattern="2:4", layer_ratios={"head.classifier": 0})
    masks = prune_module(net, policy)
    analytic = prune_workload(NB201Space().workload(MIXED), policy)
    from_masks = prune_workload(workload_from_module(net, (3, 32, 32)), policy, masks)
    for workload in (analytic, from_masks):
        n_m = workload.pattern == SparsityPattern.N_M
        assert sorted(workload.name[n_m]) == sorted(masks)
        assert np.all(workload.weight_density[n_m] == 0.5)
        assert np.all(workload.weight_density[~n_m] == 1.0)


def test_channel_ir_equals_the_physically_shrunk_chain():
    for prune_first_conv in (False, True):
        net = _chain().eval()
        policy = PruningPolicy(ratio=0.25, pattern="channel", prune_first_conv=prune_first_conv)
        dense = workload_from_module(net, (3, 16, 16), batch_size=4)
        masks = prune_module(net, policy)
        small = _shrink_chain(net, masks).eval()
        traced = workload_from_module(small, (3, 16, 16), batch_size=4)
        _check_same_costs(traced, prune_workload(dense, policy, masks))
        _check_same_costs(traced, prune_workload(dense, policy))
        x = torch.randn(2, 3, 16, 16)
        with torch.no_grad():
            torch.testing.assert_close(net(x), small(x))  # masked channels carry exact zeros
        pruned = prune_workload(dense, policy)
        shrunk = pruned.k < dense.k
        assert np.all(pruned.pattern[shrunk & (pruned.weights > 0)] == SparsityPattern.CHANNEL)
        assert np.all(pruned.weight_density == 1.0)
        assert pruned.macs.sum() < dense.macs.sum() and pruned.params.sum() < dense.params.sum()


@pytest.mark.parametrize(("prune_first_conv", "widths"), [(False, (16, 24, 48)), (True, (12, 24, 48))])
def test_channel_ir_equals_nb201_built_at_the_pruned_widths(prune_first_conv, widths):
    policy = PruningPolicy(ratio=0.25, pattern="channel", prune_first_conv=prune_first_conv)
    space = NB201Space("cifar10")
    pruned = prune_workload(space.workload(MIXED, batch_size=2), policy)
    masks = prune_module(_nb201(MIXED), policy)
    _check_same_costs(pruned, prune_workload(space.workload(MIXED, batch_size=2), policy, masks))
    narrow = _nb201_torch.NB201Network(parse_arch(MIXED), num_classes=10, stage_channels=widths)
    _check_same_costs(workload_from_module(narrow, (3, 32, 32), batch_size=2), pruned)


def test_ir_refuses_fully_pruned_layers_and_foreign_masks():
    builder = WorkloadBuilder()
    builder.linear("fc", c=4, k=1)
    workload = builder.build()
    with pytest.raises(ValueError, match="'fc' is fully pruned"):
        prune_workload(workload, PruningPolicy(), {"fc": torch.zeros(1, 4, dtype=torch.bool)})
    with pytest.raises(ValueError, match="masks for 'other'"):
        prune_workload(workload, PruningPolicy(), {"other": torch.ones(1, 4, dtype=torch.bool)})


def test_ir_refuses_masks_that_break_the_pattern():
    net = _chain()
    dense = workload_from_module(net, (3, 16, 16))
    unstructured = prune_module(_chain(), PruningPolicy(ratio=0.5))
    with pytest.raises(ValueError, match="do not keep 2 of every 4 input channels"):
        prune_workload(dense, PruningPolicy(ratio=0.5, pattern="2:4"), {"3": unstructured["3"]})
    channel = prune_module(_chain(), PruningPolicy(ratio=0.25, pattern="channel"))
    policy = PruningPolicy(ratio=0.25, pattern="channel")
    with pytest.raises(ValueError, match="'3' writes 32 channels like the masked '7' but has no mask"):
        prune_workload(dense, policy, {"7": channel["7"]})
    wider = dict(channel, **{"7": torch.ones_like(channel["7"])})
    wider["7"][:2] = False
    with pytest.raises(ValueError, match="masks of '3' and '7' keep 24 and 30 of 32 channels"):
        prune_workload(dense, policy, wider)


# ----------------------------------------------------------------------------- cost models


def test_channel_pruning_speeds_up_a_dense_gpu_and_unstructured_does_not():
    dense = NB201Space().workload(ARCH, batch_size=64)
    before = evaluate(dense, "h100").latency_s[0]
    channel = prune_workload(dense, PruningPolicy(ratio=0.5, pattern="channel", prune_first_conv=True))
    assert channel.macs.sum() < 0.3 * dense.macs.sum()
    assert evaluate(channel, "h100").latency_s[0] < before
    unstructured = prune_workload(dense, PruningPolicy(ratio=0.5))
    assert evaluate(unstructured, "h100").latency_s[0] == before


def test_unstructured_pruning_speeds_up_the_sparse_engine():
    builder = WorkloadBuilder(batch_size=1)  # LeNet-300-100 (Han et al. 2015)
    for name, c, k in (("fc1", 784, 300), ("fc2", 300, 100), ("fc3", 100, 10)):
        builder.linear(name, c=c, k=k)
    dense = builder.build().with_compression(weight_bits=4, act_bits=16, math=NumberFormat.INT8)
    pruned = prune_workload(dense, PruningPolicy(ratio=0.5))
    assert evaluate(pruned, "eie").latency_s[0] < evaluate(dense, "eie").latency_s[0]


def test_two_four_speeds_up_only_large_gemms_on_ampere_by_less_than_2x_and_volta_not_at_all():
    # Measured on an H100 (nas/data/h100/gemm.csv): cuSPARSELt's 2:4 GEMMs win only at large M; the
    # small convolutions of a CIFAR cell at batch 64 run slower sparse than dense.
    builder = WorkloadBuilder(batch_size=8192)
    builder.linear("gemm", c=8192, k=8192, bias=False)
    for dense in (builder.build().with_compression(math=NumberFormat.FP16),
                  NB201Space().workload(ARCH, batch_size=64).with_compression(math=NumberFormat.FP16)):
        sparse = prune_workload(dense, PruningPolicy(ratio=0.5, pattern="2:4"))
        speedup = evaluate(dense, "a100").latency_s[0] / evaluate(sparse, "a100").latency_s[0]
        assert (1.0 < speedup < 2.0) if len(dense) == 1 else speedup < 1.0
        assert evaluate(sparse, "v100").latency_s[0] == evaluate(dense, "v100").latency_s[0]


# ----------------------------------------------------------------------------- properties


@st.composite
def _chains(draw):
    widths = draw(st.lists(st.integers(1, 48), min_size=1, max_size=5))
    builder = WorkloadBuilder(batch_size=draw(st.integers(1, 4)))
    c, size = draw(st.integers(1, 4)), draw(st.integers(1, 8))
    for index, k in enumerate(widths):
        builder.conv(f"conv{index}", c=c, h=size, w=size, k=k, r=draw(st.sampled_from([1, 3])), padding=1,
                     bias=draw(st.booleans()))
        builder.norm(f"bn{index}", c=k, h=size, w=size)
        builder.elementwise(f"relu{index}", c=k, h=size, w=size)
        c = k
    builder.pool("pool", c=c, h=size, w=size, r=size, global_pool=True)
    builder.linear("fc", c=c, k=draw(st.integers(1, 20)))
    return builder.build()


@settings(max_examples=60, deadline=None)
@given(_chains(), st.floats(0, 0.99), st.sampled_from(["unstructured", "2:4", "channel"]), st.booleans())
def test_pruned_macs_never_exceed_dense_macs(workload, ratio, pattern, first):
    policy = PruningPolicy(ratio=0.5 if pattern == "2:4" else ratio, pattern=pattern,
                           prune_first_conv=first and pattern == "channel")
    pruned = prune_workload(workload, policy)
    assert np.all(pruned.macs <= workload.macs) and np.all(pruned.params <= workload.params)
    assert pruned.effective_macs.sum() <= workload.effective_macs.sum()


@settings(max_examples=60, deadline=None)
@given(_chains(), st.floats(0, 0.99), st.floats(0, 0.99), st.booleans())
def test_a_higher_ratio_never_gives_a_higher_density(workload, low, high, global_scope):
    low, high = sorted((low, high))
    scope = "global" if global_scope else "layer"
    at = {ratio: prune_workload(workload, PruningPolicy(ratio=ratio, scope=scope)) for ratio in (low, high)}
    assert np.all(at[high].weight_density <= at[low].weight_density)
    channel = {ratio: prune_workload(workload, PruningPolicy(ratio=ratio, pattern="channel")) for ratio in (low, high)}
    assert np.all(channel[high].k <= channel[low].k) and channel[high].macs.sum() <= channel[low].macs.sum()


@settings(max_examples=30, deadline=None)
@given(st.floats(0, 0.99), st.floats(0, 0.99), st.integers(0, 3))
def test_a_higher_ratio_never_keeps_more_weights_in_the_masks(low, high, seed):
    low, high = sorted((low, high))
    kept = {}
    for ratio in (low, high):
        masks = prune_module(_chain(seed), PruningPolicy(ratio=ratio, scope="global"))
        kept[ratio] = {name: float(mask.float().mean()) for name, mask in masks.items()}
        assert sum(int(m.sum()) for m in masks.values()) == sum(m.numel() for m in masks.values()) - round(
            ratio * sum(m.numel() for m in masks.values()))
    assert all(kept[high][name] <= kept[low][name] for name in kept[low])
