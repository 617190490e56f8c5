"""Compute-optimal allocation: the (N, D) that minimises a law's loss for a FLOP budget C = 6·N·D."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from scalinglab.errors import InputError
from scalinglab.laws.forms import FLOPS_PER_PARAM_TOKEN, Chinchilla, Law


@dataclass(frozen=True)
class Allocation:
    """Compute-optimal allocation for each budget (arrays shaped like ``flops``)."""

    flops: np.ndarray
    n_params: np.ndarray
    n_tokens: np.ndarray
    loss: np.ndarray
    method: str

    @property
    def tokens_per_param(self) -> np.ndarray:
        return self.n_tokens / self.n_params

    def rows(self) -> list[dict]:
        return [{"flops": float(c), "n_params": float(n), "n_tokens": float(d), "tokens_per_param": float(d / n),
                 "loss": float(l)} for c, n, d, l in zip(np.ravel(self.flops), np.ravel(self.n_params),
                                                         np.ravel(self.n_tokens), np.ravel(self.loss))]


def _check_law(law: Law) -> None:
    if not ({"n_params", "n_tokens"} <= set(law.inputs)):
        raise InputError(f"law '{law.name}' depends on {', '.join(law.inputs)} only; a compute-optimal split of "
                         "N and D needs a law of both (e.g. chinchilla, kaplan, data_constrained)")


def compute_optimal(law: Law, flops, **extra) -> Allocation:
    """N_opt, D_opt and the loss at the optimum for each FLOP budget.

    Closed form for Chinchilla (Hoffmann et al. 2022 Eq. 4); otherwise a numeric minimisation over log N with
    D = C/(6N), any further inputs (e.g. ``unique_tokens`` for the data-constrained law) held fixed.
    """
    _check_law(law)
    C = np.asarray(flops, dtype=float)
    if not np.all(np.isfinite(C)) or np.any(C <= 0):
        raise InputError("FLOP budgets must be finite and > 0")
    if isinstance(law, Chinchilla) and not extra:
        if not (law.alpha > 0 and law.beta > 0):
            # The loss must fall with both N and D for a finite optimum; a degenerate fit (e.g. alpha < 0) has none.
            raise InputError(f"law 'chinchilla' with alpha={law.alpha:.3g}, beta={law.beta:.3g} has no compute-optimal "
                             "allocation: both exponents must be > 0")
        N = law.optimal_n_params(C)
        if not (np.all(N >= 1.0) and np.all(C / FLOPS_PER_PARAM_TOKEN >= N)):  # N_opt or D_opt below one
            raise InputError(f"FLOP budget {float(np.min(C)):.3g} is too small to allocate (under 1 parameter or token)")
        D = C / (FLOPS_PER_PARAM_TOKEN * N)
        return Allocation(C, N, D, law.predict(n_params=N, n_tokens=D), "closed form (Hoffmann et al. 2022 Eq. 4)")
    missing = [k for k in law.inputs if k not in ("n_params", "n_tokens") and k not in extra]
    if missing:
        raise InputError(f"law '{law.name}' also needs {', '.join(missing)} for an allocation")
    flat = np.ravel(C)
    N = np.empty_like(flat)
    for i, c in enumerate(flat):
        N[i] = _argmin_n(law, c, {k: np.asarray(v, float) for k, v in extra.items()})
    N = N.reshape(C.shape)
    D = C / (FLOPS_PER_PARAM_TOKEN * N)
    return Allocation(C, N, D, law.predict(n_params=N, n_tokens=D, **extra), "numeric (bounded 1-D search)")


def _argmin_n(law: Law, c: float, extra: dict) -> float:
    if not c / FLOPS_PER_PARAM_TOKEN > 1.0:  # also a subnormal budget whose ratio underflows to 0
        raise InputError(f"FLOP budget {c:.3g} is too small to allocate (under 1 parameter or token)")
    half = 0.5 * np.log(c / FLOPS_PER_PARAM_TOKEN)
    lo, hi = max(half - 25.0, 0.0), 2 * half  # N ≥ 1 and D ≥ 1
    if hi <= lo:
        raise InputError(f"FLOP budget {c:.3g} is too small to allocate")

    def loss_at(x):
        n = np.exp(x)
        return float(np.log(law.predict(n_params=n, n_tokens=c / (FLOPS_PER_PARAM_TOKEN * n), **extra)))

    x, _ = scan_and_refine(loss_at, lo, hi, n_grid=801, xatol=1e-10)
    return float(np.exp(x))


def scan_and_refine(objective, lo: float, hi: float, *, n_grid: int, xatol: float) -> tuple[float, bool]:
    """argmin of a 1-D objective that may have kinks: an even scan of [lo, hi], then Brent inside the best bracket.
    Returns (x, on_edge) where ``on_edge`` says the scan's best point was an end of the range."""
    grid = np.linspace(lo, hi, n_grid)
    values = np.array([objective(x) for x in grid])
    finite = np.isfinite(values)
    if not finite.any():
        raise InputError("no finite objective anywhere in the scanned range of model sizes")
    k = int(np.argmin(np.where(finite, values, np.inf)))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, n_grid - 1)]
    res = minimize_scalar(objective, bounds=(a, b), method="bounded", options={"xatol": xatol})
    return (float(res.x) if res.fun <= values[k] else float(grid[k])), k in (0, n_grid - 1)


def optimal_exponents(law: Law, flops: float, **extra) -> tuple[float, float]:
    """Local exponents a = d ln N_opt / d ln C and b = d ln D_opt / d ln C at a budget (exact for Chinchilla)."""
    if isinstance(law, Chinchilla) and not extra:
        return law.a_exponent, law.b_exponent
    h = 0.05
    alloc = compute_optimal(law, np.array([flops * np.exp(-h), flops * np.exp(h)]), **extra)
    a = float(np.diff(np.log(alloc.n_params))[0] / (2 * h))
    return a, 1.0 - a
