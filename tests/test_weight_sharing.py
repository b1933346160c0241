"""Weight sharing by 1-D k-means (Han, Mao & Dally, "Deep Compression", ICLR 2016, §3)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nas.compression import apply_weight_sharing, kmeans_1d, share_weights


def test_initialisation_is_linear_between_min_and_max():
    values = np.random.default_rng(0).normal(size=1000)
    result = kmeans_1d(values, 8, max_iter=0)
    np.testing.assert_allclose(result.centroids, np.linspace(values.min(), values.max(), 8))
    assert result.iterations == 0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 32), n=st.integers(1, 500))
def test_kmeans_sorted_monotone_and_nearest(seed, k, n):
    values = np.random.default_rng(seed).laplace(size=n)
    result = kmeans_1d(values, k)
    assert np.all(np.diff(result.centroids) >= 0)
    # Lloyd's steps never increase the distortion (up to rounding of the cumulative sums).
    scale = max(float(np.sum(values**2)), 1.0)
    assert np.all(np.diff(result.distortion) <= 1e-9 * scale)
    # At the fixed point every centroid is the mean of the values nearest to it.
    nearest = np.argmin(np.abs(values[:, None] - result.centroids[None, :]), axis=1)
    for j in np.unique(nearest):
        np.testing.assert_allclose(result.centroids[j], values[nearest == j].mean(), rtol=1e-9, atol=1e-12)


def test_indices_point_at_the_nearest_centroid_and_skip_zeros():
    rng = np.random.default_rng(1)
    weights = rng.laplace(size=(64, 32))
    weights[rng.random(weights.shape) < 0.7] = 0.0
    codebook, indices = share_weights(weights, 3)
    assert codebook.shape == (8,) and np.all(np.diff(codebook) >= 0)
    assert np.all(indices[weights == 0] == -1)
    kept = weights != 0
    distance = np.abs(weights[kept][:, None] - codebook[None, :])
    chosen = distance[np.arange(kept.sum()), indices[kept]]
    np.testing.assert_allclose(chosen, distance.min(axis=1), rtol=0, atol=1e-12)


def test_explicit_mask_and_reserved_zero():
    weights = np.array([0.5, -0.3, 0.2, 0.9, -0.8])
    mask = np.array([True, True, False, True, True])
    codebook, indices = share_weights(weights, 2, mask=mask, reserve_zero=True)
    assert codebook[0] == 0.0 and len(codebook) == 4
    assert indices[2] == -1 and np.all(indices[mask] >= 1)
    with pytest.raises(ValueError, match="mask has shape"):
        share_weights(weights, 2, mask=mask[:3])
    with pytest.raises(ValueError, match="bits must be an integer"):
        share_weights(weights, 0)


def test_million_weights_are_fast_and_deterministic():
    weights = np.random.default_rng(2).laplace(size=2_000_000)
    first = share_weights(weights, 5)
    second = share_weights(weights, 5)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_apply_weight_sharing_in_place_keeps_zeros():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16, 10))
    with torch.no_grad():
        model[0].weight[:, 0] = 0.0
    codebooks = apply_weight_sharing(model, 2)
    assert set(codebooks) == {"0", "3"}
    for layer in (model[0], model[3]):
        nonzero = layer.weight[layer.weight != 0]
        assert len(torch.unique(nonzero)) <= 4
    assert torch.all(model[0].weight[:, 0] == 0)
    np.testing.assert_allclose(np.unique(model[3].weight.detach().numpy()), np.unique(codebooks["3"]), rtol=1e-6)
