"""``nas``: the command line of the co-design search service. Thin: parse, call ``nas``, print."""

from __future__ import annotations

import sys
from pathlib import Path

import click


class _OneLineErrors(click.Group):
    """Turn the library's validation errors into one clean line and exit status 2."""

    def invoke(self, ctx: click.Context):
        from cost_models import HardwareSpecError
        from nas import SearchError, StudySpecError

        try:
            return super().invoke(ctx)
        except (StudySpecError, HardwareSpecError, SearchError, FileNotFoundError, ValueError) as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)


@click.group(cls=_OneLineErrors)
@click.version_option(package_name="nas-codesign")
def main() -> None:
    """Search network architecture, compression and hardware together, and read the results."""


@main.command()
@click.argument("study_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--trials", type=click.IntRange(min=0), help="Trials to add in this run [default: the spec's n_trials].")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
              help="Worker processes of the local Dask cluster.")
@click.option("--scheduler", metavar="ADDR", help="Use a running Dask scheduler, e.g. tcp://10.0.0.5:8786.")
@click.option("--storage", metavar="URL",
              help="Optuna storage: a journal file path or an RDB URL [default: the spec's, else OUT/NAME.journal].")
@click.option("--out", default="results", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the results dataset (.nc) and the Pareto plot (.html).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def search(study_file: Path, trials: int | None, workers: int, scheduler: str | None, storage: str | None,
           out: Path, progress: bool) -> None:
    """Run (or continue) the study in STUDY_FILE on Dask and save its Pareto dataset.

    Running the same command again continues the same study in the same storage.
    """
    from nas import (
        default_storage_path,
        load_spec,
        pareto_figure,
        run_search,
        save_dataset,
        study_to_dataset,
        write_html,
    )

    spec = load_spec(study_file)
    storage = storage or spec.study.storage or str(default_storage_path(spec, out))
    where = scheduler or f"a local Dask cluster of {workers} workers"
    click.echo(f"study {spec.study.name!r}: storage {storage}, running on {where}")
    study = run_search(spec, storage=storage, n_trials=trials, n_workers=workers, scheduler=scheduler,
                       progress=progress)
    dataset = study_to_dataset(study)
    nc_path = save_dataset(dataset, out / f"{spec.study.name}.nc")
    html_path = write_html(pareto_figure(dataset), out / f"{spec.study.name}_front.html")
    states = dataset.state.values
    click.echo(
        f"{len(states)} trials in the study ({(states == 'COMPLETE').sum()} complete, "
        f"{(states == 'FAIL').sum()} failed), {int(dataset.is_pareto.sum())} on the Pareto front"
    )
    click.echo(f"results: {nc_path}\nplot:    {html_path}")


@main.command()
@click.argument("results", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--all", "show_all", is_flag=True, help="List every completed trial, not only the front.")
def pareto(results: Path, show_all: bool) -> None:
    """Print the Pareto front of a results dataset as a table."""
    from nas import load_dataset, objectives_of, units_of

    dataset = load_dataset(results)
    rows = dataset.where(dataset.state == "COMPLETE", drop=True)
    if not show_all:
        rows = rows.where(rows.is_pareto.astype(bool), drop=True)
    metrics = [metric for metric, _ in objectives_of(dataset)]
    rows = rows.sortby(rows[metrics[0]])
    hardware_keys = sorted(c for c in rows.coords if "." in str(c))  # searched keys, "<preset>.<key>"
    labels = [c for c in ("arch_index", "hardware", "precision", *hardware_keys) if c in rows.coords]
    header = ["trial", *labels, *(f"{m} [{units_of(m)}]" for m in metrics)]
    if "arch" in rows.coords:
        header.append("arch")
    table = [header]
    for i in range(rows.sizes["trial"]):
        row = [str(int(rows.trial[i]))]
        row += [_label(rows[c].values[i]) for c in labels]
        row += [f"{rows[m].values[i]:.4g}" for m in metrics]
        if "arch" in rows.coords:
            row.append(str(rows.arch.values[i]))
        table.append(row)
    widths = [max(len(r[j]) for r in table) for j in range(len(header) - 1)]
    for row in table:
        click.echo("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    click.echo(f"{rows.sizes['trial']} {'completed trials' if show_all else 'Pareto-optimal trials'}")


def _label(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and float(value).is_integer() else str(value)


@main.command()
@click.argument("results", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write.")
@click.option("--x", "x_metric", help="Metric on the x axis [default: a cost objective].")
@click.option("--y", "y_metric", help="Metric on the y axis [default: the accuracy objective].")
@click.option("--color", help="Metric or coordinate that colours the front [default: the third objective].")
def plot(results: Path, output: Path, x_metric: str | None, y_metric: str | None, color: str | None) -> None:
    """Draw the Pareto front of a results dataset as a self-contained HTML page."""
    from nas import load_dataset, pareto_figure, write_html

    figure = pareto_figure(load_dataset(results), x=x_metric, y=y_metric, color=color)
    click.echo(f"plot: {write_html(figure, output)}")


@main.command()
@click.option("--hardware", required=True, help="Preset name (`nas hardware`) or path of a hardware TOML file.")
@click.option("--space", help="Search space of the network (with --arch), e.g. nb201.")
@click.option("--arch", help="Genotype in the space, e.g. an NB201 arch string '|nor_conv_3x3~0|+|...|'.")
@click.option("--dataset", default="cifar10", show_default=True, help="Dataset option of the space.")
@click.option("--model", help="A reference network instead of --space/--arch, e.g. resnet18.")
@click.option("--batch-size", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--precision", help="fp32, tf32, fp16, bf16, fp8, int8 or int4 "
              "[default: fp16 on GPUs, int8 on systolic arrays, int8 with 4-bit weights, 16-bit activations on EIE].")
@click.option("--weight-bits", type=click.IntRange(min=1, max=32), help="Bits per weight [default: the precision's].")
@click.option("--act-bits", type=click.IntRange(min=1, max=32), help="Bits per activation [default: the precision's].")
@click.option("--top", type=click.IntRange(min=1), help="Show only the N slowest layers.")
def cost(hardware: str, space: str | None, arch: str | None, dataset: str, model: str | None, batch_size: int,
         precision: str | None, weight_bits: int | None, act_bits: int | None, top: int | None) -> None:
    """Cost one network on one hardware preset: per-layer latency, energy, bound, and totals."""
    from nas import cost_network, format_cost

    if (model is None) == (space is None or arch is None):
        raise click.UsageError("give either --model NAME, or --space NAME with --arch GENOTYPE")
    if model is not None:
        from search_spaces import model_workload

        workload = model_workload(model, batch_size=batch_size)
    else:
        from search_spaces import get_space

        workload = get_space(space, dataset=dataset).workload(arch, batch_size=batch_size)
    result = cost_network(workload, hardware, precision, weight_bits=weight_bits, act_bits=act_bits)
    click.echo(format_cost(result, top=top))


@main.command()
@click.option("--space", help="Search space of the network (with --arch), e.g. nb201.")
@click.option("--arch", help="Genotype in the space, e.g. an NB201 arch string '|nor_conv_3x3~0|+|...|'.")
@click.option("--dataset", default="cifar10", show_default=True, help="Dataset option of the space.")
@click.option("--model", help="A reference network instead of --space/--arch, e.g. resnet18.")
@click.option("--pattern", default="unstructured", show_default=True,
              type=click.Choice(["unstructured", "2:4", "channel"]), help="Pruning pattern.")
@click.option("--ratios", metavar="R,R,...",
              help="Prune ratios in [0, 1) [default: 0,0.1,...,0.9; 2:4: 0,0.5].")
@click.option("--layers", metavar="NAME,NAME,...", help="Conv/linear module names to test [default: all].")
@click.option("--max-drop", type=float, help="Suggest per-layer ratios whose synflow drop stays within this.")
@click.option("--seed", default=0, show_default=True, help="Seed of the network's random initialisation.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="netCDF file for the sensitivity dataset.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Also write the curves as HTML.")
def sensitivity(space: str | None, arch: str | None, dataset: str, model: str | None, pattern: str,
                ratios: str | None, layers: str | None, max_drop: float | None, seed: int, output: Path,
                plot: Path | None) -> None:
    """Prune one layer at a time and print how far the synflow score drops (Han et al. 2015, Fig. 6).

    Synflow is data-free, so the network is scored freshly initialised; for a trained
    network's accuracy, call nas.compression.pruning_sensitivity with your own score.
    """
    import torch

    from nas import save_dataset, write_html
    from nas.compression import format_sensitivity, pruning_sensitivity, sensitivity_figure, suggest_layer_ratios

    if (model is None) == (space is None) or (space is None) != (arch is None):
        raise click.UsageError("give either --model NAME, or --space NAME with --arch GENOTYPE")
    try:
        ratio_list = None if ratios is None else [float(item) for item in ratios.split(",")]
    except ValueError:
        raise ValueError(f"--ratios: expected comma-separated numbers, got {ratios!r}") from None
    if max_drop is not None and not 0 <= max_drop < float("inf"):  # before minutes of scoring, not after
        raise ValueError(f"--max-drop: expected a finite number >= 0, got {max_drop}")
    torch.manual_seed(seed)
    if model is not None:
        from search_spaces import build_model, model_input_shape

        network, module, shape = model, build_model(model), model_input_shape(model)
    else:
        from search_spaces import get_space

        searched = get_space(space, dataset=dataset)
        network, module, shape = f"{space} {arch}", searched.build(arch), searched.input_shape()
    result = pruning_sensitivity(
        module, torch.zeros(1, *shape), pattern=pattern, ratios=ratio_list, network=network,
        layers=None if layers is None else [name.strip() for name in layers.split(",") if name.strip()],
    )
    suggested = None if max_drop is None else suggest_layer_ratios(result, max_drop)
    click.echo(format_sensitivity(result, suggested))
    click.echo(f"dataset: {save_dataset(result, output)}")
    if plot is not None:
        click.echo(f"plot: {write_html(sensitivity_figure(result), plot)}")


@main.command()
@click.option("--quick", is_flag=True,
              help="Correlate over 1,000 NB201 cells (fixed seed) instead of all 15,625.")
def validate(quick: bool) -> None:
    """Check every cost model against published and measured numbers; exit 1 if any check fails."""
    import time

    from nas import format_validation, run_validation

    start = time.perf_counter()
    results = run_validation(quick=quick)
    click.echo(format_validation(results))
    click.echo(f"\nvalidation took {time.perf_counter() - start:.1f} s")
    if any(result.passed is False for result in results):
        sys.exit(1)


@main.command()
def spaces() -> None:
    """List the search spaces."""
    from search_spaces import get_space, list_spaces

    for name in list_spaces():
        click.echo(f"{name:10s} {get_space(name).describe()}")


@main.command()
def hardware() -> None:
    """List the hardware presets, their family and source."""
    from cost_models import list_presets, load_hardware

    for name in list_presets():
        config = load_hardware(name)
        click.echo(f"{name:16s} {config.family:9s} {config.source}")


if __name__ == "__main__":
    main()
