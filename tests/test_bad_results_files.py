"""Every results command refuses a file that is not this project's results with one line, exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from nas import load_dataset, save_dataset, study_to_dataset
from nas.results import ResultsFileError

COMMANDS = {
    "pareto": lambda path, out: ["pareto", str(path)],
    "plot": lambda path, out: ["plot", str(path), "-o", str(out / "f.html")],
    "breakdown": lambda path, out: ["plot", str(path), "--kind", "breakdown", "-o", str(out / "b.html")],
    "report": lambda path, out: ["report", str(path), "-o", str(out / "r.html")],
    "export": lambda path, out: ["export", str(path), "-o", str(out / "c.toml")],
    "merge": lambda path, out: ["merge", str(path), str(path), "-o", str(out / "m.nc")],
}


@pytest.fixture(scope="module")
def valid_results(searched_study, tmp_path_factory) -> Path:
    _, _, study = searched_study
    return save_dataset(study_to_dataset(study), tmp_path_factory.mktemp("results") / "small.nc")


def _damaged(kind: str, valid: Path, tmp_path: Path) -> Path:
    data = valid.read_bytes()
    path = tmp_path / "damaged.nc"
    if kind == "directory":
        path.mkdir()
        return path
    path.write_bytes({
        "empty": b"",
        "text": b"latency_s,energy_j\n0.1,0.2\n",
        "random bytes": np.random.default_rng(0).bytes(4096),
        "truncated to 1 KB": data[:1024],
        "truncated to half": data[: len(data) // 2],
        "flipped bytes": bytes(b ^ 0xFF if 0 < i < 4096 else b for i, b in enumerate(data)),
        "garbage appended": data + b"garbage",
    }[kind])
    return path


def _edited(kind: str, valid: Path, tmp_path: Path) -> Path:
    dataset = load_dataset(valid)
    if kind == "no is_pareto":
        dataset = dataset.drop_vars("is_pareto")
    elif kind == "objective it lacks":
        objectives = json.loads(dataset.attrs["objectives"]) + [{"metric": "power_w", "direction": "minimize"}]
        dataset = dataset.drop_vars("power_w", errors="ignore")
        dataset.attrs["objectives"] = json.dumps(objectives)
    elif kind == "no objectives attr":
        del dataset.attrs["objectives"]
    elif kind == "zero trials":
        dataset = dataset.isel(trial=slice(0, 0))
    return save_dataset(dataset, tmp_path / "edited.nc")


def assert_one_line_error(result, *, names: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and names in lines[0], result.output


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("kind", ["empty", "text", "random bytes", "truncated to 1 KB", "truncated to half",
                                  "flipped bytes", "garbage appended", "directory"])
def test_a_damaged_file_gets_one_line(valid_results, tmp_path, command, kind):
    path = _damaged(kind, valid_results, tmp_path)
    result = CliRunner().invoke(main, COMMANDS[command](path, tmp_path))
    assert_one_line_error(result, names=str(path))


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("kind, reason", [
    ("no is_pareto", "lacks the variable(s) is_pareto"),
    ("objective it lacks", "lacks the variable(s) power_w"),
    ("no objectives attr", "no 'objectives' attr"),
    ("zero trials", "holds no trials"),
])
def test_a_file_without_what_results_hold_gets_one_line(valid_results, tmp_path, command, kind, reason):
    path = _edited(kind, valid_results, tmp_path)
    result = CliRunner().invoke(main, COMMANDS[command](path, tmp_path))
    assert_one_line_error(result, names=reason)


def test_the_valid_file_is_read(valid_results, tmp_path):
    assert load_dataset(valid_results).sizes["trial"] == 16
    result = CliRunner().invoke(main, ["pareto", str(valid_results)])
    assert result.exit_code == 0, result.output


def test_escape_sequences_in_a_results_file_are_not_sent_to_the_terminal(valid_results, tmp_path):
    dataset = load_dataset(valid_results)
    dataset = dataset.assign_coords(hardware=("trial", np.array(["\x1b[2J\x1b[31mh100"] * dataset.sizes["trial"],
                                                                dtype=object)))
    path = save_dataset(dataset, tmp_path / "escapes.nc")
    result = CliRunner().invoke(main, ["pareto", str(path)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\\x1b[2J\\x1b[31mh100" in result.output


def test_load_dataset_raises_the_project_error(tmp_path):
    path = tmp_path / "x.nc"
    path.write_text("not netcdf")
    with pytest.raises(ResultsFileError, match="not a readable results dataset"):
        load_dataset(path)
