"""Compute-optimal allocation: the (N, D) that minimises a law's loss for a FLOP budget C = 6·N·D.

The law's own optimum comes from ``scalinglab.laws.optimal`` (Hoffmann et al.'s closed form, arXiv:2203.15556 Eq. 4,
for Chinchilla; a 1-D search otherwise). Here: the planner's scalar ``Allocation``; a power-law frontier
N_opt = k·C^a fixed by a published exponent and one anchor point (e.g. Chinchilla Approach 1, Table 3); and the
scan-and-refine minimiser the inference-aware and data-constrained planners use for their own objectives.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from scalinglab.errors import InputError, require_positive
from scalinglab.laws import FLOPS_PER_PARAM_TOKEN, Law
from scalinglab.laws.optimal import compute_optimal as law_optimum
from scalinglab.laws.optimal import scan_and_refine


@dataclass(frozen=True)
class Allocation:
    flops: float
    n_params: float
    n_tokens: float
    loss: float | None
    method: str

    @property
    def tokens_per_param(self) -> float:
        return self.n_tokens / self.n_params

    def to_dict(self) -> dict:
        return {**asdict(self), "tokens_per_param": self.tokens_per_param}


def minimise_over_n_params(loss_of_log_n, centre_log_n: float, half_width: float = 12.0,
                           n_grid: int = 481) -> float:
    """argmin over log N of a 1-D objective that may have kinks (scan, then Brent; ``laws.optimal``). Returns log N;
    an optimum on the edge of the scan is reported as an error, not returned."""
    x, on_edge = scan_and_refine(loss_of_log_n, centre_log_n - half_width, centre_log_n + half_width,
                                 n_grid=n_grid, xatol=1e-9)
    if on_edge:
        raise InputError(f"the optimum lies at the edge of the scanned sizes (N ≈ {np.exp(x):.3g}); "
                         "the law has no interior optimum here")
    return x


def compute_optimal(law: Law, flops: float, **extra_inputs) -> Allocation:
    """The compute-optimal (N, D) for one budget under ``law`` (extra law inputs such as ``unique_tokens`` pass on);
    delegates to ``scalinglab.laws.optimal`` — closed form for Chinchilla, a bounded 1-D search otherwise."""
    c = require_positive("flops", flops)
    res = law_optimum(law, c, **extra_inputs)
    return Allocation(flops=c, n_params=float(res.n_params), n_tokens=float(res.n_tokens), loss=float(res.loss),
                      method=res.method)


@dataclass(frozen=True)
class PowerLawFrontier:
    """N_opt = n_coefficient · C^a and D_opt = C / (6·N_opt): the allocation rule implied by a published exponent.

    Hoffmann et al. 2022 report a and b per approach (Table 2); Table 3 lists the allocations they imply.
    """

    a: float
    n_coefficient: float

    def __post_init__(self):
        if not 0.0 < self.a < 1.0:
            raise InputError(f"frontier exponent a must lie in (0, 1), got {self.a}")
        require_positive("n_coefficient", self.n_coefficient)

    @classmethod
    def through(cls, a: float, flops: float, n_params: float) -> "PowerLawFrontier":
        """The frontier with exponent ``a`` passing through one published (C, N) point."""
        return cls(a=a, n_coefficient=require_positive("n_params", n_params) / require_positive("flops", flops) ** a)

    def allocate(self, flops: float) -> Allocation:
        c = require_positive("flops", flops)
        n = self.n_coefficient * c ** self.a
        return Allocation(flops=c, n_params=n, n_tokens=c / (FLOPS_PER_PARAM_TOKEN * n), loss=None,
                          method=f"power-law frontier N ∝ C^{self.a:g}")

    def flops_for(self, n_params: float) -> float:
        """Inverse: the compute budget for which ``n_params`` is optimal."""
        return (require_positive("n_params", n_params) / self.n_coefficient) ** (1.0 / self.a)
