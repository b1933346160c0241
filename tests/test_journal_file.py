"""A journal survives its own crash: a torn last record is set aside, a corrupt line is named."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from nas.run import SearchError, check_records, open_storage, repair_torn_tail


def write_study(path: Path, n_trials: int) -> None:
    storage = open_storage(path)
    study = optuna.create_study(study_name="s", storage=storage, directions=["minimize", "maximize"])
    for i in range(n_trials):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("latency_s", x * 1e-3)
        study.tell(trial, [x, float(i)])


def complete_trials(path: Path) -> list[int]:
    study = optuna.load_study(study_name="s", storage=open_storage(path))
    return [t.number for t in study.get_trials(states=[optuna.trial.TrialState.COMPLETE])]


def test_a_journal_torn_at_every_byte_of_its_last_record_loads_and_takes_new_trials(tmp_path, caplog):
    whole = tmp_path / "whole.journal"
    write_study(whole, 4)
    data = whole.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    assert json.loads(data[last_start:])["op_code"] == 6  # the last record finishes trial 3
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for cut in range(last_start + 1, len(data)):
        path = tmp_path / f"cut{cut}.journal"
        path.write_bytes(data[:cut])
        with caplog.at_level("WARNING", logger="nas"):
            storage = open_storage(path)
        assert f"moved them to {path}.torn-1" in caplog.text
        caplog.clear()
        assert path.read_bytes() == data[:last_start]
        assert Path(f"{path}.torn-1").read_bytes() == data[last_start:cut]
        study = optuna.load_study(study_name="s", storage=storage)
        assert [t.number for t in study.get_trials(states=[optuna.trial.TrialState.COMPLETE])] == [0, 1, 2]
        study.tell(3, [0.5, 3.0])  # the trial the torn record was finishing, told again
        trial = study.ask()
        study.tell(trial, [0.1, 4.0])
        assert complete_trials(path) == [0, 1, 2, 3, 4]


def test_a_whole_journal_is_left_alone(tmp_path):
    path = tmp_path / "s.journal"
    write_study(path, 2)
    before = path.read_bytes()
    assert repair_torn_tail(path) is None
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.torn-*"))


def test_repeated_tears_keep_every_torn_piece(tmp_path):
    path = tmp_path / "s.journal"
    path.write_bytes(b'{"op_code": 0}\n{"op_')
    assert repair_torn_tail(path).saved_to.name == "s.journal.torn-1"
    path.write_bytes(path.read_bytes() + b'{"op_code": 1')
    assert repair_torn_tail(path).saved_to.name == "s.journal.torn-2"
    assert path.read_bytes() == b'{"op_code": 0}\n'


@pytest.mark.parametrize("line, reason", [
    (b"garbage\n", "line 3: not a JSON record"),
    (b"[1, 2]\n", "line 3: a JSON list, not a journal record"),
    (b'{"trial_id": 0}\n', "line 3: a JSON object without an integer 'op_code'"),
])
def test_a_corrupt_line_is_named_with_what_is_intact(tmp_path, line, reason):
    path = tmp_path / "s.journal"
    write_study(path, 1)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]) + line + b"".join(lines[2:]))
    with pytest.raises(SearchError, match=f"{path} {reason}.*the 2 records before it are intact"):
        open_storage(path)
    with pytest.raises(Exception, match=reason):
        check_records(path)


def test_a_directory_or_a_path_under_a_file_is_not_a_journal(tmp_path):
    with pytest.raises(SearchError, match="is a directory; give a journal file path"):
        open_storage(tmp_path)
    with pytest.raises(SearchError, match="is a directory"):
        open_storage(tmp_path, must_exist=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):  # the CLI prints it as one line: "file: Not a directory" or "File exists"
        open_storage(tmp_path / "file" / "s.journal")
