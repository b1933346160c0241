"""`nas report`: one self-contained page, checked as text and rendered by a headless Chromium."""

import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

import cli
from nas import load_dataset, save_dataset, study_to_dataset
from nas.results import default_trial

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(searched_study, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    results = save_dataset(study_to_dataset(searched_study[2]), folder / "small.nc")
    out = folder / "report.html"
    result = CliRunner().invoke(cli.main, ["report", str(results), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"report: {out}"
    return load_dataset(results), out


def test_report_is_one_self_contained_page(report):
    _, out = report
    page = out.read_text()
    assert re.findall(r"<script[^>]*\ssrc=", page) == [] and "<link" not in page  # nothing fetched
    assert page.count('class="plotly-graph-div"') == len(_figure_ids(page)) >= 6


def test_report_tables_every_pareto_design_and_the_provenance(report):
    ds, out = report
    page = out.read_text()
    table = page.split("<h3>Pareto designs</h3>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(\d+)</td>", table)
    assert sorted(map(int, rows)) == sorted(ds.trial.values[ds.is_pareto.values].tolist())
    for arch in ds.arch.values[ds.is_pareto.values]:
        assert arch in table
    assert f"Where trial {default_trial(ds)}" in page
    for text in ("Provenance", "NAS-Bench-201 table", "hardware h100", "gpu, 4 nm", "nsga2, seed 0",
                 "[[objectives]]", 'metric = "accuracy_valid_pct"', "optuna 5."):
        assert text in page, text


def _figure_ids(page: str) -> list[str]:
    return re.findall(r'<div id="([0-9a-f-]{36})" class="plotly-graph-div"', page)


def _render(page_path, tmp_path):
    """Chromium's DOM after scripts ran, and the JavaScript errors it logged."""
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", "--dump-dom", page_path.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    errors = [line for line in run.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    return run.stdout, errors


@pytest.mark.skipif(CHROMIUM is None, reason="the headless-browser check needs Debian's chromium "
                                             "(apt-get install chromium)")
def test_chromium_renders_every_figure_of_the_report_without_errors(report, tmp_path):
    _, out = report
    dom, errors = _render(out, tmp_path)
    assert errors == []
    ids = _figure_ids(out.read_text())
    rendered = re.findall(r'<div id="([0-9a-f-]{36})" class="[^"]*js-plotly-plot[^"]*"', dom)
    assert sorted(rendered) == sorted(ids)
    assert dom.count('class="main-svg"') >= len(ids)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
def test_the_render_check_catches_a_broken_page(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text('<html><body><div id="x" class="plotly-graph-div"></div>'
                      "<script>Plotly.newPlot('x', []);</script></body></html>")
    dom, errors = _render(broken, tmp_path)
    assert len(errors) == 1 and "Plotly is not defined" in errors[0]
    assert "js-plotly-plot" not in dom


def test_report_of_a_missing_file_is_one_line(tmp_path):
    result = CliRunner().invoke(cli.main, ["report", str(tmp_path / "none.nc"), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "no such results file" in result.output
