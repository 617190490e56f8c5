"""A shared-difficulty model of several models' counts on the same problems: pool them to extrapolate coverage.

Fitting each model's distribution of per-problem success probability p on its own (``distribution.py``) treats its
problems as exchangeable: every problem it has not solved yet gets the same chance of being solved by more samples.
But problems are shared across models (the Pythia suite on the same 128 MATH problems), and how the *other* models
did on a problem says how hard it is: a problem a larger model solves 5 % of the time is very likely solvable by a
small one that has not solved it in 1,000 tries, while a problem no model has ever solved probably stays unsolved.

The model is a one-factor logit-normal with a point mass for problems no model can solve. Problem j has a latent
difficulty z_j ~ N(0, 1); with probability π it is unsolvable (p = 0 for every model). Otherwise for model m

    logit p_mj = μ_m + σ_m · z_j + τ_m · ε_mj,    ε_mj ~ N(0, 1) independent,

so σ_m is how strongly model m follows the shared difficulty and τ_m its own idiosyncratic spread; the logit-normal
has a heavy left tail in p near 0, which is what sets the power law of coverage in k (Schaeffer et al. 2025, "How Do
Large Language Monkeys Get Their Power (Laws)?", ICML). The 3·(models) + 1 parameters are fitted by maximum marginal
likelihood of the binomial counts. The integrals are sums: z on Gauss–Hermite nodes, logit p on a fine fixed grid
whose cell probabilities are differences of the normal CDF (so no mass is lost beyond the grid ends).

Prediction for model m at k ≥ n total samples: a problem already solved stays solved; an unsolved one is solved with
probability 1 − E[(1 − p_mj)^(k − n) | all models' counts on problem j]. Intervals draw parameters from the Laplace
approximation of the fit and then which unsolved problems get solved (Bernoulli), as ``distribution.py`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from scalinglab.errors import InputError
from scalinglab.testtime.estimators import validate_counts

# logit p grid, 0.05 wide, from p ≈ 2e-9 (where 10⁴ samples solve a problem with chance 2e-5, i.e. "never") to
# p ≈ 0.9999. Each model's normal on logit p is discretised as softmax weights over the grid, so mass beyond the ends
# piles up at the end cells instead of being lost.
_ETA = np.arange(-20.0, 9.0 + 1e-9, 0.05)
_LOG_P, _LOG_1MP = -np.logaddexp(0.0, -_ETA), -np.logaddexp(0.0, _ETA)
_Z, _ZW = np.polynomial.hermite_e.hermegauss(40)
_ZW = _ZW / _ZW.sum()
_TINY = 1e-300


def _unpack(theta: np.ndarray, n_models: int):
    mu, sigma, log_tau = theta[:n_models], theta[n_models:2 * n_models], theta[2 * n_models:3 * n_models]
    return mu, sigma, np.exp(log_tau), theta[-1]


def _cell_weights(mu, sigma, tau):
    """P(logit p in cell g | z) for each model × z node × cell, and the standardised offsets (η_g − centre)/τ."""
    centre = mu[:, None] + sigma[:, None] * _Z[None, :]
    u = (_ETA[None, None, :] - centre[..., None]) / tau[:, None, None]
    return special.softmax(-0.5 * u**2, axis=-1), u


def _scaled_binom(c: np.ndarray, n: np.ndarray):
    """p^c (1 − p)^(n − c) on the grid for each model × problem, divided by its maximum over the grid (returned
    as a log) so that it can be mixed by matrix products in linear space."""
    log_b = c[..., None] * _LOG_P + (n - c)[..., None] * _LOG_1MP
    top = log_b.max(axis=-1, keepdims=True)
    return np.exp(log_b - top), top[..., 0]


class _Counts:
    """The data and the parts of the likelihood that do not depend on the parameters."""

    def __init__(self, n: np.ndarray, c: np.ndarray):
        self.n, self.c = n, c
        self.b, self.b_top = _scaled_binom(c, n)                     # models × problems × G, models × problems
        self.all_zero = np.all(c == 0, axis=0)


def _posterior(theta, data: _Counts):
    """Everything the likelihood, its gradient and predictions need at ``theta``."""
    n_models = data.c.shape[0]
    mu, sigma, tau, logit_pi = _unpack(theta, n_models)
    w, u = _cell_weights(mu, sigma, tau)                                      # models × Z × G
    lik = np.maximum(np.matmul(data.b, np.swapaxes(w, 1, 2)), _TINY)          # models × problems × Z (scaled)
    log_joint = np.log(lik).sum(axis=0) + np.log(_ZW)[None, :]                # problems × Z
    log_pi, log_1mpi = -np.logaddexp(0.0, -logit_pi), -np.logaddexp(0.0, logit_pi)
    # the point mass "no model can solve it" has likelihood 1 for all-zero problems, i.e. exp(−b_top) when scaled
    log_atom = np.where(data.all_zero, log_pi - data.b_top.sum(axis=0), -np.inf)
    log_solvable = special.logsumexp(log_joint, axis=1) + log_1mpi
    log_norm = np.logaddexp(log_solvable, log_atom)
    post_z = np.exp(log_joint + log_1mpi - log_norm[:, None])                 # problems × Z (sums to 1 − P(atom))
    return {"mu": mu, "sigma": sigma, "tau": tau, "w": w, "u": u, "lik": lik, "post_z": post_z,
            "post_atom": np.exp(log_atom - log_norm), "pi": np.exp(log_pi),
            "nll": -float(np.sum(log_norm + data.b_top.sum(axis=0)))}


def _nll_and_grad(theta, data: _Counts):
    s = _posterior(theta, data)
    if not np.isfinite(s["nll"]):
        return 1e300, np.zeros_like(theta)
    # d log L / d w[m, z, g] = Σ_j post_z[j, z] · b[m, j, g] / lik[m, j, z]; times w: responsibility of cell g
    ratio = s["post_z"][None, :, :] / s["lik"]                                # models × problems × Z
    resp = np.matmul(np.swapaxes(ratio, 1, 2), data.b) * s["w"]               # models × Z × G
    total = resp.sum(axis=-1, keepdims=True)                                  # = Σ_j post_z
    u, tau = s["u"], s["tau"][:, None, None]
    # d log w_g / d centre = (u_g − E_w[u]) / τ ;  d log w_g / d log τ = u_g² − E_w[u²]
    d_centre = ((resp * u).sum(-1) - total[..., 0] * (s["w"] * u).sum(-1)) / tau[..., 0]   # models × Z
    d_log_tau = (resp * u**2).sum(-1) - total[..., 0] * (s["w"] * u**2).sum(-1)
    grad = np.concatenate([d_centre.sum(axis=1), (d_centre * _Z[None, :]).sum(axis=1), d_log_tau.sum(axis=1),
                           [np.sum(s["post_atom"]) - s["pi"] * data.c.shape[1]]])
    return s["nll"], -grad


def _survival(theta, data: _Counts, k) -> np.ndarray:
    """Per model × problem: P(still unsolved after k − n more samples | all counts), 0 for solved problems."""
    s = _posterior(theta, data)
    extra = np.maximum(float(k) - data.n, 0.0)                                # models × problems
    # E[(1 − p)^extra | z, model m's own counts] = Σ_g w b (1−p)^extra / Σ_g w b
    decay = data.b * np.exp(extra[..., None] * _LOG_1MP)
    surv_z = np.matmul(decay, np.swapaxes(s["w"], 1, 2)) / s["lik"]            # models × problems × Z
    # the other models' counts enter through the posterior over z; the unsolvable atom never gets solved
    surv = (s["post_z"][None] * surv_z).sum(axis=-1) + s["post_atom"][None]
    return np.where(data.c > 0, 0.0, np.minimum(surv, 1.0))


@dataclass(frozen=True)
class SharedDifficultyFit:
    """Fitted shared-difficulty model for several models on the same problems (see the module docstring)."""

    models: list
    mu: np.ndarray
    sigma: np.ndarray
    tau: np.ndarray
    unsolvable: float        # π, the fraction of problems no model can solve
    theta: np.ndarray
    theta_cov: np.ndarray    # Laplace covariance (NaN if the Hessian was not positive definite)
    n: np.ndarray            # models × problems
    correct: np.ndarray
    neg_log_lik: float
    success: bool
    message: str

    def solve_probability(self, k) -> np.ndarray:
        """Models × problems: P(solved within k total samples | every model's counts); 1 where already solved."""
        self._check_k(k)
        return 1.0 - _survival(self.theta, _Counts(self.n, self.correct), k)

    def extend_coverage(self, k) -> np.ndarray:
        """Expected coverage of each model's problems when its samples are extended to k in total."""
        return self.solve_probability(k).mean(axis=1)

    def extend_interval(self, k, *, level: float = 0.9, n_draws: int = 400, seed: int = 0):
        """Per-model predictive interval (lo, hi arrays) for the coverage reached at k total samples."""
        self._check_k(k)
        rng = np.random.default_rng(seed)
        if np.all(np.isfinite(self.theta_cov)):
            thetas = rng.multivariate_normal(self.theta, self.theta_cov, size=n_draws, method="eigh")
        else:
            thetas = np.repeat(self.theta[None], n_draws, axis=0)
        cov = np.empty((n_draws, len(self.models)))
        data = _Counts(self.n, self.correct)
        for i, th in enumerate(thetas):
            q = 1.0 - _survival(th, data, k)
            cov[i] = (rng.random(q.shape) < q).mean(axis=1)
        lo, hi = np.quantile(cov, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return lo, hi

    def _check_k(self, k) -> None:
        if not np.isscalar(k) and np.ndim(k) != 0:
            raise InputError("k must be a single number of samples")
        if float(k) < self.n.max():
            raise InputError(f"k must be ≥ the observed n = {int(self.n.max())} to extend coverage")

    def as_dict(self) -> dict:
        return {"models": list(self.models), "mu": self.mu.tolist(), "sigma": self.sigma.tolist(),
                "tau": self.tau.tolist(), "unsolvable": self.unsolvable, "neg_log_lik": self.neg_log_lik,
                "success": self.success, "message": self.message}

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{m}</td><td>{a:.3g}</td><td>{s:.3g}</td><td>{t:.3g}</td></tr>"
                       for m, a, s, t in zip(self.models, self.mu, self.sigma, self.tau))
        return (f"<p>shared difficulty: logit p = μ + σ·z + τ·ε, unsolvable π = {self.unsolvable:.3f}; "
                f"−log L = {self.neg_log_lik:.2f} ({self.message})</p><table><tr><th>model</th><th>μ</th>"
                f"<th>σ</th><th>τ</th></tr>{rows}</table>")


def fit_shared_difficulty(n, correct, *, models=None) -> SharedDifficultyFit:
    """Maximum marginal likelihood fit of the shared-difficulty model to ``models × problems`` count matrices.

    Row i of ``n`` / ``correct`` is one model, column j the same problem for every model. L-BFGS with the analytic
    gradient; the Laplace covariance comes from finite differences of that gradient. Never raises on
    non-convergence: the result says ``success`` and why not.
    """
    n_arr, c_arr = validate_counts(np.atleast_2d(n), np.atleast_2d(correct))
    if n_arr.ndim != 2 or n_arr.shape[0] < 2:
        raise InputError("the shared-difficulty model needs counts of ≥ 2 models on the same problems")
    if not np.all(np.any(c_arr > 0, axis=1)):
        raise InputError("every model must have solved at least one problem to fit the shared-difficulty model")
    n_models = n_arr.shape[0]
    names = list(models) if models is not None else [f"model {i}" for i in range(n_models)]
    data = _Counts(n_arr.astype(float), c_arr.astype(float))
    # Start: each model's mean logit of its smoothed solve rate, shared and own spreads of 1.5 logits.
    rate = (data.c + 0.5) / (data.n + 1.0)
    start = np.concatenate([special.logit(rate).mean(axis=1), np.full(n_models, 1.5),
                            np.full(n_models, np.log(1.5)), [special.logit(max(data.all_zero.mean(), 0.02))]])
    res = optimize.minimize(_nll_and_grad, start, args=(data,), jac=True, method="L-BFGS-B",
                            options={"maxiter": 2000})
    theta = res.x
    step = 1e-5
    H = np.array([(_nll_and_grad(theta + e, data)[1] - _nll_and_grad(theta - e, data)[1]) / (2 * step)
                  for e in np.eye(theta.size) * step])
    H = (H + H.T) / 2
    try:
        cov = np.linalg.inv(H)
        if not np.all(np.linalg.eigvalsh(cov) > 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        cov = np.full(H.shape, np.nan)
    mu, sigma, tau, logit_pi = _unpack(theta, n_models)
    message = "converged" if res.success else str(res.message)
    if not np.all(np.isfinite(cov)):
        message += "; Hessian not positive definite, intervals omit parameter uncertainty"
    return SharedDifficultyFit(models=names, mu=mu, sigma=sigma, tau=tau, unsolvable=float(special.expit(logit_pi)),
                               theta=theta, theta_cov=cov, n=data.n, correct=data.c, neg_log_lik=float(res.fun),
                               success=bool(res.success), message=message)
