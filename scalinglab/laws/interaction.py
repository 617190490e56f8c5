"""Chinchilla with an N·D interaction term: L = E + A/N^α + B/D^β + G/(N^α·D^β).

A richer form for forecasts that weigh several laws: at a fixed N the data term's coefficient is B + G/N^α, so how
much more data helps depends on the model size, in the spirit of Farseer (Li et al. 2025, arXiv:2506.10972), where
the data dependence varies with N (this is not Farseer's own parameterisation). With κ = G/(A·B) the form factorises,
L − E = [(1 + κA/N^α)(1 + κB/D^β) − 1]/κ, and G → 0 recovers Chinchilla, so the fit can only improve on it.
Fitted exactly on the batched solver as log L = LSE(a − α log N, b − β log D, e, g − α log N − β log D).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from scalinglab.laws.forms import Chinchilla, Law, _grid, exp_params


@dataclass(frozen=True)
class Interaction(Law):
    E: float
    A: float
    B: float
    G: float
    alpha: float
    beta: float

    name: ClassVar[str] = "interaction"
    formula: ClassVar[str] = "L = E + A/N^alpha + B/D^beta + G/(N^alpha * D^beta)"
    inputs: ClassVar[tuple[str, ...]] = ("n_params", "n_tokens")
    theta_names: ClassVar[tuple[str, ...]] = ("a", "b", "e", "g", "alpha", "beta")

    def theta(self):
        return np.array([np.log(self.A), np.log(self.B), np.log(self.E), np.log(self.G), self.alpha, self.beta])

    @classmethod
    def from_theta(cls, theta):
        a, b, e, g, al, be = (float(t) for t in theta)
        exponents = {"A": ("alpha", al), "B": ("beta", be), "G": ("alpha + beta", al + be)}
        return cls(**exp_params(E=e, A=a, B=b, G=g, exponents=exponents), alpha=al, beta=be)

    @classmethod
    def from_chinchilla(cls, law: Chinchilla, G: float = 1e-3) -> "Interaction":
        """The Chinchilla law with a negligible interaction term: a start that nests the Chinchilla fit."""
        return cls(E=law.E, A=law.A, B=law.B, G=G, alpha=law.alpha, beta=law.beta)

    @classmethod
    def lse_design(cls, X):
        lnN, lnD = np.log(X["n_params"]), np.log(X["n_tokens"])
        M = np.zeros((lnN.size, 4, 6))
        M[:, 0, 0], M[:, 0, 4] = 1.0, -lnN
        M[:, 1, 1], M[:, 1, 5] = 1.0, -lnD
        M[:, 2, 2] = 1.0
        M[:, 3, 3], M[:, 3, 4], M[:, 3, 5] = 1.0, -lnN, -lnD
        return M

    @classmethod
    def default_grid(cls):
        """Hoffmann et al.'s grid, thinned (2,700 starts instead of 4,500 × a new axis): a, b ∈ {0, 6, …, 24};
        e ∈ {−1, 0, 1}; g ∈ {0, 10, 20, 30}; α, β ∈ {0.25, 0.5, 1}."""
        ab = np.arange(0, 25, 6.0)
        exps = [0.25, 0.5, 1.0]
        return _grid(ab, ab, [-1.0, 0.0, 1.0], [0.0, 10.0, 20.0, 30.0], exps, exps)
