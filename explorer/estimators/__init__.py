"""Estimators that inherit weights instead of training each candidate from scratch: Net2Net growth
with EAS-style fine-tuning, SMASH hypernetworks and one-shot weight sharing (NB201), plus how well
each ranks architectures (`ranking`)."""

from ._common import EstimatorError, Split, cifar_split
from .eas import EASConfig, EASJob, EASResult, eas_estimate
from .net2net import (
    Net2NetError,
    candidate_actions,
    deepen_problem,
    load_weights,
    net2deeper,
    net2wider,
    widen_problem,
)
from .oneshot_nb201 import NB201Supernet, OneShotConfig, OneShotJob
from .ranking import ESTIMATORS, load_ranking, spearman
from .smash import SmashConfig, SmashJob, SmashNB201

__all__ = [
    "ESTIMATORS",
    "EASConfig",
    "EASJob",
    "EASResult",
    "EstimatorError",
    "NB201Supernet",
    "Net2NetError",
    "OneShotConfig",
    "OneShotJob",
    "SmashConfig",
    "SmashJob",
    "SmashNB201",
    "Split",
    "candidate_actions",
    "cifar_split",
    "deepen_problem",
    "eas_estimate",
    "load_ranking",
    "load_weights",
    "net2deeper",
    "net2wider",
    "spearman",
    "widen_problem",
]
