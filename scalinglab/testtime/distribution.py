"""Per-problem success distributions: fit the spread of p across problems, predict coverage at any k.

Each problem has its own success probability p; with n samples its correct count is Binomial(n, p). Modelling the
distribution g of p across problems and fitting it by maximum likelihood on the counts (the marginal likelihood
∫ Binom(c; n, p) g(p) dp) turns pass@k extrapolation into an integral: coverage(k) = 1 − E_g[(1 − p)^k]. Schaeffer et
al. 2025 ("How Do Large Language Monkeys Get Their Power (Laws)?", ICML) show that the aggregate power law in k
comes from the left tail of g near p = 0, so the tail is what a family must get right.

Families here are finite mixtures of betas plus an optional point mass at p = 0 (problems the model never solves):
``beta`` (one beta — the plain beta-binomial), ``zi-beta`` (point mass + beta) and ``beta-mix`` (point mass + two
betas). Everything is in closed form with log-beta functions: the likelihood, the posterior of each problem's p given
its counts, and predictions.

Two predictions are offered. ``population``: coverage of a fresh problem from g with k fresh samples. ``extend``:
expected coverage of *these* problems once their n observed samples are extended to k in total — a problem already
solved stays solved; an unsolved one is solved later with probability 1 − E[(1 − p)^(k−n) | c = 0]. Intervals combine
parameter uncertainty (Laplace approximation to the maximum-likelihood fit) with the Bernoulli randomness of which
unsolved problems get solved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from scalinglab.errors import InputError
from scalinglab.testtime.estimators import validate_counts

FAMILIES = {"beta": (1, False), "zi-beta": (1, True), "beta-mix": (2, True)}


def _unpack(theta: np.ndarray, n_comp: int, atom: bool):
    log_a, log_b = theta[:n_comp], theta[n_comp:2 * n_comp]
    logits = np.concatenate([theta[2 * n_comp:], [0.0]])  # last mixture weight is the reference
    log_w = special.log_softmax(logits)
    log_w_atom = log_w[0] if atom else -np.inf
    log_w_comp = log_w[1:] if atom else log_w
    return np.exp(log_a), np.exp(log_b), log_w_atom, log_w_comp


def _component_loglik(c, n, a, b) -> np.ndarray:
    """log ∫ p^c (1−p)^(n−c) Beta(p; a, b) dp for each problem × component (the binomial coefficient omitted)."""
    return special.betaln(c[:, None] + a[None, :], (n - c)[:, None] + b[None, :]) - special.betaln(a, b)[None, :]


@dataclass(frozen=True)
class SuccessDistribution:
    """A fitted distribution of per-problem success probability p, with the counts it was fitted on."""

    family: str
    a: np.ndarray            # beta shape parameters per component
    b: np.ndarray
    weights: np.ndarray      # component weights (sum with atom_weight to 1)
    atom_weight: float       # mass at p = 0
    theta: np.ndarray        # internal parameter vector at the optimum
    theta_cov: np.ndarray    # Laplace covariance of theta (NaN if the Hessian was not positive definite)
    n: np.ndarray
    correct: np.ndarray
    neg_log_lik: float
    success: bool
    message: str

    # --- predictions -------------------------------------------------------------------------------------------
    def population_coverage(self, k) -> np.ndarray:
        """Expected pass@k of a fresh problem drawn from the fitted distribution: 1 − E_g[(1 − p)^k]."""
        return _population(self.theta, self.family, np.asarray(k, dtype=float))

    def extend_coverage(self, k) -> np.ndarray:
        """Expected coverage of the fitted problems when their samples are extended to k ≥ max(n) in total."""
        k_arr = np.asarray(k, dtype=float)
        if np.any(k_arr < self.n.max()):
            raise InputError(f"k must be ≥ the observed n = {int(self.n.max())} to extend coverage")
        return np.mean(self.solve_probability(k_arr), axis=-1)

    def solve_probability(self, k) -> np.ndarray:
        """Per problem: P(solved within k total samples | its counts) — 1 for problems already solved."""
        return _solve_prob(self.theta, self.family, self.n, self.correct, np.asarray(k, dtype=float))

    def extend_interval(self, k: float, *, level: float = 0.9, n_draws: int = 2000, seed: int = 0):
        """Predictive interval for the coverage these problems will reach at k samples (see module docstring)."""
        rng = np.random.default_rng(seed)
        thetas = _draw_thetas(self.theta, self.theta_cov, n_draws, rng)
        q = np.stack([_solve_prob(t, self.family, self.n, self.correct, float(k)) for t in thetas])
        solved = rng.random(q.shape) < q
        cov = solved.mean(axis=1)
        return tuple(np.quantile(cov, [(1 - level) / 2, (1 + level) / 2]))

    def population_interval(self, k, *, level: float = 0.9, n_draws: int = 2000, seed: int = 0):
        """Interval for ``population_coverage`` from parameter uncertainty only (Laplace approximation)."""
        rng = np.random.default_rng(seed)
        k_arr = np.asarray(k, dtype=float)
        draws = np.stack([_population(t, self.family, k_arr) for t in
                          _draw_thetas(self.theta, self.theta_cov, n_draws, rng)])
        lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return lo, hi

    def as_dict(self) -> dict:
        return {"family": self.family, "a": self.a.tolist(), "b": self.b.tolist(), "weights": self.weights.tolist(),
                "atom_weight": self.atom_weight, "neg_log_lik": self.neg_log_lik, "success": self.success,
                "message": self.message}

    def _repr_html_(self) -> str:
        comps = ", ".join(f"{w:.3f}·Beta({a:.3g}, {b:.3g})" for w, a, b in zip(self.weights, self.a, self.b))
        atom = f"{self.atom_weight:.3f}·δ₀ + " if self.family != "beta" else ""
        return (f"<p><b>{self.family}</b> on {self.n.size} problems: g(p) = {atom}{comps}; "
                f"−log L = {self.neg_log_lik:.2f} ({self.message})</p>")


def _population(theta, family, k):
    n_comp, atom = FAMILIES[family]
    a, b, lw0, lw = _unpack(theta, n_comp, atom)
    kk = np.asarray(k, dtype=float)[..., None]
    surv = np.exp(special.logsumexp(lw + special.betaln(a, b + kk) - special.betaln(a, b), axis=-1))
    return 1.0 - (surv + np.exp(lw0))


def _solve_prob(theta, family, n, c, k):
    n_comp, atom = FAMILIES[family]
    a, b, lw0, lw = _unpack(theta, n_comp, atom)
    comp = _component_loglik(c, n, a, b) + lw                        # problems × components
    atom_ll = np.where(c == 0, lw0, -np.inf)
    norm = np.logaddexp(special.logsumexp(comp, axis=1), atom_ll)
    extra = np.maximum(np.asarray(k, dtype=float)[..., None] - n, 0.0)  # samples still to draw
    # E[(1-p)^extra | c] per component: B(c+a, n-c+b+extra) / B(c+a, n-c+b)
    post_a, post_b = c[:, None] + a, (n - c)[:, None] + b
    surv_comp = special.betaln(post_a, post_b + extra[..., None]) - special.betaln(post_a, post_b)
    surv = np.exp(np.logaddexp(special.logsumexp(comp + surv_comp, axis=-1), atom_ll) - norm)
    return np.where(c > 0, 1.0, 1.0 - surv)


def _draw_thetas(theta, cov, n_draws, rng):
    if not np.all(np.isfinite(cov)):
        return theta[None, :]
    return rng.multivariate_normal(theta, cov, size=n_draws, method="eigh")


def _neg_log_lik(theta, family, c, n):
    n_comp, atom = FAMILIES[family]
    a, b, lw0, lw = _unpack(theta, n_comp, atom)
    ll = special.logsumexp(_component_loglik(c, n, a, b) + lw, axis=1)
    if atom:
        ll = np.logaddexp(ll, np.where(c == 0, lw0, -np.inf))
    value = -float(np.sum(ll))
    return value if np.isfinite(value) else 1e300


def _starts(family: str, c: np.ndarray, n: np.ndarray) -> list[np.ndarray]:
    rate = (c.sum() + 0.5) / (n.sum() + 1.0)
    log_b1 = np.log(0.3 * (1 - rate) / rate)
    if family == "beta":
        return [np.array([np.log(s), np.log(s) + log_b1 - np.log(0.3)]) for s in (0.1, 0.3, 1.0)]
    zero = float(np.mean(c == 0))
    atom_logit = np.log(max(zero, 0.05) / 0.5)
    if family == "zi-beta":
        return [np.array([np.log(s), np.log(s) + log_b1 - np.log(0.3), atom_logit + d])
                for s in (0.1, 0.3, 1.0) for d in (-2.0, 0.0)]
    return [np.array([np.log(0.3), np.log(s1), np.log(30.0), np.log(s2), atom_logit + d, w])
            for s1 in (0.5, 3.0) for s2 in (300.0, 3000.0) for d in (-2.0, 0.0) for w in (-1.0, 1.0)]


def _hessian(f, x, step=1e-4):
    d = x.size
    H = np.empty((d, d))
    f0 = f(x)
    for i in range(d):
        for j in range(i, d):
            ei, ej = np.eye(d)[i] * step, np.eye(d)[j] * step
            if i == j:
                H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / step**2
            else:
                H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * step**2)
    return H


def fit_success_distribution(n, correct, *, family: str = "zi-beta") -> SuccessDistribution:
    """Maximum-likelihood fit of a distribution of per-problem success probability to (n, correct) counts.

    Multi-start L-BFGS on log-parameters, polished by Nelder–Mead; never raises on non-convergence — the result
    says ``success`` and why not.
    """
    if family not in FAMILIES:
        raise InputError(f"unknown family '{family}' (choose from {', '.join(FAMILIES)})")
    n_arr, c_arr = validate_counts(np.atleast_1d(n), np.atleast_1d(correct))
    n_f, c_f = n_arr.astype(float), c_arr.astype(float)
    if not np.any(c_arr > 0):
        raise InputError("no problem was ever solved; a success distribution cannot be fitted")
    obj = lambda th: _neg_log_lik(th, family, c_f, n_f)  # noqa: E731
    best = None
    for start in _starts(family, c_f, n_f):
        res = optimize.minimize(obj, start, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * start.size)
        if best is None or res.fun < best.fun:
            best = res
    polish = optimize.minimize(obj, best.x, method="Nelder-Mead",
                               options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 20000})
    if polish.fun <= best.fun:
        best = polish
    theta = np.clip(best.x, -12.0, 12.0)
    H = _hessian(obj, theta)
    try:
        cov = np.linalg.inv(H)
        if not np.all(np.linalg.eigvalsh((cov + cov.T) / 2) > 0):
            raise np.linalg.LinAlgError
        cov = (cov + cov.T) / 2
    except np.linalg.LinAlgError:
        cov = np.full(H.shape, np.nan)
    n_comp, atom = FAMILIES[family]
    a, b, lw0, lw = _unpack(theta, n_comp, atom)
    on_bound = bool(np.any(np.abs(theta) >= 12.0 - 1e-6))
    ok = bool(best.success or polish.success) and not on_bound
    message = ("converged" if ok else "a parameter reached its bound" if on_bound else str(best.message))
    if not np.all(np.isfinite(cov)):
        message += "; Hessian not positive definite, intervals omit parameter uncertainty"
    return SuccessDistribution(family=family, a=a, b=b, weights=np.exp(lw), atom_weight=float(np.exp(lw0)),
                               theta=theta, theta_cov=cov, n=n_f, correct=c_f, neg_log_lik=float(best.fun),
                               success=ok, message=message)
