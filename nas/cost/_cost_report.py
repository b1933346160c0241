"""Cost one network on one hardware preset and lay the result out as a per-layer table."""

from __future__ import annotations

import numpy as np

from cost_models import Cost, NumberFormat, Workload, evaluate, load_hardware
from nas._errors import InputError

PRECISION_BITS = {fmt.label: fmt.storage_bits for fmt in NumberFormat}
"""Storage bits of weights and activations for each arithmetic format (``NumberFormat.storage_bits``)."""

def apply_precision(
    workload: Workload, precision: str, *, weight_bits: int | None = None, act_bits: int | None = None
) -> Workload:
    """Set every layer's arithmetic to ``precision`` and its weight and activation bits.

    Args:
        workload: The network.
        precision: A :class:`~cost_models.NumberFormat` label: ``fp32, tf32, fp16, bf16, fp8, int8, int4, fp6, fp4``.
        weight_bits: Bits per stored weight; default the precision's width.
        act_bits: Bits per activation; default the precision's width.
    """
    if precision not in PRECISION_BITS:
        raise InputError(f"precision: unknown {precision!r}; choose from {', '.join(PRECISION_BITS)}")
    bits = PRECISION_BITS[precision]
    return workload.with_compression(
        math=NumberFormat.parse(precision), weight_bits=weight_bits or bits, act_bits=act_bits or bits
    )


def cost_network(
    workload: Workload,
    hardware: str,
    precision: str | None = None,
    *,
    weight_bits: int | None = None,
    act_bits: int | None = None,
    execution_mode: str | None = None,
) -> Cost:
    """Cost ``workload`` on a hardware preset name or TOML path.

    Args:
        workload: The network.
        hardware: Preset name (``nas hardware``) or path of a hardware TOML file.
        precision: Arithmetic of every layer. With no precision, the family's
            :attr:`~cost_models.HardwareConfig.default_quantization` sets arithmetic and bits.
        weight_bits: Bits per weight; default the precision's (or the family's) width.
        act_bits: Bits per activation; default the precision's (or the family's) width.
        execution_mode: ``"eager"`` or ``"cuda_graph"`` on a GPU (default the preset's).

    Raises:
        InputError: ``execution_mode`` on a non-GPU preset (one line).
    """
    config = load_hardware(hardware)
    if execution_mode is not None:
        if not hasattr(config, "execution_mode"):
            raise InputError(f"execution_mode applies to GPU presets; {hardware!r} is a {config.family} preset")
        config = load_hardware(hardware, {"execution_mode": execution_mode})
    if precision is None:
        precision, family_weight_bits, family_act_bits = config.default_quantization
        weight_bits = weight_bits or family_weight_bits
        act_bits = act_bits or family_act_bits
    return evaluate(apply_precision(workload, precision, weight_bits=weight_bits, act_bits=act_bits), config)


def format_cost(cost: Cost, *, top: int | None = None) -> str:
    """The per-layer table (latency, energy, bound, utilisation) and the totals, as text.

    Args:
        cost: The cost of one network.
        top: Show only the ``top`` layers with the largest latency (all when None).
    """
    table = cost.layer_table()
    rows = np.arange(len(table["layer"]))
    if top is not None:
        rows = np.sort(np.argsort(-np.nan_to_num(table["latency_s"], nan=np.inf), kind="stable")[:top])
    utilization = table.get("utilization")
    header = ["layer", "kind", "MACs", "latency [us]", "energy [uJ]", "bound", "utilization"]
    lines = [header]
    for i in rows:
        lines.append([
            str(table["layer"][i]), str(table["kind"][i]), f"{int(table['macs'][i]):,}",
            f"{table['latency_s'][i] * 1e6:.3f}", f"{table['energy_j'][i] * 1e6:.3f}", str(table["bound"][i]),
            "-" if utilization is None else f"{utilization[i]:.1%}",
        ])
    widths = [max(len(line[j]) for line in lines) for j in range(len(header))]
    text = ["  ".join(cell.ljust(w) if j < 2 else cell.rjust(w)
                      for j, (cell, w) in enumerate(zip(line, widths, strict=True)))
            for line in lines]
    if top is not None and top < len(table["layer"]):
        text.append(f"({len(rows)} of {len(table['layer'])} layers: the slowest)")
    summary = cost.summary()
    energy_j = summary["energy_j"]
    text += [
        "",
        f"hardware     {cost.hardware}",
        f"latency_s    {summary['latency_s']:.6g}",
        f"energy_j     {energy_j:.6g}",
    ]
    for level, joules in cost.energy_by_level_j.items():
        share = joules[0] / energy_j if energy_j else float("nan")
        text.append(f"  {level:<15s}{joules[0]:.6g} J ({share:.1%})")
    bounds, counts = np.unique(cost.layer_bound, return_counts=True)
    text += [
        f"area_mm2     {summary['area_mm2']:.6g}",
        "bounds       " + ", ".join(f"{b}: {c} layers" for b, c in zip(bounds, counts, strict=True)),
        f"energy       {cost.energy_method}",
    ]
    if cost.unsupported.any():
        names = ", ".join(cost.workload.name[cost.unsupported][:5])
        supported = ~cost.unsupported
        text += [
            f"UNSUPPORTED  {int(cost.unsupported.sum())} layers cannot run on this hardware: {names}",
            f"             the other {int(supported.sum())} layers alone: "
            f"{np.sum(cost.layer_latency_s[supported]):.6g} s, {np.sum(cost.layer_energy_j[supported]):.6g} J",
        ]
    return "\n".join(text)
