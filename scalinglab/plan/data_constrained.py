"""Data-constrained allocation (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models",
arXiv:2305.16264): with only U unique tokens, how large a model and how many epochs for a FLOP budget, and what
does each further epoch still buy?

The law's effective data D' = U + U·R_D*·(1 − exp(−R_D/R_D*)) with R_D = D/U − 1 repeated epochs (their Eq. 5)
makes a token seen in epoch e worth dD'/dD = exp(−(e − 1)/R_D*) of a fresh one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from scalinglab.errors import InputError, require_positive
from scalinglab.laws import FLOPS_PER_PARAM_TOKEN, Chinchilla, DataConstrained
from scalinglab.plan.allocation import minimise_over_n_params


@dataclass(frozen=True)
class EpochReturn:
    epoch: int  # 1 = the first pass over the unique tokens
    n_tokens: float  # cumulative training tokens at the end of this epoch
    loss: float  # predicted loss at the plan's model size after this epoch
    loss_gain: float | None  # loss removed by this epoch (None for the first)
    token_worth: float  # value of a token at the start of this epoch relative to a fresh one
    extra_flops: float  # FLOPs this epoch costs at the plan's model size


@dataclass(frozen=True)
class DataConstrainedPlan:
    flops: float
    unique_tokens: float
    n_params: float
    n_tokens: float
    loss: float
    unconstrained_loss: float  # the same law and budget if every token were fresh
    epoch_returns: tuple[EpochReturn, ...]

    @property
    def epochs(self) -> float:
        return self.n_tokens / self.unique_tokens

    def to_dict(self) -> dict:
        out = asdict(self)
        out["epochs"] = self.epochs
        return out


def data_constrained_optimal(flops: float, unique_tokens: float, law: DataConstrained | None = None,
                             extra_epochs: int = 4) -> DataConstrainedPlan:
    """Loss-minimising (N, D) for ``flops`` with ``unique_tokens`` of data, and the marginal return of each epoch
    up to ``extra_epochs`` past the optimum. Default law: Muennighoff et al.'s published C4 fit."""
    c = require_positive("flops", flops)
    u = require_positive("unique tokens", unique_tokens)
    if int(extra_epochs) != extra_epochs or extra_epochs < 0:
        raise InputError(f"extra_epochs must be a whole number ≥ 0, got {extra_epochs!r}")
    law = DataConstrained.published() if law is None else law

    def loss_at(n, d):
        # the law's U is the unique data actually seen: a run shorter than one epoch sees only D of the U tokens
        return float(law.predict(n_params=n, n_tokens=d, unique_tokens=min(u, d)))

    def objective(log_n):
        n = float(np.exp(log_n))
        return loss_at(n, c / (FLOPS_PER_PARAM_TOKEN * n))

    n = float(np.exp(minimise_over_n_params(objective, 0.5 * np.log(c / FLOPS_PER_PARAM_TOKEN))))
    d = c / (FLOPS_PER_PARAM_TOKEN * n)
    base = Chinchilla(E=law.E, A=law.A, B=law.B, alpha=law.alpha, beta=law.beta)  # every token fresh
    n_fresh = float(base.optimal_n_params(c))
    unconstrained = float(base.predict(n_params=n_fresh, n_tokens=c / (FLOPS_PER_PARAM_TOKEN * n_fresh)))

    last = max(1, math.ceil(d / u)) + int(extra_epochs)
    rows, previous = [], None
    for epoch in range(1, last + 1):
        loss = loss_at(n, epoch * u)
        rows.append(EpochReturn(epoch=epoch, n_tokens=epoch * u, loss=loss,
                                loss_gain=None if previous is None else previous - loss,
                                token_worth=float(np.exp(-(epoch - 1) / max(law.R_D_star, 1e-9))),
                                extra_flops=FLOPS_PER_PARAM_TOKEN * n * u))
        previous = loss
    return DataConstrainedPlan(flops=c, unique_tokens=u, n_params=n, n_tokens=d, loss=loss_at(n, d),
                               unconstrained_loss=unconstrained, epoch_returns=tuple(rows))
