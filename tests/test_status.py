"""`nas status` and the progress bar's hypervolume, read from real storages of real searches."""

import re
import socket
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from cli import main
from nas import run_search
from nas.results import hypervolume
from nas.run import format_status, load_or_create_study, open_storage, read_study, study_status


@pytest.fixture(scope="module")
def status(searched_study):
    spec, storage, _ = searched_study
    return study_status(read_study(spec.study.name, storage))


def test_status_counts_trials_and_finds_the_front(status, searched_study):
    spec, _, study = searched_study
    assert (status.study_name, status.n_trials) == ("small", spec.study.n_trials)
    progress = status.progress
    assert (progress.complete, progress.failed, progress.running, progress.waiting) == (spec.study.n_trials, 0, 0, 0)
    assert progress.finished == spec.study.n_trials
    # Optuna's own non-dominated set of the same trials (no constraints: all feasible).
    assert sorted(status.front.trial.values.tolist()) == sorted(t.number for t in study.best_trials)


def test_hypervolume_and_its_reference_point(status, searched_study):
    spec, _, study = searched_study
    values = np.array([t.values for t in study.get_trials(states=(TrialState.COMPLETE,))])
    assert status.hypervolume == pytest.approx(hypervolume(values, spec.directions))
    assert 0 < status.hypervolume <= 1.1 ** len(spec.objectives)
    for i, objective in enumerate(spec.objectives):
        best, worst = (values[:, i].max(), values[:, i].min()) if objective.direction == "maximize" else (
            values[:, i].min(), values[:, i].max())
        assert status.reference_point[objective.metric] == pytest.approx(worst + 0.1 * (worst - best))


def test_format_names_the_reference_point_and_lists_the_front(status):
    text = format_status(status)
    assert text.splitlines()[0] == "study 'small': 16 finished trials of n_trials 16 (100%)"
    assert f"hypervolume: {status.hypervolume:.4f}" in text
    assert "  reference point (the nadir + 10% of that span): accuracy_valid_pct = " in text
    assert f"Pareto front ({status.front.sizes['trial']} trials):" in text
    rows = text.split("Pareto front")[1].splitlines()[2:]
    assert [int(row.split()[0]) for row in rows] == status.front.trial.values.tolist()


def test_cli_status_by_study_file_and_by_name(searched_study, tmp_path):
    spec, storage, _ = searched_study
    spec_file = tmp_path / "small.toml"
    spec_file.write_text(f'[study]\nname = "small"\nn_trials = 16\nstorage = "{storage}"\n' + _rest_of_quickstart())
    runner = CliRunner()
    by_file = runner.invoke(main, ["status", str(spec_file)])
    by_name = runner.invoke(main, ["status", "small", "--out", str(storage.parent)])
    assert by_file.exit_code == 0, by_file.output
    assert by_file.output == by_name.output
    assert "16 complete, 0 failed, 0 running, 0 waiting" in by_file.output


def test_status_names_drivers_of_running_trials_and_dead_ones(tmp_path, small_spec):
    spec = small_spec(name="running", n_trials=5)
    study = load_or_create_study(spec, open_storage(tmp_path / "running.journal"))
    for _ in range(2):
        study.ask().set_user_attr("driver", f"{socket.gethostname()}:999999999")
    text = format_status(study_status(study))
    assert "0 complete, 0 failed, 2 running, 0 waiting" in text
    assert ":999999999: 2 running, the oldest for " in text
    assert "(its process is gone: the next `nas search` enqueues them again)" in text
    assert "hypervolume: no completed feasible trial yet" in text


def test_status_of_a_missing_storage_or_study_is_one_line_and_creates_nothing(tmp_path, searched_study):
    runner = CliRunner()
    missing = runner.invoke(main, ["status", "nope", "--out", str(tmp_path)])
    assert missing.exit_code == 2
    assert missing.output.strip() == f"error: {tmp_path / 'nope.journal'}: no such journal file; " \
                                     "name the study's storage with --storage"
    assert not list(tmp_path.iterdir())
    _, storage, _ = searched_study
    unknown = runner.invoke(main, ["status", "nope", "--storage", str(storage)])
    assert unknown.exit_code == 2
    assert unknown.output.strip() == f"error: storage {storage} has no study 'nope'; it holds small"


def test_progress_bar_shows_the_hypervolume_status_reports(tmp_path, small_spec, capsys):
    spec = small_spec(name="bar", n_trials=10)
    storage = tmp_path / "bar.journal"
    run_search(spec, storage=storage, n_workers=1, progress=True)
    shown = re.findall(r"hv=([0-9.]+|-)", capsys.readouterr().err)
    assert shown[0] == "-" and shown[-1] != "-"  # none before the first ten trials, then a number
    assert float(shown[-1]) == pytest.approx(study_status(read_study("bar", storage)).hypervolume, abs=1e-4)


def _rest_of_quickstart() -> str:
    text = (Path(__file__).parents[1] / "studies" / "quickstart.toml").read_text()
    return text[text.index("[space]"):]
