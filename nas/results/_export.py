"""A found design, rebuilt from a results dataset and written out so it can be used.

:func:`candidate_from_dataset` rebuilds one trial exactly as the search evaluated it
(same parameters, same per-trial seed, same compression, same hardware overrides) and
costs it again, which gives the per-layer breakdown the dataset only summarises.
:func:`export_candidate` writes it as a TOML file (study spec, trial parameters,
genotype, compression policy, hardware preset with its searched overrides and the
resolved hardware config, metrics) and optionally the compressed torch module's state
dict; :func:`load_candidate` reads that file back into the same candidate.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from cost_models import PRESET_DIR, Cost, HardwareConfig, evaluate
from nas._errors import InputError
from nas.results._dataset import objectives_of, params_of
from nas.study._candidate import build_candidate, trial_seed
from nas.study._compression_choice import CompressionChoice
from nas.study._spec import StudySpec, parse_spec

if TYPE_CHECKING:
    import torch


@dataclasses.dataclass(frozen=True, eq=False)
class Candidate:
    """One design of a study, rebuilt from its trial parameters.

    Args:
        spec: The study spec.
        trial: Trial number (it seeds the network's initialisation, see :func:`~nas.study.trial_seed`).
        params: The trial's Optuna parameters.
        genotype: The network in its search space.
        compression: The compression settings, or None when the study compresses nothing.
        hardware_name: The hardware preset.
        hardware_overrides: Searched keys of the preset and their values, in the preset file's units.
        hardware: The hardware config with the overrides applied.
        precision: Arithmetic precision of the workload.
        cost: Latency, energy and area with the per-layer breakdown.
        module: The compressed torch module (weights as the search scored them), or None.
    """

    spec: StudySpec
    trial: int
    params: Mapping[str, Any]
    genotype: Any
    compression: CompressionChoice | None
    hardware_name: str
    hardware_overrides: Mapping[str, Any]
    hardware: HardwareConfig
    precision: str
    cost: Cost
    module: torch.nn.Module | None


def rebuild_candidate(spec: StudySpec, params: Mapping[str, Any], trial: int, *, module: bool = False) -> Candidate:
    """Rebuild and cost one candidate the way :func:`~nas.study.evaluate_candidate` evaluated it.

    Args:
        spec: The study spec.
        params: The trial's parameters.
        trial: The trial number (seeds the weights, so pruning masks and shared weights match).
        module: Also return the compressed torch module (a compressed candidate always builds
            it, since its pruning masks set the workload's per-layer densities).
    """
    built = build_candidate(spec, params, trial, module=module)
    return Candidate(
        spec=spec, trial=trial, params=dict(params), genotype=built.genotype, compression=built.compression,
        hardware_name=built.hardware_name, hardware_overrides=built.hardware_overrides, hardware=built.hardware,
        precision=built.precision, cost=evaluate(built.workload, built.hardware), module=built.module,
    )


def candidate_from_dataset(dataset: xr.Dataset, trial: int | None = None, *, module: bool = False) -> Candidate:
    """Rebuild trial ``trial`` of a single-study results dataset (default :func:`default_trial`)."""
    trial = default_trial(dataset) if trial is None else trial
    if trial in dataset.trial.values and dataset.state.sel(trial=trial).item() != "COMPLETE":
        reason = dataset.fail_reason.sel(trial=trial).item()
        raise InputError(f"trial {trial} did not complete ({reason}); choose a completed trial")
    params = params_of(dataset, trial)
    if module:
        spec = StudySpec.from_json(dataset.attrs["spec_json"], origin="this results dataset")
        return rebuild_candidate(spec, params, trial, module=True)
    return _rebuilt(dataset.attrs["spec_json"], tuple(sorted(params.items())), trial)


@functools.lru_cache(maxsize=8)
def _rebuilt(spec_json: str, params: tuple[tuple[str, Any], ...], trial: int) -> Candidate:
    """Candidates without a module, cached: a report draws several figures of the same design,
    and rebuilding a compressed one (masks, k-means weight sharing) takes seconds."""
    return rebuild_candidate(StudySpec.from_json(spec_json, origin="this results dataset"), dict(params), trial)


def default_trial(dataset: xr.Dataset) -> int:
    """The Pareto-optimal trial that is best in the study's first objective (the design a report leads with)."""
    metric, direction = objectives_of(dataset)[0]
    front = dataset.where(dataset.is_pareto.astype(bool), drop=True)
    if not front.sizes.get("trial", 0):
        raise InputError("no trial is on the Pareto front (none completed feasibly); pass a trial number")
    values = front[metric].values
    return int(front.trial.values[np.nanargmax(values) if direction == "maximize" else np.nanargmin(values)])


def export_candidate(
    dataset: xr.Dataset, trial: int, path: str | Path, *, torch_path: str | Path | None = None,
    source: str | None = None,
) -> Path:
    """Write one trial of a results dataset as a TOML file, and its compressed module's state dict.

    Args:
        dataset: A single-study results dataset.
        trial: The trial number.
        path: The TOML file to write.
        torch_path: Also write the compressed network's ``state_dict`` here (``torch.save``).
            The weights are the seeded initialisation the search scored, with pruning,
            quantization and weight sharing applied to them: train before use.
        source: Where the dataset came from, recorded in the file.

    Returns:
        The TOML path.
    """
    candidate = candidate_from_dataset(dataset, trial, module=torch_path is not None)
    row = dataset.sel(trial=trial)
    metrics = {name: float(row[name]) for name in dataset.data_vars
               if row[name].dtype.kind == "f" and math.isfinite(float(row[name]))}
    document = {
        "candidate": {
            "study": dataset.attrs["study_name"],
            "trial": trial,
            "seed": trial_seed(candidate.spec.study.seed, trial),
            "state": str(row.state.item()),
            "is_pareto": bool(row.is_pareto),
            "is_feasible": bool(row.is_feasible),
            "results_file": source or "",
            "exported_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
        "objectives": {metric: metrics[metric] for metric, _ in objectives_of(dataset)},
        "genotype": {"space": candidate.spec.space.name, "dataset": candidate.spec.space.dataset,
                     **candidate.spec.make_space().describe_genotype(candidate.genotype)},
        "hardware": {
            "preset": candidate.hardware_name,
            "precision": candidate.precision,
            "batch_size": candidate.spec.hardware.batch_size,
            "overrides": dict(candidate.hardware_overrides),
            "config": _hardware_table(candidate.hardware_name, candidate.hardware_overrides),
        },
        **({} if candidate.compression is None else {"compression": _compression_table(candidate.compression)}),
        "metrics": metrics,
        "params": dict(candidate.params),
        "spec": _without_none(json.loads(candidate.spec.to_json())),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = [
        f"# Trial {trial} of study {dataset.attrs['study_name']!r}, written by `nas export`.",
        "# nas.load_candidate(this file) rebuilds it; [hardware] preset + overrides is what",
        "# cost_models.load_hardware(preset, overrides) takes; [hardware.config] is the result.",
    ]
    if candidate.compression is not None and candidate.compression.act_format is not None:
        header.append("# Activation quantization is a forward hook, not in the state dict: "
                      "nas.load_candidate re-applies it.")
    path.write_text("\n".join(header) + "\n" + _to_toml(document))
    if torch_path is not None:
        import torch

        Path(torch_path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(candidate.module.state_dict(), torch_path)
    return path


def load_candidate(path: str | Path, state_dict: str | Path | None = None) -> Candidate:
    """Rebuild a candidate from a TOML file written by :func:`export_candidate`.

    Args:
        path: The exported TOML file.
        state_dict: A state dict written with it (``nas export --torch``); its weights
            are loaded into the compressed module.

    Example:
        ``load_candidate("best.toml", "best.pt").module`` is the compressed network, and
        ``.cost.layer_table()`` its per-layer cost on the chosen hardware.
    """
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such exported candidate; `nas export` writes one") from None
    for table in ("spec", "params", "candidate"):
        if table not in document:
            raise InputError(f"{path}: no [{table}] table; not a file written by `nas export`")
    spec = parse_spec(document["spec"], origin=str(path))
    candidate = rebuild_candidate(spec, document["params"], int(document["candidate"]["trial"]),
                                  module=state_dict is not None)
    if state_dict is not None:
        import torch

        candidate.module.load_state_dict(torch.load(state_dict, weights_only=True))
    return candidate


def _compression_table(choice: CompressionChoice) -> dict[str, Any]:
    table = {key: value for key, value in dataclasses.asdict(choice).items() if value is not None and value != {}}
    table["layer_ratios"] = dict(choice.layer_ratios)
    return table


def _hardware_table(preset: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The preset file's keys with the searched overrides applied: a hardware file of the design."""
    path = Path(preset) if preset.endswith(".toml") else PRESET_DIR / f"{preset}.toml"
    table = tomllib.loads(path.read_text())
    table.update(overrides)
    return table


def spec_to_toml(spec_json: str) -> str:
    """A study spec (its JSON, as datasets store it) as the text of a study TOML file."""
    return _to_toml(_without_none(json.loads(spec_json)))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _to_toml(document: Mapping[str, Any], prefix: str = "") -> str:
    """TOML text of nested tables of scalars and lists (the standard library only reads TOML)."""
    lines, tables = [], []
    for key, value in document.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
            tables.extend((key, [item]) for item in value)
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in tables:
        name = f"{prefix}{_key(key)}"
        if isinstance(value, list):
            text += f"\n[[{name}]]\n" + _to_toml(value[0], f"{name}.")
        else:
            text += f"\n[{name}]\n" + _to_toml(value, f"{name}.")
    return text


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        return ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")) if not math.isfinite(value) \
            else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to TOML")
