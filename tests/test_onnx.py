"""ONNX models as Workloads (``workload_from_onnx``; ``nas cost --model-file NET.onnx``)."""

import warnings

import pytest
import torch
from click.testing import CliRunner
from torch import nn
from torch.nn import functional as F  # noqa: N812

from cli import main
from cost_models import LayerKind
from search_spaces import workload_from_module, workload_from_onnx

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


class Net(nn.Module):
    """Convolutions, a concatenation, a residual sum, pooling and attention-style products."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.branch = nn.Conv2d(8, 8, 3, stride=1, padding=1, groups=8)
        self.mix = nn.Conv2d(16, 8, 1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = self.mix(torch.cat([x, self.branch(x)], 1)) + x
        tokens = self.pool(x).flatten(2).transpose(1, 2)  # (16 tokens x 8)
        scores = torch.softmax(tokens @ tokens.transpose(1, 2), dim=-1)
        return self.fc((scores @ tokens).mean(1))


def _export(module, path, shape, dynamic_batch=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.zeros(1, *shape),), path, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}} if dynamic_batch else None)


def test_an_onnx_export_has_the_modules_work_and_kinds(tmp_path):
    net = Net()
    _export(net, tmp_path / "net.onnx", (3, 8, 8))
    from_onnx = workload_from_onnx(tmp_path / "net.onnx", batch_size=3)
    traced = workload_from_module(net, (3, 8, 8), batch_size=3)
    assert int(from_onnx.macs.sum()) == int(traced.macs.sum())
    assert int(from_onnx.params.sum()) == int(traced.params.sum()) == sum(p.numel() for p in net.parameters())
    kinds = dict(zip(from_onnx.name.tolist(), map(LayerKind, from_onnx.kind), strict=True))
    assert kinds["stem"] == LayerKind.CONV and kinds["branch"] == LayerKind.DEPTHWISE_CONV
    assert kinds["fc"] == LayerKind.LINEAR and kinds["pool"] == LayerKind.MAX_POOL
    assert sorted(LayerKind(k).name for k in from_onnx.kind if k in (LayerKind.MATMUL, LayerKind.COPY)) == [
        "COPY", "COPY", "MATMUL", "MATMUL"]  # the concatenation and the token transpose; both products
    products = from_onnx.macs[from_onnx.kind == LayerKind.MATMUL].tolist()
    assert products == [3 * 16 * 8 * 16, 3 * 16 * 16 * 8]


def _graph_file(path, nodes, batch=None, initializers=()):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch or "n", 4, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_unsupported_nodes_and_static_batches_fail_in_one_line(tmp_path):
    topk = _graph_file(tmp_path / "topk.onnx", [
        helper.make_node("Relu", ["x"], ["r"], name="/act/Relu"),
        helper.make_node("LpNormalization", ["r"], ["y"], name="/head/norm/LpNormalization"),
    ])
    with pytest.raises(ValueError, match=r"ONNX node '/head/norm/LpNormalization' \(LpNormalization\): the "
                                         r"Workload IR has no layer kind") as error:
        workload_from_onnx(topk)
    assert "\n" not in str(error.value)
    static = _graph_file(tmp_path / "static.onnx", [helper.make_node("Relu", ["x"], ["y"])], batch=8)
    with pytest.raises(ValueError, match="static batch of 8"):
        workload_from_onnx(static)
    good = _graph_file(tmp_path / "relu.onnx", [helper.make_node("Relu", ["x"], ["y"], name="/act/Relu")])
    assert workload_from_onnx(good, batch_size=2).name.tolist() == ["act"]


def test_cli_costs_an_onnx_file(tmp_path):
    _export(Net(), tmp_path / "net.onnx", (3, 8, 8))
    result = CliRunner().invoke(main, ["cost", "--model-file", str(tmp_path / "net.onnx"), "--hardware", "tpu_v1"])
    assert result.exit_code == 0, result.output
    assert "stem" in result.output and "fc" in result.output
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not onnx")
    result = CliRunner().invoke(main, ["cost", "--model-file", str(bad), "--hardware", "tpu_v1"])
    assert result.exit_code == 2 and "cannot read ONNX model" in result.output


def test_an_exported_transformer_block_keeps_its_work_and_parameters(tmp_path):
    from test_trace import Encoder

    net = Encoder()
    # A static batch: with a dynamic one, ONNX shape inference cannot size the heads' reshapes.
    _export(net, tmp_path / "encoder.onnx", (10, 32), dynamic_batch=False)
    from_onnx = workload_from_onnx(tmp_path / "encoder.onnx", batch_size=2)
    traced = workload_from_module(net, (10, 32), batch_size=2)
    assert int(from_onnx.macs.sum()) == int(traced.macs.sum())
    # The exporter stores the equal, freshly initialised biases and norm weights once; each user still counts.
    assert int(from_onnx.params.sum()) == sum(p.numel() for p in net.parameters())
    products = from_onnx.kind == LayerKind.MATMUL
    assert from_onnx.macs[products].tolist() == [2 * 4 * 10 * 8 * 10] * 2  # QK^T and AV of 4 heads
