"""What the shipped 1,000-cell run measured for a proxy or an ensemble, the learned one included."""

from __future__ import annotations

from typing import Any

from nas._errors import InputError
from nas.proxies._benchmark_data import _fidelity_toml, reference_settings
from nas.proxies._learned import learned_fidelity


def measured_fidelity(proxy: str, dataset: str = "cifar10") -> dict[str, Any]:
    """Rank correlation of ``proxy`` (or an ensemble) with NB201 accuracy, as measured by the shipped 1,000-cell run.

    Args:
        proxy: A proxy name or an ensemble name (``"vote"``, ``"mean_rank(...)"``, ``"learned"``: its
            held-out correlation, :func:`~nas.proxies.learned_fidelity`).
        dataset: The benchmark accuracy correlated with (the proxies ran on the CIFAR-10 network).

    Returns:
        ``{"spearman_rho", "kendall_tau", "n_archs", "command", ...}`` (the run's settings
        from :func:`reference_settings` included).

    Raises:
        ValueError: Nothing measured for that proxy or dataset.
    """
    if proxy == "learned":
        return learned_fidelity(dataset)
    measured = _fidelity_toml()["measured"]
    try:
        values = measured["fidelity"][dataset][proxy]
    except KeyError:
        known = sorted(measured["fidelity"].get(dataset, {}))
        raise InputError(f"measured_fidelity: nothing measured for {proxy!r} on {dataset!r}; "
                         f"measured: {', '.join(known)}") from None
    return {**reference_settings(), **values}
