"""``nas``: the command line of the co-design search service. Thin: parse, call ``nas``, print."""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path

import click


class _OneLineErrors(click.Group):
    """Print the errors raised on purpose as one line and exit with status 2; ``--debug`` shows their traceback.

    Raised on purpose: :class:`nas.NasError` (every nas error derives from it), a bad hardware
    file (:class:`cost_models.HardwareSpecError`; cost_models sits below nas) and a missing
    file. Anything else is a bug and keeps its traceback. Warnings print as one ``warning:`` line.
    """

    def invoke(self, ctx: click.Context):
        from cost_models import HardwareSpecError
        from nas import NasError

        try:
            with warnings.catch_warnings():
                if not ctx.params.get("debug"):
                    warnings.showwarning = _one_line_warning
                return super().invoke(ctx)
        except (NasError, HardwareSpecError, FileNotFoundError) as error:
            if ctx.params.get("debug"):
                raise
            click.echo(f"error: {error}", err=True)
            sys.exit(2)
        except OSError as error:  # a full disk, a read-only folder, a path under a regular file
            if ctx.params.get("debug"):
                raise
            where = f"{error.filename}: " if error.filename else ""
            click.echo(f"error: {where}{error.strerror or error}; what was already stored (the study's trials) "
                       "is kept: fix this and run the command again", err=True)
            sys.exit(2)


def _tls_options(command):
    """``--tls-ca-file``, ``--tls-cert`` and ``--tls-key``: how a command reaches a ``tls://`` scheduler."""
    for name, what in (("--tls-key", "the client's private key"), ("--tls-cert", "the client's certificate"),
                       ("--tls-ca-file", "the cluster's CA certificate")):
        command = click.option(name, type=click.Path(exists=True, dir_okay=False), metavar="PEM",
                               help=f"For a tls:// scheduler: {what} (PEM file).")(command)
    return command


def _security(ca_file: str | None, cert: str | None, key: str | None):
    """Dask's ``Security`` for the TLS files given, or None when none is."""
    if ca_file is None and cert is None and key is None:
        return None
    if None in (ca_file, cert):
        raise click.UsageError("TLS needs --tls-ca-file and --tls-cert (and --tls-key unless the certificate "
                               "file holds the key)")
    from distributed.security import Security

    return Security(tls_ca_file=ca_file, tls_client_cert=cert, tls_client_key=key, require_encryption=True)


@click.group(cls=_OneLineErrors)
@click.version_option(package_name="nas-codesign")
@click.option("--debug", is_flag=True, help="On an error, show its traceback instead of one line.")
def main(debug: bool) -> None:
    """Search network architecture, compression and hardware together, and read the results."""


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one ``warning:`` line; ``--debug`` keeps Python's form, with where it came from."""
    click.echo(f"warning: {message}", err=True)


@main.command()
@click.argument("study_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--trials", type=click.IntRange(min=0), help="Trials to add in this run [default: the spec's n_trials].")
@click.option("--total", type=click.IntRange(min=1),
              help="Instead of adding --trials, run until the study has N finished trials, counting every driver's; "
                   "the same command resumes an interrupted search.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
              help="Worker processes of the local Dask cluster.")
@click.option("--scheduler", metavar="ADDR", help="Use a running Dask scheduler, e.g. tcp://10.0.0.5:8786.")
@click.option("--storage", metavar="URL",
              help="Optuna storage: a journal file path or an RDB URL (postgresql://user:pass@host/db) "
                   "[default: the spec's, else OUT/NAME.journal].")
@click.option("--out", default="results", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the results dataset (.nc) and the Pareto plot (.html).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar with the failures and the hypervolume so far.")
@_tls_options
def search(study_file: Path, trials: int | None, total: int | None, workers: int, scheduler: str | None,
           storage: str | None, out: Path, progress: bool, tls_ca_file: str | None, tls_cert: str | None,
           tls_key: str | None) -> None:
    """Run (or continue) the study in STUDY_FILE on Dask and save its Pareto dataset.

    Running the same command again continues the same study in the same storage; several
    drivers (on several machines) may run the same study on one storage at once.
    """
    if trials is not None and total is not None:
        raise click.UsageError("give --trials (trials to add) or --total (trials to reach), not both")
    from nas import load_spec, run_search, save_dataset, study_to_dataset, write_html
    from nas.plots import pareto_figure
    from nas.run import default_storage_path, mask_credentials

    spec = load_spec(study_file)
    storage = storage or spec.study.storage or str(default_storage_path(spec, out))
    where = scheduler or f"a local Dask cluster of {workers} workers"
    click.echo(f"study {spec.study.name!r}: storage {mask_credentials(str(storage))}, running on {where}")
    study = run_search(spec, storage=storage, n_trials=trials, total=total, n_workers=workers, scheduler=scheduler,
                       security=_security(tls_ca_file, tls_cert, tls_key), progress=progress)
    dataset = study_to_dataset(study)
    nc_path = save_dataset(dataset, out / f"{spec.study.name}.nc")
    html_path = write_html(pareto_figure(dataset), out / f"{spec.study.name}_front.html")
    states = dataset.state.values
    click.echo(
        f"{len(states)} trials in the study ({(states == 'COMPLETE').sum()} complete, "
        f"{(states == 'FAIL').sum()} failed), {int(dataset.is_pareto.sum())} on the Pareto front"
    )
    if spec.accuracy.source != "oracle":
        click.echo(f"accuracy: {dataset.attrs['accuracy_fidelity']}")
    click.echo(f"results: {nc_path}\nplot:    {html_path}")


@main.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--all", "show_all", is_flag=True, help="List every completed trial, not only the front.")
def pareto(results: Path, show_all: bool) -> None:
    """Print the Pareto front of a results dataset as a table."""
    from nas import load_dataset
    from nas.results import objectives_of, units_of

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
    table = [[_printable(cell) for cell in header]]
    for i in range(rows.sizes["trial"]):
        row = [str(int(rows.trial[i]))]
        row += [_label(rows[c].values[i]) for c in labels]
        row += [f"{rows[m].values[i]:.4g}" for m in metrics]
        if "arch" in rows.coords:
            row.append(_printable(str(rows.arch.values[i])))
        table.append(row)
    widths = [max(len(r[j]) for r in table) for j in range(len(header) - 1)]
    for row in table:
        click.echo("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    click.echo(f"{rows.sizes['trial']} {'completed trials' if show_all else 'Pareto-optimal trials'}")


@contextlib.contextmanager
def _user_input():
    """Report a ValueError of search_spaces (a lower layer, with no error class of its own) about what the user typed
    as the :class:`nas.InputError` it is."""
    from nas import InputError

    try:
        yield
    except ValueError as error:
        if isinstance(error, InputError):
            raise
        raise InputError(str(error)) from error


def _space(name: str, dataset: str | None):
    from search_spaces import get_space

    return get_space(name) if dataset is None else get_space(name, dataset=dataset)


def _label(value: object) -> str:
    text = str(int(value)) if isinstance(value, float) and float(value).is_integer() else str(value)
    return _printable(text)


def _printable(text: str) -> str:
    """``text`` with control characters (terminal escape sequences) shown escaped, not sent to the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


PLOT_KIND_NAMES = ("front", "front3d", "matrix", "parallel", "hypervolume", "breakdown", "roofline")
"""The names of nas.plots.PLOT_KINDS, listed here so that `nas --help` needs no import of nas."""


@main.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write: .html (self-contained, opens offline) or .png (needs kaleido and Chromium).")
@click.option("--kind", default="front", show_default=True, type=click.Choice(PLOT_KIND_NAMES),
              help="front/front3d: Pareto front in 2 or 3 metrics; matrix: every pair of objectives; parallel: "
                   "parallel coordinates; hypervolume: hypervolume vs trials; breakdown: one design's per-layer "
                   "energy and latency; roofline: one design's layers against its hardware's roofs.")
@click.option("--x", "x_metric", help="front/front3d: metric on the x axis [default: a cost objective].")
@click.option("--y", "y_metric", help="front/front3d: metric on the y axis [default: the accuracy objective].")
@click.option("--z", "z_metric", help="front3d: metric on the z axis [default: the third objective].")
@click.option("--color", help="front: metric or coordinate that colours the front [default: the third objective].")
@click.option("--metrics", metavar="M,M,...", help="matrix: metrics to pair; parallel: extra axes.")
@click.option("--trial", type=click.IntRange(min=0),
              help="breakdown/roofline: the trial [default: the Pareto design best in the first objective].")
@click.option("--study", help="breakdown/roofline: which study of a merged dataset.")
@click.option("--png", is_flag=True, help="Also write a PNG beside the HTML (needs kaleido and Chromium).")
def plot(results: Path, output: Path, kind: str, x_metric: str | None, y_metric: str | None, z_metric: str | None,
         color: str | None, metrics: str | None, trial: int | None, study: str | None, png: bool) -> None:
    """Draw a plot of a results dataset (one study or a merged file) as HTML or PNG."""
    from nas import load_dataset, plot_figure, write_html
    from nas.plots import write_png

    figure = plot_figure(
        load_dataset(results), kind, x=x_metric, y=y_metric, z=z_metric, color=color, trial=trial, study=study,
        metrics=None if metrics is None else [m.strip() for m in metrics.split(",") if m.strip()],
    )
    if output.suffix == ".png":
        click.echo(f"plot: {write_png(figure, output)}")
        return
    click.echo(f"plot: {write_html(figure, output)}")
    if png:
        click.echo(f"plot: {write_png(figure, output.with_suffix('.png'))}")


@main.command()
@click.option("--hardware", required=True, help="Preset name (`nas hardware`) or path of a hardware TOML file.")
@click.option("--space", help="Search space of the network (with --arch), e.g. nb201.")
@click.option("--arch", help="Genotype in the space, e.g. an NB201 arch string '|nor_conv_3x3~0|+|...|'.")
@click.option("--dataset", help="Dataset option of the space [default: the space's; nb201: cifar10, mobilenet and "
              "resnet: imagenet].")
@click.option("--model", help="A reference network instead of --space/--arch: one of torchvision's ImageNet "
              "classifiers alexnet, convnext_tiny, densenet121, efficientnet_b0, mobilenet_v2, mobilenet_v3_large, "
              "regnet_y_400mf, resnet18, resnet50, squeezenet1_0, vgg16, vit_b_16.")
@click.option("--model-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Your own network instead: a program saved by torch.export.save (.pt2), or an ONNX model "
                   "(.onnx, needs the onnx package), exported with batch 1 or a dynamic batch dimension.")
@click.option("--batch-size", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--precision", help="fp32, tf32, fp16, bf16, fp8, int8, int4, fp6 or fp4 "
              "[default: fp16 on GPUs, int8 on systolic arrays, int8 with 4-bit weights, 16-bit activations on EIE].")
@click.option("--weight-bits", type=click.IntRange(min=1, max=32), help="Bits per weight [default: the precision's].")
@click.option("--act-bits", type=click.IntRange(min=1, max=32), help="Bits per activation [default: the precision's].")
@click.option("--top", type=click.IntRange(min=1), help="Show only the N slowest layers.")
@click.option("--mode", type=click.Choice(["eager", "cuda_graph"]),
              help="GPU execution mode: eager PyTorch or a replayed CUDA graph [default: the preset's].")
def cost(hardware: str, space: str | None, arch: str | None, dataset: str, model: str | None,
         model_file: Path | None, batch_size: int, precision: str | None, weight_bits: int | None,
         act_bits: int | None, top: int | None, mode: str | None) -> None:
    """Cost one network on one hardware preset: per-layer latency, energy, bound, and totals."""
    from nas import cost_network
    from nas.cost import format_cost

    given = (model is not None) + (model_file is not None) + (space is not None and arch is not None)
    if given != 1 or (space is None) != (arch is None):
        raise click.UsageError("give either --model NAME, or --space NAME with --arch GENOTYPE, or --model-file PATH")
    with _user_input():
        if model is not None:
            from search_spaces import model_workload

            workload = model_workload(model, batch_size=batch_size)
        elif model_file is not None and model_file.suffix.lower() == ".onnx":
            from search_spaces import workload_from_onnx

            workload = workload_from_onnx(model_file, batch_size=batch_size)
        elif model_file is not None:
            from search_spaces import workload_from_exported_program

            workload = workload_from_exported_program(model_file, batch_size=batch_size)
        else:
            workload = _space(space, dataset).workload(arch, batch_size=batch_size)
    result = cost_network(workload, hardware, precision, weight_bits=weight_bits, act_bits=act_bits,
                          execution_mode=mode)
    click.echo(format_cost(result, top=top))


@main.command()
@click.option("--space", help="Search space of the network (with --arch), e.g. nb201.")
@click.option("--arch", help="Genotype in the space, e.g. an NB201 arch string '|nor_conv_3x3~0|+|...|'.")
@click.option("--dataset", help="Dataset option of the space [default: the space's; nb201: cifar10, mobilenet and "
              "resnet: imagenet].")
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

    from nas import InputError, save_dataset, write_html
    from nas.compression import format_sensitivity, pruning_sensitivity, sensitivity_figure, suggest_layer_ratios

    if (model is None) == (space is None) or (space is None) != (arch is None):
        raise click.UsageError("give either --model NAME, or --space NAME with --arch GENOTYPE")
    try:
        ratio_list = None if ratios is None else [float(item) for item in ratios.split(",")]
    except ValueError:
        raise InputError(f"--ratios: expected comma-separated numbers, got {ratios!r}") from None
    if max_drop is not None and not 0 <= max_drop < float("inf"):  # before minutes of scoring, not after
        raise InputError(f"--max-drop: expected a finite number >= 0, got {max_drop}")
    torch.manual_seed(seed)
    from search_spaces import build_model, model_input_shape

    with _user_input():
        if model is not None:
            network, module, shape = model, build_model(model), model_input_shape(model)
        else:
            searched = _space(space, dataset)
            network, module, shape = f"{space} {arch}", searched.build(arch), searched.input_shape(arch)
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

    from nas import run_validation
    from nas.validation import compression_checks, format_validation

    start = time.perf_counter()
    results = run_validation(quick=quick)
    click.echo(format_validation(results))
    click.echo("\nCompression-aware accuracy estimates against published ImageNet accuracies (estimates of an "
               "estimator fitted on small MNIST networks; not counted in the exit status"
               + ("; --quick: MobileNetV2 only" if quick else "") + "):\n")
    click.echo(format_validation(compression_checks(quick=quick)))
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


@main.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Dataset to write (.nc, or .zarr) [default: results/NAME.nc].")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
              help="Worker processes of the local Dask cluster.")
@click.option("--scheduler", metavar="ADDR", help="Use a running Dask scheduler, e.g. tcp://10.0.0.5:8786.")
@click.option("--chunk-size", default=8192, show_default=True, type=click.IntRange(min=1),
              help="Networks costed per Dask task (cells x hardware points).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@_tls_options
def sweep(sweep_file: Path, output: Path | None, workers: int, scheduler: str | None, chunk_size: int,
          progress: bool, tls_ca_file: str | None, tls_cert: str | None, tls_key: str | None) -> None:
    """Cost every point of the grid in SWEEP_FILE (cells x hardware keys x policies) on Dask.

    Writes an xarray dataset whose dimensions are the grid axes, with an is_pareto mask
    for the file's objectives: the exact front a search can be measured against.
    """
    from nas import run_sweep, save_dataset
    from nas.run import dask_client
    from nas.sweep import load_sweep_spec

    spec = load_sweep_spec(sweep_file)
    output = output or Path("results") / f"{spec.sweep.name}.nc"
    where = scheduler or f"a local Dask cluster of {workers} workers"
    shape = (f"{len(spec.arch_indices()):,} cells x {len(spec.hardware.points())} hardware points x "
             f"{max(1, len(spec.policies))} policies")
    click.echo(f"sweep {spec.sweep.name!r}: {shape} = {spec.n_networks:,} networks, on {where}")
    with dask_client(scheduler, workers, security=_security(tls_ca_file, tls_cert, tls_key)) as client:
        dataset = run_sweep(spec, client, chunk_size=chunk_size, progress=progress)
    path = save_dataset(dataset, output)
    objectives = ", ".join(f"{o.metric} ({o.direction[:3]})" for o in spec.objectives)
    click.echo(f"{spec.n_networks:,} networks costed in {dataset.attrs['elapsed_s']:.1f} s; "
               f"{int(dataset.is_pareto.sum())} on the Pareto front of {objectives}")
    click.echo(f"results: {path}")


@main.command("compression-table")
@click.option("--cells", "n_cells", default=120, show_default=True, type=click.IntRange(min=1, max=15_625),
              help="NB201 cells to train, a random sample fixed by --seed.")
@click.option("--seed", default=0, show_default=True, help="Seeds the cell sample and every cell's training.")
@click.option("-o", "--output", default=Path("results/compression_table.nc"), show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="netCDF table to write (rewritten as it fills).")
@click.option("--policies", help="Comma-separated labels of the default grid to measure [default: all of them].")
@click.option("--epochs", type=click.IntRange(min=1), help="Dense training epochs [default: accuracy.trained's].")
@click.option("--resolution", type=click.IntRange(min=8, max=64),
              help="Input size in px [default: accuracy.trained's].")
@click.option("--data", help="Labelled images: mnist, digits, npz:PATH or folder:PATH [default: mnist].")
@click.option("--resume", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A table measured earlier the same way (a smaller --cells, same --seed): its cells are kept.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
              help="Worker processes of the local Dask cluster.")
@click.option("--scheduler", metavar="ADDR", help="Use a running Dask scheduler, e.g. tcp://10.0.0.5:8786.")
@_tls_options
def compression_table(n_cells: int, seed: int, output: Path, policies: str | None, epochs: int | None,
                      resolution: int | None, data: str | None, resume: Path | None, workers: int,
                      scheduler: str | None, tls_ca_file: str | None, tls_cert: str | None,
                      tls_key: str | None) -> None:
    """Train NB201 cells briefly on real images and measure each under a grid of compression policies.

    Each cell is trained once (the trained accuracy source's settings), then compressed by
    every policy as a search would, with and without fine-tune; the held-out accuracies go
    to an xarray table (cell x policy) with units and provenance. Prints the Spearman rho of
    the dense accuracies against NB201 CIFAR-10 and the accuracy drop per policy.
    """
    import time

    from nas.run import dask_client
    from nas.study import TrainedSettings
    from nas.sweep import DEFAULT_POLICIES, compression_table, drop_summary, load_table, sample_cells

    settings = TrainedSettings(**{key: value for key, value in
                                  (("epochs", epochs), ("resolution_px", resolution), ("data", data))
                                  if value is not None})
    chosen = list(DEFAULT_POLICIES)
    if policies:
        labels = [label.strip() for label in policies.split(",")]
        known = {policy.label: policy for policy in DEFAULT_POLICIES}
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise click.BadParameter(f"unknown policy {unknown[0]!r}; choose from {', '.join(known)}",
                                     param_hint="--policies")
        chosen = [DEFAULT_POLICIES[0], *(known[label] for label in labels if label != "dense")]
    cells = sample_cells(n_cells, seed)
    where = scheduler or f"a local Dask cluster of {workers} workers"
    click.echo(f"compression table: {len(cells)} NB201 cells x {len(chosen)} policies on {where} -> {output}")
    started, measured = time.perf_counter(), []

    def report(done: int, total: int, row: dict) -> None:
        measured.append(row["cell"])  # a resumed table's cells are counted in done, not in the rate
        rate = (time.perf_counter() - started) / len(measured)
        click.echo(f"  {done}/{total} cells, cell {row['cell']}: dense {row['dense_accuracy_pct']:.1f} %, "
                   f"train {row['train_time_s']:.1f} s + policies {row['policy_time_s']:.1f} s; "
                   f"{rate:.1f} s per cell overall, ~{rate * (total - done) / 60:.0f} min left", err=True)

    command = "nas compression-table " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "nas compression-table"
    with dask_client(scheduler, workers, security=_security(tls_ca_file, tls_cert, tls_key)) as client:
        table = compression_table(cells, client, settings=settings, policies=chosen, seed=seed, output=output,
                                  resume=None if resume is None else load_table(resume), command=command,
                                  on_cell=report)
    click.echo(f"{len(cells)} cells ({len(measured)} measured now) in {table.attrs['elapsed_s']:.0f} s "
               f"({table.attrs['elapsed_s'] / max(1, len(measured)):.1f} s per cell on {workers} workers); dense "
               f"accuracy vs NB201 CIFAR-10: Spearman rho {table.attrs['dense_vs_nb201_cifar10_spearman_rho']:.3f}")
    click.echo("accuracy drop (dense - compressed, points) over the cells; rho: rank kept vs dense")
    for label, mean, std, low, high, rho in drop_summary(table):
        click.echo(f"  {label:<18} {mean:6.2f} +- {std:5.2f} (p10 {low:6.2f}, p90 {high:6.2f})  rho {rho:6.3f}")
    click.echo(f"table: {output}")


@main.command()
@click.argument("study")
@click.option("--storage", metavar="URL",
              help="Optuna storage: a journal file path or an RDB URL [default: the spec's, else OUT/NAME.journal].")
@click.option("--out", default="results", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder `nas search` wrote into, where the default journal lives.")
def status(study: str, storage: str | None, out: Path) -> None:
    """Show a study's progress, running drivers, hypervolume and Pareto front, read from its storage.

    STUDY is the study file (.toml) or the study's name. Needs no Dask and stops nothing:
    run it while searches are running, from any machine that reaches the storage.
    """
    from nas import load_spec, study_status
    from nas.run import default_storage_path, format_status, read_study

    if study.endswith(".toml") or Path(study).is_file():
        spec = load_spec(study)
        name, storage = spec.study.name, storage or spec.study.storage or str(default_storage_path(spec, out))
    else:
        name, storage = study, storage or str(out / f"{study}.journal")
    click.echo(format_status(study_status(read_study(name, storage))))


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Merged dataset to write (.nc, or .zarr).")
@click.option("--names", metavar="A,B,...", help="Labels of the studies, in order [default: their study names].")
def merge(results: tuple[Path, ...], output: Path, names: str | None) -> None:
    """Stack the results datasets RESULTS... along a `study` dimension, e.g. to compare hardware.

    The merged file re-plots and reports without the studies' storages; `nas plot` and
    `nas report` overlay its studies.
    """
    from nas import load_dataset, merge_datasets, save_dataset

    labels = None if names is None else [name.strip() for name in names.split(",")]
    merged = merge_datasets([load_dataset(path) for path in results], names=labels)
    path = save_dataset(merged, output)
    counts = ", ".join(f"{name} ({int(n)} trials)" for name, n in
                       zip(merged.study.values, merged.has_trial.sum("trial").values, strict=True))
    click.echo(f"merged {merged.sizes['study']} studies: {counts}")
    if "is_pareto_overall" in merged:
        click.echo(f"{int(merged.is_pareto_overall.sum())} designs on the front of all studies together")
    click.echo(f"results: {path}")


@main.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--trial", type=click.IntRange(min=0),
              help="The trial to export [default: the Pareto design best in the first objective].")
@click.option("--study", help="Which study of a merged dataset.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file to write [default: RESULTS_trialN.toml beside RESULTS].")
@click.option("--torch", "with_torch", is_flag=True,
              help="Also write the compressed network's state dict (OUTPUT with .pt): the seeded initial weights "
                   "the search scored, pruned, quantized and shared as chosen; train before use.")
def export(results: Path, trial: int | None, study: str | None, output: Path | None, with_torch: bool) -> None:
    """Write one design of a results dataset (genotype, compression, hardware config) as TOML.

    `nas.load_candidate(TOML, PT)` rebuilds it: the compressed module and its per-layer cost.
    """
    from nas import export_candidate, load_dataset
    from nas.plots import single_study
    from nas.results import default_trial

    dataset = single_study(load_dataset(results), study)
    trial = default_trial(dataset) if trial is None else trial
    output = output or results.with_name(f"{results.stem}{'_' + study if study else ''}_trial{trial}.toml")
    torch_path = output.with_suffix(".pt") if with_torch else None
    path = export_candidate(dataset, trial, output, torch_path=torch_path, source=str(results))
    click.echo(f"trial {trial}: {path}" + (f"\nstate dict: {torch_path}" if torch_path else ""))


@main.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write (one self-contained page).")
@click.option("--trial", type=click.IntRange(min=0),
              help="Design whose per-layer breakdown is shown [default: the Pareto design best in the first "
                   "objective].")
def report(results: Path, output: Path, trial: int | None) -> None:
    """Write the report of a results dataset: front, Pareto designs, breakdowns and provenance."""
    from nas import load_dataset, write_report

    click.echo(f"report: {write_report(load_dataset(results), output, trial=trial, source=str(results))}")


@main.command()
@click.option("--space", default="nb201", show_default=True, help="Search space with a benchmark table.")
@click.option("--sample", default=1000, show_default=True, type=click.IntRange(min=2),
              help="Cells drawn at random, without replacement.")
@click.option("--seed", default=0, show_default=True, help="Seed of the sample, the batch and the initialisations.")
@click.option("--dataset", default="cifar10", show_default=True,
              type=click.Choice(["cifar10", "cifar100", "imagenet16"]),
              help="Network the proxies run on (classes, input size); all three accuracies are correlated.")
@click.option("--population", default="all", show_default=True, type=click.Choice(["all", "naslib"]),
              help="Sample every cell, or NASLib's published subset (every published proxy compared cell by cell).")
@click.option("--proxies", "proxy_names", metavar="NAME,NAME,...", help="Proxies to score [default: all].")
@click.option("--batch-source", default="digits", show_default=True,
              help="synthetic, mnist (5,000 shipped MNIST digits), digits (scikit-learn's), npz:PATH or folder:PATH.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=2), help="Images in the batch.")
@click.option("--split", default="valid", show_default=True, type=click.Choice(["valid", "test"]),
              help="Accuracy split correlated with.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=0),
              help="Worker processes of a local Dask cluster (0: score in this process).")
@click.option("--scheduler", metavar="ADDR", help="Use a running Dask scheduler, e.g. tcp://10.0.0.5:8786.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="netCDF file for the scores [default: results/proxies_SPACE_DATASET.nc].")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@click.option("--list", "list_sources", is_flag=True,
              help="Only list the accuracy sources a study may use, with their metrics and measured fidelity.")
@click.option("--fit-learned", type=click.Path(dir_okay=False, path_type=Path), metavar="TOML",
              help="Only fit the learned ensemble on half of the shipped reference cells (split by --seed), "
                   "print its held-out fidelity and write it to TOML.")
def proxies(space: str, sample: int, seed: int, dataset: str, population: str, proxy_names: str | None,
            batch_source: str, batch_size: int, split: str, workers: int, scheduler: str | None,
            output: Path | None, progress: bool, list_sources: bool, fit_learned: Path | None) -> None:
    """Score random NB201 cells with every zero-cost proxy; print Spearman's rho and Kendall's tau with accuracy.

    Each cell is built freshly initialised and scored on one batch; the report compares each
    proxy with published results, cell by cell where published scores exist.
    """
    if list_sources:
        from nas.study import format_accuracy_sources

        click.echo(format_accuracy_sources())
        return
    if fit_learned:
        from nas.proxies import fit_learned_ensemble, write_learned_ensemble

        record = fit_learned_ensemble(seed=seed)
        weights = ", ".join(f"{w:.3f} {m}" for m, w in zip(record["members"], record["weights"], strict=True))
        click.echo(f"learned ensemble: {weights}; fitted on {record['n_train']} cells, "
                   f"held out {record['n_test']}")
        click.echo("held-out Spearman rho   learned  mean_rank  vote   best single proxy")
        for name, row in record["held_out"].items():
            click.echo(f"{name:<22}  {row['learned_spearman_rho']:.3f}    {row['mean_rank_spearman_rho']:.3f}      "
                       f"{row['vote_spearman_rho']:.3f}  {row['best_member_spearman_rho']:.3f} "
                       f"({row['best_member']})")
        click.echo(f"written: {write_learned_ensemble(fit_learned, record)}")
        return
    from nas import save_dataset
    from nas.proxies import format_fidelity, proxy_fidelity

    names = None if proxy_names is None else [name.strip() for name in proxy_names.split(",") if name.strip()]
    result = proxy_fidelity(space, sample=sample, seed=seed, dataset=dataset, proxies=names,
                            batch_source=batch_source, batch_size=batch_size, split=split, population=population,
                            workers=workers, scheduler=scheduler, progress=progress)
    click.echo(format_fidelity(result))
    click.echo(f"\nscores: {save_dataset(result, output or Path('results') / f'proxies_{space}_{dataset}.nc')}")


if __name__ == "__main__":
    main()
