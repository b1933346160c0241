"""Analytical latency, energy and area models of hardware running a :class:`Workload`.

numpy and the standard library only: no torch, optuna or dask here.

Example:
    >>> from cost_models import WorkloadBuilder, evaluate
    >>> b = WorkloadBuilder(batch_size=32)
    >>> b.conv("conv", c=64, h=32, w=32, k=64, r=3, padding=1)
    (32, 32)
    >>> cost = evaluate(b.build(), "a100")
    >>> cost.layer_bound.tolist()
    ['compute']
"""

from cost_models._cost import BOUNDS, Cost, CostModel, HardwareConfig, HardwareSpecError
from cost_models._gpu import GPUConfig, GPURooflineModel
from cost_models._gpu_execution import EXECUTION_MODES, check_execution_mode
from cost_models._hardware import (
    PRESET_DIR,
    cost_model_for,
    evaluate,
    list_presets,
    load_hardware,
    register_family,
)
from cost_models._sparse_engine import SparseEngineConfig, SparseEngineModel, expected_padding
from cost_models._systolic import SystolicArrayModel, SystolicConfig
from cost_models._technology import NodeScaling, Technology, node_scaling, technology
from cost_models._toml_file import read_toml
from cost_models._workload import (
    GEMM_KINDS,
    MAC_KINDS,
    MAX_BATCH_SIZE,
    LayerKind,
    NumberFormat,
    SparsityPattern,
    Workload,
    WorkloadBuilder,
)

register_family(GPUConfig, GPURooflineModel())
register_family(SystolicConfig, SystolicArrayModel())
register_family(SparseEngineConfig, SparseEngineModel())

__all__ = [
    "check_execution_mode",
    "BOUNDS",
    "GEMM_KINDS",
    "MAC_KINDS",
    "MAX_BATCH_SIZE",
    "PRESET_DIR",
    "Cost",
    "CostModel",
    "EXECUTION_MODES",
    "GPUConfig",
    "GPURooflineModel",
    "HardwareConfig",
    "HardwareSpecError",
    "LayerKind",
    "NodeScaling",
    "NumberFormat",
    "SparseEngineConfig",
    "SparseEngineModel",
    "SparsityPattern",
    "SystolicArrayModel",
    "SystolicConfig",
    "Technology",
    "Workload",
    "WorkloadBuilder",
    "cost_model_for",
    "evaluate",
    "expected_padding",
    "list_presets",
    "load_hardware",
    "node_scaling",
    "read_toml",
    "register_family",
    "technology",
]
