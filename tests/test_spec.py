import tomllib
from pathlib import Path

import pytest

from nas import load_spec
from nas.study import StudySpecError, parse_spec
from nas.sweep import load_sweep_spec

STUDIES = Path(__file__).parents[1] / "studies"


def quickstart() -> dict:
    return tomllib.loads((STUDIES / "quickstart.toml").read_text())


@pytest.mark.parametrize("path", sorted(STUDIES.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_studies_are_valid(path):
    if "sweep" in tomllib.loads(path.read_text()):
        assert load_sweep_spec(path).objectives
        return
    spec = load_spec(path)
    assert spec.study.n_trials > 0
    assert len(spec.directions) == len(spec.objectives)


def test_quickstart_content():
    spec = load_spec(STUDIES / "quickstart.toml")
    assert spec.space.name == "nb201"
    assert spec.directions == ["maximize", "minimize", "minimize"]
    assert [o.metric for o in spec.objectives] == ["accuracy_valid_pct", "latency_s", "energy_j"]


def edit(path: tuple, value) -> dict:
    data = quickstart()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("study", "n_trials"), 0, "study.n_trials: "),
        (("study", "sampler"), "cmaes", "study.sampler: "),
        (("study", "trials"), 5, "study.trials: unknown field"),
        (("space", "name"), "darts", "space.name: unknown space 'darts'; choose from mobilenet, nb201, resnet"),
        (("space", "dataset"), "mnist", "space: nb201: unknown dataset 'mnist'; choose from cifar10"),
        (("hardware", "presets"), ["h1000"], "hardware.presets: hardware: unknown preset 'h1000'; choose from"),
        (("hardware", "precision"), "fp64", "hardware.precision: unknown precision 'fp64'"),
        (("hardware", "batch_size"), -1, "hardware.batch_size: "),
        (("objectives",), [{"metric": "latency_ms", "direction": "minimize"}],
         "objectives[0].metric 'latency_ms' is not produced"),
        (("objectives",), [{"metric": "latency_s", "direction": "down"}], "objectives.0.direction: "),
        (("constraints",), [{"metric": "latency_s"}], "needs exactly one of 'max' or 'min'"),
        (("constraints",), [{"metric": "latency_s", "max": float("nan")}], "bound nan is not a finite number"),
        (("constraints",), [{"metric": "latency_s", "min": float("inf")}], "bound inf is not a finite number"),
    ],
)
def test_bad_field_gives_one_line_naming_it(path, value, expected):
    with pytest.raises(StudySpecError) as error:
        parse_spec(edit(path, value), origin="x.toml")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("x.toml: ")
    assert expected in message


def test_missing_section_is_named():
    data = quickstart()
    del data["hardware"]
    with pytest.raises(StudySpecError, match=r"^x.toml: hardware: required field is missing$"):
        parse_spec(data, origin="x.toml")


def test_proxy_metric_needs_proxy_source():
    data = edit(("objectives",), [{"metric": "log_synflow", "direction": "maximize"}])
    with pytest.raises(StudySpecError, match="with accuracy source 'oracle'"):
        parse_spec(data)
    data["accuracy"] = {"source": "synflow"}
    assert parse_spec(data).objectives[0].metric == "log_synflow"


def test_malformed_toml_and_missing_file(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[study\nname = 1")
    with pytest.raises(StudySpecError, match="not valid TOML"):
        load_spec(broken)
    with pytest.raises(StudySpecError, match="no such study file"):
        load_spec(tmp_path / "absent.toml")


def test_constraint_violation_sign():
    spec = parse_spec(edit(("constraints",), [{"metric": "latency_s", "max": 0.002},
                                              {"metric": "energy_j", "min": 0.001}]))
    upper, lower = spec.constraints
    assert upper.violation(0.001) < 0 < upper.violation(0.003)
    assert lower.violation(0.002) < 0 < lower.violation(0.0005)
