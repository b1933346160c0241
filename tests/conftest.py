import tomllib
from pathlib import Path

import pytest

from nas.study import parse_spec

STUDIES = Path(__file__).parents[1] / "studies"


def _small_spec(name: str = "small", n_trials: int = 16, **sections):
    data = tomllib.loads((STUDIES / "quickstart.toml").read_text())
    data["study"].update(name=name, n_trials=n_trials, population_size=4)
    for section, values in sections.items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    return parse_spec(data)


@pytest.fixture(scope="session")
def small_spec():
    """Factory of quickstart specs made small enough for a test, with sections overridden."""
    return _small_spec


@pytest.fixture(scope="session")
def searched_study(tmp_path_factory):
    """A small quickstart study run for real on a 2-worker LocalCluster with a journal file."""
    from nas import run_search

    storage = tmp_path_factory.mktemp("search") / "small.journal"
    spec = _small_spec()
    study = run_search(spec, storage=storage, n_workers=2, progress=False)
    return spec, storage, study
