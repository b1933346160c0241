"""Hardware presets: TOML data files, one chip a file, validated on load.

A preset lives in ``cost_models/presets/<name>.toml`` and starts with
``family = "gpu"`` (or another registered family) and ``source = "..."`` naming the
datasheet or paper its numbers come from. A user's own file is loaded the same way
by passing its path instead of a preset name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cost_models._cost import Cost, CostModel, HardwareConfig, HardwareSpecError
from cost_models._toml_file import read_toml
from cost_models._workload import Workload

PRESET_DIR = Path(__file__).parent / "presets"

_FAMILIES: dict[str, tuple[type[HardwareConfig], CostModel]] = {}


def register_family(config_type: type[HardwareConfig], model: CostModel) -> None:
    """Make a hardware family loadable: its config type parses presets, its model costs them."""
    _FAMILIES[config_type.family] = (config_type, model)


def list_presets() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.toml"))


def load_hardware(name_or_path: str | Path, overrides: Mapping[str, Any] | None = None) -> HardwareConfig:
    """Load a preset by name (``"h100"``) or a hardware TOML file by path.

    Args:
        name_or_path: A preset name (``nas hardware`` lists them) or the path of a ``.toml`` file.
        overrides: Keys of the file to replace, in the file's units (``{"rows": 64,
            "activation_buffer_bytes": 262144}``): how a search sizes an accelerator. They
            are validated exactly like the file's own keys.

    Raises:
        HardwareSpecError: Unknown preset, unreadable file, or a bad key (one line).

    Example:
        >>> load_hardware("tpu_v1", {"rows": 128, "cols": 128}).rows
        128
    """
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = PRESET_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise HardwareSpecError(
                f"hardware: unknown preset {str(name_or_path)!r}; choose from "
                f"{', '.join(list_presets())} or give the path of a .toml file"
            )
    data = read_toml(path, what="hardware file", error=HardwareSpecError)
    family = data.pop("family", None)
    if family not in _FAMILIES:
        raise HardwareSpecError(
            f"{path}: key 'family' is {family!r}; set it to one of {', '.join(sorted(_FAMILIES))}"
        )
    if overrides:
        if "family" in overrides:
            raise HardwareSpecError(f"{path}: overrides cannot change 'family'; load another preset instead")
        data.update(overrides)
    data.setdefault("name", path.stem)
    config_type, _ = _FAMILIES[family]
    return config_type.from_mapping(data, origin=str(path))


def cost_model_for(hardware: HardwareConfig) -> CostModel:
    """The cost model that reads this hardware's family."""
    return _FAMILIES[hardware.family][1]


def evaluate(workload: Workload, hardware: HardwareConfig | str) -> Cost:
    """Cost ``workload`` on ``hardware`` (a config, a preset name or a TOML path).

    Example:
        >>> from cost_models import WorkloadBuilder, evaluate
        >>> b = WorkloadBuilder(batch_size=1)
        >>> b.linear("fc", c=1024, k=1024)
        >>> cost = evaluate(b.build(), "h100")
        >>> bool(cost.latency_s[0] > 0)
        True
    """
    if not isinstance(hardware, HardwareConfig):
        hardware = load_hardware(hardware)
    return cost_model_for(hardware).evaluate(workload, hardware)
