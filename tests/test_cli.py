"""The `nas` command line, driven through click's runner (in process) on real studies."""

import pytest
from click.testing import CliRunner

from cli import main
from nas import NasError, save_dataset, study_to_dataset
from nas.study import StudySpecError


@pytest.fixture(scope="module")
def results_file(searched_study, tmp_path_factory):
    return save_dataset(study_to_dataset(searched_study[2]), tmp_path_factory.mktemp("cli") / "small.nc")


@pytest.mark.parametrize(
    "command",
    [[], ["search"], ["pareto"], ["plot"], ["spaces"], ["hardware"], ["cost"], ["validate"], ["sensitivity"],
     ["status"], ["sweep"], ["merge"], ["export"], ["report"], ["proxies"], ["compression-table"]],
)
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output


def test_spaces_and_hardware_are_listed():
    runner = CliRunner()
    assert "nb201" in runner.invoke(main, ["spaces"]).output
    listing = runner.invoke(main, ["hardware"]).output
    for preset in ("h100", "a100", "v100", "t4"):
        assert preset in listing


def test_bad_study_file_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[study]\nname = "x"\nn_trials = 5\nfoo = 1\n')
    result = CliRunner().invoke(main, ["search", str(bad)])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {bad}: study.foo: unknown field; remove it or check its spelling"


def test_debug_shows_the_traceback_instead_of_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[study]\nname = "x"\nn_trials = 5\nfoo = 1\n')
    result = CliRunner().invoke(main, ["--debug", "search", str(bad)])
    assert isinstance(result.exception, StudySpecError) and isinstance(result.exception, NasError)
    assert result.exit_code == 1
    assert "error:" not in result.output


def test_pareto_prints_the_front(results_file, searched_study):
    result = CliRunner().invoke(main, ["pareto", str(results_file)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    front = {t.number for t in searched_study[2].best_trials}
    assert lines[-1] == f"{len(front)} Pareto-optimal trials"
    assert "latency_s [s]" in lines[0] and "accuracy_valid_pct [%]" in lines[0]
    assert {int(line.split()[0]) for line in lines[1:-1]} == front


def test_plot_writes_html(results_file, tmp_path):
    out = tmp_path / "front.html"
    result = CliRunner().invoke(main, ["plot", str(results_file), "-o", str(out), "--color", "hardware"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 100_000


def test_plot_names_an_unknown_metric(results_file, tmp_path):
    result = CliRunner().invoke(main, ["plot", str(results_file), "-o", str(tmp_path / "x.html"), "--x", "speed"])
    assert result.exit_code == 2
    assert "x='speed' is not in the dataset; choose from" in result.output


def test_missing_results_file(tmp_path):
    result = CliRunner().invoke(main, ["pareto", str(tmp_path / "none.nc")])
    assert result.exit_code == 2
    assert "no such results file" in result.output
