
import pytest
import torch

from nas.proxies import ProxyError, SynflowProxy, get_proxy
from search_spaces import get_space

CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SKIPS = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


@pytest.fixture(scope="module")
def space():
    return get_space("nb201", dataset="cifar10")


def scored(space, arch, seed=0, inputs=None):
    torch.manual_seed(seed)
    module = space.build(arch)
    return SynflowProxy().score(module, torch.zeros(1, 3, 32, 32) if inputs is None else inputs)


def test_deterministic_given_the_seed(space):
    assert scored(space, CONV3, seed=3) == scored(space, CONV3, seed=3)


def test_data_free(space):
    noise = torch.randn(4, 3, 32, 32)
    assert scored(space, CONV3, inputs=noise) == pytest.approx(scored(space, CONV3), rel=1e-12)


def test_more_parameters_more_synaptic_flow(space):
    assert scored(space, CONV3) > scored(space, SKIPS)


def test_pruning_changes_the_score(space):
    torch.manual_seed(0)
    module = space.build(CONV3)
    dense = SynflowProxy().score(module, torch.zeros(1, 3, 32, 32))
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, torch.nn.Conv2d):
                threshold = layer.weight.abs().flatten().quantile(0.95)
                layer.weight.mul_(layer.weight.abs() > threshold)
    pruned = SynflowProxy().score(module, torch.zeros(1, 3, 32, 32))
    assert pruned < dense - 1.0


def test_module_is_left_unchanged(space):
    torch.manual_seed(0)
    module = space.build(CONV3)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    SynflowProxy().score(module, torch.zeros(1, 3, 32, 32))
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_disconnected_cell_cannot_be_ranked(space):
    with pytest.raises(ProxyError, match="proxy 'synflow' scored -inf on this network"):
        scored(space, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_registry():
    assert isinstance(get_proxy("synflow"), SynflowProxy)
    with pytest.raises(ValueError, match="unknown proxy 'zen-nas'; choose from fisher, flops, grad_norm"):
        get_proxy("zen-nas")
