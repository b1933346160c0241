"""The trained accuracy source: NB201's own network trained briefly on the shipped MNIST,
compressed as a search does, scored on held-out images."""

import importlib
import math

import numpy as np
import pytest
import xarray as xr

from nas.study import (
    CompressionChoice,
    TrainedSettings,
    compressed_accuracy_pct,
    load_split,
    parse_spec,
    split_indices,
    train_network,
)
from search_spaces import get_space, index_to_arch

# Smaller than the defaults (2 epochs at 16 px) to keep each training near 1-2 s on one core;
# the behaviour checked here holds at both.
TINY = TrainedSettings(epochs=1, resolution_px=12)
CONV_CELL = 1462   # every edge nor_conv_3x3
MIXED_CELLS = (6111, 100, 8177)  # the best CIFAR-10 cell and two mixed ones, all connected
DENSE = None
INT8 = CompressionChoice(0.0, "unstructured", "int8", "int8", None)
PRUNE_90 = CompressionChoice(0.9, "unstructured", None, None, None)


@pytest.fixture(scope="module")
def trained():
    space = get_space("nb201")
    return {cell: train_network(space, index_to_arch(cell), TINY, seed=cell) for cell in (CONV_CELL, *MIXED_CELLS)}


def test_the_split_is_fixed_balanced_and_disjoint():
    split = load_split("mnist", 16, 0.2)
    assert split.train_inputs.shape == (4000, 3, 16, 16) and split.test_inputs.shape == (1000, 3, 16, 16)
    assert np.bincount(split.test_targets.numpy()).tolist() == [100] * 10
    train, test = split_indices(np.repeat(np.arange(10), 500), 0.2)
    assert not set(train) & set(test) and test[:3].tolist() == [400, 401, 402]
    # Standardised with the training images' statistics.
    assert abs(float(split.train_inputs.mean())) < 1e-4 and abs(float(split.train_inputs.std()) - 1) < 1e-3


def test_same_seed_same_accuracy_and_another_seed_differs(trained):
    space, arch = get_space("nb201"), index_to_arch(CONV_CELL)
    again = train_network(space, arch, TINY, seed=CONV_CELL)
    assert again.dense_accuracy_pct == trained[CONV_CELL].dense_accuracy_pct
    assert compressed_accuracy_pct(again, PRUNE_90, fine_tune_epochs=1) == \
        compressed_accuracy_pct(trained[CONV_CELL], PRUNE_90, fine_tune_epochs=1)
    other = train_network(space, arch, TINY, seed=CONV_CELL + 1)
    assert not all(np.array_equal(a.detach().numpy(), b.detach().numpy())
                   for a, b in zip(other.module.parameters(), again.module.parameters(), strict=True))


def test_a_connected_cell_learns_mnist(trained):
    # Chance is 10 %; even one epoch at 12 px takes a connected cell far above it.
    assert all(trained[cell].dense_accuracy_pct > 70 for cell in trained)
    assert trained[CONV_CELL].module.training is False


def test_ninety_percent_pruning_without_fine_tune_loses_accuracy(trained):
    for cell in (CONV_CELL, MIXED_CELLS[0]):
        dense = trained[cell].dense_accuracy_pct
        assert compressed_accuracy_pct(trained[cell], PRUNE_90) < dense - 20


def test_int8_loses_under_one_point_on_average(trained):
    drops = [trained[cell].dense_accuracy_pct - compressed_accuracy_pct(trained[cell], INT8) for cell in trained]
    assert np.mean(drops) < 1.0
    # 2-bit weights are not lossless: the check can fail.
    int2 = CompressionChoice(0.0, "unstructured", "int2", None, None)
    assert np.mean([trained[c].dense_accuracy_pct - compressed_accuracy_pct(trained[c], int2) for c in trained]) > 1


def test_fine_tune_restores_part_of_the_loss_and_keeps_the_masks(trained):
    network = trained[CONV_CELL]
    pruned = compressed_accuracy_pct(network, PRUNE_90)
    tuned = compressed_accuracy_pct(network, PRUNE_90, fine_tune_epochs=1)
    assert pruned + 10 < tuned <= network.dense_accuracy_pct + 1
    # The trained network itself is left as it was.
    assert compressed_accuracy_pct(network, DENSE) == network.dense_accuracy_pct


def test_quantization_aware_fine_tune_recovers_ternary_weights(trained):
    # Straight-through training on the int2 grid: the fine-tuned network is scored with
    # weights on that grid again, and recovers much of what rounding to it lost.
    network = trained[CONV_CELL]
    ternary = CompressionChoice(0.0, "unstructured", "int2", "int8", None)
    rounded = compressed_accuracy_pct(network, ternary)
    tuned = compressed_accuracy_pct(network, ternary, fine_tune_epochs=1)
    assert rounded < network.dense_accuracy_pct - 5 and tuned > rounded + 5


def test_fine_tune_keeps_pruned_weights_at_zero(trained, monkeypatch):
    # The held-out evaluation is where the fine-tuned network is visible; spy on it there.
    module = importlib.import_module(compressed_accuracy_pct.__module__)
    seen = {}
    real = module.accuracy_pct

    def spy(net, images, batch_size=500):
        seen["module"] = net
        return real(net, images, batch_size)

    monkeypatch.setattr(module, "accuracy_pct", spy)
    compressed_accuracy_pct(trained[CONV_CELL], PRUNE_90, fine_tune_epochs=1)
    weights = [p for p in seen["module"].parameters() if p.ndim > 1]
    zero = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zero == pytest.approx(0.9, abs=0.01)


@pytest.mark.parametrize(("accuracy", "message"), [
    ({"source": "trained", "trained": {"data": "synthetic"}}, "trained.data: 'synthetic' has no labelled images"),
    ({"source": "synflow", "trained": {"epochs": 1}}, "trained: only source 'trained' trains"),
    ({"source": "trained", "trained": {"epoch": 1}}, "epoch"),
    ({"source": "trained", "trained": {"resolution_px": 4}}, "resolution_px"),
])
def test_bad_trained_settings_are_named(accuracy, message):
    with pytest.raises(ValueError, match=message):
        parse_spec(_spec(accuracy))


def test_a_space_without_a_reduced_network_is_refused():
    spec = _spec({"source": "trained"})
    spec["space"] = {"name": "mobilenet"}
    with pytest.raises(ValueError, match="source 'trained' trains the space's reduced network, which space "
                                         "'mobilenet' does not have"):
        parse_spec(spec)


def test_the_spec_offers_the_trained_metrics():
    spec = parse_spec(_spec({"source": "trained", "trained": {"fine_tune_epochs": 1}}))
    assert {"trained_accuracy_pct", "trained_dense_accuracy_pct", "train_time_s"} <= set(spec.available_metrics())
    assert spec.accuracy.training.regime() == "prune-after-training, fine-tune 1 epoch"
    assert spec.accuracy.proxies == ()
    # The spec survives its JSON round trip (results attrs, the study's user attrs), as does a proxy's.
    assert type(spec).model_validate_json(spec.to_json()) == spec
    proxy = parse_spec(_spec({"source": "synflow"}))
    assert type(proxy).model_validate_json(proxy.to_json()) == proxy


def test_a_users_npz_images_train_too(tmp_path):
    # Two classes a network can only tell apart by where the ink is: a bar at the top or at the bottom.
    rng = np.random.default_rng(0)
    images = rng.random((200, 10, 10)) * 0.2
    labels = np.arange(200) % 2
    images[labels == 0, 1:3] += 1.0
    images[labels == 1, 7:9] += 1.0
    np.savez(tmp_path / "bars.npz", x=images, y=labels)
    settings = TrainedSettings(data=f"npz:{tmp_path / 'bars.npz'}", resolution_px=8, epochs=2, batch_size=16)
    network = train_network(get_space("nb201"), index_to_arch(CONV_CELL), settings, seed=0)
    assert network.images.num_classes == 2 and len(network.images.test_targets) == 40
    assert network.dense_accuracy_pct > 90


@pytest.mark.slow
def test_a_trained_study_runs_through_nas_search(tmp_path):
    from click.testing import CliRunner

    from cli import main

    study = tmp_path / "trained.toml"
    study.write_text("""
[study]
name = "trained_tiny"
n_trials = 2
seed = 0

[space]
name = "nb201"

[accuracy]
source = "trained"

[accuracy.trained]
epochs = 1
resolution_px = 12
fine_tune_epochs = 1

[hardware]
presets = ["a100"]
precision = "fp16"
batch_size = 64

[compression]
prune_ratio = [0.0, 0.9]
weight_format = ["int8", "int4"]

[[objectives]]
metric = "trained_accuracy_pct"
direction = "maximize"

[[objectives]]
metric = "latency_s"
direction = "minimize"
""")
    result = CliRunner().invoke(main, ["search", str(study), "--workers", "1", "--out", str(tmp_path),
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    ds = xr.open_dataset(tmp_path / "trained_tiny.nc", engine="h5netcdf")
    assert ds.trained_accuracy_pct.attrs["units"] == "%"
    assert ((ds.trained_accuracy_pct >= 0) & (ds.trained_accuracy_pct <= 100)).all()
    # The fine-tune epoch is more training on top of one dense epoch, so the compressed
    # network may beat the dense one here; both learned far above chance (10 %).
    assert (ds.trained_dense_accuracy_pct > 50).all() and (ds.trained_accuracy_pct > 50).all()
    assert "prune-after-training, fine-tune 1 epoch" in ds.attrs["accuracy_fidelity_json"]
    assert ds.attrs["accuracy_regime"] == "prune-after-training, fine-tune 1 epoch"
    import optuna

    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "trained_tiny.journal")))
    trials = optuna.load_study(study_name="trained_tiny", storage=storage).trials
    assert all(t.user_attrs["metrics"]["accuracy_regime"] == "prune-after-training, fine-tune 1 epoch"
               for t in trials)
    assert all(math.isfinite(t.user_attrs["metrics"]["train_time_s"]) for t in trials)


def _spec(accuracy: dict) -> dict:
    return {"study": {"name": "t", "n_trials": 1}, "space": {"name": "nb201"}, "accuracy": accuracy,
            "hardware": {"presets": ["a100"]}, "compression": {"prune_ratio": 0.5},
            "objectives": [{"metric": "latency_s", "direction": "minimize"}]}
