"""Data-constrained scaling law (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models", arXiv:2305.16264).

Repeated tokens and excess parameters are worth less than fresh ones; Eq. 5 replaces N and D in the Chinchilla form by
effective counts that saturate with repetition:

    D' = U_D + U_D·R_D*·(1 − exp(−R_D/R_D*)),   R_D = max(D/U_D − 1, 0),  U_D = min(U, D)   (repeated epochs)
    N' = U_N + U_N·R_N*·(1 − exp(−R_N/R_N*)),   R_N = max(N/U_N − 1, 0),
    U_N = min(N, N_opt(C(U_D)))   — the compute-optimal size for the unique data under the base law.
    L  = E + A/N'^α + B/D'^β
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from scalinglab.laws.forms import Law, _grid, _logsumexp, exp_params

_R_FLOOR = 1e-9  # R* → 0 means "repetition is worthless": D' → U_D (the limit is finite)


@dataclass(frozen=True)
class DataConstrained(Law):
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    R_D_star: float
    R_N_star: float

    name: ClassVar[str] = "data_constrained"
    formula: ClassVar[str] = "L = E + A/N'^alpha + B/D'^beta  (N', D' effective; Muennighoff et al. 2023 Eq. 5)"
    inputs: ClassVar[tuple[str, ...]] = ("n_params", "n_tokens", "unique_tokens")
    theta_names: ClassVar[tuple[str, ...]] = ("a", "b", "e", "alpha", "beta", "R_D_star", "R_N_star")
    base_theta_index: ClassVar[tuple[int, ...]] = (0, 1, 2, 3, 4)

    def theta(self):
        return np.array([np.log(self.A), np.log(self.B), np.log(self.E), self.alpha, self.beta,
                         self.R_D_star, self.R_N_star])

    @classmethod
    def from_theta(cls, theta):
        a, b, e, al, be, rd, rn = (float(t) for t in theta)
        return cls(**exp_params(E=e, A=a, B=b, exponents={"A": ("alpha", al), "B": ("beta", be)}),
                   alpha=al, beta=be,
                   R_D_star=rd, R_N_star=rn)

    @classmethod
    def published(cls) -> "DataConstrained":
        """The paper's fit on C4 (datablations notebook `parametric_fit.ipynb`; README "Parametric Fit"):
        base a, b, e, α, β = 6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596; R_D* = 15.387756, R_N* = 5.309743."""
        return cls.from_theta([6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596, 15.387756, 5.309743])

    @staticmethod
    def log_effective(theta: np.ndarray, X: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """log N' and log D' [B, n] for a batch of theta [B, 7], computed in logs so that a trial point with a
        tiny A or B (log U_N of -800) stays finite instead of underflowing to log 0."""
        a, b, _, al, be, rd, rn = (theta[:, i, None] for i in range(7))
        N, D = X["n_params"][None, :], X["n_tokens"][None, :]
        log_U = np.log(np.minimum(X["unique_tokens"][None, :], D))  # U_D: unique tokens seen, at most D (Eq. 5)
        rd, rn = np.maximum(rd, _R_FLOOR), np.maximum(rn, _R_FLOOR)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # U_N = min(N, N_opt(C(U_D))) with N_opt(C(U)) = G·(G·U)^(β/α), G = (αA/(βB))^(1/(α+β)) (paper App. A)
            log_G = (np.log(al) + a - np.log(be) - b) / (al + be)
            log_UN = np.minimum(np.log(N), log_G + (be / al) * (log_G + log_U))
            R_D = np.maximum(np.expm1(np.log(D) - log_U), 0.0)
            R_N = np.maximum(np.expm1(np.log(N) - log_UN), 0.0)
            # D' = U + U·R_D*·(1 − e^(−R_D/R_D*)), and N' likewise (Eq. 5), as log U + log1p(R*·(1 − e^(−R/R*)))
            log_D = log_U + np.log1p(-rd * np.expm1(-R_D / rd))
            log_N = log_UN + np.log1p(-rn * np.expm1(-R_N / rn))
        return log_N, log_D

    @classmethod
    def effective(cls, theta: np.ndarray, X: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Effective parameters N' and data D' [B, n] for a batch of theta [B, 7]."""
        log_N, log_D = cls.log_effective(theta, X)
        return np.exp(log_N), np.exp(log_D)

    @classmethod
    def log_predict(cls, theta, X):
        log_N, log_D = cls.log_effective(theta, X)
        a, b, e, al, be = (theta[:, i, None] for i in range(5))
        u = np.stack([a - al * log_N, b - be * log_D, np.broadcast_to(e, log_N.shape)], axis=-1)
        return _logsumexp(u)

    @classmethod
    def default_grid(cls):
        """Base parameters are usually held fixed (see ``fit``); R_D*, R_N* start on the datablations grid
        {0, 6.67, 13.33, 20}² (0 is the limit R* → 0)."""
        r = np.linspace(0.0, 20.0, 4)
        base = np.array([6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596])
        return np.array([[*base, rd, rn] for rd in r for rn in r])
