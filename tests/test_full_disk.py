"""A full disk stops a search with one line and loses nothing: rerunning after space is freed completes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas.run import open_storage

REPO = Path(__file__).parents[1]


def write_spec(tmp_path: Path, n_trials: int) -> Path:
    path = tmp_path / "disk.toml"
    path.write_text((REPO / "studies" / "quickstart.toml").read_text()
                    .replace('name = "quickstart"', 'name = "disk"')
                    .replace("n_trials = 200", f"n_trials = {n_trials}")
                    .replace("population_size = 40", "population_size = 4"))
    return path


def nas(*args: str, full: tuple[str, int] | None = None) -> subprocess.CompletedProcess:
    prefix = [str(REPO / "tests" / "full_disk.py"), full[0], str(full[1])] if full else [str(REPO / "cli.py")]
    return subprocess.run([sys.executable, *prefix, *args], capture_output=True, text=True, cwd=REPO, timeout=300)


def states(journal: Path) -> list[TrialState]:
    study = optuna.load_study(study_name="disk", storage=open_storage(journal))
    return [t.state for t in study.get_trials(deepcopy=False)]


def assert_one_line_enospc(result: subprocess.CompletedProcess, path: Path) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and f"{path}: No space left on device" in errors[0], result.stderr


@pytest.mark.slow
def test_a_journal_that_fills_up_keeps_its_trials_and_a_rerun_completes_the_study(tmp_path):
    spec, journal = write_spec(tmp_path, n_trials=8), tmp_path / "disk.journal"
    common = ["search", str(spec), "--storage", str(journal), "--out", str(tmp_path), "--no-progress"]
    full = nas(*common, full=("journal", 60))
    assert_one_line_enospc(full, journal)
    assert not journal.read_bytes().endswith(b"\n")  # the torn half record
    completed_before = states(journal).count(TrialState.COMPLETE)  # opening sets the torn tail aside
    assert completed_before >= 1
    assert Path(f"{journal}.torn-1").read_bytes().startswith(b'{"op_code": 6')

    rerun = nas(*common[:2], "--total", "8", *common[2:])
    assert rerun.returncode == 0, rerun.stderr
    after = states(journal)
    assert after.count(TrialState.COMPLETE) >= max(completed_before, 1)
    assert TrialState.RUNNING not in after
    assert sum(state in (TrialState.COMPLETE, TrialState.FAIL) for state in after) >= 8


@pytest.mark.parametrize("what, name", [("results", "disk.nc"), ("html", "disk_front.html")])
def test_a_results_file_that_cannot_be_written_gives_one_line_and_keeps_the_study(tmp_path, what, name):
    spec, journal = write_spec(tmp_path, n_trials=4), tmp_path / "disk.journal"
    common = ["search", str(spec), "--storage", str(journal), "--out", str(tmp_path), "--no-progress"]
    assert_one_line_enospc(nas(*common, full=(what, 0)), tmp_path / name)
    assert states(journal).count(TrialState.COMPLETE) == 4
    rerun = nas(*common[:2], "--total", "4", *common[2:])
    assert rerun.returncode == 0, rerun.stderr
    assert (tmp_path / name).stat().st_size > 1000
