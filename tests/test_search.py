"""The runner end to end: a real LocalCluster, a real journal file, real trials."""

import optuna
import pytest
from optuna.trial import TrialState

from nas import run_search, study_to_dataset
from nas.run import load_or_create_study, open_storage
from nas.study import suggest_candidate

ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_search_completes_every_trial(searched_study):
    spec, _, study = searched_study
    trials = study.get_trials()
    assert len(trials) == spec.study.n_trials
    assert all(t.state == TrialState.COMPLETE for t in trials)
    first = trials[0]
    metrics = first.user_attrs["metrics"]
    assert 0 < metrics["latency_s"] < 1
    assert metrics["energy_j"] > 0
    assert 0 <= metrics["accuracy_valid_pct"] <= 100
    assert first.params["hardware"] in spec.hardware.presets
    assert len(study.best_trials) >= 1


def test_second_run_continues_the_same_study(tmp_path, small_spec):
    spec = small_spec(name="resume", n_trials=6)
    storage = tmp_path / "resume.journal"
    first = run_search(spec, storage=storage, n_workers=1, progress=False)
    before = {t.number: t.values for t in first.get_trials()}
    second = run_search(spec, storage=storage, n_trials=5, n_workers=1, progress=False)
    after = {t.number: t.values for t in second.get_trials()}
    assert len(after) == 11
    assert {n: after[n] for n in before} == before
    assert not second.get_trials(states=(TrialState.RUNNING,))


def test_continuing_with_other_objectives_is_refused(tmp_path, small_spec):
    storage = tmp_path / "s.journal"
    run_search(small_spec(name="s", n_trials=2), storage=storage, n_workers=1, progress=False)
    other = small_spec(name="s", n_trials=2, objectives=[{"metric": "latency_s", "direction": "minimize"}])
    with pytest.raises(Exception, match="was run with objectives"):
        run_search(other, storage=storage, n_workers=1, progress=False)


def test_failed_candidate_is_recorded_and_search_goes_on(tmp_path, small_spec):
    spec = small_spec(
        name="failing", n_trials=4,
        accuracy={"source": "synflow"},
        objectives=[{"metric": "log_synflow", "direction": "maximize"},
                    {"metric": "latency_s", "direction": "minimize"}],
        hardware={"presets": ["t4"]},
    )
    storage = tmp_path / "failing.journal"
    study = load_or_create_study(spec, open_storage(storage))
    edges = ("edge_0_1", "edge_0_2", "edge_1_2", "edge_0_3", "edge_1_3", "edge_2_3")
    study.enqueue_trial(dict.fromkeys(edges, "none"))
    study = run_search(spec, storage=storage, n_workers=2, progress=False)
    trials = study.get_trials()
    assert len(trials) == 4
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == [0]
    assert "synflow" in failed[0].user_attrs["fail_reason"]
    assert sum(t.state == TrialState.COMPLETE for t in trials) >= 2

    dataset = study_to_dataset(study)
    assert dataset.state.sel(trial=0).item() == "FAIL"
    assert dataset.arch.sel(trial=0).item() == ALL_NONE
    assert not bool(dataset.is_pareto.sel(trial=0))


def test_orphaned_running_trial_of_dead_driver_is_failed_and_its_candidate_rerun(tmp_path, small_spec):
    spec = small_spec(name="orphan", n_trials=3)
    storage = tmp_path / "orphan.journal"
    study = load_or_create_study(spec, open_storage(storage))
    orphan = study.ask()
    suggest_candidate(orphan, spec, spec.make_space())
    orphan.set_user_attr("driver", f"{__import__('socket').gethostname()}:999999999")
    study = run_search(spec, storage=storage, n_workers=1, progress=False)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] + [TrialState.COMPLETE] * 3
    assert trials[0].user_attrs["fail_reason"] == "its driver process died"
    assert trials[1].params == trials[0].params  # the retry, asked first


def test_constraints_mark_infeasible_trials(tmp_path, small_spec):
    spec = small_spec(name="constrained", n_trials=12,
                      constraints=[{"metric": "latency_s", "max": 1e-9}])
    study = run_search(spec, storage=tmp_path / "c.journal", n_workers=2, progress=False)
    dataset = study_to_dataset(study)
    assert not dataset.is_feasible.any()
    assert not dataset.is_pareto.any()
    assert all(t.constraints["latency_s_max"] > 0 for t in study.get_trials())


def test_rdb_storage_url_works(tmp_path, small_spec):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    run_search(small_spec(name="rdb", n_trials=3), storage=url, n_workers=1, progress=False)
    assert len(optuna.load_study(study_name="rdb", storage=url).trials) == 3
