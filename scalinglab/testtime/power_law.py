"""The exponentiated power law of coverage: −log(coverage(k)) = a · k^(−b), optionally with a ceiling.

Brown et al. 2024 ("Large Language Monkeys", arXiv:2407.21787, Sec. 3 / Fig. 4) model coverage, the fraction of
problems solved by at least one of k samples, as log c ≈ a·k^b (their b < 0); equivalently
log(−log c) = log a − b·log k is a straight line in log k, which is how the plain law is fitted here (least squares on
that line, over the k where 0 < coverage < 1).

The plain law tends to 1 as k grows, i.e. it assumes every problem is eventually solved. ``ceiling=True`` fits
coverage(k) = c_max · exp(−a·k^(−b)) instead — the same law scaled by the fraction c_max of problems that are
solvable at all — by least squares on log coverage. Intervals for both come from a bootstrap over problems: resample
problems with replacement, recompute the unbiased pass@k curve, refit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from scalinglab.errors import InputError
from scalinglab.testtime.estimators import pass_at_k, validate_counts


@dataclass(frozen=True)
class ExpPowerLaw:
    """coverage(k) = c_max · exp(−a · k^(−b)); ``b`` > 0 the exponent, ``c_max`` = 1 for the plain law."""

    a: float
    b: float
    c_max: float = 1.0

    formula = "coverage(k) = c_max * exp(-a * k^(-b))"

    def predict(self, k) -> np.ndarray:
        k_arr = np.asarray(k, dtype=float)
        if np.any(~(k_arr > 0)):
            raise InputError("k must be > 0")
        return self.c_max * np.exp(-self.a * k_arr ** (-self.b))

    def samples_for(self, coverage: float) -> float:
        """The k at which the law reaches ``coverage`` (inverse of ``predict``); inf if it never does."""
        if not 0 < coverage < 1:
            raise InputError(f"coverage must be in (0, 1), got {coverage}")
        if coverage >= self.c_max:
            return float("inf")
        return float((-np.log(coverage / self.c_max) / self.a) ** (-1.0 / self.b))


@dataclass(frozen=True)
class PowerLawFit:
    """Result of fitting ``ExpPowerLaw`` to a coverage curve; ``predict_interval`` uses the problem bootstrap."""

    law: ExpPowerLaw
    k: np.ndarray
    coverage: np.ndarray
    rmse: float              # RMSE of the fitted transform: log(−log c) (plain) or log c (ceiling)
    success: bool
    message: str
    boot_a: np.ndarray
    boot_b: np.ndarray
    boot_c_max: np.ndarray

    def predict(self, k) -> np.ndarray:
        return self.law.predict(k)

    def predict_interval(self, k, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        if self.boot_a.size == 0:
            raise InputError("no bootstrap was run; fit with n_boot > 0 to get intervals")
        k_arr = np.atleast_1d(np.asarray(k, dtype=float))
        curves = self.boot_c_max[:, None] * np.exp(-self.boot_a[:, None] * k_arr[None, :] ** (-self.boot_b[:, None]))
        lo, hi = np.quantile(curves, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return (lo[0], hi[0]) if np.ndim(k) == 0 else (lo, hi)

    def _repr_html_(self) -> str:
        return (f"<p>{ExpPowerLaw.formula}: a = {self.law.a:.4g}, b = {self.law.b:.4g}, c_max = {self.law.c_max:.4g} "
                f"(fit on {self.k.size} k values, RMSE {self.rmse:.3g}; {self.message})</p>")


def _line_fit(k: np.ndarray, coverage: np.ndarray) -> tuple[float, float, float, float, int]:
    ok = (coverage > 0) & (coverage < 1)
    if ok.sum() < 2:
        return np.nan, np.nan, 1.0, np.nan, int(ok.sum())
    x, y = np.log(k[ok]), np.log(-np.log(coverage[ok]))
    slope, intercept = np.polyfit(x, y, 1)
    rmse = float(np.sqrt(np.mean((intercept + slope * x - y) ** 2)))
    return float(np.exp(intercept)), float(-slope), 1.0, rmse, int(ok.sum())


def _ceiling_fit(k: np.ndarray, coverage: np.ndarray, starts=None) -> tuple[float, float, float, float, int]:
    ok = coverage > 0
    if ok.sum() < 3:
        return np.nan, np.nan, np.nan, np.nan, int(ok.sum())
    x, y = np.log(k[ok]), np.log(coverage[ok])

    def residual(th):  # th = (logit c_max, log a, log b)
        return -np.logaddexp(0.0, -th[0]) - np.exp(th[1] - np.exp(th[2]) * x) - y

    def jacobian(th):
        decay = np.exp(th[1] - np.exp(th[2]) * x)
        return np.column_stack([np.full_like(x, special.expit(-th[0])), -decay, decay * np.exp(th[2]) * x])

    if starts is None:  # straight-line fits of log(−log(c/c_max)) for a few ceilings just above the data
        starts = []
        for c_max in np.minimum(coverage[ok].max() * np.array([1.01, 1.1, 1.4]), 0.999):
            a, b, _, _, used = _line_fit(k[ok], coverage[ok] / c_max)
            if used >= 2 and np.isfinite(a) and b > 0:
                starts.append((special.logit(c_max), np.log(a), np.log(b)))
        starts += [(1.0, 1.0, -1.0), (2.0, 2.0, -1.5), (0.0, 1.0, -0.5)]
    best = None
    for start in starts:
        # A flat coverage curve leaves a Jacobian column ~1e-120; scipy's trust-region step then divides by ~0
        # internally and recovers (the step is bounded by the trust radius), so that warning is noise here.
        with np.errstate(divide="ignore"):
            res = optimize.least_squares(residual, np.array(start), jac=jacobian)
        if best is None or res.cost < best.cost:
            best = res
    c_max, a, b = special.expit(best.x[0]), np.exp(best.x[1]), np.exp(best.x[2])
    rmse = float(np.sqrt(np.mean(best.fun ** 2)))
    return float(a), float(b), float(c_max), rmse, int(ok.sum())


def default_k_grid(n_max: int, n_points: int = 60) -> np.ndarray:
    """Log-spaced integer k from 1 to ``n_max`` (unique)."""
    return np.unique(np.round(np.logspace(0, np.log10(n_max), n_points)).astype(int))


def fit_power_law(n, correct, *, k=None, ceiling: bool = False, n_boot: int = 200, seed: int = 0) -> PowerLawFit:
    """Fit the exponentiated power law (``ceiling=True``: with a coverage ceiling) to the mean unbiased pass@k of
    these problems at the given k (default: 60 log-spaced values up to min n)."""
    n_arr, c_arr = validate_counts(np.atleast_1d(n), np.atleast_1d(correct))
    k_arr = default_k_grid(int(n_arr.min())) if k is None else np.atleast_1d(np.asarray(k))
    per = pass_at_k(n_arr, c_arr, k_arr)
    cov = per.mean(axis=1)
    fitter = _ceiling_fit if ceiling else _line_fit
    kf = k_arr.astype(float)
    a, b, c_max, rmse, used = fitter(kf, cov)
    if not np.isfinite(a):
        need = 3 if ceiling else 2
        return PowerLawFit(ExpPowerLaw(np.nan, np.nan, np.nan), k_arr, cov, np.nan, False,
                           f"need ≥ {need} values of k with usable coverage, have {used}", *(np.empty(0),) * 3)
    rng = np.random.default_rng(seed)
    boots = []
    warm = {"starts": [(special.logit(min(c_max, 1 - 1e-9)), np.log(a), np.log(b))]} if ceiling else {}
    for _ in range(n_boot):
        idx = rng.integers(0, per.shape[1], per.shape[1])
        ba, bb, bc, _, _ = fitter(kf, per[:, idx].mean(axis=1), **warm)
        if np.isfinite(ba):
            boots.append((ba, bb, bc))
    boot = np.array(boots).reshape(-1, 3)
    kind = "ceiling fit" if ceiling else "line fit"
    return PowerLawFit(ExpPowerLaw(a, b, c_max), k_arr, cov, rmse, True, f"{kind} on {used} points",
                       boot[:, 0], boot[:, 1], boot[:, 2])
