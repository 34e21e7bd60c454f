"""The shared decompositions' settings record (bilin decompose method=hosvd|cp), torch-free so that
`--help` stays fast; bilin.analysis.cp and bilin.analysis.shared_decomposition read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bilin.settings.schema import key, seed_key

Method = Literal["eigen", "hosvd", "cp"]


@dataclass
class SharedSettings:
    """Which decomposition, and how the CP is fitted."""

    method: Method = key(
        "eigen", "eigen: per-class eigenvectors; hosvd: the class x input x input tensor's HOSVD; cp: a rank-R CP"
    )
    rank: int = key(30, "method=cp: components R shared across classes", ge=1)
    cp_steps: int = key(500, "method=cp: L-BFGS iterations at most", ge=1)
    cp_ridge: float = key(
        0.01, "method=cp: ridge on the class weights (relative; keeps components from pairing up)", ge=0
    )
    cp_seed: int = seed_key(0, "method=cp: seed of the random start")
