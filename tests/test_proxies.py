"""The zero-cost proxies: invariances, determinism, compression sensitivity, hand-checked values, failures."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from nas.compression import PruningPolicy, prune_module, quantize_module
from nas.proxies import (
    ForwardPass,
    Proxy,
    ProxyError,
    SyntheticBatches,
    get_proxy,
    list_proxies,
    score_proxies,
)
from search_spaces import get_space

MIXED = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"
DISCONNECTED = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
DATA_FREE = ["synflow", "zen", "params", "flops"]
DATA_DEPENDENT = ["snip", "grasp", "grad_norm", "fisher", "jacob_cov", "naswot"]


@pytest.fixture(scope="module")
def space():
    # The ImageNet16-120 network: NB201's layers at 16x16, a quarter of the CIFAR network's cost.
    return get_space("nb201", dataset="imagenet16")


@pytest.fixture(scope="module")
def network(space):
    torch.manual_seed(0)
    return space.build(MIXED)


def batch(seed=0, size=4):
    return SyntheticBatches().batch(size, (3, 16, 16), 120, seed=seed)


def small_cnn(seed=0):
    """A few-millisecond network with every layer kind the proxies treat specially."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(8, 120),
    )


@pytest.fixture(scope="module")
def dense_scores(network):
    b = batch()
    return score_proxies(network, b.inputs, b.targets)


def test_registry_lists_every_proxy_of_the_issue():
    assert list_proxies() == sorted(DATA_FREE + DATA_DEPENDENT)
    with pytest.raises(ValueError, match="unknown proxy 'nope'; choose from fisher, flops"):
        get_proxy("nope")


def test_data_free_proxies_ignore_the_pixels_and_labels(network, dense_scores):
    other = batch(seed=1)
    for name in DATA_FREE:
        assert get_proxy(name).data_free
        assert get_proxy(name).score(network, other.inputs, other.targets) == dense_scores[name], name


def test_data_dependent_proxies_change_with_the_batch(network, dense_scores):
    other = batch(seed=1)
    changed = score_proxies(network, other.inputs, other.targets, DATA_DEPENDENT)
    for name in DATA_DEPENDENT:
        assert not get_proxy(name).data_free
        assert changed[name] != pytest.approx(dense_scores[name], rel=1e-6), name


def test_loss_based_proxies_read_the_labels(network, dense_scores):
    b = batch()
    shuffled = score_proxies(network, b.inputs, (b.targets + 1) % 120, ["snip", "grasp", "grad_norm", "fisher"])
    for name, value in shuffled.items():
        assert value != pytest.approx(dense_scores[name], rel=1e-6), name


def test_a_95_percent_pruned_network_scores_differently(network, dense_scores):
    pruned = _copy(network)
    prune_module(pruned, PruningPolicy(ratio=0.95))
    b = batch()
    for name, value in score_proxies(pruned, b.inputs, b.targets).items():
        assert value != pytest.approx(dense_scores[name], rel=1e-4), name
    assert score_proxies(pruned, b.inputs, b.targets, ["params"])["params"] < 0.1 * dense_scores["params"]


def test_fake_quantization_reaches_the_proxies(network, dense_scores):
    quantized = quantize_module(_copy(network), "int2", "int4")
    b = batch()
    scores = score_proxies(quantized, b.inputs, b.targets, ["snip", "naswot", "synflow", "zen"])
    for name, value in scores.items():
        assert value != pytest.approx(dense_scores[name], rel=1e-6), name


def test_deterministic_given_the_seed():
    def run(seed):
        b = batch(seed)
        return score_proxies(small_cnn(seed), b.inputs, b.targets)

    assert run(3) == run(3)
    changed = run(4)
    assert all(changed[name] != value for name, value in run(3).items() if name not in ("params", "flops"))


def test_sharing_the_forward_pass_changes_no_score():
    net, b = small_cnn(), batch()
    shared = score_proxies(net, b.inputs, b.targets)
    for name in list_proxies():
        assert get_proxy(name).score(net, b.inputs, b.targets) == pytest.approx(shared[name], rel=1e-9), name


def test_no_proxy_changes_the_module():
    net = quantize_module(small_cnn(), "int8", "int8")
    net.eval()
    before = {key: value.clone() for key, value in net.state_dict().items()}
    hooks = sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in net.modules())
    b = batch()
    score_proxies(net, b.inputs, b.targets)
    for name in list_proxies():
        get_proxy(name).score(net, b.inputs, b.targets)
    assert not any(m.training for m in net.modules())
    assert all(p.grad is None for p in net.parameters())
    assert sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in net.modules()) == hooks
    assert net[2].inplace
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_snip_grad_norm_and_fisher_by_hand():
    # One linear layer: dL/dW = (softmax(W x) - onehot(t))^T x / n, and the layer's output is W x.
    torch.manual_seed(0)
    net = nn.Linear(3, 2, bias=False)
    x = torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 1.0], [2.0, 0.5, -1.0]])
    t = torch.tensor([0, 1, 1])
    w = net.weight.detach().double().numpy()
    xs = x.double().numpy()
    logits = xs @ w.T
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    d_logits = (probabilities - np.eye(2)[t.numpy()]) / len(xs)
    gradient = d_logits.T @ xs
    scores = score_proxies(net, x, t, ["snip", "grad_norm", "fisher"])
    assert scores["snip"] == pytest.approx(np.abs(w * gradient).sum(), rel=1e-5)
    assert scores["grad_norm"] == pytest.approx(np.linalg.norm(gradient), rel=1e-5)
    fisher_per_channel = 0.5 * np.mean((logits * d_logits) ** 2, axis=0)
    assert scores["fisher"] == pytest.approx(fisher_per_channel.sum() * 3, rel=1e-5)  # 3 weights per channel


def test_grasp_against_the_full_hessian():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Tanh(), nn.Linear(4, 2, bias=False))
    x, t = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    shapes = [p.shape for p in net.parameters()]
    flat = torch.cat([p.detach().flatten() for p in net.parameters()])

    def loss(theta):
        w1, w2 = theta[:12].view(shapes[0]), theta[12:].view(shapes[1])
        return nn.functional.cross_entropy(torch.tanh(x @ w1.T) @ w2.T, t)

    gradient = torch.autograd.functional.jacobian(loss, flat)
    hessian = torch.autograd.functional.hessian(loss, flat)
    expected = float(-(flat * (hessian @ gradient)).sum())
    assert get_proxy("grasp").score(net, x, t) == pytest.approx(expected, rel=1e-4)


def test_naswot_by_hand():
    # Codes of the ReLU's input: [1,1], [1,0], [0,0]; agreements K = [[2,1,0],[1,2,1],[0,1,2]], det 4.
    net = nn.Sequential(nn.ReLU(), nn.Linear(2, 2))
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    forward_pass = ForwardPass(net, x, needs={"relu_kernel"})
    np.testing.assert_array_equal(forward_pass.relu_kernel, [[2, 1, 0], [1, 2, 1], [0, 1, 2]])
    assert get_proxy("naswot").score(net, x) == pytest.approx(math.log(4))


def test_jacob_cov_by_hand():
    # A linear network has the same input Jacobian for every sample: correlations all 1,
    # eigenvalues n, 0, ..., 0.
    net = nn.Linear(5, 3)
    n, k = 4, 1e-5
    expected = -(math.log(n + k) + 1 / (n + k) + (n - 1) * (math.log(k) + 1 / k))
    assert get_proxy("jacob_cov").score(net, torch.randn(n, 5)) == pytest.approx(expected, rel=1e-6)


def test_params_and_flops_count_only_kept_weights():
    net = nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(16, 3))
    x = torch.zeros(2, 2, 4, 4)
    assert get_proxy("params").score(net, x) == 72 + 8 + 51
    assert get_proxy("flops").score(net, x) == 2 * (4 * 72 + 48)
    with torch.no_grad():
        net[0].weight[:2] = 0
    assert get_proxy("params").score(net, x) == 36 + 8 + 51
    assert get_proxy("flops").score(net, x) == 2 * (4 * 36 + 48)


def test_zen_grows_with_depth_and_survives_pruning_masks():
    def stack(depth):
        torch.manual_seed(0)
        layers = [nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()]
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))

    x = torch.zeros(8, 3, 8, 8)
    zen = get_proxy("zen")
    assert zen.score(stack(4), x) > zen.score(stack(1), x)
    pruned = stack(4)
    prune_module(pruned, PruningPolicy(ratio=0.9))
    assert zen.score(pruned, x) != pytest.approx(zen.score(stack(4), x))


def test_a_disconnected_cell_fails_with_the_proxy_named(space):
    torch.manual_seed(0)
    net = space.build(DISCONNECTED)
    b = batch()
    for name in ("synflow", "naswot", "jacob_cov", "zen"):
        with pytest.raises(ProxyError, match=f"^proxy '{name}' scored .* on this network"):
            get_proxy(name).score(net, b.inputs, b.targets)
    with pytest.raises(ProxyError, match="proxy 'jacob_cov'"):
        score_proxies(net, b.inputs, b.targets, ["params", "jacob_cov"])


def test_a_proxy_returning_nan_or_inf_raises_naming_it():
    class Broken(Proxy):
        name = "broken"

        def _compute(self, module, inputs, targets):
            return float(inputs.sum())

    with pytest.raises(ProxyError, match=r"^proxy 'broken' scored nan on this network"):
        Broken().score(nn.Identity(), torch.tensor([float("nan")]))
    with pytest.raises(ProxyError, match=r"^proxy 'broken' scored inf"):
        Broken().score(nn.Identity(), torch.tensor([float("inf")]))


def test_loss_based_proxies_need_labels(network):
    with pytest.raises(ProxyError, match="proxy 'snip' needs class labels"):
        get_proxy("snip").score(network, batch().inputs)


def test_naswot_and_zen_name_what_they_miss():
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    with pytest.raises(ProxyError, match="proxy 'naswot' found no nn.ReLU"):
        get_proxy("naswot").score(net, torch.randn(4, 3, 2, 2))
    with pytest.raises(ProxyError, match="proxy 'zen' needs the features before a global average pool"):
        get_proxy("zen").score(net, torch.randn(4, 3, 2, 2))


def test_mobilenet_scores():
    # MobileNetV2: ReLU6 rectifiers, depthwise convolutions, dropout; the costly grasp is left to the benchmark.
    from search_spaces import build_model

    torch.manual_seed(0)
    net = build_model("mobilenet_v2")
    b = SyntheticBatches().batch(2, (3, 32, 32), 1000, seed=0)
    names = ["synflow", "zen", "naswot", "jacob_cov", "snip", "params", "flops"]
    scores = score_proxies(net, b.inputs, b.targets, names)
    assert all(math.isfinite(scores[name]) for name in names)
    assert scores["params"] == sum(p.numel() for p in net.parameters())


def _copy(module):
    import copy

    return copy.deepcopy(module)
