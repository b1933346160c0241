"""The metric table (nas.METRICS) is the one vocabulary of the evaluation, the proxies and the results schema."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import optuna
import pytest

from nas import load_spec
from nas.proxies import get_proxy, list_proxies
from nas.results import METRICS, metric_of, units_of
from nas.study import COST_METRICS, ORACLE_METRICS, evaluate_candidate, suggest_candidate

ROOT = Path(__file__).resolve().parents[1]
MASKS = {"is_feasible", "is_pareto"}


def schema_rows() -> dict[str, str]:
    """``{variable name: units}`` of the variables table of docs/results_schema.md (``<x>`` written ``{x}``)."""
    text = (ROOT / "docs" / "results_schema.md").read_text()
    section = text.split("## Variables", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([^`]+)`", cells[0]):
            rows[re.sub(r"<(\w+)>", r"{\1}", name)] = cells[1]
    return rows


def test_every_declared_metric_is_in_the_schema_with_its_unit():
    rows = schema_rows()
    for metric in METRICS.values():
        assert metric.name in rows, f"{metric.name} is declared but not in docs/results_schema.md"
        assert metric.unit in re.findall(r"[^\s()]+(?: s)?", rows[metric.name]) or rows[metric.name] == metric.unit


def test_every_schema_variable_is_declared():
    undeclared = sorted(set(schema_rows()) - set(METRICS) - MASKS)
    assert not undeclared, f"docs/results_schema.md lists undeclared metrics: {undeclared}"


def test_every_proxy_metric_is_declared_as_a_proxy_output():
    for name in list_proxies():
        metric = metric_of(get_proxy(name).metric)
        assert metric is not None and "proxy" in metric.sources, name


def test_spec_vocabularies_are_views_of_the_table():
    assert {n: m.description for n, m in METRICS.items() if m.sources == ("cost",) and "{" not in n} == COST_METRICS
    assert set(ORACLE_METRICS) == {"accuracy_valid_pct", "accuracy_test_pct"}
    assert units_of("energy_dram_j") == "J" and units_of("latency_memory_bound_fraction") == "1"


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_every_number_a_trial_records_is_declared():
    spec = load_spec(ROOT / "studies" / "quickstart.toml")
    trial = optuna.create_study(directions=spec.directions).ask()
    suggest_candidate(trial, spec, spec.make_space())
    metrics = evaluate_candidate(spec, trial.params, trial.number)
    space = spec.make_space()
    labels = space.describe_genotype(space.from_params(trial.params))  # the genotype's coordinates, not metrics
    numbers = {name for name, value in metrics.items()
               if isinstance(value, int | float | np.floating) and name not in labels}
    undeclared = sorted(name for name in numbers if metric_of(name) is None)
    assert not undeclared, f"evaluate_candidate records undeclared metrics: {undeclared}"
    assert {o.metric for o in spec.objectives} <= numbers
