"""Per-layer pruning sensitivity: one layer pruned at a time, scored, labelled, saved, plotted, and on the CLI."""

import math

import numpy as np
import pytest
import torch
import xarray as xr
from click.testing import CliRunner
from torch import nn

from cli import main
from nas import save_dataset
from nas.compression import format_sensitivity, pruning_sensitivity, sensitivity_figure, suggest_layer_ratios

RATIOS = [0.0, 0.3, 0.6, 0.9]
ARCH = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|"  # one conv per cell: 23 weight layers


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4),
    )


@pytest.fixture(scope="module")
def trained():
    """A small CNN fitted for a few steps to random labels, with its batch and a score that depends on every weight."""
    torch.manual_seed(1)
    images, labels = torch.randn(32, 3, 8, 8), torch.randint(0, 4, (32,))
    net = _net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(30):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()
    net.eval()

    def neg_loss(module, inputs):
        with torch.no_grad():
            return -float(nn.functional.cross_entropy(module(inputs), labels))

    return net, images, neg_loss


@pytest.fixture(scope="module")
def loss_dataset(trained):
    net, images, neg_loss = trained
    return pruning_sensitivity(net, images, ratios=RATIOS, score=neg_loss, score_units="nat", network="tiny")


def test_dataset_is_labelled_with_units(loss_dataset):
    ds = loss_dataset
    assert ds.score.dims == ("layer", "prune_ratio")
    assert ds.layer.values.tolist() == ["0", "2", "4", "8"]
    assert ds.prune_ratio.values.tolist() == RATIOS
    assert ds.layer_kind.values.tolist() == ["conv", "conv", "conv", "linear"]
    assert ds.layer_params.values.tolist() == [3 * 8 * 9 + 8, 8 * 16 * 9 + 16, 16 * 16 * 9 + 16, 16 * 4 + 4]
    assert ds.score.attrs["units"] == ds.score_drop.attrs["units"] == "nat"
    assert ds.weight_density.attrs["units"] == ds.prune_ratio.attrs["units"] == "1"
    assert "neg_loss" in ds.score.attrs["description"]
    assert ds.attrs["pattern"] == "unstructured"
    assert ds.attrs["score_name"] == "neg_loss"
    assert ds.attrs["network"] == "tiny"


def test_ratio_zero_is_the_unpruned_score_and_the_module_is_untouched(trained, loss_dataset):
    net, images, neg_loss = trained
    baseline = neg_loss(net, images)
    assert loss_dataset.attrs["baseline_score"] == baseline
    np.testing.assert_array_equal(loss_dataset.score.sel(prune_ratio=0).values, baseline)
    np.testing.assert_array_equal(loss_dataset.score_drop.sel(prune_ratio=0).values, 0.0)
    assert all(bool(layer.weight.ne(0).all()) for layer in net if isinstance(layer, nn.Conv2d | nn.Linear))


def test_a_trained_score_changes_with_the_ratio(loss_dataset):
    weights = np.array([[3 * 8 * 9], [8 * 16 * 9], [16 * 16 * 9], [16 * 4]])
    removed = np.round(np.array(RATIOS) * weights)  # prune_module removes round(ratio * n) weights
    np.testing.assert_allclose(loss_dataset.weight_density.values, 1 - removed / weights)
    scores = loss_dataset.score.values
    assert np.all(scores[:, 1:] != scores[:, :1])
    assert np.all(loss_dataset.score_drop.sel(prune_ratio=0.9).values > 0)  # 90% of any layer hurts the fit


def test_synflow_is_the_default_and_falls_with_every_ratio():
    ds = pruning_sensitivity(_net(), torch.zeros(1, 3, 8, 8), ratios=RATIOS)
    assert ds.attrs["score_name"] == "synflow"
    assert "synaptic-flow" in ds.score.attrs["description"]
    assert np.all(np.diff(ds.score_drop.values, axis=1) > 0)


def test_only_the_layer_under_test_is_pruned():
    seen = []

    def densities(module, inputs):
        seen.append({name: float(layer.weight.ne(0).float().mean()) for name, layer in module.named_modules()
                     if isinstance(layer, nn.Conv2d | nn.Linear)})
        return 0.0

    pruning_sensitivity(_net(), torch.zeros(1, 3, 8, 8), ratios=[0.0, 0.5], score=densities, layers=["2", "8"])
    unpruned, conv, linear = seen  # ratio 0 is one network, scored once
    assert set(unpruned.values()) == {1.0}
    assert conv == {**unpruned, "2": 0.5}
    assert linear == {**unpruned, "8": 0.5}


def test_channel_pruning_takes_the_width_group_and_leaves_pinned_layers_dense():
    ds = pruning_sensitivity(_net(), torch.zeros(1, 3, 8, 8), ratios=[0.0, 0.5], pattern="channel")
    density = ds.weight_density.sel(prune_ratio=0.5)
    # '0' (first) and '8' (the classifier) are pinned; '2' and '4' both write 16 channels: pruned as one.
    assert density.sel(layer=["0", "8"]).values.tolist() == [1.0, 1.0]
    assert density.sel(layer=["2", "4"]).values.tolist() == [0.5, 0.5]
    np.testing.assert_array_equal(ds.score.sel(layer="2").values, ds.score.sel(layer="4").values)
    assert "stay dense at every ratio: their width is pinned" in format_sensitivity(ds)


def test_two_four_tests_dense_and_half():
    ds = pruning_sensitivity(_net(), torch.zeros(1, 3, 8, 8), pattern="2:4")
    assert ds.prune_ratio.values.tolist() == [0.0, 0.5]
    # The first conv reads 3 channels, not a multiple of 4, so 2:4 leaves it dense.
    assert ds.weight_density.sel(prune_ratio=0.5).values.tolist() == [1.0, 0.5, 0.5, 0.5]


@pytest.mark.parametrize("max_drop", [0.0, 0.01, 0.1, 1.0, 100.0])
def test_suggested_ratios_stay_within_the_drop(loss_dataset, max_drop):
    suggested = suggest_layer_ratios(loss_dataset, max_drop)
    assert list(suggested) == loss_dataset.layer.values.tolist()
    for layer, ratio in suggested.items():
        drops = loss_dataset.score_drop.sel(layer=layer)
        assert float(drops.sel(prune_ratio=ratio)) <= max_drop
        higher = drops.where(drops.prune_ratio > ratio, drop=True)
        assert higher.size == 0 or float(higher[0]) > max_drop  # the next ratio tested would exceed it


def test_suggestions_stop_at_the_first_ratio_past_the_drop():
    ds = xr.Dataset({"score_drop": (("layer", "prune_ratio"), [[0.5, 0.0, 0.1], [np.nan, 0.0, 0.0]])},
                    coords={"layer": ["a", "b"], "prune_ratio": [0.0, 0.4, 0.8]})
    assert suggest_layer_ratios(ds, 0.2) == {"a": 0.0, "b": 0.0}


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, True, "1"])
def test_bad_max_drop_is_refused(loss_dataset, bad):
    with pytest.raises(ValueError, match="max_drop: expected a finite number >= 0"):
        suggest_layer_ratios(loss_dataset, bad)


@pytest.mark.parametrize(("options", "message"), [
    ({"layers": ["2", "nope"]}, r"layers: 'nope' is not a conv or linear layer of the module; its 4 weight layers"),
    ({"layers": []}, "layers: expected at least one layer name"),
    ({"ratios": [0.0, 1.0]}, r"ratios: expected numbers in \[0, 1\) \(fraction removed\), got 1.0"),
    ({"ratios": [-0.1]}, r"ratios: expected numbers in \[0, 1\)"),
    ({"ratios": []}, "ratios: expected at least one ratio"),
    ({"pattern": "2:4", "ratios": [0.3]}, "ratios: pattern '2:4' allows 0 \\(dense\\) and 0.5, got 0.3"),
    ({"pattern": "random"}, "pattern: unknown 'random'; choose from unstructured, 2:4, channel"),
])
def test_bad_input_is_one_line(options, message):
    with pytest.raises(ValueError, match=f"^pruning_sensitivity: {message}"):
        pruning_sensitivity(_net(), torch.zeros(1, 3, 8, 8), **options)


def test_netcdf_round_trip(loss_dataset, tmp_path):
    path = save_dataset(loss_dataset, tmp_path / "sensitivity.nc")
    xr.testing.assert_identical(xr.load_dataset(path, engine="h5netcdf"), loss_dataset)


def test_figure_has_a_line_per_layer_and_units_on_the_axes(loss_dataset):
    figure = sensitivity_figure(loss_dataset)
    assert [trace.name for trace in figure.data] == loss_dataset.layer.values.tolist()
    assert figure.layout.yaxis.title.text == "neg_loss [nat]"
    assert figure.layout.xaxis.title.text == "fraction of the layer's weights removed, that layer alone [1]"
    assert sensitivity_figure(loss_dataset, y="score_drop").layout.yaxis.title.text == "neg_loss drop [nat]"
    with pytest.raises(ValueError, match="y: expected 'score' or 'score_drop', got 'latency_s'"):
        sensitivity_figure(loss_dataset, y="latency_s")


def test_cli_writes_the_dataset_and_plot_and_prints_the_suggestions(tmp_path):
    out, plot = tmp_path / "s.nc", tmp_path / "s.html"
    result = CliRunner().invoke(main, [
        "sensitivity", "--space", "nb201", "--arch", ARCH, "--ratios", "0,0.5,0.9",
        "--layers", "stem.conv,stage2.reduction.conv_a.conv,head.classifier", "--max-drop", "0.5",
        "-o", str(out), "--plot", str(plot),
    ])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("synflow drop with one layer unstructured-pruned at each ratio (unpruned: ")
    assert lines[1].split() == ["layer", "kind", "params", "0", "0.5", "0.9", "suggested"]
    assert lines[2].split()[:3] == ["stem.conv", "conv", "432"]
    ds = xr.load_dataset(out, engine="h5netcdf")
    assert ds.layer.values.tolist() == ["stem.conv", "stage2.reduction.conv_a.conv", "head.classifier"]
    assert ds.attrs["network"] == f"nb201 {ARCH}"
    suggested = suggest_layer_ratios(ds, 0.5)
    assert [line.split()[-1] for line in lines[2:5]] == [f"{suggested[name]:g}" for name in ds.layer.values]
    assert "<html>" in plot.read_text()
    assert result.output.endswith(f"dataset: {out}\nplot: {plot}\n")


@pytest.mark.parametrize(("args", "error"), [
    (["--ratios", "0,1"], "error: pruning_sensitivity: ratios: expected numbers in [0, 1) (fraction removed), got 1.0"),
    (["--ratios", "0,half"], "error: --ratios: expected comma-separated numbers, got '0,half'"),
    (["--layers", "stem.cnv"], "error: pruning_sensitivity: layers: 'stem.cnv' is not a conv or linear layer"),
    (["--max-drop", "-1"], "error: --max-drop: expected a finite number >= 0, got -1.0"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, args, error):
    result = CliRunner().invoke(main, ["sensitivity", "--space", "nb201", "--arch", ARCH, *args,
                                       "-o", str(tmp_path / "s.nc")])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith(error)
    assert not (tmp_path / "s.nc").exists()


def test_cli_needs_one_network():
    result = CliRunner().invoke(main, ["sensitivity", "--model", "resnet18", "--arch", ARCH, "-o", "s.nc"])
    assert result.exit_code == 2
    assert "give either --model NAME, or --space NAME with --arch GENOTYPE" in result.output
