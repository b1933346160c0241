"""Rank correlations and rank ensembles of proxies."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.benchmarks import NB201AccuracyTable
from nas.proxies import RankEnsemble, average_ranks, kendall_tau, reference_scores, spearman_rho

stats = pytest.importorskip("scipy.stats")

values = st.lists(st.integers(-5, 5), min_size=3, max_size=40)


@settings(max_examples=60, deadline=None)
@given(values, st.randoms(use_true_random=False))
def test_rank_correlations_match_scipy_with_ties(xs, random):
    x = np.array(xs, dtype=float)
    y = x + np.array([random.choice([-2, 0, 0, 1, 3]) for _ in xs])
    if len(set(xs)) < 2 or len(set(y)) < 2:
        assert np.isnan(spearman_rho(x, y)) and np.isnan(kendall_tau(x, y))
        return
    assert spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)


def test_rank_correlation_refuses_non_finite_values():
    with pytest.raises(ValueError, match="values must be finite"):
        spearman_rho(np.array([1.0, np.nan, 2.0]), np.array([1.0, 2.0, 3.0]))


def test_average_ranks_of_ties():
    assert average_ranks(np.array([3.0, 1.0, 3.0, 3.0, 0.0])).tolist() == [4.0, 2.0, 4.0, 4.0, 1.0]


def test_vote_is_the_pairwise_majority():
    scores = {"a": np.array([1.0, 2.0, 3.0, 4.0]), "b": np.array([4.0, 3.0, 2.0, 1.0]),
              "c": np.array([2.0, 1.0, 4.0, 3.0])}
    # Majority verdicts: 0 > 1 (b and c), 2 and 3 beat 0 and 1 (a and c), 2 > 3 (b and c).
    combined = RankEnsemble(["a", "b", "c"], "vote").combine(scores)
    assert combined.tolist() == pytest.approx([1 / 3, 0.0, 1.0, 2 / 3])


def test_mean_rank_is_the_mean_normalised_rank():
    scores = {"a": np.array([10.0, 20.0, 30.0]), "b": np.array([3.0, 1.0, 2.0])}
    combined = RankEnsemble(["a", "b"], "mean_rank").combine(scores)
    assert combined.tolist() == pytest.approx([(0 + 1) / 2, (0.5 + 0) / 2, (1 + 0.5) / 2])


def test_an_even_split_counts_half_and_nan_cells_are_left_out():
    scores = {"a": np.array([1.0, 2.0, np.nan]), "b": np.array([2.0, 1.0, 5.0])}
    combined = RankEnsemble(["a", "b"], "vote").combine(scores)
    assert combined[:2].tolist() == [0.5, 0.5] and np.isnan(combined[2])


@settings(max_examples=40, deadline=None)
@given(st.integers(4, 30), st.integers(0, 2**31 - 1), st.sampled_from(["vote", "mean_rank"]))
def test_one_candidate_against_the_others_lands_where_it_ranks_among_them(n, seed, method):
    rng = np.random.default_rng(seed)
    population = {m: rng.integers(0, 6, n).astype(float) for m in ("x", "y", "z")}
    combined = RankEnsemble(["x", "y", "z"], method).combine(population)
    for i in range(n):
        others = {m: np.delete(v, i) for m, v in population.items()}
        candidate = {m: v[i] for m, v in population.items()}
        assert RankEnsemble(["x", "y", "z"], method, reference=others).score(candidate) == pytest.approx(combined[i])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["vote", "mean_rank", "weighted"]), st.sampled_from("xyz"),
       st.floats(0.1, 5))
def test_raising_one_members_score_never_lowers_a_candidates_ensemble_score(seed, method, member, raise_by):
    rng = np.random.default_rng(seed)
    reference = {m: rng.normal(size=25).round(1) for m in "xyz"}
    kwargs = {"weights": rng.random(3) + 0.01} if method == "weighted" else {}
    ensemble = RankEnsemble(list("xyz"), "mean_rank" if method == "weighted" else method, reference=reference,
                            **kwargs)
    candidate = {m: round(float(rng.normal()), 1) for m in "xyz"}
    raised = {**candidate, member: candidate[member] + raise_by}
    assert 0 <= ensemble.score(candidate) <= ensemble.score(raised) <= 1


def test_ensemble_errors_name_the_problem():
    with pytest.raises(ValueError, match="two or more distinct proxy names"):
        RankEnsemble(["snip"])
    with pytest.raises(ValueError, match="unknown 'borda'; choose from vote, mean_rank"):
        RankEnsemble(["a", "b"], "borda")
    with pytest.raises(ValueError, match="no reference population"):
        RankEnsemble(["a", "b"]).score({"a": 1.0, "b": 2.0})
    with pytest.raises(ValueError, match="no finite score for b"):
        RankEnsemble(["a", "b"], reference={"a": [1, 2], "b": [2, 1]}).score({"a": 1.0, "b": float("nan")})
    assert RankEnsemble(["synflow", "jacob_cov", "snip"], "vote").name == "vote"
    assert RankEnsemble(["synflow", "naswot"]).name == "mean_rank(synflow+naswot)"


def test_ensembles_beat_their_best_member_on_the_shipped_reference_run():
    reference = reference_scores()
    table = NB201AccuracyTable()
    accuracy = np.array([table.accuracy_pct(int(a), "cifar10") for a in reference["arch_index"]])
    for method, members in (("vote", ["synflow", "jacob_cov", "snip"]), ("mean_rank", ["synflow", "jacob_cov",
                                                                                        "naswot"])):
        scored = np.all([np.isfinite(reference[m]) for m in members], axis=0)
        combined = RankEnsemble(members, method).combine({m: reference[m][scored] for m in members})
        best_member = max(spearman_rho(reference[m][scored], accuracy[scored]) for m in members)
        assert spearman_rho(combined, accuracy[scored]) >= best_member, method


def test_the_shipped_learned_ensemble_is_what_its_stated_fit_gives():
    from nas.proxies import fit_learned_ensemble, learned_ensemble, shipped_learned_ensemble

    refit, shipped = fit_learned_ensemble(seed=shipped_learned_ensemble()["seed"]), shipped_learned_ensemble()
    assert refit["members"] == shipped["members"]
    assert refit["weights"] == pytest.approx(shipped["weights"], abs=1e-6)
    assert refit["held_out"] == shipped["held_out"]
    ensemble = learned_ensemble()
    assert ensemble.members == shipped["members"] and sum(ensemble.weights) == pytest.approx(1)


def test_the_learned_ensemble_beats_its_members_and_the_equal_weight_ensembles_on_held_out_cells():
    from nas.proxies import shipped_learned_ensemble

    for benchmark, row in shipped_learned_ensemble()["held_out"].items():
        assert row["learned_spearman_rho"] > row["best_member_spearman_rho"], benchmark
        assert row["learned_spearman_rho"] > row["vote_spearman_rho"], benchmark
    assert shipped_learned_ensemble()["held_out"]["cifar10"]["learned_spearman_rho"] > 0.85


def test_the_learned_fit_only_sees_its_training_cells():
    from nas.proxies import fit_learned_ensemble, reference_scores

    scores = reference_scores()
    record = fit_learned_ensemble(scores, seed=0)
    order = np.random.default_rng(0).permutation(record["n_archs"])
    scored = np.flatnonzero(np.all([np.isfinite(v) for k, v in scores.items() if k != "arch_index"], axis=0))
    held_out = scored[order[:record["n_test"]]]
    tampered = {name: values.copy() for name, values in scores.items()}
    for name in tampered:
        if name != "arch_index":
            tampered[name][held_out] = np.random.default_rng(1).permutation(tampered[name][held_out])
    assert fit_learned_ensemble(tampered, seed=0)["weights"] == record["weights"]


def test_weighted_mean_rank_validates_its_weights():
    with pytest.raises(ValueError, match="RankEnsemble.weights: expected 2 non-negative weights"):
        RankEnsemble(["a", "b"], "mean_rank", weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="for method 'mean_rank'"):
        RankEnsemble(["a", "b", "c"], "vote", weights=[1, 1, 1])
    scores = {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([3.0, 2.0, 1.0])}
    assert RankEnsemble(["a", "b"], "mean_rank", weights=[3, 1]).combine(scores).tolist() == [0.25, 0.5, 0.75]
