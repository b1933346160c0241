"""Turn an ONNX file into a :class:`~cost_models.Workload` (needs the optional ``onnx`` package).

ONNX's shape inference gives every tensor's shape for a batch of one; each node then becomes
the row of the kernel a runtime launches for it, with the kinds of
:mod:`search_spaces._operator_rows`: ``Conv`` a convolution, ``Gemm`` and ``MatMul`` with an
initializer operand a linear layer (``rows`` = vectors per sample), ``MatMul`` of two
activations a ``MATMUL`` (attention exported as ``MatMul``, ``Softmax``, ``MatMul`` gives QK^T,
softmax and AV rows), normalisations ``NORM``, pools ``POOL`` / ``MAX_POOL``, data movement
(``Concat``, ``Pad``, ``Transpose``, ``Slice``, ``Gather``, ``Resize``, ...) ``COPY``, and
pointwise math ``ELEMENTWISE``. ``Reshape``, ``Flatten``, ``Squeeze``, ``Unsqueeze``,
``Identity``, ``Dropout`` and arithmetic on integer tensors or scalars (shape computations)
are not rows. Any other operator is refused with an error naming the node.

Rows are named as :mod:`search_spaces._trace` names them: a weighted row after its weight
initializer (``layer1.0.conv1``); another after the module scope in the node's name, which
``torch.onnx.export`` writes as ``/layer1/layer1.0/relu/Relu``. Floating-point initializers
of more than one element that a row reads are its parameters (a batch norm's running mean and
variance excepted); the file does not mark which constants were trained.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from cost_models import Workload
from search_spaces._operator_rows import OperatorRow, equivalent_padding
from search_spaces._trace import PendingRow, build_workload, name_rows

_NO_ROW = frozenset({
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Shape", "Size", "Constant",
    "ConstantOfShape", "Range",
})
_COPY = frozenset({
    "Concat", "Pad", "Transpose", "Slice", "Split", "Gather", "GatherElements", "Expand", "Tile", "Resize",
    "Upsample", "Cast", "DepthToSpace", "SpaceToDepth",
})
_ELEMENTWISE = frozenset({
    "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Gelu", "Erf", "Add", "Sub", "Mul", "Div",
    "Pow", "Sqrt", "Reciprocal", "Softmax", "LogSoftmax", "Exp", "Log", "Where", "Neg", "LeakyRelu", "PRelu",
    "Elu", "Selu", "Softplus", "Mish", "Abs", "Min", "Max", "Sum", "Mean", "Equal", "Less", "Greater", "Not",
    "And", "Or", "Sign", "Floor", "Ceil", "Round", "Cos", "Sin", "IsNaN", "ThresholdedRelu", "Celu",
})
_REDUCTIONS = {"ReduceMean": "avg", "ReduceSum": "avg", "ReduceMax": "max"}
_FLOAT_TYPES = frozenset({1, 10, 11, 16})  # TensorProto FLOAT, FLOAT16, DOUBLE, BFLOAT16


def workload_from_onnx(path: str | os.PathLike, batch_size: int = 1) -> Workload:
    """The Workload of an ONNX model with one input whose first dimension is the batch.

    Args:
        path: The ``.onnx`` file.
        batch_size: ``n`` of every layer.

    Raises:
        ValueError: ``onnx`` is not installed, the file is not an ONNX model, its batch is
            static and not 1, or a node has no Workload layer kind (the message names it).
    """
    try:
        import onnx
    except ModuleNotFoundError:
        raise ValueError("reading ONNX files needs the onnx package: pip install onnx") from None
    try:
        model = onnx.load(os.fspath(path))
    except FileNotFoundError:
        raise
    except Exception as error:  # protobuf reports a bad file with several exception types
        raise ValueError(f"cannot read ONNX model {os.fspath(path)!r}: {error}") from None
    return build_workload(_rows(model), batch_size)


def _rows(model: Any) -> list:
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1:
        raise ValueError(f"ONNX model: takes {len(inputs)} inputs; a Workload is traced from one input tensor")
    batch = inputs[0].type.tensor_type.shape.dim[0]
    if batch.HasField("dim_value") and batch.dim_value != 1:
        raise ValueError(f"ONNX model: its input has a static batch of {batch.dim_value}; export it with batch 1 "
                         f"or a dynamic batch dimension")
    batch.Clear()
    batch.dim_value = 1
    del graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True).graph
    shapes: dict[str, tuple[int, ...]] = {}
    floats: set[str] = set()
    for value in [*inferred.input, *inferred.value_info, *inferred.output]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(dim.dim_value for dim in dims)
        if value.type.tensor_type.elem_type in _FLOAT_TYPES:
            floats.add(value.name)
    for name, tensor in initializers.items():
        shapes[name] = tuple(tensor.dims)
        if tensor.data_type in _FLOAT_TYPES:
            floats.add(name)
    constants = {name: numpy_helper.to_array(tensor) for name, tensor in initializers.items()
                 if tensor.data_type not in _FLOAT_TYPES and len(tensor.dims) <= 1}
    trained = {name for name, tensor in initializers.items()
               if tensor.data_type in _FLOAT_TYPES and math.prod(tensor.dims) > 1}
    counted: set[str] = set()
    pending: list[PendingRow] = []
    scope: list[tuple[str, int]] = []
    calls = 0
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        if node.op_type == "Identity" and node.input[0] in trained:
            # An exporter stores equal tensors once (freshly initialised biases are all zeros) and
            # hands each further user an Identity of it: each is a parameter of its own.
            trained.add(node.output[0])
            shapes[node.output[0]] = shapes[node.input[0]]
        if not floats.intersection((*node.input, *node.output)) or math.prod(shapes.get(node.output[0], (0,))) == 1:
            continue  # arithmetic on sizes or scalars (Shape, Gather, Sqrt of a head size): no activation moves
        paths = _scope_paths(node.name)
        common = 0
        while common < min(len(scope), len(paths)) and scope[common][0] == paths[common]:
            common += 1
        del scope[common:]
        for path in paths[common:]:
            calls += 1
            scope.append((path, calls))
        unknown = next((name for name in (*node.input, *node.output) if name and 0 in shapes.get(name, (1,))), None)
        try:
            if unknown is not None and node.op_type not in _NO_ROW:
                raise ValueError(f"ONNX shape inference cannot size {unknown!r} (its shape is computed at run "
                                 f"time); save the network with torch.export.save (.pt2) instead")
            row = _node_row(node, shapes, initializers, constants)
        except ValueError as error:
            raise ValueError(f"cannot trace ONNX node {node.name or node.output[0]!r} ({node.op_type}): "
                             f"{error}") from None
        if row is None:
            continue
        read = [name for index, name in enumerate(node.input)
                if name in trained and not (node.op_type == "BatchNormalization" and index >= 3)]
        params = sum(math.prod(shapes[name]) for name in read if name not in counted)
        counted.update(read)
        weight = row.weight if isinstance(row.weight, str) else None
        pending.append(PendingRow(row, tuple(scope), weight, params))
    return name_rows(pending, root_name=graph.name or "model")


def _scope_paths(node_name: str) -> list[str]:
    """Module paths, outermost first, of a node named as ``torch.onnx.export`` names them.

    ``/layer1/layer1.0/conv1/Conv`` gives ``layer1``, ``layer1.0``, ``layer1.0.conv1``, and
    ``/features/features.1/conv/conv.0/Clip`` gives ``features``, ``features.1``,
    ``features.1.conv``, ``features.1.conv.0``: a level that extends the one before it
    (``conv.0`` after ``conv``) replaces it; any other is an attribute below it. The last part is the op.
    """
    if not node_name.startswith("/"):
        return []
    parts = node_name.strip("/").split("/")[:-1]
    paths: list[str] = []
    bases: list[str] = []
    for index, part in enumerate(parts):
        extends = index > 0 and part.startswith(f"{parts[index - 1]}.")
        base = bases[-1] if extends else (paths[-1] if paths else "")
        bases.append(base)
        paths.append(f"{base}.{part}" if base else part)
    return paths


def _attribute(node: Any, name: str, default: Any) -> Any:
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _chw(shape: Sequence[int]) -> dict[str, int]:
    dims = list(shape[1:])
    if len(dims) == 3:
        return dict(zip("chw", dims, strict=True))
    if len(dims) == 2:
        return {"c": dims[0], "h": dims[1], "w": 1}
    return {"c": math.prod(dims), "h": 1, "w": 1}


def _square(values: Sequence[int], what: str) -> int:
    values = list(values)
    if len(values) != 2 or values[0] != values[1]:
        raise ValueError(f"unequal {what} {tuple(values)} has no Workload equivalent")
    return int(values[0])


def _node_row(node: Any, shapes: dict, initializers: dict, constants: dict) -> OperatorRow | None:
    op, ins, out = node.op_type, list(node.input), node.output[0]
    label = op.lower()
    if op in _NO_ROW:
        return None
    if op == "Conv":
        x, w = shapes[ins[0]], shapes[ins[1]]
        if len(x) != 4:
            raise ValueError(f"a {len(x) - 2}-D convolution has no Workload layer kind (2-D only)")
        stride = _square(_attribute(node, "strides", [1, 1]), "stride")
        padding = equivalent_padding(x[2:], shapes[out][2:], w[2:], stride)
        return OperatorRow("conv", {"c": x[1], "h": x[2], "w": x[3], "k": w[0], "r": w[2], "s": w[3],
                                    "stride": stride, "padding": padding, "groups": _attribute(node, "group", 1),
                                    "bias": len(ins) > 2 and bool(ins[2])}, "conv", ins[1])
    if op in ("Gemm", "MatMul"):
        a, b = shapes[ins[0]], shapes[ins[1]]
        if op == "Gemm":
            a = a[::-1] if _attribute(node, "transA", 0) else a
            b = b[::-1] if _attribute(node, "transB", 0) else b
        bias = op == "Gemm" and len(ins) > 2 and bool(ins[2])
        c, k = a[-1], b[-1]
        if ins[1] in initializers and len(b) == 2:
            return OperatorRow("linear", {"c": c, "k": k, "bias": bias, "rows": math.prod(a[:-1])}, "linear", ins[1])
        out_shape = shapes[out]
        return OperatorRow("matmul", {"m": a[-2] if len(a) > 1 else 1, "c": c, "k": k,
                                      "groups": math.prod(out_shape[:-2])}, "matmul")
    if op in ("BatchNormalization", "InstanceNormalization", "GroupNormalization"):
        return OperatorRow("norm", {**_chw(shapes[ins[0]]), "affine": True}, label, ins[1])
    if op == "LayerNormalization":
        x = shapes[ins[0]]
        axis = _attribute(node, "axis", -1) % len(x)
        c = math.prod(x[axis:])
        return OperatorRow("norm", {"c": c, "h": math.prod(x) // c, "w": 1, "affine": True}, label, ins[1])
    if op in ("MaxPool", "AveragePool"):
        x = shapes[ins[0]]
        r = _square(_attribute(node, "kernel_shape", []), "pooling window")
        stride = _square(_attribute(node, "strides", [1, 1]), "stride")
        padding = equivalent_padding(x[2:], shapes[out][2:], (r, r), stride)
        return OperatorRow("pool", {"c": x[1], "h": x[2], "w": x[3], "r": r, "stride": stride, "padding": padding,
                                    "mode": "max" if op == "MaxPool" else "avg"}, label)
    if op in ("GlobalAveragePool", "GlobalMaxPool"):
        _, c, h, w = shapes[ins[0]]
        return OperatorRow("pool", {"c": c, "h": h, "w": w, "r": h, "global_pool": True,
                                    "mode": "max" if op == "GlobalMaxPool" else "avg"}, label)
    if op in _REDUCTIONS:
        x = shapes[ins[0]]
        axes = _attribute(node, "axes", None)
        if axes is None and len(ins) > 1 and ins[1]:
            if ins[1] not in constants:
                raise ValueError("reduction axes computed at run time have no Workload equivalent")
            axes = constants[ins[1]].tolist()
        reduced = sorted(a % len(x) for a in (axes if axes else range(len(x))))
        if len(x) == 4 and reduced == [2, 3]:
            _, c, h, w = x
        else:
            h = math.prod(x[a] for a in reduced)
            c, w = math.prod(x) // h, 1
        return OperatorRow("pool", {"c": c, "h": h, "w": w, "r": h, "global_pool": True,
                                    "mode": _REDUCTIONS[op]}, label)
    if op in _COPY:
        source = shapes[ins[0]] if op == "Split" else shapes[out]
        return OperatorRow("copy", _chw(source), label)
    if op in _ELEMENTWISE:
        elems = math.prod(shapes[out])
        inputs = sum(1 for name in ins if name and math.prod(shapes.get(name, ())) == elems and elems > 1)
        return OperatorRow("elementwise", {**_chw(shapes[out]), "inputs": max(inputs, 1)}, label)
    if op == "ConvTranspose":
        raise ValueError("a transposed convolution has no Workload layer kind")
    raise ValueError("the Workload IR has no layer kind for this operator")
