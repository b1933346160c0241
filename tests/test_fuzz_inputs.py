"""Fuzzed inputs: every mutation of a shipped study, preset, results file or journal either works or
gets one line and exit status 2 — never a traceback.

Hypothesis mutates the real files (a bounded number of examples, so it runs in CI): study and
hardware tables key by key (a key deleted, its value replaced by a value of any TOML type, an
unknown key added), and the bytes of TOML, netCDF and journal files (truncated, flipped, appended).
"""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from cost_models import PRESET_DIR, HardwareSpecError, evaluate, list_presets
from nas import load_spec, save_dataset, study_to_dataset
from nas.study import StudySpecError, parse_spec

REPO = Path(__file__).parents[1]
STUDIES = sorted((REPO / "studies").glob("*.toml"))
STUDY_FILES = [p for p in STUDIES if not p.name.startswith("sweep_")]
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

TOML_VALUES = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, -1, 1, 2**31, 2**62, 10**12]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "h100", "fp4", "nan", "../../etc/passwd", "postgres://u:p@h/db", "\x1b[2J"]),
    st.lists(st.one_of(st.integers(-3, 300), st.text(max_size=4), st.floats(allow_nan=True)), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(-2, 2), max_size=2),
)


def _paths(table: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for key, value in table.items():
        out.append((*prefix, key))
        if isinstance(value, dict):
            out.extend(_paths(value, (*prefix, key)))
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for i, item in enumerate(value):
                out.extend(_paths(item, (*prefix, key, i)))
    return out


@st.composite
def mutated(draw, table: dict) -> dict:
    """``table`` with one to three keys deleted, replaced or added."""
    table = copy.deepcopy(table)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(table)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = table
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(TOML_VALUES)
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(TOML_VALUES)
    return table


def _one_line(message: str) -> None:
    assert message and "\n" not in message.strip(), message
    assert "Traceback" not in message


@pytest.mark.parametrize("study", STUDY_FILES, ids=lambda p: p.stem)
def test_a_mutated_study_is_accepted_or_refused_in_one_line(study):
    base = tomllib.loads(study.read_text())

    @FUZZ
    @given(data=mutated(base))
    def check(data):
        try:
            spec = parse_spec(data)
        except StudySpecError as error:
            _one_line(str(error))
            return
        for constraint in spec.constraints:  # what was accepted must be usable
            assert math.isfinite(constraint.max if constraint.max is not None else constraint.min)

    check()


@pytest.mark.parametrize("preset", list_presets())
def test_a_mutated_preset_is_refused_in_one_line_or_costs_a_network(preset, tmp_path):
    from search_spaces import get_space

    base = tomllib.loads((PRESET_DIR / f"{preset}.toml").read_text())
    family = base.pop("family")
    workload = get_space("nb201").workload(ARCH, batch_size=2)

    @FUZZ
    @given(data=mutated(base))
    def check(data):
        try:
            config = _load(family, data)
        except HardwareSpecError as error:
            _one_line(str(error))
            return
        cost = evaluate(workload, config)
        assert not (cost.layer_latency_s < 0).any()  # NaN marks an unsupported layer; negative is a bug

    check()


def _load(family: str, data: dict):
    from cost_models._hardware import _FAMILIES

    data = {**data}
    data.setdefault("name", "fuzzed")
    return _FAMILIES[family][0].from_mapping(data, origin="fuzzed.toml")


@st.composite
def damaged_bytes(draw, data: bytes) -> bytes:
    """``data`` truncated, with bytes flipped, or with bytes appended or inserted."""
    action = draw(st.sampled_from(["truncate", "flip", "append", "insert"]))
    if action == "truncate":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if action == "flip":
        data = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        return bytes(data)
    extra = draw(st.binary(min_size=1, max_size=64))
    if action == "append":
        return data + extra
    i = draw(st.integers(0, len(data)))
    return data[:i] + extra + data[i:]


def _cli_outcome(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    if result.exit_code != 0:
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit), result.exception
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 or "Usage:" in result.output, result.output
        assert "Traceback" not in result.output


@pytest.mark.parametrize("study", [REPO / "studies" / "quickstart.toml", REPO / "studies" / "nb201_eie_tpu_h100.toml"],
                         ids=lambda p: p.stem)
def test_damaged_study_bytes_are_read_or_refused_in_one_line(study, tmp_path):
    @FUZZ
    @given(data=damaged_bytes(study.read_bytes()))
    def check(data):
        path = tmp_path / "fuzzed.toml"
        path.write_bytes(data)
        try:
            load_spec(path)
        except StudySpecError as error:
            _one_line(str(error))

    check()


@pytest.mark.parametrize("preset", ["h100", "tpu_v1", "eie"])
def test_damaged_preset_bytes_cost_or_are_refused_in_one_line(preset, tmp_path):
    @FUZZ
    @given(data=damaged_bytes((PRESET_DIR / f"{preset}.toml").read_bytes()))
    def check(data):
        path = tmp_path / "fuzzed.toml"
        path.write_bytes(data)
        _cli_outcome(["cost", "--hardware", str(path), "--space", "nb201", "--arch", ARCH])

    check()


@pytest.fixture(scope="module")
def small_results(searched_study, tmp_path_factory) -> Path:
    _, _, study = searched_study
    return save_dataset(study_to_dataset(study), tmp_path_factory.mktemp("fuzz") / "small.nc")


def test_damaged_results_files_are_read_or_refused_in_one_line(small_results, tmp_path):
    @FUZZ
    @given(data=damaged_bytes(small_results.read_bytes()))
    def check(data):
        path = tmp_path / "fuzzed.nc"
        path.write_bytes(data)
        _cli_outcome(["pareto", str(path)])

    check()


def test_damaged_journals_are_read_or_refused_in_one_line(searched_study, tmp_path):
    _, storage, _ = searched_study
    original = Path(storage).read_bytes()

    @FUZZ
    @given(data=damaged_bytes(original))
    def check(data):
        path = tmp_path / "fuzzed.journal"
        path.write_bytes(data)
        for side in tmp_path.glob("fuzzed.journal.torn-*"):
            side.unlink()
        _cli_outcome(["status", "small", "--storage", str(path)])

    check()


def test_a_damaged_stored_spec_is_refused_in_one_line_naming_the_attr(tmp_path):
    """The case the journal fuzzing first found: the journal parses, but the spec it stores does not."""
    import optuna

    path = tmp_path / "damaged.journal"
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    study = optuna.create_study(study_name="small", storage=storage)
    study.set_user_attr("spec_json", '{"study": {"name": "small" "n_trials": 16}}')

    result = CliRunner().invoke(main, ["status", "small", "--storage", str(path)])

    assert result.exit_code == 2, result.output
    assert "study 'small'" in result.output and "spec_json" in result.output and "damaged" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_trial_that_lost_a_parameter_is_left_out_with_a_warning_and_the_rest_is_read(tmp_path):
    """The other case the journal fuzzing found: Optuna skips a record it cannot replay, so a
    completed trial can come back without one of its parameters."""
    import optuna

    from nas.study import SPEC_ATTR

    spec = load_spec(REPO / "studies" / "quickstart.toml")
    path = tmp_path / "lost.journal"
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    study = optuna.create_study(study_name=spec.study.name, storage=storage, directions=spec.directions)
    study.set_user_attr(SPEC_ATTR, spec.to_json())
    edges = ["edge_0_1", "edge_0_2", "edge_1_2", "edge_0_3", "edge_1_3", "edge_2_3"]
    ops = optuna.distributions.CategoricalDistribution(
        ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    )
    for kept in (edges, edges[1:]):
        study.add_trial(optuna.trial.create_trial(
            params={edge: "nor_conv_3x3" for edge in kept}, distributions={edge: ops for edge in kept},
            values=[90.0, 1e-3, 0.1][: len(spec.directions)],
        ))

    result = CliRunner().invoke(main, ["status", spec.study.name, "--storage", str(path)])

    assert result.exit_code == 0, result.output
    assert "warning: study" in result.output and "trials [1]" in result.output
    with pytest.warns(UserWarning, match=r"trials \[1\]"):
        dataset = study_to_dataset(study)
    assert dataset["trial"].values.tolist() == [0]


def test_a_damaged_netcdf_header_leaves_no_noise_from_h5netcdf(tmp_path, monkeypatch):
    """h5netcdf's finaliser raises on a file it failed to open, which Python prints as
    'Exception ignored ... Traceback' under the one-line error, or later, at any collection."""
    import gc
    import sys

    import numpy as np
    import xarray as xr

    path = tmp_path / "damaged.nc"
    xr.Dataset({"latency_s": ("trial", np.arange(5.0))}).to_netcdf(path, engine="h5netcdf")
    data = path.read_bytes()
    path.write_bytes(data[:200] + bytes(60) + data[260:])
    ignored = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)

    result = CliRunner().invoke(main, ["pareto", str(path)])
    assert result.exit_code == 2 and result.output.startswith("error:") and "not a readable results" in result.output
    del result  # its exception chain would keep the half-opened file alive
    gc.collect()

    assert ignored == []
