"""Turn a torch module or an exported program into a :class:`~cost_models.Workload`.

The network runs once on a fake sample (``torch._subclasses.FakeTensorMode``: shapes only,
no arithmetic, no memory for activations) under a ``TorchDispatchMode`` that sees every ATen
operator it calls, as ``torch.utils.flop_counter.FlopCounterMode`` does. So functional code
counts as much as layers: ``torch.cat``, ``F.relu``, a squeeze-excite multiply, an attention
product or a ``.contiguous()`` copy each becomes a row (the table of operators and kinds is in
:mod:`search_spaces._operator_rows`). Parameters and buffers are replaced by fake tensors of
their shapes on the CPU (``torch.func.functional_call``), so the CPU's fused attention kernel
is chosen and written as its QK^T, softmax and AV rows.

Rows are named after where they run. A convolution, linear layer or norm takes the name of
its weight parameter without ``weight`` (``layer1.0.conv1``,
``encoder.layers.encoder_layer_0.self_attention.in_proj``); any other row the path of the
module whose call ran it (``layer1.0.relu``), followed by the operation where that call ran
more than this one row or the row combines two activations (``layer1.0.add``,
``features.1.0.mul``, ``stage1.cell0.node2.add``); a name that repeats gets ``:2``, ``:3``, ...
Each parameter is counted once, on the first row that reads it (a shared layer's later
calls hold none; a class token or layer scale counts on its copy or multiply row), so the
workload's parameters are those the network uses.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.weak import WeakIdKeyDictionary

from cost_models import Workload, WorkloadBuilder
from search_spaces._operator_rows import (
    OperatorRow,
    UnsupportedOperator,
    moves_no_data,
    operator_row,
    tensor_arguments,
)


@dataclasses.dataclass(frozen=True)
class TracedRow:
    """One row of a traced network, independent of batch size.

    Args:
        name: Unique layer name (``layer1.0.conv1``).
        method: :class:`~cost_models.WorkloadBuilder` method.
        shape: Its keyword arguments (one sample).
        params: Parameters first read by this row (counted once per network).
    """

    name: str
    method: str
    shape: dict[str, Any]
    params: int


def workload_from_module(
    module: nn.Module, input_shape: Sequence[int], batch_size: int = 1
) -> Workload:
    """Run ``module`` once on a fake sample and list every kernel it launches as a Workload.

    Rows follow execution order; how they are named and which operators become which layer
    kinds is described in :mod:`search_spaces._trace` and :mod:`search_spaces._operator_rows`.
    The module runs in eval mode without gradients, on fake tensors of its parameters' shapes,
    dtype and device (its weights are neither read nor copied; a module built under
    ``torch.device("meta")`` is traced as if on the CPU); training flags are restored afterwards.
    ``nn.MultiheadAttention``'s fused inference path is switched off while tracing, so its
    projections and attention are seen.

    Args:
        module: The network.
        input_shape: Shape of one input sample without the batch dimension, e.g. ``(3, 224, 224)``.
        batch_size: ``n`` of every layer. Work and activations scale linearly with it, so the
            module runs on a single sample.

    Returns:
        One network; its MACs are those ``FlopCounterMode`` counts (convolutions, matrix
        products, attention), its parameters those the forward pass reads.

    Raises:
        ValueError: An operator has no Workload layer kind, or a layer's geometry has no
            Workload equivalent; the message names the layer and the operator.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        >>> wl = workload_from_module(net, (3, 32, 32), batch_size=4)
        >>> wl.name.tolist(), int(wl.macs.sum()), int(wl.params.sum())
        (['0', '1', '2'], 884736, 224)
    """
    return build_workload(trace_module(module, input_shape), batch_size)


def trace_module(module: nn.Module, input_shape: Sequence[int]) -> list[TracedRow]:
    """The rows of one sample through ``module`` (see :func:`workload_from_module`)."""
    shape = tuple(int(size) for size in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"input_shape must be positive sizes without the batch dimension, got {input_shape!r}")
    first = next(module.parameters(), None)
    dtype = torch.get_default_dtype() if first is None else first.dtype
    names = {submodule: name for name, submodule in module.named_modules()}
    training = {submodule: submodule.training for submodule in module.modules()}
    handles = []
    for submodule, name in names.items():
        handles.append(submodule.register_forward_pre_hook(lambda m, args, name=name: recorder.enter(name, m)))
        handles.append(submodule.register_forward_hook(lambda m, args, out: recorder.leave()))
    recorder = _Recorder()
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        module.eval()
        torch.backends.mha.set_fastpath_enabled(False)
        with torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True):
            parameters = {name: _fake(tensor) for name, tensor in module.named_parameters()}
            buffers = {name: _fake(tensor) for name, tensor in module.named_buffers()}
            recorder.watch(parameters)
            device = next(iter(parameters.values())).device if parameters else torch.device("cpu")
            sample = torch.zeros((1, *shape), dtype=dtype, device=device)
            with recorder:
                torch.func.functional_call(module, {**parameters, **buffers}, (sample,))
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for handle in handles:
            handle.remove()
        for submodule, mode in training.items():
            submodule.training = mode
    return recorder.rows(root_name=type(module).__name__.lower())


def workload_from_exported_program(
    program: torch.export.ExportedProgram | str | os.PathLike, batch_size: int = 1
) -> Workload:
    """The Workload of an exported program (``torch.export.export``, or a ``.pt2`` file it saved).

    The program's graph is replayed on a fake sample of one with its input's other sizes, so
    its batch dimension must be 1 or dynamic (``torch.export.Dim``). Rows are named from the
    module paths the export recorded (``nn_module_stack``); parameters are the program's.

    Args:
        program: An ``ExportedProgram``, or the path of one saved with ``torch.export.save``.
        batch_size: ``n`` of every layer.

    Raises:
        ValueError: The file is not an exported program, the program takes other than one tensor
            input, its batch is static and not 1, or an operator has no Workload layer kind (the
            message names it).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
        >>> ep = torch.export.export(net, (torch.zeros(1, 4),))
        >>> workload_from_exported_program(ep, batch_size=2).name.tolist()
        ['0', '1']
    """
    if not isinstance(program, torch.export.ExportedProgram):
        try:
            program = torch.export.load(os.fspath(program))
        except FileNotFoundError:
            raise
        except Exception as error:  # torch reports a bad archive with many exception types
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ValueError(f"cannot read exported program {os.fspath(program)!r} (torch.export.save .pt2): "
                             f"{reason}") from None
    return build_workload(trace_exported_program(program), batch_size)


def trace_exported_program(program: torch.export.ExportedProgram) -> list[TracedRow]:
    """The rows of one sample through an exported program (see :func:`workload_from_exported_program`)."""
    from torch.export.graph_signature import InputKind

    graph = program.graph_module
    placeholders = [node for node in graph.graph.nodes if node.op == "placeholder"]
    specs = program.graph_signature.input_specs
    parameters = {spec.target: program.state_dict[spec.target] for spec in specs if spec.kind == InputKind.PARAMETER}
    user_inputs = [node for node, spec in zip(placeholders, specs, strict=True) if spec.kind == InputKind.USER_INPUT]
    if len(user_inputs) != 1:
        raise ValueError(f"exported program: takes {len(user_inputs)} inputs; a Workload is traced from one "
                         f"input tensor")
    example = user_inputs[0].meta["val"]
    batch = example.shape[0] if example.dim() else None
    if isinstance(batch, int) and batch != 1:
        raise ValueError(f"exported program: its input has a static batch of {batch}; export it with batch 1 "
                         f"or a dynamic batch dimension (torch.export.Dim)")
    recorder = _Recorder()
    with torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True):
        recorder.watch({name: _fake(tensor) for name, tensor in parameters.items()})
        values = []
        for spec in specs:
            if spec.kind == InputKind.USER_INPUT:
                shape = (1, *(int(size) for size in example.shape[1:]))
                values.append(torch.zeros(shape, dtype=example.dtype))
            elif spec.kind == InputKind.PARAMETER:
                values.append(recorder.watched[spec.target])
            elif spec.target in program.state_dict:
                values.append(_fake(program.state_dict[spec.target]))
            else:
                values.append(_fake(program.constants[spec.target]))
        with recorder:
            _ScopedInterpreter(graph, recorder).run(*values)
    return recorder.rows(root_name="program")


def build_workload(rows: Sequence[TracedRow], batch_size: int) -> Workload:
    """A Workload of traced rows at ``batch_size`` (the shapes are per sample)."""
    builder = WorkloadBuilder(batch_size=batch_size)
    for row in rows:
        getattr(builder, row.method)(row.name, **row.shape)
    workload = builder.build()
    return dataclasses.replace(workload, params=np.array([row.params for row in rows], dtype=np.int64))


class _ScopedInterpreter(torch.fx.Interpreter):
    """Runs an exported graph node by node, telling the recorder which module each node came from."""

    def __init__(self, graph: torch.fx.GraphModule, recorder: _Recorder) -> None:
        super().__init__(graph)
        self.recorder = recorder

    def run_node(self, node: torch.fx.Node) -> Any:
        stack = node.meta.get("nn_module_stack") or {}
        self.recorder.scope = [(path, key) for key, (path, _) in stack.items() if path]
        for path, kind in stack.values():
            self.recorder.types[path] = kind.rsplit(".", 1)[-1] if isinstance(kind, str) else kind.__name__
        return super().run_node(node)


@dataclasses.dataclass
class PendingRow:
    """A recorded row before naming.

    Args:
        row: What the operator computes.
        scope: ``(module path, call)`` of each module call it ran inside, outermost first.
        weight_name: Name of the parameter that holds its weights, if any.
        params: Parameters first read by it.
    """

    row: OperatorRow
    scope: tuple[tuple[str, Any], ...]
    weight_name: str | None
    params: int


class _Recorder(TorchDispatchMode):
    """Records one :class:`OperatorRow` per operator call, with the module calls it ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.parameter_names: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.watched: dict[str, torch.Tensor] = {}
        self.counted: set[str] = set()
        self.pending: list[PendingRow] = []
        self.scope: list[tuple[str, Any]] = []
        self.types: dict[str, str] = {}
        """Class name of the module at each path, for error messages."""
        self._calls = 0

    def enter(self, name: str, module: nn.Module) -> None:
        self._calls += 1
        self.scope.append((name, self._calls))
        self.types[name] = type(module).__name__

    def leave(self) -> None:
        self.scope.pop()

    def watch(self, parameters: dict[str, torch.Tensor]) -> None:
        """Tell the parameters (the tensors the network runs with) by their names."""
        self.watched = parameters
        for name, parameter in parameters.items():
            self.parameter_names[parameter] = name

    def parameter_of(self, tensor: Any) -> str | None:
        return self.parameter_names.get(tensor) if isinstance(tensor, torch.Tensor) else None

    def record(self, row: OperatorRow, inputs: Sequence[Any]) -> None:
        params = 0
        for tensor in inputs:
            name = self.parameter_of(tensor)
            if name is not None and name not in self.counted:
                self.counted.add(name)
                params += self.watched[name].numel()
        weight_name = self.parameter_of(row.weight) if row.weight is not None else None
        self.pending.append(PendingRow(row, tuple(self.scope), weight_name, params))

    def __torch_dispatch__(self, func: Any, types: tuple, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = tensor_arguments(args, kwargs)
        if moves_no_data(func):
            # A view of a parameter is still that parameter (a transposed weight, an expanded token).
            owner = next((self.parameter_of(t) for t in inputs if self.parameter_of(t) is not None), None)
            if owner is not None:
                for result in tensor_arguments([out], {}):
                    self.parameter_names.setdefault(result, owner)
            return out
        try:
            row = operator_row(func, args, kwargs, out, lambda t: self.parameter_of(t) is not None)
        except UnsupportedOperator as error:
            where = self.scope[-1][0] if self.scope else ""
            kind = f" ({self.types[where]})" if where in self.types else ""
            raise ValueError(f"cannot trace module {where or '<root>'!r}{kind}: {func}: {error}") from None
        for index, one in enumerate([] if row is None else row if isinstance(row, list) else [row]):
            self.record(one, inputs if index == 0 else [])
        return out

    def rows(self, root_name: str) -> list[TracedRow]:
        """The recorded rows, named (see the module docstring), in order."""
        return name_rows(self.pending, root_name)


def name_rows(pending: Sequence[PendingRow], root_name: str) -> list[TracedRow]:
    """Name recorded rows as the module docstring says; ``root_name`` names a network of one row."""
    rows_in_call = collections.Counter(call for row in pending for call in row.scope)
    base_names = []
    for row in pending:
        if row.weight_name is not None and row.weight_name.endswith("weight"):
            base = row.weight_name.removesuffix("weight").rstrip("._")
            if base:
                base_names.append(base)
                continue
        innermost = next((scope for scope in reversed(row.scope) if scope[0]), None)
        if innermost is None:
            base_names.append(root_name if len(pending) == 1 else row.row.label)
        elif rows_in_call[innermost] == 1 and row.row.shape.get("inputs", 1) <= 1:
            base_names.append(innermost[0])
        else:
            base_names.append(f"{innermost[0]}.{row.row.label}")
    seen: collections.Counter[str] = collections.Counter()
    rows = []
    for base, row in zip(base_names, pending, strict=True):
        seen[base] += 1
        name = base if seen[base] == 1 else f"{base}:{seen[base]}"
        rows.append(TracedRow(name, row.row.method, row.row.shape, row.params))
    return rows


def _fake(tensor: torch.Tensor) -> torch.Tensor:
    """A fake tensor of ``tensor``'s shape and dtype (made under an active ``FakeTensorMode``), on the
    CPU where ``tensor`` is on the meta device, so that device-specific kernels are chosen as on a CPU."""
    device = torch.device("cpu") if tensor.is_meta else tensor.device
    return torch.empty_strided(tuple(tensor.shape), tuple(tensor.stride()), dtype=tensor.dtype, device=device)
