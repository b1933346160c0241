"""The fidelity report (`nas proxies`), its Dask path, and the published and measured data it compares with."""

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from cli import main
from nas.proxies import (
    measured_fidelity,
    proxy_fidelity,
    published_fidelity,
    published_scores,
    reference_scores,
    reference_settings,
)

CHEAP = ["params", "flops", "synflow", "snip", "jacob_cov", "naswot"]


def test_cli_reports_and_saves_a_few_cells(tmp_path):
    out = tmp_path / "proxies.nc"
    result = CliRunner().invoke(main, [
        "proxies", "--sample", "4", "--dataset", "imagenet16", "--population", "naslib", "--batch-size", "4",
        "--workers", "0", "--proxies", ",".join(CHEAP), "--no-progress", "-o", str(out),
    ])
    assert result.exit_code == 0, result.output
    assert "rho cifar10  tau cifar10  rho cifar100" in result.output
    assert "agreement naslib (n)" in result.output
    ds = xr.load_dataset(out, engine="h5netcdf")
    assert ds.sizes == {"arch": 4, "proxy": len(CHEAP) + 2, "benchmark": 3, "cells": 2, "source": 2}
    assert list(ds.proxy.values[-2:]) == ["vote", "mean_rank(synflow+jacob_cov+naswot)"]
    assert ds.attrs["network_dataset"] == "imagenet16" and ds.attrs["batch_size"] == 4
    scored = ds.is_scored.values
    assert np.all(np.isfinite(ds.score.values[scored])) and np.all(ds.failure.values[scored] == "")
    assert np.all(np.abs(ds.spearman_rho.values) <= 1) and list(ds.cells.values) == ["scored", "all"]
    # Every NASLib-subset cell has NASLib's scores: cell-by-cell agreement is computed for its proxies.
    assert int(ds.agreement_n.sel(proxy="naswot", source="naslib")) == int(scored.sum())


def test_cli_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(main, ["proxies", "--sample", "3", "--proxies", "synflow,magic", "--workers", "0"])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: unknown proxy 'magic'; choose from fisher")


def test_dask_workers_give_the_same_scores_as_one_process():
    kwargs = dict(sample=5, seed=1, dataset="imagenet16", proxies=["params", "synflow", "naswot"], batch_size=4)
    local = proxy_fidelity(**kwargs)
    on_dask = proxy_fidelity(**kwargs, workers=2)
    np.testing.assert_array_equal(local.arch.values, on_dask.arch.values)
    np.testing.assert_array_equal(local.score.values, on_dask.score.values)


def test_a_cell_a_proxy_cannot_score_is_recorded_with_the_reason():
    from nas.proxies import SyntheticBatches, score_cells

    batch = SyntheticBatches().batch(2, (3, 16, 16), 120)
    scores, failures, seconds = score_cells([1651, 6111], "imagenet16", ["params", "synflow"],
                                            (batch.inputs.numpy(), batch.targets.numpy()), 0)
    assert np.isfinite(scores[0, 0]) and np.isnan(scores[0, 1])  # 1651: every edge is `none`
    assert failures[0, 1].startswith("proxy 'synflow' scored -inf on this network")
    assert np.all(np.isfinite(scores[1])) and failures[1].tolist() == ["", ""]
    assert np.all(seconds > 0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="space 'nb101' has no benchmark table"):
        proxy_fidelity("nb101", sample=2)
    with pytest.raises(ValueError, match=r"sample must be an integer in \[2, 15625\], got 1"):
        proxy_fidelity(sample=1)
    with pytest.raises(ValueError, match="unknown population 'some'"):
        proxy_fidelity(sample=2, population="some")


def test_published_data_reproduce_the_documented_correlations():
    # nas/data/README.md (and NAS-Bench-Suite-Zero): Spearman's rho on NASLib's CIFAR-10 subset.
    documented = {"naswot": 0.79, "jacob_cov": 0.77, "params": 0.74, "synflow": 0.74, "flops": 0.71, "snip": 0.61,
                  "grad_norm": 0.61, "grasp": 0.54, "fisher": 0.51}
    assert {name: published_fidelity(name)["naslib_subset"] for name in documented} == documented
    assert published_fidelity("vote") == {"abdelfattah2021": 0.82}
    assert np.isnan(published_scores("naslib", "zen")).sum() == 341  # the unreachable cells' sentinel
    assert np.isfinite(published_scores("freerea", "naswot", "cifar100")).sum() == 15625 - 201
    with pytest.raises(ValueError, match="no published 'zen' scores from 'freerea'"):
        published_scores("freerea", "zen")


def test_the_shipped_reference_run_matches_its_settings():
    settings = reference_settings()
    scores = reference_scores()
    assert settings["space"] == "nb201" and settings["network_dataset"] == "cifar10"
    assert len(scores["arch_index"]) == settings["sample"]
    assert len(np.unique(scores["arch_index"])) == settings["sample"]
    vote = measured_fidelity("vote")
    assert vote["n_archs"] <= settings["sample"] and -1 <= vote["spearman_rho"] <= 1
    with pytest.raises(ValueError, match="nothing measured for 'magic'"):
        measured_fidelity("magic")


def test_all_cells_ranks_an_unscored_cell_last():
    from nas.benchmarks import NB201AccuracyTable
    from nas.proxies import fidelity_dataset

    archs = np.array([10, 200, 3000, 6111, 9000])
    accuracy = np.array([NB201AccuracyTable().accuracy_pct(int(a), "cifar10") for a in archs])
    scores = accuracy.copy()[:, None]
    scores[np.argmax(accuracy)] = np.nan  # the best cell cannot be scored
    failures = np.where(np.isnan(scores), "proxy 'x' scored nan", "").astype(object)
    ds = fidelity_dataset(archs, ["params"], scores, failures, np.ones(5),
                          attrs={"network_dataset": "cifar10", "split": "valid"})
    rho = ds.spearman_rho.sel(proxy="params", benchmark="cifar10")
    assert float(rho.sel(cells="scored")) == 1.0
    # Ranked last, the best cell moves 4 places and the others 1: rho = 1 - 6 (4 + 16) / (5 (25 - 1)) = 0.
    assert float(rho.sel(cells="all")) == pytest.approx(0.0, abs=1e-12)
