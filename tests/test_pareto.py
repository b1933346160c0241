import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nas import pareto_mask


def brute_force_front(values: np.ndarray, directions: list[str]) -> np.ndarray:
    costs = values * np.array([1 if d == "minimize" else -1 for d in directions])
    mask = np.zeros(len(costs), dtype=bool)
    for i, row in enumerate(costs):
        if np.isnan(row).any():
            continue
        others = costs[~np.isnan(costs).any(axis=1)]
        dominated = np.any(np.all(others <= row, axis=1) & np.any(others < row, axis=1))
        mask[i] = not dominated
    return mask


@settings(max_examples=200, deadline=None)
@given(
    values=arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 4)),
                  elements=st.sampled_from([0.0, 1.0, 2.0, 3.0, np.nan])),
    data=st.data(),
)
def test_matches_brute_force(values, data):
    directions = data.draw(st.lists(st.sampled_from(["minimize", "maximize"]),
                                    min_size=values.shape[1], max_size=values.shape[1]))
    np.testing.assert_array_equal(pareto_mask(values, directions), brute_force_front(values, directions))


def test_direction_flips_the_front():
    values = np.array([[1.0, 1.0], [2.0, 2.0]])
    assert pareto_mask(values, ["minimize", "minimize"]).tolist() == [True, False]
    assert pareto_mask(values, ["maximize", "maximize"]).tolist() == [False, True]
    assert pareto_mask(values, ["maximize", "minimize"]).tolist() == [True, True]


def test_bad_directions_are_rejected():
    with pytest.raises(ValueError, match="'up'"):
        pareto_mask(np.zeros((2, 1)), ["up"])
    with pytest.raises(ValueError, match="expected"):
        pareto_mask(np.zeros((2, 2)), ["minimize"])
