"""nas compression-table: NB201 cells trained once, a grid of compression policies, one cell x policy table."""

import json

import numpy as np
import pytest
from distributed import Client, LocalCluster

from nas.study import TrainedSettings
from nas.sweep import (
    DEFAULT_POLICIES,
    TablePolicy,
    compression_table,
    drop_summary,
    load_table,
    sample_cells,
    write_table,
)

TINY = TrainedSettings(epochs=1, resolution_px=12)
POLICIES = (DEFAULT_POLICIES[0], TablePolicy("int8", weight_format="int8", act_format="int8"),
            TablePolicy("unstructured_0.9", "unstructured", 0.9))


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as dask_client:
        yield dask_client


def test_the_sample_is_a_fixed_prefix_of_one_permutation():
    assert sample_cells(30, 0).tolist() == sample_cells(120, 0)[:30].tolist()
    assert len(set(sample_cells(120, 0).tolist())) == 120 and sample_cells(120, 0).max() < 15_625
    assert sample_cells(30, 1).tolist() != sample_cells(30, 0).tolist()
    with pytest.raises(ValueError, match="cells: choose 1 to 15,625 cells, got 0"):
        sample_cells(0, 0)


def test_policies_are_the_search_s_compression_choices():
    by_label = {policy.label: policy for policy in DEFAULT_POLICIES}
    assert by_label["dense"].choice() is None
    two_four = by_label["nm_2:4"].choice()
    assert (two_four.pattern, two_four.prune_ratio, two_four.weight_format) == ("2:4", 0.5, None)
    w4a8 = by_label["w4a8"].choice()
    assert (w4a8.weight_format, w4a8.act_format, w4a8.prune_ratio) == ("int4", "int8", 0.0)
    assert by_label["share_4bit"].choice().share_bits == 4
    assert {p.fine_tune_epochs for p in DEFAULT_POLICIES} == {0, 1}
    assert len(by_label) == len(DEFAULT_POLICIES)


def test_a_table_measures_cells_by_policies_with_units_and_provenance(client, tmp_path):
    cells = [6111, 1651]  # the best CIFAR-10 cell and the all-none one, which cannot learn
    seen = []
    table = compression_table(cells, client, settings=TINY, policies=POLICIES, seed=3, output=tmp_path / "t.nc",
                              command="test", on_cell=lambda done, total, row: seen.append((done, total)))
    assert sorted(seen) == [(1, 2), (2, 2)]
    assert table.accuracy_pct.dims == ("cell", "policy") and table.cell.values.tolist() == [1651, 6111]
    assert table.accuracy_pct.attrs["units"] == "%" and table.train_time_s.attrs["units"] == "s"
    assert table.pruning.values.tolist() == ["none", "none", "unstructured"]
    assert table.weight_format.values.tolist() == ["fp32", "int8", "fp32"]
    np.testing.assert_array_equal(table.accuracy_pct.sel(policy="dense"), table.dense_accuracy_pct)
    assert float(table.dense_accuracy_pct.sel(cell=1651)) == 10.0  # chance: its output is constant
    assert float(table.dense_accuracy_pct.sel(cell=6111)) > 70
    assert float(table.nb201_cifar10_accuracy_pct.sel(cell=6111)) == pytest.approx(94.373333)
    assert table.attrs["train_images"] == 4000 and table.attrs["test_images"] == 1000
    assert json.loads(table.attrs["settings_json"])["epochs"] == 1 and table.attrs["dataset"] == "mnist_5k"
    assert "prune-after-training" in table.attrs["regime"]

    stored = load_table(tmp_path / "t.nc")
    np.testing.assert_array_equal(stored.accuracy_pct, table.accuracy_pct)
    drops = {row[0]: row[1] for row in drop_summary(stored)}
    assert drops["dense"] == 0 and drops["unstructured_0.9"] > drops["int8"]

    # Resuming from the table measures nothing again; other settings are refused.
    again = compression_table(cells, client, settings=TINY, policies=POLICIES, seed=3, resume=stored,
                              on_cell=lambda *_: pytest.fail("a kept cell was measured again"))
    np.testing.assert_array_equal(again.accuracy_pct, table.accuracy_pct)
    with pytest.raises(ValueError, match="resume: the table was measured with other settings"):
        compression_table(cells, client, settings=TINY, policies=POLICIES, seed=4, resume=stored)


def test_the_first_policy_must_be_dense(client):
    with pytest.raises(ValueError, match="the first policy must be the uncompressed 'dense' one"):
        compression_table([0], client, policies=POLICIES[1:])


def test_write_table_replaces_the_file_whole(tmp_path):
    import xarray as xr

    path = write_table(xr.Dataset({"x": ("a", [1.0])}), tmp_path / "t.nc")
    assert path.is_file() and not list(tmp_path.glob(".*partial"))
