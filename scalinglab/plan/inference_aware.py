"""Inference-aware sizing (Sardana et al. 2023, "Beyond Chinchilla-Optimal", arXiv:2401.00448).

For a target loss ℓ and a lifetime of D_inf inference tokens, choose N and training tokens D_tr to minimise
total FLOPs 6·N·D_tr + 2·N·D_inf subject to L(N, D_tr) = ℓ. Along the constraint D_tr is a function of N, so the
problem is one-dimensional in N. The Chinchilla-optimal model for the same loss is the D_inf = 0 case.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import brentq

from scalinglab.errors import InputError, require_positive
from scalinglab.laws import FLOPS_PER_PARAM_TOKEN, Chinchilla, Law
from scalinglab.plan.allocation import minimise_over_n_params

INFER_FLOPS_PER_PARAM_TOKEN = 2.0  # forward only (Sardana et al. 2023, Sec. 2)
_LOG_D_RANGE = (np.log(1e3), np.log(1e40))


@dataclass(frozen=True)
class InferenceAwarePlan:
    target_loss: float
    inference_tokens: float
    n_params: float
    n_tokens: float  # training tokens
    training_flops: float
    inference_flops: float
    chinchilla_n_params: float  # the training-compute-optimal model reaching the same loss
    chinchilla_n_tokens: float
    chinchilla_total_flops: float  # its training + the same inference load

    @property
    def total_flops(self) -> float:
        return self.training_flops + self.inference_flops

    @property
    def tokens_per_param(self) -> float:
        return self.n_tokens / self.n_params

    @property
    def flops_saved(self) -> float:
        return self.chinchilla_total_flops - self.total_flops

    def to_dict(self) -> dict:
        return {**asdict(self), "total_flops": self.total_flops, "tokens_per_param": self.tokens_per_param,
                "flops_saved": self.flops_saved}


def training_tokens_for_loss(law: Law, n_params: float, target_loss: float) -> float:
    """D with L(N, D) = ℓ, or inf when N is too small to reach ℓ with any amount of data."""
    if isinstance(law, Chinchilla):
        gap = target_loss - law.E - law.A / n_params ** law.alpha
        return float((law.B / gap) ** (1.0 / law.beta)) if gap > 0 else float("inf")

    def excess(log_d):
        return float(np.log(law.predict(n_params=n_params, n_tokens=np.exp(log_d)))) - np.log(target_loss)

    lo, hi = _LOG_D_RANGE
    if excess(hi) > 0:
        return float("inf")
    if excess(lo) < 0:
        return float(np.exp(lo))
    return float(np.exp(brentq(excess, lo, hi, xtol=1e-12)))


def _optimum(law: Law, target_loss: float, inference_tokens: float) -> tuple[float, float]:
    def total(log_n):
        n = float(np.exp(log_n))
        d = training_tokens_for_loss(law, n, target_loss)
        if not np.isfinite(d):
            return float("inf")
        return float(np.log(FLOPS_PER_PARAM_TOKEN * n * d + INFER_FLOPS_PER_PARAM_TOKEN * n * inference_tokens))

    if isinstance(law, Chinchilla):  # smallest N that can reach ℓ at all; the optimum lies above it
        centre = np.log(law.A / (target_loss - law.E)) / law.alpha + 6.0
    else:
        centre = np.log(1e10)
    log_n = minimise_over_n_params(total, centre, half_width=14.0, n_grid=1121)
    n = float(np.exp(log_n))
    return n, training_tokens_for_loss(law, n, target_loss)


def inference_aware(law: Law, target_loss: float, inference_tokens: float = 0.0) -> InferenceAwarePlan:
    """Sardana et al.'s optimum for ``target_loss`` (nats/token) served over ``inference_tokens`` tokens."""
    loss = require_positive("target loss", target_loss)
    d_inf = float(inference_tokens)
    if not (d_inf >= 0 and np.isfinite(d_inf)):
        raise InputError(f"inference tokens must be a finite number ≥ 0, got {inference_tokens!r}")
    if "n_params" not in law.inputs or "n_tokens" not in law.inputs:
        raise InputError(f"law '{law.name}' does not depend on both N and D; inference-aware sizing needs both")
    floor = getattr(law, "E", None)
    if floor is not None and loss <= floor:
        raise InputError(f"infeasible: target loss {loss:g} is at or below the law's irreducible loss E = {floor:.4g}")
    if set(law.inputs) <= {"n_params", "n_tokens"}:  # a target even a 1-parameter, 1-token model beats: no optimum
        ceiling = float(law.predict(n_params=1.0, n_tokens=1.0))
        if loss >= ceiling:
            raise InputError(f"target loss {loss:g} is above the law's loss for 1 parameter and 1 token "
                             f"({ceiling:.4g}): any model reaches it")
    n, d = _optimum(law, loss, d_inf)
    n0, d0 = _optimum(law, loss, 0.0) if d_inf > 0 else (n, d)
    return InferenceAwarePlan(
        target_loss=loss, inference_tokens=d_inf, n_params=n, n_tokens=d,
        training_flops=FLOPS_PER_PARAM_TOKEN * n * d, inference_flops=INFER_FLOPS_PER_PARAM_TOKEN * n * d_inf,
        chinchilla_n_params=n0, chinchilla_n_tokens=d0,
        chinchilla_total_flops=FLOPS_PER_PARAM_TOKEN * n0 * d0 + INFER_FLOPS_PER_PARAM_TOKEN * n0 * d_inf)
