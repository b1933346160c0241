"""Zero-cost accuracy proxies, computed on an untrained (possibly compressed) torch module.

Proxies: ``synflow``, ``snip``, ``grasp``, ``grad_norm``, ``fisher``, ``jacob_cov``,
``naswot``, ``zen``, and the baselines ``params`` and ``flops``. Batches come from a
batch source (:func:`get_batch_source`); rank ensembles combine proxies
(:class:`RankEnsemble`; fitted weights: :func:`learned_ensemble`); :func:`proxy_fidelity`
measures how well each ranks NAS-Bench-201 cells against their trained accuracy.

Example:
    >>> from nas.proxies import get_proxy
    >>> get_proxy("synflow").name
    'synflow'
"""

from nas.proxies._base import Proxy, ProxyError
from nas.proxies._batches import (
    Batch,
    BatchSource,
    DigitsBatches,
    ImageFolderBatches,
    MnistBatches,
    NpzBatches,
    SyntheticBatches,
    get_batch_source,
    list_batch_sources,
)
from nas.proxies._benchmark_data import (
    ensemble_fidelity,
    published_fidelity,
    published_scores,
    reference_scores,
    reference_settings,
)
from nas.proxies._ensemble import RankEnsemble
from nas.proxies._fidelity import fidelity_dataset, format_fidelity, proxy_fidelity, score_cells
from nas.proxies._fisher import FisherProxy
from nas.proxies._flops import FlopsProxy
from nas.proxies._grad_norm import GradNormProxy
from nas.proxies._grasp import GraspProxy
from nas.proxies._jacob_cov import JacobCovProxy
from nas.proxies._learned import (
    fit_learned_ensemble,
    learned_ensemble,
    learned_fidelity,
    shipped_learned_ensemble,
    write_learned_ensemble,
)
from nas.proxies._measured import measured_fidelity
from nas.proxies._naswot import NaswotProxy
from nas.proxies._params import ParamsProxy
from nas.proxies._pass import ForwardPass, PassProxy
from nas.proxies._ranks import average_ranks, kendall_tau, spearman_rho
from nas.proxies._registry import get_proxy, list_proxies
from nas.proxies._scoring import score_proxies
from nas.proxies._snip import SnipProxy
from nas.proxies._synflow import SynflowProxy
from nas.proxies._zen import ZenProxy

__all__ = [
    "Batch",
    "BatchSource",
    "DigitsBatches",
    "MnistBatches",
    "FisherProxy",
    "FlopsProxy",
    "ForwardPass",
    "GradNormProxy",
    "GraspProxy",
    "ImageFolderBatches",
    "JacobCovProxy",
    "NaswotProxy",
    "NpzBatches",
    "ParamsProxy",
    "PassProxy",
    "Proxy",
    "ProxyError",
    "RankEnsemble",
    "SnipProxy",
    "SynflowProxy",
    "SyntheticBatches",
    "ZenProxy",
    "average_ranks",
    "ensemble_fidelity",
    "fidelity_dataset",
    "fit_learned_ensemble",
    "format_fidelity",
    "get_batch_source",
    "get_proxy",
    "kendall_tau",
    "learned_ensemble",
    "learned_fidelity",
    "list_batch_sources",
    "list_proxies",
    "measured_fidelity",
    "proxy_fidelity",
    "published_fidelity",
    "published_scores",
    "reference_scores",
    "reference_settings",
    "score_cells",
    "score_proxies",
    "shipped_learned_ensemble",
    "spearman_rho",
    "write_learned_ensemble",
]
