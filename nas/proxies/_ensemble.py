"""Rank ensembles of proxies: a majority vote and a mean rank, over a population or against a reference one.

Proxies live on incomparable scales (a log-determinant, a gradient norm, a FLOP count), so
they are combined through ranks, never through raw values. A rank needs a population,
and the two places an ensemble is used differ:

* a fidelity report scores a whole sample of architectures at once, so each architecture
  is ranked among the sample (:meth:`RankEnsemble.combine`);
* a study scores one candidate at a time, so the candidate is ranked against a
  *reference population*: the member scores of the 1,000 NAS-Bench-201 cells of the
  shipped fidelity run (:meth:`RankEnsemble.score`). Ranking against stored scores,
  rather than z-scoring against stored means and deviations, keeps the rank semantics
  exactly (a z-score of a heavy-tailed proxy such as grasp would let one member dominate)
  and gives the same value the candidate would get inside that population. A candidate's
  score is then fixed once computed, so an Optuna study sees a stationary objective.

Both give, for each architecture, the fraction of the *other* architectures it beats, in
[0, 1], so one candidate scored against a population lands where it would rank in it.
The reference only means something if the candidate's members are computed the way the
reference was (same network family, batch source and batch size): see
:func:`~nas.proxies.reference_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nas._errors import InputError
from nas.proxies._ranks import average_ranks

METHODS = ("vote", "mean_rank")
"""Ways to combine members."""

VOTE_MEMBERS = ("synflow", "jacob_cov", "snip")
"""Members of Abdelfattah et al.'s vote."""
DEFAULT_MEMBERS = {"vote": VOTE_MEMBERS, "mean_rank": ("synflow", "jacob_cov", "naswot")}
"""Members of each method when none are chosen: Abdelfattah et al.'s vote; for the mean rank, the
three best single proxies of the shipped 1,000-cell run (CIFAR-10 rho 0.874, above each member's;
chosen looking at those cells)."""

_BLOCK = 512
"""Rows of the pairwise comparison built at a time by the population vote."""


class RankEnsemble:
    """Combine proxies by their ranks.

    * ``"vote"``: Abdelfattah et al.'s majority vote, which compares two architectures by
      the verdict of most members. Turned into a score per architecture, it is the fraction
      of the other architectures that it beats by majority (each member votes 1 for the
      higher score, 1/2 on a tie; an even split counts half a win), a Copeland count.
    * ``"mean_rank"``: the mean over members of the fraction of the other architectures
      with a lower score (ties count half), i.e. the mean normalised rank; with
      ``weights``, the weighted mean (the learned ensemble, :func:`~nas.proxies.learned_ensemble`).

    Args:
        members: Proxy names, at least two, no repeats.
        method: ``"vote"`` or ``"mean_rank"``.
        reference: ``{member: scores of a reference population}`` used by :meth:`score`
            (non-finite entries are dropped, per member); default none, and :meth:`score`
            then needs one.
        weights: Non-negative weight of each member, in order (``"mean_rank"`` only),
            normalised to sum to 1; default equal weights.

    References:
        Abdelfattah, Mehrotra, Dudziak, Lane. "Zero-Cost Proxies for Lightweight NAS."
        ICLR 2021 (the vote of synflow, jacob_cov and snip).

    Example:
        >>> vote = RankEnsemble(["a", "b", "c"], "vote")
        >>> vote.combine({"a": np.array([1, 2, 3]), "b": np.array([3, 2, 1]), "c": np.array([1, 3, 2])}).tolist()
        [0.0, 1.0, 0.5]
        >>> vote = RankEnsemble(["a", "b", "c"], "vote", reference={"a": [1, 2, 3], "b": [3, 2, 1], "c": [1, 3, 2]})
        >>> vote.score({"a": 2.5, "b": 2.5, "c": 1.5})  # beats the first two by majority
        0.6666666666666666
    """

    def __init__(self, members: Sequence[str], method: str = "mean_rank",
                 reference: Mapping[str, Sequence[float] | np.ndarray] | None = None,
                 weights: Sequence[float] | None = None) -> None:
        members = list(members)
        if len(members) < 2 or len(set(members)) != len(members):
            raise InputError(f"RankEnsemble.members: expected two or more distinct proxy names, got {members}")
        if method not in METHODS:
            raise InputError(f"RankEnsemble.method: unknown {method!r}; choose from {', '.join(METHODS)}")
        self.members = members
        self.method = method
        self.weights = None
        if weights is not None:
            weights = np.asarray(weights, dtype=float)
            if method != "mean_rank" or weights.shape != (len(members),) or not np.all(weights >= 0) \
                    or not weights.sum() > 0:
                raise InputError(f"RankEnsemble.weights: expected {len(members)} non-negative weights, not all zero, "
                                 f"for method 'mean_rank'; got {weights.tolist()} for {method!r}")
            self.weights = weights / weights.sum()
        self.reference = None
        if reference is not None:
            missing = [m for m in members if m not in reference]
            if missing:
                raise InputError(f"RankEnsemble.reference: no scores for {', '.join(missing)}")
            table = np.column_stack([np.asarray(reference[m], dtype=float) for m in members])
            self.reference = table[np.all(np.isfinite(table), axis=1)]
            if len(self.reference) < 2:
                raise InputError("RankEnsemble.reference: fewer than two architectures with every member finite")

    @property
    def name(self) -> str:
        """``"vote"`` for Abdelfattah et al.'s members, else ``"method(member+member+...)"``."""
        if self.method == "vote" and tuple(self.members) == VOTE_MEMBERS:
            return "vote"
        if self.weights is not None:
            return f"weighted_rank({'+'.join(f'{w:.3g}*{m}' for w, m in zip(self.weights, self.members, strict=True))})"
        return f"{self.method}({'+'.join(self.members)})"

    def combine(self, scores: Mapping[str, Sequence[float] | np.ndarray]) -> np.ndarray:
        """Each architecture's ensemble score within the population ``scores`` (``{member: values}``).

        Returns:
            Fractions in [0, 1]; NaN for an architecture where a member is not finite (the
            others are then ranked among themselves).
        """
        table = self._table(scores)
        finite = np.all(np.isfinite(table), axis=1)
        result = np.full(len(table), np.nan)
        if finite.sum() < 2:
            return result
        kept = table[finite]
        if self.method == "mean_rank":
            ranks = np.column_stack([(average_ranks(column) - 1) / (len(kept) - 1) for column in kept.T])
            result[finite] = ranks @ self._mean_weights
        else:
            wins = np.concatenate([_majority_wins(kept[start:start + _BLOCK], kept).sum(axis=1)
                                   for start in range(0, len(kept), _BLOCK)])
            result[finite] = (wins - 0.5) / (len(kept) - 1)  # an architecture ties itself: remove that half win
        return result

    def score(self, member_scores: Mapping[str, float]) -> float:
        """One candidate's ensemble score against the reference population.

        Args:
            member_scores: ``{member: score}`` of the candidate, every member present and finite.

        Raises:
            ValueError: No reference, or a member missing or not finite.
        """
        if self.reference is None:
            raise InputError("RankEnsemble.score: no reference population; pass reference= "
                             "(e.g. nas.proxies.reference_scores()) or use combine() on a population")
        missing = [m for m in self.members if m not in member_scores or not np.isfinite(member_scores[m])]
        if missing:
            raise InputError(f"RankEnsemble.score: no finite score for {', '.join(missing)}")
        candidate = np.array([[float(member_scores[m]) for m in self.members]])
        if self.method == "vote":
            return float(_majority_wins(candidate, self.reference).mean())
        below = (candidate > self.reference) + 0.5 * (candidate == self.reference)
        return float(below.mean(axis=0) @ self._mean_weights)

    @property
    def _mean_weights(self) -> np.ndarray:
        return self.weights if self.weights is not None else np.full(len(self.members), 1 / len(self.members))

    def _table(self, scores: Mapping[str, Sequence[float] | np.ndarray]) -> np.ndarray:
        missing = [m for m in self.members if m not in scores]
        if missing:
            raise InputError(f"RankEnsemble: no scores for {', '.join(missing)}")
        columns = [np.asarray(scores[m], dtype=float) for m in self.members]
        if len({column.shape for column in columns}) != 1 or columns[0].ndim != 1:
            raise InputError(f"RankEnsemble: member scores must be 1-D arrays of one length, got "
                             f"{[column.shape for column in columns]}")
        return np.column_stack(columns)


def _majority_wins(rows: np.ndarray, population: np.ndarray) -> np.ndarray:
    """``wins[i, j]``: 1 if most members score ``rows[i]`` above ``population[j]``, 1/2 on an even verdict, else 0."""
    difference = rows[:, None, :] - population[None, :, :]
    votes = (difference > 0).sum(axis=2) + 0.5 * (difference == 0).sum(axis=2)
    half = rows.shape[1] / 2
    return (votes > half) + 0.5 * (votes == half)
