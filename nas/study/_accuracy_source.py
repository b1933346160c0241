"""The accuracy objective of a study: the NAS-Bench-201 table, one zero-cost proxy, a rank ensemble of
proxies, or the candidate's network trained briefly on real images (``trained``).

``[accuracy]`` in a study file::

    [accuracy]
    source = "vote"          # "oracle", "estimator", "trained", a proxy ("synflow", ...), "vote", "mean_rank",
                             # or "learned"
    members = ["synflow", "jacob_cov", "snip"]   # vote's or mean_rank's proxies (vote's default shown)
    record = ["params"]      # more proxies to compute and store with every trial, not optimised
    batch_source = "digits"  # the images of the data-dependent proxies: synthetic, mnist, digits, npz:PATH, folder:PATH
    batch_size = 32

Each proxy writes its own metric (``log_synflow``, ``naswot_logdet``, ... see
``nas proxies --list`` or :attr:`~nas.proxies.Proxy.metric`). An ensemble also writes
``ensemble_score``: the fraction of the shipped reference population (the 1,000 NB201
cells of the measured fidelity run) that the candidate beats, so one candidate's score
is fixed once computed and the objective is stationary (:class:`~nas.proxies.RankEnsemble`).
``learned`` weighs its members' fractions with weights fitted on half of those cells
(:func:`~nas.proxies.learned_ensemble`); its members are fixed by the fit.
``estimator`` combines the NB201 table's dense test accuracy of the cell with the accuracy its
compression is estimated to cost (:class:`~nas.compression.AccuracyEstimator`: the relative
weight and activation error the compression makes on the candidate's module, four coefficients
fitted on the project's compression benchmark table), writing ``estimated_accuracy_pct``;
``fine_tune_epochs`` says how much retraining after compression the estimate assumes (0:
compressed after training). It needs ``space = nb201`` (the dense accuracy comes from the table).
That only means something for a network of the reference's family computed the
reference's way, so an ensemble needs ``space = nb201`` on ``cifar10`` and the reference's
batch (checked when the study loads).

Proxies are computed on the *compressed* torch module (masks and fake quantization
applied), each trial's weights drawn from the trial's seed, on one batch drawn from
``batch_seed``: the same for every trial, so candidates are compared on the same images.

``trained`` (:mod:`nas.study._trained_accuracy`, settings under ``[accuracy.trained]``)
writes ``trained_accuracy_pct``, the held-out accuracy of the compressed network after a
short training, and records its regime (prune after training, with or without fine-tune)
in every trial and in the results' attrs.

The fidelity of the chosen source (its Spearman's rho and Kendall's tau against trained
NB201 accuracy, measured on 1,000 cells, and the published values) goes into the results
dataset's attrs (:func:`accuracy_fidelity`), so whoever opens the front sees how far to trust it.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nas._errors import InputError
from nas._metrics import metrics_from
from nas.study._trained_accuracy import REGIME_ATTR, TRAINED, TrainedSettings

ORACLE = "oracle"
ORACLE_METRICS = metrics_from("oracle")
TRAINED_METRICS = metrics_from("trained")
ENSEMBLE_METHODS = ("vote", "mean_rank", "learned")
LEARNED = "learned"
ENSEMBLE_METRIC = "ensemble_score"
ORACLE_FIDELITY = "NAS-Bench-201 table: the network trained for 200 epochs (exact, uncompressed networks only)"
ESTIMATOR = "estimator"
ESTIMATOR_METRICS = metrics_from("estimator")


class AccuracySection(BaseModel):
    """``[accuracy]``: where the accuracy objective comes from (see the module docstring).

    Example:
        >>> section = AccuracySection(source="vote", record=["params"])
        >>> section.proxies, section.members_or_default
        (('synflow', 'jacob_cov', 'snip', 'params'), ('synflow', 'jacob_cov', 'snip'))
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = ORACLE
    members: list[str] | None = None
    record: list[str] = []
    batch_source: str = "digits"
    batch_size: int = Field(default=32, gt=0)
    batch_seed: int = 0
    fine_tune_epochs: int = Field(default=0, ge=0)
    trained: TrainedSettings | None = None

    @field_validator("source")
    @classmethod
    def _known_source(cls, source: str) -> str:
        if source in (ORACLE, ESTIMATOR, TRAINED, *ENSEMBLE_METHODS):
            return source
        names = _proxy_names()
        if source not in names:
            raise InputError(f"unknown accuracy source {source!r}; choose from {ORACLE}, {TRAINED}, "
                             f"{', '.join(ENSEMBLE_METHODS)} (ensembles), {ESTIMATOR} (compression-aware) "
                             f"or a proxy: {', '.join(names)}")
        return source

    @field_validator("members", "record")
    @classmethod
    def _known_proxies(cls, names: list[str] | None) -> list[str] | None:
        if names is None:
            return names
        unknown = [name for name in names if name not in _proxy_names()]
        if unknown:
            raise InputError(f"unknown proxy {unknown[0]!r}; choose from {', '.join(_proxy_names())}")
        if len(set(names)) != len(names):
            raise InputError("a proxy is listed twice; list each once")
        return names

    @model_validator(mode="after")
    def _consistent(self) -> AccuracySection:
        if self.trained is not None and self.source != TRAINED:
            raise InputError(f"trained: only source {TRAINED!r} trains; remove [accuracy.trained] or set source "
                             f"to {TRAINED!r}")
        if self.members is not None and not self.is_ensemble:
            raise InputError(f"members: only an ensemble source ({', '.join(ENSEMBLE_METHODS)}) has members; "
                             f"remove members or set source to one of them")
        if self.members is not None and self.source == LEARNED:
            raise InputError("members: the learned ensemble's members are fixed by its fitted weights; remove members")
        if self.fine_tune_epochs and self.source != ESTIMATOR:
            raise InputError(f"fine_tune_epochs: only source {ESTIMATOR!r} assumes a fine-tune after compression; "
                             f"remove fine_tune_epochs or set source = {ESTIMATOR!r}")
        if self.members is not None and len(self.members) < 2:
            raise InputError(f"members: an ensemble needs two or more proxies, got {self.members}")
        if self.proxies:
            from nas.proxies import get_batch_source

            try:
                get_batch_source(self.batch_source)
            except ValueError as error:
                raise InputError(f"batch_source: {error}") from None
        return self

    @property
    def training(self) -> TrainedSettings:
        """The ``trained`` source's settings: ``[accuracy.trained]``, else the defaults."""
        return self.trained if self.trained is not None else TrainedSettings()

    @property
    def is_ensemble(self) -> bool:
        """Whether the source is a rank ensemble."""
        return self.source in ENSEMBLE_METHODS

    @property
    def members_or_default(self) -> tuple[str, ...]:
        """The ensemble's members: those given, else the method's defaults
        (``nas.proxies._ensemble.DEFAULT_MEMBERS``), or those the learned ensemble's fit kept;
        empty for a single source."""
        if not self.is_ensemble:
            return ()
        if self.source == LEARNED:
            return _learned_members()
        if self.members is not None:
            return tuple(self.members)
        from nas.proxies._ensemble import DEFAULT_MEMBERS

        return DEFAULT_MEMBERS[self.source]

    @property
    def objective_proxies(self) -> tuple[str, ...]:
        """The proxies the accuracy objective needs: the source, or the ensemble's members."""
        if self.is_ensemble:
            return self.members_or_default
        return () if self.source in (ORACLE, ESTIMATOR, TRAINED) else (self.source,)

    @property
    def proxies(self) -> tuple[str, ...]:
        """Every proxy a trial computes: :attr:`objective_proxies`, then ``record``."""
        chosen = self.objective_proxies
        return chosen + tuple(name for name in self.record if name not in chosen)

    def metrics(self) -> dict[str, str]:
        """The metrics a trial writes for accuracy, with descriptions including units."""
        result = dict(ORACLE_METRICS) if self.source == ORACLE else {}
        if self.source == ESTIMATOR:
            result.update(ESTIMATOR_METRICS)
        if self.source == TRAINED:
            result.update(TRAINED_METRICS)
        if self.proxies:
            from nas.proxies import get_proxy

            result.update({get_proxy(name).metric: get_proxy(name).metric_doc for name in self.proxies})
        if self.is_ensemble:
            how = ("the fraction of them it beats by majority" if self.source == "vote" else
                   "the mean over members of the fraction of them it beats" if self.source == "mean_rank" else
                   "the fitted weighted mean over members of the fraction of them it beats")
            result[ENSEMBLE_METRIC] = (f"{self.source} of {', '.join(self.members_or_default)} against the 1,000 "
                                       f"reference NAS-Bench-201 cells: {how}, in [0, 1]")
        return result

    @property
    def label(self) -> str:
        """The source as :func:`~nas.proxies.measured_fidelity` names it (``"vote"``, ``"mean_rank(a+b)"``)."""
        if not self.is_ensemble or self.source == LEARNED:
            return self.source
        return self.ensemble().name

    def ensemble(self):
        """The :class:`~nas.proxies.RankEnsemble` ranking against the shipped reference population."""
        if self.source == LEARNED:
            return _learned()
        return _ensemble(self.source, self.members_or_default)

    def check_network(self, space: Any, space_name: str) -> None:
        """Check the source against the study's space: an ensemble's reference fits, the batch can be drawn.

        Raises:
            ValueError: One line naming the field and the fix.
        """
        if self.source == ESTIMATOR and space_name != "nb201":
            raise InputError(f"source {ESTIMATOR!r} takes the dense accuracy from the NAS-Bench-201 table, which a "
                             f"{space_name} network is not in; use space nb201, or a proxy as the source")
        if self.is_ensemble:
            from nas.proxies import reference_settings

            reference = reference_settings()
            if space_name != reference["space"] or space.dataset != reference["network_dataset"]:
                raise InputError(
                    f"source {self.source!r} ranks a candidate against the shipped reference population of "
                    f"{reference['space']} {reference['network_dataset']} networks, which a {space_name} "
                    f"{space.dataset} network does not belong to; use one proxy as the source, or space "
                    f"{reference['space']} on {reference['network_dataset']}")
            for key, reference_key in (("batch_source", "batch_source"), ("batch_size", "batch_size"),
                                       ("batch_seed", "seed")):
                if getattr(self, key) != reference[reference_key]:
                    raise InputError(f"{key}: an ensemble ranks against reference scores computed with {key} = "
                                     f"{reference[reference_key]!r}; set it to that (got {getattr(self, key)!r})")
        if self.source == TRAINED:
            from nas.study._trained_accuracy import load_split
            from search_spaces import SearchSpace

            if type(space).build_reduced is SearchSpace.build_reduced:
                raise InputError(f"source {TRAINED!r} trains the space's reduced network, which space "
                                 f"{space_name!r} does not have; use space nb201, or a proxy as the source")
            try:
                settings = self.training
                load_split(settings.data, settings.resolution_px, settings.test_fraction)
            except (OSError, ValueError) as error:
                raise InputError(f"trained.data: {error}") from None
        if any(not _proxy_class(name).data_free for name in self.proxies):
            try:
                draw_batch(self, space.input_shape(), space.num_classes)
            except (OSError, ValueError) as error:
                raise InputError(f"batch_source: {error}") from None

    def score(self, module: Any, input_shape: tuple[int, int, int], num_classes: int) -> dict[str, float]:
        """Every accuracy metric of one (compressed) torch module.

        Args:
            module: The network, left unchanged.
            input_shape: ``(c, h, w)`` of one input image.
            num_classes: Classes of the network's output (the batch's labels stay below it).

        Returns:
            ``{metric: value}``; a ``record`` proxy that cannot score this network gives NaN.

        Raises:
            nas.proxies.ProxyError: A proxy the objective needs cannot score this network.
        """
        from nas.proxies import ProxyError
        from nas.proxies._scoring import scores_or_errors

        batch = draw_batch(self, input_shape, num_classes)
        scores, metrics = {}, {}
        for proxy, value in scores_or_errors(module, batch.inputs, batch.targets, list(self.proxies)):
            if isinstance(value, ProxyError):
                if proxy.name in self.objective_proxies:
                    raise value
                value = float("nan")
            scores[proxy.name] = value
            metrics[proxy.metric] = value
        if self.is_ensemble:
            metrics[ENSEMBLE_METRIC] = self.ensemble().score(scores)
        return metrics


def draw_batch(section: AccuracySection, input_shape: tuple[int, ...], num_classes: int):
    """The batch every trial of a study scores its proxies on (cached: one per shape in a process)."""
    # The data-free proxies use only the batch's shape: spare them the loading of images.
    needs_images = any(not _proxy_class(name).data_free for name in section.proxies)
    source = section.batch_source if needs_images else "synthetic"
    return _batch(source, section.batch_size, tuple(input_shape), num_classes, section.batch_seed)


def accuracy_regime(section: AccuracySection, compressed: bool) -> str:
    """Which network the accuracy objective describes, for the results' ``accuracy_regime`` attr.

    Example:
        >>> accuracy_regime(AccuracySection(source="synflow"), compressed=True)
        'compressed network at initialisation, untrained (zero-cost proxy)'
    """
    if section.source == ORACLE or (section.source == ESTIMATOR and not compressed):
        return "dense network trained 200 epochs (NAS-Bench-201 table)"
    if section.source == TRAINED:
        return section.training.regime(compressed=compressed)
    if section.source == ESTIMATOR:
        assumed = TrainedSettings(fine_tune_epochs=section.fine_tune_epochs).regime(compressed=compressed)
        return (f"dense network trained 200 epochs (NAS-Bench-201 table) less the loss the estimator "
                f"(fitted on short MNIST trainings) predicts for {assumed}")
    return f"{'compressed' if compressed else 'dense'} network at initialisation, untrained (zero-cost proxy)"


def accuracy_fidelity(section: AccuracySection, space_name: str, dataset: str) -> tuple[str, dict[str, Any]]:
    """What the accuracy objective of a study is and how well it ranks networks, for the results' attrs.

    Args:
        section: The study's ``[accuracy]``.
        space_name: The study's space.
        dataset: The study's dataset (the benchmark accuracy the fidelity is measured against).

    Returns:
        A one-line description, and a JSON-ready dict: the measured Spearman's rho and
        Kendall's tau (1,000 NB201 cells, :func:`~nas.proxies.measured_fidelity`), the
        published rho by source, the settings of the measurement and whether this study
        used the same batch. Empty for the oracle.
    """
    if section.source == ORACLE:
        return ORACLE_FIDELITY, {}
    if section.source == ESTIMATOR:
        return estimator_fidelity(section)
    if section.source == TRAINED:
        settings = section.training
        record = {"proxy": TRAINED, REGIME_ATTR: settings.regime(compressed=True), **settings.describe()}
        return (f"trained: the compressed network's held-out accuracy on {record['dataset'].split(':')[0]} after "
                f"{settings.epochs} epochs of training at C={settings.width}, {settings.cells_per_stage} cell(s) per "
                f"stage, {settings.resolution_px} px ({record[REGIME_ATTR]}); ranks candidates on that task, is not "
                f"their {dataset} accuracy"), record
    from nas.proxies import measured_fidelity, published_fidelity
    from nas.proxies._benchmark_data import ensemble_fidelity

    what = (f"{section.source} of {', '.join(section.members_or_default)} (rank ensemble)" if section.is_ensemble
            else f"{section.source} zero-cost proxy")
    description = f"{what} of the compressed network at initialisation, no training: ranks candidates, is not an " \
                  "accuracy"
    benchmark = dataset if space_name == "nb201" else "cifar10"
    try:
        measured = measured_fidelity(section.label, benchmark)
    except ValueError:
        measured = ensemble_fidelity(section.ensemble(), benchmark)
    record: dict[str, Any] = {
        "proxy": section.label,
        "against": f"trained NAS-Bench-201 {benchmark} accuracy ({measured['split']} split) of uncompressed cells",
        "measured_spearman_rho": round(float(measured["spearman_rho"]), 4),
        "measured_kendall_tau": round(float(measured["kendall_tau"]), 4),
        "measured_n_archs": int(measured["n_archs"]),
        "measured_with": f"{measured['batch_source']} x{measured['batch_size']}, {measured['command']}",
        "same_batch_as_measured": (section.batch_source, section.batch_size, section.batch_seed)
                                  == (measured["batch_source"], measured["batch_size"], measured["seed"]),
        "published_spearman_rho": published_fidelity(section.label, benchmark),
    }
    if "note" in measured:
        record["measured_note"] = measured["note"]
    rho = f"Spearman rho {record['measured_spearman_rho']:.2f}, Kendall tau {record['measured_kendall_tau']:.2f}"
    if space_name == "nb201":
        cells = f"{record['measured_n_archs']} NB201 cells" + (" held out from its fit" if "note" in measured else "")
        description += f"; on {cells} it ranks {benchmark} accuracy with {rho}"
    else:
        record["note"] = (f"space {space_name!r} has no benchmark table, so this proxy's fidelity there is unmeasured; "
                          "the numbers are for NAS-Bench-201 CIFAR-10")
        description += f"; unmeasured on {space_name} (on NB201 CIFAR-10: {rho})"
    return description, record


def estimator_fidelity(section: AccuracySection) -> tuple[str, dict[str, Any]]:
    """What the estimator source is and its held-out rank agreement (from the shipped fit), for the results' attrs.

    The record has the keys a proxy's has (``measured_*`` are the held-out numbers), plus the
    zero-cost baseline on the same held-out rows and the fit's provenance.
    """
    from nas.compression import load_accuracy_estimator

    estimator = load_accuracy_estimator()
    held, fit = estimator.provenance.get("held_out", {}), estimator.provenance.get("fit", {})
    rho, tau = held.get("estimator_spearman_rho", float("nan")), held.get("estimator_kendall_tau", float("nan"))
    record: dict[str, Any] = {
        "proxy": ESTIMATOR,
        "against": "measured accuracy of compressed trained networks (compression benchmark table, held-out cells)",
        "measured_spearman_rho": rho,
        "measured_kendall_tau": tau,
        "measured_n_archs": int(held.get("n_cells", 0)),
        "measured_n_rows": int(held.get("n_rows", 0)),
        "measured_with": f"{fit.get('table', '?')}; split: {fit.get('split', '?')}",
        "same_batch_as_measured": True,
        "published_spearman_rho": {},
        "zero_cost_baseline": "log synflow of the compressed network on the same held-out rows",
        "zero_cost_spearman_rho": held.get("synflow_spearman_rho", float("nan")),
        "zero_cost_kendall_tau": held.get("synflow_kendall_tau", float("nan")),
        "fine_tune_epochs": section.fine_tune_epochs,
        "coefficients": estimator.coefficients,
    }
    description = (f"compression-aware estimate: NAS-Bench-201 dense accuracy x the share the compression keeps "
                   f"(fitted, {section.fine_tune_epochs} fine-tune epoch(s) assumed); on {record['measured_n_rows']} "
                   f"held-out rows of the compression benchmark table it ranks measured compressed accuracy with "
                   f"Spearman rho {rho}, Kendall tau {tau} (log synflow: rho {record['zero_cost_spearman_rho']})")
    return description, record


@functools.cache
def _proxy_names() -> tuple[str, ...]:
    from nas.proxies import list_proxies

    return tuple(list_proxies())


def _proxy_class(name: str):
    from nas.proxies import get_proxy

    return type(get_proxy(name))


@functools.lru_cache(maxsize=16)
def _batch(source: str, batch_size: int, input_shape: tuple[int, ...], num_classes: int, seed: int):
    from nas.proxies import get_batch_source

    return get_batch_source(source).batch(batch_size, input_shape, num_classes, seed=seed)


@functools.lru_cache(maxsize=4)
def _ensemble(method: str, members: tuple[str, ...]):
    from nas.proxies import RankEnsemble, reference_scores

    return RankEnsemble(list(members), method, reference=reference_scores())


def format_accuracy_sources() -> str:
    """A table of every ``[accuracy] source``: the metric it writes, what it needs, its measured fidelity.

    The rho and tau are those of the shipped 1,000-cell run on NB201 CIFAR-10
    (:func:`~nas.proxies.measured_fidelity`).
    """
    from nas.proxies import get_proxy, list_proxies, measured_fidelity

    rows = [("source", "metric", "needs", "rho", "tau"),
            ("oracle", ", ".join(ORACLE_METRICS), "nb201, uncompressed", "-", "-")]
    for name in list_proxies():
        proxy = get_proxy(name)
        needs = "shape only" if proxy.data_free else "images and labels" if proxy.needs_targets else "images"
        measured = measured_fidelity(name)
        rows.append((name, proxy.metric, needs, f"{measured['spearman_rho']:.3f}", f"{measured['kendall_tau']:.3f}"))
    from nas.compression import load_accuracy_estimator

    held = load_accuracy_estimator().provenance.get("held_out", {})
    rows.append((ESTIMATOR, ", ".join(ESTIMATOR_METRICS), "nb201; fitted drop model",
                 f"{held.get('estimator_spearman_rho', float('nan')):.3f}",
                 f"{held.get('estimator_kendall_tau', float('nan')):.3f}"))
    for method in ENSEMBLE_METHODS:
        section = AccuracySection(source=method)
        measured = measured_fidelity(section.label)
        members = "+".join(section.members_or_default)
        rows.append((method, f"{ENSEMBLE_METRIC} + members'",
                     f"nb201 cifar10; {'fitted' if method == LEARNED else 'default'} {members}",
                     f"{measured['spearman_rho']:.3f}", f"{measured['kendall_tau']:.3f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append("\nrho, tau: rank correlation with trained NB201 CIFAR-10 accuracy on 974 cells (nas proxies "
                 "--sample 1000); learned: on the 487 of them its weights were not fitted on.\n"
                 f"estimator: against measured accuracy of compressed trained networks on the {held.get('n_rows', 0)} "
                 f"held-out cell x policy rows of the compression benchmark table (log synflow of the compressed "
                 f"network on the same rows: rho {held.get('synflow_spearman_rho', float('nan')):.3f}, "
                 f"tau {held.get('synflow_kendall_tau', float('nan')):.3f}).\n"
                 "Set [accuracy] source, members, record, batch_source, batch_size in a study file.")
    return "\n".join(lines)


@functools.cache
def _learned():
    from nas.proxies import learned_ensemble

    return learned_ensemble()


@functools.cache
def _learned_members() -> tuple[str, ...]:
    from nas.proxies import learned_ensemble

    return tuple(learned_ensemble(reference=False).members)
