"""Search spaces: each samples a genotype from an Optuna trial and turns it into a
:class:`~cost_models.Workload` (analytically, without torch) or a torch module.

Importing this package does not import torch; :func:`workload_from_module` and
:meth:`SearchSpace.build` import it when called.

Example:
    >>> from search_spaces import get_space, index_to_arch
    >>> space = get_space("nb201", dataset="cifar100")
    >>> arch = index_to_arch(6111)
    >>> space.describe_genotype(arch)["arch_index"]
    6111
    >>> round(int(space.workload(arch).macs.sum()) / 1e6, 2)
    153.28
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

from search_spaces._base import SearchSpace
from search_spaces._fc_benchmarks import (
    LayerCompression,
    deep_compression_alexnet,
    eie_benchmark_layers,
    eie_published_latency_us,
)
from search_spaces._mobilenet import MobileNetArch, MobileNetSpace
from search_spaces._nb201 import (
    NB201_ALWAYS_SLOT,
    NB201_DATASETS,
    NB201_EDGES,
    NB201_GRAPHS,
    NB201_N_ARCHS,
    NB201_N_SLOTS,
    NB201_OPS,
    NB201Space,
    arch_to_index,
    cell_slots,
    deployed_plan,
    format_arch,
    index_to_arch,
    parse_arch,
    validate_arch,
)
from search_spaces._resnet import ResNetArch, ResNetSpace

if TYPE_CHECKING:
    from search_spaces._onnx import workload_from_onnx
    from search_spaces._reference_models import build_model, list_models, model_input_shape, model_workload
    from search_spaces._trace import workload_from_exported_program, workload_from_module

_SPACES: dict[str, type[SearchSpace]] = {space.name: space for space in (MobileNetSpace, NB201Space, ResNetSpace)}


def list_spaces() -> list[str]:
    """Registry names of the available search spaces, sorted."""
    return sorted(_SPACES)


def get_space(name: str, **options: Any) -> SearchSpace:
    """Create a search space by its registry name.

    Args:
        name: Registry name, one of :func:`list_spaces` (e.g. ``"nb201"``).
        **options: Constructor options of that space (e.g. ``dataset="cifar10"``).

    Raises:
        ValueError: Unknown name or option, or a bad option value (one line).
    """
    if name not in _SPACES:
        raise ValueError(f"unknown search space {name!r}; choose from {', '.join(list_spaces())}")
    space = _SPACES[name]
    allowed = list(inspect.signature(space).parameters)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"search space {name!r}: unknown option {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(allowed) or 'none'}"
        )
    return space(**options)


_NEED_TORCH = {
    "workload_from_module": "search_spaces._trace",
    "workload_from_exported_program": "search_spaces._trace",
    "workload_from_onnx": "search_spaces._onnx",
    "build_model": "search_spaces._reference_models",
    "list_models": "search_spaces._reference_models",
    "model_input_shape": "search_spaces._reference_models",
    "model_workload": "search_spaces._reference_models",
}
"""Public names whose modules import torch, by module: loaded only when asked for."""


def __getattr__(name: str) -> Any:
    if name in _NEED_TORCH:
        return getattr(importlib.import_module(_NEED_TORCH[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LayerCompression",
    "MobileNetArch",
    "MobileNetSpace",
    "NB201_ALWAYS_SLOT",
    "NB201_GRAPHS",
    "NB201_N_SLOTS",
    "cell_slots",
    "deployed_plan",
    "NB201_DATASETS",
    "NB201_EDGES",
    "NB201_N_ARCHS",
    "NB201_OPS",
    "NB201Space",
    "ResNetArch",
    "ResNetSpace",
    "SearchSpace",
    "arch_to_index",
    "build_model",
    "deep_compression_alexnet",
    "eie_benchmark_layers",
    "eie_published_latency_us",
    "format_arch",
    "get_space",
    "index_to_arch",
    "list_models",
    "list_spaces",
    "model_input_shape",
    "model_workload",
    "parse_arch",
    "validate_arch",
    "workload_from_exported_program",
    "workload_from_module",
    "workload_from_onnx",
]
