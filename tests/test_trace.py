import copy
import time

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F  # noqa: N812
from torch.utils.flop_counter import FlopCounterMode
from workload_rows import workload_rows

from cost_models import GEMM_KINDS, LayerKind
from search_spaces import workload_from_exported_program, workload_from_module


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
    with pytest.raises(ValueError, match=r"'0' \(Conv2d\): aten.convolution.default: no single padding maps "
                                         r"\(9, 9\) to \(7, 7\) with a 2x2 window"):
        workload_from_module(nn.Sequential(nn.Conv2d(2, 2, 2, dilation=2)), (2, 9, 9))


def test_pools():
    net = nn.Sequential(
        nn.MaxPool2d(3, 2, ceil_mode=True), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(2), nn.AdaptiveMaxPool2d(1),
    )
    workload = workload_from_module(net, (4, 16, 16))
    assert workload.p.tolist() == [8, 4, 2, 1]  # ceil_mode keeps a partial window: 8, not 7
    assert workload.r.tolist() == [3, 2, 2, 2]
    assert workload.kind.tolist() == [LayerKind.MAX_POOL, LayerKind.POOL, LayerKind.POOL, LayerKind.MAX_POOL]
    with pytest.raises(ValueError, match=r"'0' \(AdaptiveAvgPool2d\): aten._adaptive_avg_pool2d.default: "
                                         r"adaptive pooling 7x7 -> 3x3"):
        workload_from_module(nn.Sequential(nn.AdaptiveAvgPool2d(3)), (2, 7, 7))
    with pytest.raises(ValueError, match=r"'0' \(MaxPool2d\): .*unequal pooling window \(3, 2\)"):
        workload_from_module(nn.Sequential(nn.MaxPool2d((3, 2))), (2, 7, 7))


def test_linear_on_tokens_is_a_linear_layer_over_rows():
    net = nn.Sequential(nn.Linear(12, 6), nn.GELU(), nn.Linear(6, 3, bias=False))
    workload = workload_from_module(net, (5, 12), batch_size=2)
    assert workload.kind.tolist() == [LayerKind.LINEAR, LayerKind.ELEMENTWISE, LayerKind.LINEAR]
    assert workload.h[[0, 2]].tolist() == [5, 5] and workload.w[[0, 2]].tolist() == [1, 1]
    assert workload.p[[0, 2]].tolist() == [5, 5] and workload.q[[0, 2]].tolist() == [1, 1]
    assert workload.macs.tolist() == [2 * 5 * 12 * 6, 0, 2 * 5 * 6 * 3]
    assert int(workload.params.sum()) == _params(net)
    norm = workload_from_module(nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8)), (4,))
    assert norm.kind.tolist() == [LayerKind.LINEAR, LayerKind.NORM]
    assert int(norm.params.sum()) == 4 * 8 + 8 + 16


def test_layer_norm_over_tokens():
    workload = workload_from_module(nn.LayerNorm(6), (5, 6), batch_size=2)
    assert (workload.kind[0], workload.c[0], workload.h[0], workload.w[0]) == (LayerKind.NORM, 6, 5, 1)
    assert int(workload.params[0]) == 12 and int(workload.output_elems[0]) == 2 * 5 * 6
    assert workload.name.tolist() == ["layernorm"]  # a root module is named by its class
    # Parameters are counted as the forward pass reads them: a layer norm without bias holds 6.
    assert workload_from_module(nn.LayerNorm(6, bias=False), (5, 6)).params.tolist() == [6]


class ZeroOp(nn.Module):
    """NAS-Bench-201's reference ``none`` op: zeros computed as ``x.mul(0.)``, a kernel like any other."""

    def forward(self, x):
        return x.mul(0.0)


def test_a_computed_zero_branch_is_an_elementwise_layer():
    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1, bias=False)
            self.zero = ZeroOp()

        def forward(self, x):
            y = self.conv(x)
            return y + self.zero(y)  # a zero branch is computed and summed, as in NB201's reference code

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
    # Every add launches a kernel: the sum, the scalar add and the broadcast add.
    assert workload.name.tolist() == ["conv", "conv:2", "add", "add:2", "add:3"]
    assert workload.input_elems.tolist()[2:] == [2 * 4 * 36, 4 * 36, 4 * 36]
    assert workload.params.tolist() == [_params(net), 0, 0, 0, 0]
    assert workload.weights.tolist() == [144, 144, 0, 0, 0]


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.conv(x) * self.scale


def test_parameters_outside_layers_count_on_the_op_that_reads_them():
    net = nn.Sequential(Scaled(), nn.PReLU())
    workload = workload_from_module(net, (3, 4, 4))
    assert workload.name.tolist() == ["0.conv", "0.mul", "1"]
    assert workload.params.tolist() == [12, 1, 1] and int(workload.params.sum()) == _params(net)
    assert workload.kind.tolist() == [LayerKind.CONV, LayerKind.ELEMENTWISE, LayerKind.ELEMENTWISE]


class Sorts(nn.Module):
    def forward(self, x):
        return torch.sort(x, dim=1).values


@pytest.mark.parametrize(
    ("net", "message"),
    [
        (nn.Sequential(nn.Conv3d(3, 3, 1)), r"module '0' \(Conv3d\): aten.convolution.default: a 3-D convolution"),
        (nn.Sequential(nn.ConvTranspose2d(3, 3, 2)), r"'0' \(ConvTranspose2d\): .*transposed convolution has no"),
        (nn.Sequential(Sorts()), r"module '0' \(Sorts\): aten.sort.default: the Workload IR has no layer kind"),
    ],
)
def test_operators_the_ir_cannot_express_are_refused_in_one_line(net, message):
    shape = (3, 4, 4, 4) if isinstance(net[0], nn.Conv3d) else (3, 4, 4)
    with pytest.raises(ValueError, match=message) as error:
        workload_from_module(net, shape)
    assert "\n" not in str(error.value)


def test_unequal_strides_are_refused():
    with pytest.raises(ValueError, match=r"'0' \(Conv2d\): aten.convolution.default: unequal stride \(1, 2\)"):
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


# --- operator-level tracing: functional code, attention, copies ---------------------------------

class Functional(nn.Module):
    """Everything a forward-hook tracer missed: functional activations, a concatenation, a
    squeeze-excite multiply, padding and a product of two activations."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.squeeze = nn.Conv2d(8, 2, 1)
        self.excite = nn.Conv2d(2, 8, 1)

    def forward(self, x):
        y = torch.cat([F.relu(self.conv(x)), x], dim=1)
        scale = torch.sigmoid(self.excite(F.relu(self.squeeze(y.mean((2, 3), keepdim=True)))))
        y = F.pad(y * scale, (1, 1, 1, 1))
        flat = y.flatten(2)  # a view: no row
        return flat @ flat.transpose(1, 2)


def test_functional_ops_are_rows():
    workload = workload_from_module(Functional(), (4, 6, 6), batch_size=3)
    assert workload.name.tolist() == [
        "conv", "relu", "cat", "avgpool", "squeeze", "relu:2", "excite", "sigmoid", "mul", "constant_pad_nd", "matmul",
    ]
    kinds = dict(zip(workload.name.tolist(), map(LayerKind, workload.kind), strict=True))
    assert kinds["cat"] == kinds["constant_pad_nd"] == LayerKind.COPY
    assert kinds["avgpool"] == LayerKind.POOL and kinds["mul"] == LayerKind.ELEMENTWISE
    assert kinds["matmul"] == LayerKind.MATMUL
    cat, pad, mul, product = (workload.name.tolist().index(n) for n in ("cat", "constant_pad_nd", "mul", "matmul"))
    assert int(workload.output_elems[cat]) == int(workload.input_elems[cat]) == 3 * 8 * 36
    assert int(workload.output_elems[pad]) == 3 * 8 * 64
    assert int(workload.input_elems[mul]) == 3 * 8 * 36  # the (8, 1, 1) scale is not a second full tensor
    # (8 x 64) @ (64 x 8) per sample, both operands activations
    assert (workload.h[product], workload.c[product], workload.k[product]) == (8, 64, 8)
    assert int(workload.macs[product]) == 3 * 8 * 64 * 8 and int(workload.weights[product]) == 0


def _flop_counter_macs(module, shape):
    """MACs of one sample by torch's FlopCounterMode, on the meta device: there attention runs as its
    matrix products, which the counter sees (it does not count the CPU's fused attention kernel)."""
    counter = FlopCounterMode(display=False)
    with counter:
        copy.deepcopy(module).to("meta")(torch.zeros(1, *shape, device="meta"))
    return counter.get_total_flops() // 2


class Encoder(nn.Module):
    """A pre-norm transformer encoder block, as in ViT."""

    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.self_attention(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


def test_attention_is_qk_softmax_av_and_macs_match_the_flop_counter():
    net = Encoder()
    workload = workload_from_module(net, (10, 32), batch_size=2)
    names = workload.name.tolist()
    assert names == ["ln_1", "self_attention.in_proj", "self_attention.clone", "self_attention.qk",
                     "self_attention.softmax", "self_attention.av", "self_attention.out_proj", "add", "ln_2",
                     "mlp.0", "mlp.1", "mlp.2", "add:2"]
    row = dict(zip(names, range(len(names)), strict=True))
    qk, softmax, av = row["self_attention.qk"], row["self_attention.softmax"], row["self_attention.av"]
    # 4 heads of (10 x 8) @ (8 x 10), softmax over 4 x 10 x 10 scores, then (10 x 10) @ (10 x 8)
    assert [(workload.groups[i], workload.h[i], workload.c[i], workload.k[i]) for i in (qk, av)] == [
        (4, 10, 8, 10), (4, 10, 10, 8)]
    assert int(workload.output_elems[softmax]) == 2 * 4 * 10 * 10
    assert workload.kind[[qk, softmax, av]].tolist() == [LayerKind.MATMUL, LayerKind.ELEMENTWISE, LayerKind.MATMUL]
    assert workload.kind[row["self_attention.in_proj"]] == LayerKind.LINEAR
    assert int(workload.h[row["self_attention.in_proj"]]) == 10  # rows = tokens
    gemm = workload.macs[[kind in GEMM_KINDS for kind in workload.kind]]
    assert int(gemm.sum()) == int(workload.macs.sum()) == 2 * _flop_counter_macs(net.eval(), (10, 32))
    assert int(workload.params.sum()) == _params(net)


@settings(max_examples=15, deadline=None)
@given(tokens=st.integers(1, 9), heads=st.sampled_from([1, 2, 4]), head_dim=st.integers(1, 6),
       hidden=st.integers(1, 20), batch=st.integers(1, 5))
def test_transformer_macs_equal_the_flop_counter(tokens, heads, head_dim, hidden, batch):
    dim = heads * head_dim
    net = nn.Sequential(nn.TransformerEncoderLayer(dim, heads, hidden, batch_first=True), nn.Linear(dim, 3))
    workload = workload_from_module(net, (tokens, dim), batch_size=batch)
    assert int(workload.macs.sum()) == batch * _flop_counter_macs(net.eval(), (tokens, dim))
    assert int(workload.params.sum()) == _params(net)


def test_tracing_runs_no_arithmetic_and_leaves_the_weights_alone():
    # 4096 x 4096 x 4096 would take seconds on a CPU; on fake tensors it is shapes only.
    net = nn.Sequential(nn.Linear(4096, 4096), nn.ReLU())
    before = net[0].weight.detach().clone()
    start = time.perf_counter()
    workload = workload_from_module(net, (4096, 4096), batch_size=256)
    assert time.perf_counter() - start < 2.0
    assert int(workload.macs[0]) == 256 * 4096**3
    assert torch.equal(net[0].weight, before) and net[0].weight.device.type == "cpu"


# --- exported programs ---------------------------------------------------------------------------

def test_an_exported_program_traces_as_its_module(tmp_path):
    net = _tiny_resnet().eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(net, (torch.zeros(2, 3, 32, 32),), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "net.pt2")
    from_file = workload_from_exported_program(tmp_path / "net.pt2", batch_size=4)
    assert workload_rows(from_file) == workload_rows(workload_from_module(net, (3, 32, 32), batch_size=4))
    assert from_file.name.tolist()[4:7] == ["4.conv1", "4.bn1", "4.relu"]


def test_an_exported_program_with_a_static_batch_is_refused():
    program = torch.export.export(nn.Sequential(nn.Linear(4, 2)), (torch.zeros(8, 4),))
    with pytest.raises(ValueError, match="static batch of 8; export it with batch 1 or a dynamic batch"):
        workload_from_exported_program(program)
