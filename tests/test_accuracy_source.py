"""A study's accuracy objective: any proxy or a rank ensemble, scored on the compressed network, with its fidelity."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from cli import main
from nas import load_dataset, run_search, save_dataset, study_to_dataset, write_report
from nas.plots import pareto_figure
from nas.proxies import RankEnsemble, ensemble_fidelity, get_proxy, list_proxies, measured_fidelity, reference_scores
from nas.study import (
    COST_METRICS,
    ENSEMBLE_METRIC,
    ORACLE_METRICS,
    AccuracySection,
    CandidateError,
    StudySpecError,
    accuracy_fidelity,
    evaluate_candidate,
)
from search_spaces import index_to_arch

EDGES = ("edge_0_1", "edge_0_2", "edge_1_2", "edge_0_3", "edge_1_3", "edge_2_3")
NO_PATH_ON_IMAGENET16 = 1651  # synflow scores -inf on it (tests/test_proxies_fidelity.py)


def cell_params(arch_index: int) -> dict:
    ops = [part.split("~")[0] for part in index_to_arch(arch_index).replace("+", "").split("|") if part]
    return dict(zip(EDGES, ops, strict=True))


def proxy_spec(small_spec, accuracy, objective, **sections):
    return small_spec(accuracy=accuracy, hardware={"presets": ["t4"]},
                      objectives=[{"metric": objective, "direction": "maximize"},
                                  {"metric": "latency_s", "direction": "minimize"}], **sections)


def test_every_proxy_has_its_own_metric_distinct_from_cost_and_oracle_metrics():
    metrics = [get_proxy(name).metric for name in list_proxies()]
    assert len(set(metrics)) == len(metrics)
    assert not set(metrics) & (set(COST_METRICS) | set(ORACLE_METRICS) | {ENSEMBLE_METRIC})
    assert all(get_proxy(name).metric_doc for name in list_proxies())


@pytest.mark.parametrize("source", list_proxies())
def test_any_proxy_is_an_accuracy_source_with_its_metric(small_spec, source):
    metric = get_proxy(source).metric
    spec = proxy_spec(small_spec, {"source": source}, metric)
    assert set(spec.available_metrics()) == set(COST_METRICS) | {metric}
    metrics = evaluate_candidate(spec, cell_params(6111), trial_number=0)
    assert math.isfinite(metrics[metric])


@pytest.mark.parametrize(("accuracy", "field", "fix"), [
    ({"source": "synflo"}, "accuracy.source", "choose from oracle, trained, vote, mean_rank"),
    ({"source": "synflow", "members": ["snip", "naswot"]}, "accuracy", "only an ensemble source"),
    ({"source": "vote", "members": ["snip"]}, "accuracy", "two or more proxies"),
    ({"source": "learned", "members": ["snip", "naswot"]}, "accuracy", "fixed by its fitted weights"),
    ({"source": "mean_rank", "members": ["snip", "snip"]}, "accuracy.members", "listed twice"),
    ({"source": "vote", "record": ["magic"]}, "accuracy.record", "unknown proxy 'magic'"),
    ({"source": "vote", "batch_size": 8}, "accuracy", "batch_size = 32"),
    ({"source": "mean_rank", "batch_seed": 3}, "accuracy", "batch_seed = 0"),
    ({"source": "naswot", "batch_source": "imagenet"}, "accuracy", "unknown batch source 'imagenet'"),
    ({"source": "naswot", "batch_source": "npz:/no/such.npz"}, "accuracy", "no such file"),
])
def test_a_bad_accuracy_section_is_one_line_naming_the_field(small_spec, accuracy, field, fix):
    with pytest.raises(StudySpecError) as error:
        proxy_spec(small_spec, accuracy, "log_synflow")
    message = str(error.value)
    assert "\n" not in message and f": {field}" in message and fix in message


def test_an_objective_the_source_does_not_write_is_refused(small_spec):
    with pytest.raises(StudySpecError, match="objectives\\[0\\].metric 'ensemble_score' is not produced"):
        proxy_spec(small_spec, {"source": "naswot"}, ENSEMBLE_METRIC)


def test_an_ensemble_needs_the_reference_network_family(small_spec):
    with pytest.raises(StudySpecError, match="accuracy.source 'vote' ranks a candidate against the shipped reference"):
        proxy_spec(small_spec, {"source": "vote"}, ENSEMBLE_METRIC, space={"name": "nb201", "dataset": "cifar100"})


def test_ensemble_score_is_the_candidates_rank_among_the_reference_cells(small_spec):
    spec = proxy_spec(small_spec, {"source": "vote", "record": ["params"]}, ENSEMBLE_METRIC)
    metrics = evaluate_candidate(spec, cell_params(6111), trial_number=3)
    assert metrics["arch_index"] == 6111
    members = {name: metrics[get_proxy(name).metric] for name in ("synflow", "jacob_cov", "snip")}
    reference = RankEnsemble(list(members), "vote", reference=reference_scores())
    assert metrics[ENSEMBLE_METRIC] == reference.score(members)
    assert 0 <= metrics[ENSEMBLE_METRIC] <= 1
    assert metrics["nonzero_params"] == metrics["params"]  # dense: the module and the IR agree


def test_the_ensemble_sees_the_compressed_network(small_spec):
    compression = {"prune_ratio": [0.0, 0.95]}
    spec = proxy_spec(small_spec, {"source": "vote"}, ENSEMBLE_METRIC, compression=compression)
    dense = evaluate_candidate(spec, {**cell_params(6111), "prune_ratio": 0.0}, trial_number=1)
    pruned = evaluate_candidate(spec, {**cell_params(6111), "prune_ratio": 0.95}, trial_number=1)
    assert pruned["log_synflow"] < dense["log_synflow"] and pruned["snip_score"] < dense["snip_score"]
    assert pruned[ENSEMBLE_METRIC] < dense[ENSEMBLE_METRIC]


def test_a_failing_recorded_proxy_is_nan_a_failing_objective_proxy_fails_the_trial(small_spec):
    space = {"name": "nb201", "dataset": "imagenet16"}
    params = cell_params(NO_PATH_ON_IMAGENET16)
    recorded = proxy_spec(small_spec, {"source": "params", "record": ["synflow"]}, "nonzero_params", space=space)
    metrics = evaluate_candidate(recorded, params, trial_number=0)
    assert math.isnan(metrics["log_synflow"]) and metrics["nonzero_params"] > 0
    objective = proxy_spec(small_spec, {"source": "synflow"}, "log_synflow", space=space)
    with pytest.raises(CandidateError, match="proxy .synflow. scored -inf"):
        evaluate_candidate(objective, params, trial_number=0)


def test_an_oracle_study_may_record_proxies_beside_the_table(small_spec):
    spec = small_spec(accuracy={"record": ["naswot"]})
    metrics = evaluate_candidate(spec, {**cell_params(6111), "hardware": spec.hardware.presets[0]}, trial_number=0)
    assert metrics["accuracy_valid_pct"] > 80 and math.isfinite(metrics["naswot_logdet"])


def test_the_stored_ensemble_fidelity_is_what_the_reference_scores_give():
    for members, method in ((["synflow", "jacob_cov", "snip"], "vote"), (["synflow", "jacob_cov", "naswot"],
                                                                         "mean_rank")):
        ensemble = RankEnsemble(members, method)
        recomputed, stored = ensemble_fidelity(ensemble), measured_fidelity(ensemble.name)
        assert recomputed["n_archs"] == stored["n_archs"]
        assert recomputed["spearman_rho"] == pytest.approx(stored["spearman_rho"], abs=1e-4)
        assert recomputed["kendall_tau"] == pytest.approx(stored["kendall_tau"], abs=1e-4)


def test_fidelity_of_an_unmeasured_ensemble_is_computed_and_a_foreign_space_is_flagged():
    text, record = accuracy_fidelity(AccuracySection(source="mean_rank", members=["naswot", "params"]), "nb201",
                                     "cifar100")
    assert record["proxy"] == "mean_rank(naswot+params)" and "cifar100" in record["against"]
    assert 0.5 < record["measured_spearman_rho"] < 1 and "cifar100 accuracy with Spearman rho" in text
    text, record = accuracy_fidelity(AccuracySection(source="naswot", batch_source="synthetic"), "mobilenet",
                                     "imagenet")
    assert "unmeasured on mobilenet" in text and "no benchmark table" in record["note"]
    assert record["same_batch_as_measured"] is False


def test_a_vote_study_records_members_ensemble_and_fidelity(tmp_path, small_spec):
    spec = proxy_spec(small_spec, {"source": "vote", "record": ["naswot"]}, ENSEMBLE_METRIC, study={"n_trials": 6})
    study = run_search(spec, storage=tmp_path / "vote.journal", n_workers=2, progress=False)
    assert all(t.state == TrialState.COMPLETE for t in study.get_trials())
    dataset = load_dataset(save_dataset(study_to_dataset(study), tmp_path / "vote.nc"))
    for metric in ("log_synflow", "jacob_cov_score", "snip_score", "naswot_logdet", ENSEMBLE_METRIC):
        assert np.isfinite(dataset[metric].values).all(), metric
    assert dataset.attrs["accuracy_source"] == "vote"
    fidelity = json.loads(dataset.attrs["accuracy_fidelity_json"])
    assert fidelity["measured_spearman_rho"] == 0.8264
    assert fidelity["published_spearman_rho"] == {"abdelfattah2021": 0.82}
    assert fidelity["same_batch_as_measured"] is True
    assert "Spearman rho 0.83" in dataset.attrs["accuracy_fidelity"]
    report = write_report(dataset, tmp_path / "vote.html").read_text()
    assert "Spearman rho 0.826, Kendall tau 0.631 on 974 cells" in report


def test_nas_proxies_list_names_every_source_and_metric():
    result = CliRunner().invoke(main, ["proxies", "--list"])
    assert result.exit_code == 0, result.output
    for name in [*list_proxies(), "oracle", "vote", "mean_rank"]:
        assert f"\n{name} " in result.output
    for name in list_proxies():
        assert get_proxy(name).metric in result.output
    assert "0.826" in result.output  # the vote's measured rho



def test_nas_search_says_how_far_to_trust_its_proxy(tmp_path):
    study = tmp_path / "naswot.toml"
    study.write_text('[study]\nname = "naswot"\nn_trials = 3\n[space]\nname = "nb201"\n'
                     '[accuracy]\nsource = "naswot"\n[hardware]\npresets = ["t4"]\n'
                     '[[objectives]]\nmetric = "naswot_logdet"\ndirection = "maximize"\n')
    result = CliRunner().invoke(main, ["search", str(study), "--workers", "1", "--no-progress",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "accuracy: naswot zero-cost proxy" in result.output
    assert "on 974 NB201 cells it ranks cifar10 accuracy with Spearman rho 0.76" in result.output
    assert (tmp_path / "naswot_front.html").is_file()
    figure = pareto_figure(load_dataset(tmp_path / "naswot.nc"))  # one objective: drawn against latency
    assert figure.layout.xaxis.title.text.startswith("latency_s")
    assert figure.layout.yaxis.title.text.startswith("naswot_logdet")


def test_the_learned_source_scores_with_its_fitted_weights_and_reports_held_out_fidelity(small_spec):
    from nas.proxies import learned_ensemble

    spec = proxy_spec(small_spec, {"source": "learned"}, ENSEMBLE_METRIC)
    ensemble = learned_ensemble()
    metrics = evaluate_candidate(spec, cell_params(6111), trial_number=0)
    members = {name: metrics[get_proxy(name).metric] for name in ensemble.members}
    assert metrics[ENSEMBLE_METRIC] == pytest.approx(ensemble.score(members))
    text, record = accuracy_fidelity(spec.accuracy, "nb201", "cifar10")
    assert record["proxy"] == "learned" and record["measured_n_archs"] == 487
    assert record["measured_spearman_rho"] > 0.85 and "held out from its fit" in text
    assert "fitted on the other 487" in record["measured_note"]


def test_nas_proxies_fit_learned_writes_the_shipped_file(tmp_path):
    import importlib.resources

    result = CliRunner().invoke(main, ["proxies", "--fit-learned", str(tmp_path / "learned.toml")])
    assert result.exit_code == 0, result.output
    assert "cifar10                 0.912" in result.output
    shipped = (importlib.resources.files("nas") / "data" / "proxy_learned_ensemble.toml").read_text()
    assert (tmp_path / "learned.toml").read_text() == shipped
