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
        return cls(**exp_params(E=e, A=a, B=b), alpha=al, beta=be,
                   R_D_star=rd, R_N_star=rn)

    @classmethod
    def published(cls) -> "DataConstrained":
        """The paper's fit on C4 (datablations notebook `parametric_fit.ipynb`; README "Parametric Fit"):
        base a, b, e, α, β = 6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596; R_D* = 15.387756, R_N* = 5.309743."""
        return cls.from_theta([6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596, 15.387756, 5.309743])

    @staticmethod
    def effective(theta: np.ndarray, X: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Effective parameters N' and data D' [B, n] for a batch of theta [B, 7]."""
        a, b, _, al, be, rd, rn = (theta[:, i, None] for i in range(7))
        N, D = X["n_params"][None, :], X["n_tokens"][None, :]
        U = np.minimum(X["unique_tokens"][None, :], D)  # U_D: unique tokens actually seen, at most D (Eq. 5)
        rd, rn = np.maximum(rd, _R_FLOOR), np.maximum(rn, _R_FLOOR)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # U_N = min(N, N_opt(C(U_D))) with N_opt(C(U)) = G·(G·U)^(β/α), G = (αA/(βB))^(1/(α+β)) (paper App. A)
            log_G = (np.log(al) + a - np.log(be) - b) / (al + be)
            U_N = np.minimum(N, np.exp(log_G + (be / al) * (log_G + np.log(U))))
            R_D = np.maximum(D / U - 1.0, 0.0)
            R_N = np.maximum(N / U_N - 1.0, 0.0)
            D_eff = U + U * rd * (1.0 - np.exp(-R_D / rd))
            N_eff = U_N + U_N * rn * (1.0 - np.exp(-R_N / rn))
        return N_eff, D_eff

    @classmethod
    def log_predict(cls, theta, X):
        N_eff, D_eff = cls.effective(theta, X)
        a, b, e, al, be = (theta[:, i, None] for i in range(5))
        u = np.stack([a - al * np.log(N_eff), b - be * np.log(D_eff), np.broadcast_to(e, N_eff.shape)], axis=-1)
        return _logsumexp(u)

    @classmethod
    def default_grid(cls):
        """Base parameters are usually held fixed (see ``fit``); R_D*, R_N* start on the datablations grid
        {0, 6.67, 13.33, 20}² (0 is the limit R* → 0)."""
        r = np.linspace(0.0, 20.0, 4)
        base = np.array([6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596])
        return np.array([[*base, rd, rn] for rd in r for rn in r])
