import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from cost_models import LayerKind
from search_spaces import workload_from_module


def _params(module):
    return sum(parameter.numel() for parameter in module.parameters())


class BasicBlock(nn.Module):
    """A torchvision-style residual block: one ReLU module called twice, an in-place add."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.downsample(x)
        return self.relu(out)


def _tiny_resnet():
    return nn.Sequential(
        nn.Conv2d(3, 8, 7, 2, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1), BasicBlock(8, 16, 2), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
        nn.Dropout(0.2), nn.Linear(16, 5),
    )


def test_docstring_example_counts():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    workload = workload_from_module(net, (3, 32, 32), batch_size=4)
    assert workload.name.tolist() == ["0", "1", "2"]
    assert workload.kind.tolist() == [LayerKind.CONV, LayerKind.ELEMENTWISE, LayerKind.POOL]
    assert int(workload.macs[0]) == 4 * 8 * 32 * 32 * 3 * 9
    assert int(workload.params.sum()) == _params(net) == 8 * 27 + 8


def test_residual_network():
    net = _tiny_resnet()
    workload = workload_from_module(net, (3, 64, 64), batch_size=2)
    names = workload.name.tolist()
    assert names == [
        "0", "1", "2", "3",
        "4.conv1", "4.bn1", "4.relu", "4.conv2", "4.bn2", "4.downsample.0", "4.downsample.1", "4.add", "4.relu:2",
        "5", "8",
    ]
    kinds = dict(zip(names, workload.kind.tolist(), strict=True))
    assert kinds["3"] == LayerKind.MAX_POOL and kinds["4.add"] == LayerKind.ELEMENTWISE
    assert kinds["8"] == LayerKind.LINEAR and kinds["4.bn1"] == LayerKind.NORM
    assert int(workload.params.sum()) == _params(net)
    add = names.index("4.add")
    assert (workload.c[add], workload.h[add], workload.input_elems[add]) == (16, 8, 2 * 2 * 16 * 8 * 8)
    # 7x7/2 stem 64 -> 32, max pool 3x3/2 pad 1 -> 16, block stride 2 -> 8
    assert workload.p.tolist()[:5] == [32, 32, 32, 16, 8]


def test_mobilenet_style_depthwise_block():
    net = nn.Sequential(
        nn.Conv2d(8, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(),
        nn.Conv2d(32, 32, 3, 2, 1, groups=32, bias=False), nn.BatchNorm2d(32), nn.Hardswish(),
        nn.Conv2d(32, 16, 1, groups=2), nn.GroupNorm(4, 16), nn.SiLU(),
    )
    workload = workload_from_module(net, (8, 16, 16))
    assert workload.kind[3] == LayerKind.DEPTHWISE_CONV
    assert int(workload.macs[3]) == 32 * 8 * 8 * 9
    assert (workload.kind[6], workload.groups[6], int(workload.weights[6])) == (LayerKind.CONV, 2, 16 * 16)
    assert workload.kind[7] == LayerKind.NORM
    assert int(workload.params.sum()) == _params(net)


@settings(max_examples=30, deadline=None)
@given(
    c_per_group=st.integers(1, 4), k_per_group=st.integers(1, 4), groups=st.integers(1, 3),
    kernel=st.integers(1, 5), stride=st.integers(1, 3), padding=st.integers(0, 3),
    dilation=st.integers(1, 2), size=st.tuples(st.integers(9, 14), st.integers(9, 14)), bias=st.booleans(),
)
def test_any_conv2d_is_counted_exactly(c_per_group, k_per_group, groups, kernel, stride, padding, dilation,
                                       size, bias):
    assume(dilation == 1 or kernel % 2)  # see test_even_dilated_kernels_are_refused
    c, k = c_per_group * groups, k_per_group * groups
    conv = nn.Conv2d(c, k, kernel, stride, padding, dilation, groups, bias)
    out = conv(torch.zeros(1, c, *size))
    workload = workload_from_module(conv, (c, *size), batch_size=2)
    p, q = out.shape[2:]
    assert (int(workload.p[0]), int(workload.q[0])) == (p, q)
    assert int(workload.macs[0]) == 2 * k * p * q * c_per_group * kernel * kernel
    assert int(workload.params[0]) == _params(conv)
    assert workload.name[0] == "conv2d"


def test_even_dilated_kernels_are_refused():
    # A 2x2 kernel with dilation 2 spans 3 pixels: 9 -> 7, which no integer padding of a
    # 2x2 kernel reproduces in WorkloadBuilder's size formula (the Workload has no dilation).
    with pytest.raises(ValueError, match=r"'0': no single padding maps \(9, 9\) to \(7, 7\) with a 2x2 window"):
        workload_from_module(nn.Sequential(nn.Conv2d(2, 2, 2, dilation=2)), (2, 9, 9))


def test_pools():
    net = nn.Sequential(
        nn.MaxPool2d(3, 2, ceil_mode=True), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(2), nn.AdaptiveMaxPool2d(1),
    )
    workload = workload_from_module(net, (4, 16, 16))
    assert workload.p.tolist() == [8, 4, 2, 1]  # ceil_mode keeps a partial window: 8, not 7
    assert workload.r.tolist() == [3, 2, 2, 2]
    assert workload.kind.tolist() == [LayerKind.MAX_POOL, LayerKind.POOL, LayerKind.POOL, LayerKind.MAX_POOL]
    with pytest.raises(ValueError, match=r"'0' \(AdaptiveAvgPool2d\): adaptive pooling 7x7 -> 3x3"):
        workload_from_module(nn.Sequential(nn.AdaptiveAvgPool2d(3)), (2, 7, 7))
    with pytest.raises(ValueError, match=r"unequal kernel_size \(3, 2\)"):
        workload_from_module(nn.Sequential(nn.MaxPool2d((3, 2))), (2, 7, 7))


def test_linear_on_tokens_is_a_1x1_convolution():
    net = nn.Sequential(nn.Linear(12, 6), nn.GELU(), nn.Linear(6, 3, bias=False))
    workload = workload_from_module(net, (5, 12), batch_size=2)
    assert workload.kind.tolist() == [LayerKind.CONV, LayerKind.ELEMENTWISE, LayerKind.CONV]
    assert workload.macs.tolist() == [2 * 5 * 12 * 6, 0, 2 * 5 * 6 * 3]
    assert int(workload.params.sum()) == _params(net)
    norm = workload_from_module(nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8)), (4,))
    assert norm.kind.tolist() == [LayerKind.LINEAR, LayerKind.NORM]
    assert int(norm.params.sum()) == 4 * 8 + 8 + 16


def test_layer_norm_over_tokens():
    workload = workload_from_module(nn.LayerNorm(6), (5, 6), batch_size=2)
    assert (workload.kind[0], workload.c[0], workload.h[0], workload.w[0]) == (LayerKind.NORM, 6, 5, 1)
    assert int(workload.params[0]) == 12 and int(workload.output_elems[0]) == 2 * 5 * 6
    with pytest.raises(ValueError, match="'layernorm' .* holds 6 parameters, but its workload row would count 12"):
        workload_from_module(nn.LayerNorm(6, bias=False), (5, 6))


def test_nb201_zero_op_is_an_elementwise_layer():
    from search_spaces._nb201_torch import Zero

    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1, bias=False)
            self.zero = Zero()

        def forward(self, x):
            y = self.conv(x)
            return y + self.zero(y)  # a zero branch is computed and summed, as in NB201

    net = Branches()
    workload = workload_from_module(net, (3, 5, 5), batch_size=2)
    assert workload.name.tolist() == ["conv", "zero", "add"]
    assert workload.kind.tolist() == [LayerKind.CONV, LayerKind.ELEMENTWISE, LayerKind.ELEMENTWISE]
    elems = 2 * 4 * 5 * 5
    assert workload.ops.tolist()[1:] == [elems, elems]  # the multiply by 0, then the sum
    assert workload.input_elems.tolist()[1:] == [elems, 2 * elems]
    assert workload.output_elems.tolist()[1:] == [elems, elems]
    assert workload.macs.tolist()[1:] == [0, 0] and workload.params.tolist() == [12, 0, 0]
    assert int(workload.params.sum()) == _params(net)


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(self.conv(x))
        return y + y + 0.5 + torch.ones(1)


def test_a_module_called_twice_holds_its_parameters_once():
    net = Shared()
    workload = workload_from_module(net, (4, 6, 6))
    assert workload.name.tolist() == ["conv", "conv:2", "add"]  # scalar and broadcast adds are not sums
    assert workload.params.tolist() == [_params(net), 0, 0]
    assert workload.weights.tolist() == [144, 144, 0]


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.conv(x) * self.scale


@pytest.mark.parametrize(
    ("net", "message"),
    [
        (nn.Sequential(nn.Conv2d(3, 3, 1), nn.PReLU()), r"module '1' \(PReLU\): it holds parameters \(weight\)"),
        (nn.Sequential(Scaled()), r"module '0' \(Scaled\): it holds parameters \(scale\)"),
        (nn.Sequential(nn.Conv3d(3, 3, 1)), r"module '0' \(Conv3d\)"),
    ],
)
def test_unknown_layers_with_parameters_are_refused(net, message):
    with pytest.raises(ValueError, match=message):
        workload_from_module(net, (3, 4, 4))


def test_unequal_strides_are_refused():
    with pytest.raises(ValueError, match=r"'0': unequal stride \(1, 2\)"):
        workload_from_module(nn.Sequential(nn.Conv2d(3, 3, 3, stride=(1, 2))), (3, 8, 8))


def test_training_flags_are_restored_and_hooks_removed():
    net = _tiny_resnet().train()
    net[1].eval()
    workload_from_module(net, (3, 32, 32))
    assert net.training and not net[1].training and net[4].bn1.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


def test_input_shape_is_validated():
    with pytest.raises(ValueError, match="input_shape must be positive sizes"):
        workload_from_module(nn.ReLU(), (3, 0, 4))
