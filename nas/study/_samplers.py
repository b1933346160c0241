"""Optuna samplers a study file can name, as a registry of seeded factories.

Constraints need no wiring: each trial records them with ``Trial.set_constraint`` and
Optuna 5's NSGA-II/III, TPE and GP samplers read them from ``FrozenTrial.constraints``
(random search ignores them; the results dataset marks infeasible trials either way).
"""

from __future__ import annotations

from collections.abc import Callable

import optuna

from nas._errors import InputError

SamplerFactory = Callable[[int, int], optuna.samplers.BaseSampler]
"""``(seed, population_size) -> sampler``."""


def _nsga2(seed: int, population_size: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.NSGAIISampler(population_size=population_size, seed=seed)


def _nsga3(seed: int, population_size: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.NSGAIIISampler(population_size=population_size, seed=seed)


def _tpe(seed: int, population_size: int) -> optuna.samplers.BaseSampler:
    # Multivariate TPE models the joint density of the parameters; grouping lets it do so for the
    # conditional hardware parameters that only some presets have.
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)


def _gp(seed: int, population_size: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GPSampler(seed=seed, deterministic_objective=True)


def _random(seed: int, population_size: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


SAMPLERS: dict[str, SamplerFactory] = {
    "nsga2": _nsga2,
    "nsga3": _nsga3,
    "tpe": _tpe,
    "gp": _gp,
    "random": _random,
}
"""Sampler names a study file may give in ``[study] sampler``."""


def make_sampler(name: str, *, seed: int, population_size: int = 50) -> optuna.samplers.BaseSampler:
    """A seeded sampler by name.

    Args:
        name: One of :data:`SAMPLERS`: ``nsga2`` (default of study files), ``nsga3``,
            ``tpe`` (multivariate), ``gp`` or ``random``.
        seed: Seed of the sampler's random state.
        population_size: Generation size of the genetic samplers (ignored by the others).

    Example:
        >>> type(make_sampler("nsga3", seed=0)).__name__
        'NSGAIIISampler'
    """
    try:
        factory = SAMPLERS[name]
    except KeyError:
        raise InputError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}") from None
    return factory(seed, population_size)
