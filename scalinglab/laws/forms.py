"""Scaling-law forms: small frozen objects with named parameters and ``predict``.

Each law also exposes the machinery the batched fitter needs: an internal parameter vector ``theta`` (log-sum-exp
parameterisation where the literature uses one), ``log_predict(theta, X)`` vectorised over a batch of parameter
vectors, and a default multi-start grid. Laws whose log-prediction is a log-sum-exp of terms *linear* in theta
(Chinchilla, saturating, single Kaplan power laws) return a design tensor from ``lse_design`` so that the fitter can
use exact gradients and Hessians; the others fall back to finite differences.

Inputs use the project's canonical names: ``n_params`` (N), ``n_tokens`` (D), ``flops`` (C), ``unique_tokens`` (U);
``N=``, ``D=``, ``C=``, ``U=`` are accepted as short aliases. A missing one of N, D, C is derived from C = 6·N·D.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, fields, replace
from typing import ClassVar

import numpy as np

from scalinglab.errors import InputError
from scalinglab.runs.table import FLOPS_PER_PARAM_TOKEN
_ALIASES = {"N": "n_params", "D": "n_tokens", "C": "flops", "U": "unique_tokens"}


def complete_inputs(**given) -> dict[str, np.ndarray]:
    """Canonicalise law inputs (accepting N/D/C/U aliases) and derive the missing one of N, D, C from C = 6ND."""
    out: dict[str, np.ndarray] = {}
    for key, value in given.items():
        if value is None:
            continue
        name = _ALIASES.get(key, key)
        if name not in ("n_params", "n_tokens", "flops", "unique_tokens"):
            raise InputError(f"unknown law input '{key}' (expected n_params/N, n_tokens/D, flops/C, unique_tokens/U)")
        if name in out:
            raise InputError(f"law input '{name}' given twice")
        arr = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise InputError(f"law input '{name}' must be finite and > 0")
        out[name] = arr
    have = {"n_params", "n_tokens", "flops"} & out.keys()
    derived = None
    with np.errstate(over="ignore", under="ignore"):  # an overflow is refused just below, like a given inf
        if have == {"n_params", "n_tokens"}:
            derived, out["flops"] = "flops", FLOPS_PER_PARAM_TOKEN * out["n_params"] * out["n_tokens"]
        elif have == {"n_params", "flops"}:
            derived, out["n_tokens"] = "n_tokens", out["flops"] / (FLOPS_PER_PARAM_TOKEN * out["n_params"])
        elif have == {"n_tokens", "flops"}:
            derived, out["n_params"] = "n_params", out["flops"] / (FLOPS_PER_PARAM_TOKEN * out["n_tokens"])
    if derived is not None and not (np.all(np.isfinite(out[derived])) and np.all(out[derived] > 0)):
        raise InputError(f"law input '{derived}' derived from C = 6·N·D is not a finite number > 0 (the inputs are "
                         "out of range)")
    return out


@dataclass(frozen=True)
class Law:
    """Base class. Subclasses are frozen dataclasses whose fields are the law's public, named parameters."""

    name: ClassVar[str]
    formula: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]
    theta_names: ClassVar[tuple[str, ...]]

    # --- public face -------------------------------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def params(self) -> dict[str, float]:
        # Not dataclasses.asdict: its recursive deep copy dominated a 1,000-resample bootstrap's bookkeeping.
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}

    def predict(self, **inputs) -> np.ndarray:
        """Predicted loss (nats/token) at the given inputs; arrays broadcast, a scalar in gives a 0-d array out."""
        X = complete_inputs(**inputs)
        missing = [k for k in self.inputs if k not in X]
        if missing:
            raise InputError(f"law '{self.name}' needs {', '.join(self.inputs)}; missing {', '.join(missing)}")
        shape = np.broadcast_shapes(*(X[k].shape for k in self.inputs))
        flat = {k: np.broadcast_to(X[k], shape).ravel() for k in self.inputs}
        return np.exp(self.log_predict(self.theta()[None, :], flat)[0]).reshape(shape)

    def __call__(self, **inputs) -> np.ndarray:
        return self.predict(**inputs)

    # --- fitting machinery -------------------------------------------------------------------------------------
    def theta(self) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def from_theta(cls, theta) -> "Law":
        raise NotImplementedError

    @classmethod
    def log_predict(cls, theta: np.ndarray, X: dict[str, np.ndarray]) -> np.ndarray:
        """log L for a batch of parameter vectors ``theta`` [B, P] at n points → [B, n]."""
        M = cls.lse_design(X)
        if M is None:
            raise NotImplementedError
        u = np.einsum("nkp,bp->bnk", M, theta)
        return _logsumexp(u)

    @classmethod
    def lse_design(cls, X: dict[str, np.ndarray]) -> np.ndarray | None:
        """Design tensor M [n, K, P] when log L = LSE_k(M[:, k] · theta); None for other laws."""
        return None

    @classmethod
    def default_grid(cls) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def n_fit_params(cls) -> int:
        return len(cls.theta_names)

    @classmethod
    def irreducible_index(cls) -> int | None:
        """Position in ``theta`` of e = log E, the irreducible loss, which fits keep within 0 < E ≤ the lowest
        observed loss (by convention every law with an E names its log ``e``); None for laws without one."""
        return cls.theta_names.index("e") if "e" in cls.theta_names else None

    @classmethod
    def parameter_map(cls) -> dict[str, int]:
        """Public parameter → the one ``theta`` coordinate that it alone sets (E → e = log E, alpha → alpha).
        Found by moving each parameter of a reference law (once per law: cached); parameters whose coordinates mix
        with others' (Kaplan's c = α·log X_c) are left out, as they cannot be held fixed one by one."""
        return dict(_parameter_map(cls))


@functools.cache
def _parameter_map(cls: type[Law]) -> dict[str, int]:
    ref = cls.from_theta(cls.default_grid().mean(axis=0))
    t0 = ref.theta()
    touched = {}
    for name in cls.param_names():
        moved = replace(ref, **{name: 1.5 * getattr(ref, name) + 0.1}).theta()
        touched[name] = set(np.flatnonzero(moved != t0).tolist())
    return {name: next(iter(idx)) for name, idx in touched.items()
            if len(idx) == 1 and not any(idx & other for o, other in touched.items() if o != name)}


def exp_params(*, exponents: dict[str, float] | None = None, **logs) -> dict[str, float]:
    """exp of fitted log-parameters (A, B, E, …) for ``from_theta``. A log so negative that exp underflows gives the
    smallest positive double instead of 0: the term still vanishes from L, and ``theta()`` stays finite (log 0 =
    -inf would make 0·(-inf) = nan in the log-sum-exp design product). That holds only for a term that falls with
    its input (A/N^α with α ≥ 0, N ≥ 1): ``exponents`` names each coefficient's exponent, and an underflowed
    coefficient whose exponent is negative (its term rises with N or D, and the tiny coefficient was what kept it
    small) is refused, as the law could not be stored. An overflow means the fit ran off to infinity and is
    refused, so no law with an infinite parameter is built."""
    with np.errstate(over="ignore", under="ignore"):
        out = {k: max(float(np.exp(float(v))), _TINY) for k, v in logs.items()}
    for k, v in out.items():
        if not np.isfinite(v):
            raise InputError(f"fitted parameter {k} = exp({float(logs[k]):.4g}) is not a finite number (the fit "
                             "ran off to infinity)")
    for k, (name, exponent) in (exponents or {}).items():
        if float(logs[k]) < _LOG_TINY and exponent < 0:
            raise InputError(f"fitted parameter {k} = exp({float(logs[k]):.4g}) underflows while {name} = "
                             f"{exponent:.4g} < 0 (its term rises with its input): a degenerate fit the runs do "
                             "not pin")
    return out


_TINY = float(np.finfo(float).tiny)
_LOG_TINY = float(np.log(_TINY))


def _logsumexp(u: np.ndarray) -> np.ndarray:
    m = u.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(u - m).sum(axis=-1, keepdims=True)))[..., 0]


def _grid(*axes) -> np.ndarray:
    return np.array(list(itertools.product(*axes)), dtype=float)


# --- Chinchilla ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chinchilla(Law):
    """Hoffmann et al. 2022 (arXiv:2203.15556) Eq. 2: L(N, D) = E + A/N^α + B/D^β.

    Fitted as log L = LSE(a − α log N, b − β log D, e) with A = e^a, B = e^b, E = e^e (App. D.2).
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    name: ClassVar[str] = "chinchilla"
    formula: ClassVar[str] = "L = E + A/N^alpha + B/D^beta"
    inputs: ClassVar[tuple[str, ...]] = ("n_params", "n_tokens")
    theta_names: ClassVar[tuple[str, ...]] = ("a", "b", "e", "alpha", "beta")

    def theta(self):
        return np.array([np.log(self.A), np.log(self.B), np.log(self.E), self.alpha, self.beta])

    @classmethod
    def from_theta(cls, theta):
        a, b, e, al, be = (float(t) for t in theta)
        return cls(**exp_params(E=e, A=a, B=b, exponents={"A": ("alpha", al), "B": ("beta", be)}), alpha=al,
                   beta=be)

    @classmethod
    def lse_design(cls, X):
        lnN, lnD = np.log(X["n_params"]), np.log(X["n_tokens"])
        M = np.zeros((lnN.size, 3, 5))
        M[:, 0, 0], M[:, 0, 3] = 1.0, -lnN
        M[:, 1, 1], M[:, 1, 4] = 1.0, -lnD
        M[:, 2, 2] = 1.0
        return M

    @classmethod
    def default_grid(cls):
        """Hoffmann et al. App. D.2 grid: α, β ∈ {0, 0.5, …, 2}; e ∈ {−1, −0.5, …, 1}; a, b ∈ {0, 5, …, 25}."""
        ab = np.arange(0, 26, 5.0)
        exps = np.arange(0, 2.01, 0.5)
        return _grid(ab, ab, np.arange(-1, 1.01, 0.5), exps, exps)

    # closed-form compute-optimal allocation (Hoffmann et al. Eq. 4)
    @property
    def a_exponent(self) -> float:
        """N_opt ∝ C^a with a = β/(α+β)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b_exponent(self) -> float:
        """D_opt ∝ C^b with b = α/(α+β)."""
        return self.alpha / (self.alpha + self.beta)

    def optimal_n_params(self, flops):
        G = (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))
        return G * (np.asarray(flops, dtype=float) / FLOPS_PER_PARAM_TOKEN) ** self.a_exponent


# --- Kaplan ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _KaplanSingle(Law):
    """L(X) = (X_c / X)^α, fitted as log L = c − α log X with c = α log X_c (linear in theta)."""

    theta_names: ClassVar[tuple[str, ...]] = ("c", "alpha")

    @classmethod
    def _pair(cls, theta):
        c, al = (float(t) for t in theta)
        if al <= 0:
            raise InputError(f"law '{cls.name}': fitted exponent alpha={al:.3g} ≤ 0 (loss does not fall)")
        return al, exp_params(X_c=c / al)["X_c"]

    @classmethod
    def lse_design(cls, X):
        lnX = np.log(X[cls.inputs[0]])
        M = np.zeros((lnX.size, 1, 2))
        M[:, 0, 0], M[:, 0, 1] = 1.0, -lnX
        return M

    @classmethod
    def default_grid(cls):
        return _grid([0.5, 2.0, 5.0], [0.02, 0.1, 0.3])


@dataclass(frozen=True)
class KaplanN(_KaplanSingle):
    """Kaplan et al. 2020 (arXiv:2001.08361) Eq. 1.1: L(N) = (N_c/N)^α_N (N non-embedding, data unlimited)."""

    alpha_N: float
    N_c: float
    name: ClassVar[str] = "kaplan_n"
    formula: ClassVar[str] = "L = (N_c/N)^alpha_N"
    inputs: ClassVar[tuple[str, ...]] = ("n_params",)

    def theta(self):
        return np.array([self.alpha_N * np.log(self.N_c), self.alpha_N])

    @classmethod
    def from_theta(cls, theta):
        al, xc = cls._pair(theta)
        return cls(alpha_N=al, N_c=xc)


@dataclass(frozen=True)
class KaplanD(_KaplanSingle):
    """Kaplan et al. 2020 Eq. 1.2: L(D) = (D_c/D)^α_D (large models, early stopping)."""

    alpha_D: float
    D_c: float
    name: ClassVar[str] = "kaplan_d"
    formula: ClassVar[str] = "L = (D_c/D)^alpha_D"
    inputs: ClassVar[tuple[str, ...]] = ("n_tokens",)

    def theta(self):
        return np.array([self.alpha_D * np.log(self.D_c), self.alpha_D])

    @classmethod
    def from_theta(cls, theta):
        al, xc = cls._pair(theta)
        return cls(alpha_D=al, D_c=xc)


@dataclass(frozen=True)
class KaplanC(_KaplanSingle):
    """Kaplan et al. 2020 Eq. 1.3: L(C) = (C_c/C)^α_C, with C and C_c in the same unit (FLOP here)."""

    alpha_C: float
    C_c: float
    name: ClassVar[str] = "kaplan_c"
    formula: ClassVar[str] = "L = (C_c/C)^alpha_C"
    inputs: ClassVar[tuple[str, ...]] = ("flops",)

    def theta(self):
        return np.array([self.alpha_C * np.log(self.C_c), self.alpha_C])

    @classmethod
    def from_theta(cls, theta):
        al, xc = cls._pair(theta)
        return cls(alpha_C=al, C_c=xc)


@dataclass(frozen=True)
class KaplanJoint(Law):
    """Kaplan et al. 2020 Eq. 1.5: L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D.

    Fitted as log L = α_D · LSE((α_N/α_D)(log N_c − log N), log D_c − log D) with theta (α_N, α_D, log N_c, log D_c).
    """

    alpha_N: float
    alpha_D: float
    N_c: float
    D_c: float
    name: ClassVar[str] = "kaplan"
    formula: ClassVar[str] = "L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D"
    inputs: ClassVar[tuple[str, ...]] = ("n_params", "n_tokens")
    theta_names: ClassVar[tuple[str, ...]] = ("alpha_N", "alpha_D", "log_N_c", "log_D_c")

    def theta(self):
        return np.array([self.alpha_N, self.alpha_D, np.log(self.N_c), np.log(self.D_c)])

    @classmethod
    def from_theta(cls, theta):
        aN, aD, lNc, lDc = (float(t) for t in theta)
        return cls(alpha_N=aN, alpha_D=aD, **exp_params(N_c=lNc, D_c=lDc))

    @classmethod
    def log_predict(cls, theta, X):
        aN, aD, lNc, lDc = (theta[:, i, None] for i in range(4))
        lnN, lnD = np.log(X["n_params"])[None, :], np.log(X["n_tokens"])[None, :]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return aD * np.logaddexp((aN / aD) * (lNc - lnN), lDc - lnD)

    @classmethod
    def log_predict_derivatives(cls, theta, X):
        """log L [B, n], its Jacobian [B, n, 4] in theta, and ``hess_dot(c)`` = Σ_n c_n ∇²log L_n [B, 4, 4], all
        exact (finite differences made a 1,000-resample bootstrap on 240 runs take minutes). With w = log N_c − log N,
        r = α_N/α_D, u₁ = r·w, u₂ = log D_c − log D, S = LSE(u₁, u₂), s = softmax(u): log L = α_D·S and
        ∇²S = Σ_k s_k ∇²u_k + s₁s₂ (∇u₁ − ∇u₂)(∇u₁ − ∇u₂)ᵀ; ∇²u₁ has four non-zero entries. Every entry is a
        weighted sum over points of a few products of w, s₁ and S (six sums in all: no [B, n, 4] temporaries)."""
        aN, aD, lNc, lDc = (theta[:, i, None] for i in range(4))
        w = lNc - np.log(X["n_params"])[None, :]
        u2 = lDc - np.log(X["n_tokens"])[None, :]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            r = aN / aD
            S = np.logaddexp(r * w, u2)
            s1 = np.exp(r * w - S)
            s1w = s1 * w
            J = np.empty(w.shape + (4,))
            J[..., 0] = s1w
            J[..., 1] = S - r * s1w
            J[..., 2] = aN * s1
            J[..., 3] = aD * (1.0 - s1)
        r_, aN_, aD_ = r[:, 0], aN[:, 0], aD[:, 0]
        ones = np.ones(w.shape[1])

        def hess_dot(c):
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                q = c * s1 * (1.0 - s1)
                Q0, Q1, Q2 = q @ ones, (q * w) @ ones, (q * w * w) @ ones
                t_1, t_w, c_sum = (c * s1) @ ones, (c * s1w) @ ones, c @ ones
                # aD·(∇u₁ − ∇u₂)ᵀ diag(q) (∇u₁ − ∇u₂), with ∇u₁ − ∇u₂ = (w/α_D, −r·w/α_D, r, −1)
                H = np.empty((w.shape[0], 4, 4))
                H[:, 0, 0] = Q2 / aD_
                H[:, 0, 1] = -r_ * Q2 / aD_
                H[:, 1, 1] = r_ * r_ * Q2 / aD_
                H[:, 0, 2] = r_ * Q1
                H[:, 1, 2] = -r_ * r_ * Q1
                H[:, 2, 2] = aD_ * r_ * r_ * Q0
                H[:, 0, 3] = -Q1
                H[:, 1, 3] = r_ * Q1
                H[:, 2, 3] = -aD_ * r_ * Q0
                H[:, 3, 3] = aD_ * Q0
                # aD·Σ s₁ ∇²u₁ (entries (0,1), (0,2), (1,1), (1,2)) and the α_D·S product rule: gS = Σ c ∇S
                H[:, 0, 1] += -t_w / aD_
                H[:, 0, 2] += t_1
                H[:, 1, 1] += 2.0 * aN_ * t_w / aD_**2
                H[:, 1, 2] += -aN_ * t_1 / aD_
                gS = np.stack([t_w / aD_, -r_ * t_w / aD_, r_ * t_1, c_sum - t_1], axis=1)
                H[:, 1, :] += gS          # row 1 of the upper triangle, and column 1 above the diagonal
                H[:, 0, 1] += gS[:, 0]
                H[:, 1, 1] += gS[:, 1]
                iu = np.triu_indices(4, 1)
                H[:, iu[1], iu[0]] = H[:, iu[0], iu[1]]
            return H

        return aD * S, J, hess_dot

    @classmethod
    def default_grid(cls):
        return _grid([0.05, 0.1, 0.3], [0.05, 0.1, 0.3], [20.0, 30.0, 40.0], [20.0, 30.0, 40.0])


# --- saturating power law in compute ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Saturating(Law):
    """L(C) = E + A·C^(−α): a power law in compute with an irreducible floor E; fitted as LSE(e, a − α log C)."""

    E: float
    A: float
    alpha: float
    name: ClassVar[str] = "saturating"
    formula: ClassVar[str] = "L = E + A*C^(-alpha)"
    inputs: ClassVar[tuple[str, ...]] = ("flops",)
    theta_names: ClassVar[tuple[str, ...]] = ("a", "e", "alpha")

    def theta(self):
        return np.array([np.log(self.A), np.log(self.E), self.alpha])

    @classmethod
    def from_theta(cls, theta):
        a, e, al = (float(t) for t in theta)
        return cls(**exp_params(E=e, A=a, exponents={"A": ("alpha", al)}), alpha=al)

    @classmethod
    def lse_design(cls, X):
        lnC = np.log(X["flops"])
        M = np.zeros((lnC.size, 2, 3))
        M[:, 0, 0], M[:, 0, 2] = 1.0, -lnC
        M[:, 1, 1] = 1.0
        return M

    @classmethod
    def default_grid(cls):
        return _grid(np.arange(0, 31, 5.0), [-1.0, -0.5, 0.0, 0.5, 1.0], [0.05, 0.1, 0.2, 0.5, 1.0])
