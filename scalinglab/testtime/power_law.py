"""The exponentiated power law of coverage: −log(coverage(k)) = a · k^(−b).

Brown et al. 2024 ("Large Language Monkeys", arXiv:2407.21787, Sec. 3 / Fig. 4) model coverage, the fraction of
problems solved by at least one of k samples, as log c ≈ a·k^b (their b < 0); equivalently
log(−log c) = log a − b·log k is a straight line in log k, which is how it is fitted here (least squares on that line,
over the k where 0 < coverage < 1). Intervals come from a bootstrap over problems: resample problems with
replacement, recompute the unbiased pass@k curve, refit the line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.errors import InputError
from scalinglab.testtime.estimators import pass_at_k, validate_counts


@dataclass(frozen=True)
class ExpPowerLaw:
    """coverage(k) = exp(−a · k^(−b)); ``a`` > 0 is −log pass@1 scale, ``b`` > 0 the exponent."""

    a: float
    b: float

    formula = "coverage(k) = exp(-a * k^(-b))"

    def predict(self, k) -> np.ndarray:
        k_arr = np.asarray(k, dtype=float)
        if np.any(~(k_arr > 0)):
            raise InputError("k must be > 0")
        return np.exp(-self.a * k_arr ** (-self.b))

    def samples_for(self, coverage: float) -> float:
        """The k at which the law reaches ``coverage`` (inverse of ``predict``)."""
        if not 0 < coverage < 1:
            raise InputError(f"coverage must be in (0, 1), got {coverage}")
        return float((-np.log(coverage) / self.a) ** (-1.0 / self.b))


@dataclass(frozen=True)
class PowerLawFit:
    """Result of fitting ``ExpPowerLaw`` to a coverage curve; ``predict_interval`` uses the problem bootstrap."""

    law: ExpPowerLaw
    k: np.ndarray
    coverage: np.ndarray
    rmse_loglog: float
    success: bool
    message: str
    boot_a: np.ndarray
    boot_b: np.ndarray

    def predict(self, k) -> np.ndarray:
        return self.law.predict(k)

    def predict_interval(self, k, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        if self.boot_a.size == 0:
            raise InputError("no bootstrap was run; fit with n_boot > 0 to get intervals")
        k_arr = np.atleast_1d(np.asarray(k, dtype=float))
        curves = np.exp(-self.boot_a[:, None] * k_arr[None, :] ** (-self.boot_b[:, None]))
        lo, hi = np.quantile(curves, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return (lo[0], hi[0]) if np.ndim(k) == 0 else (lo, hi)

    def _repr_html_(self) -> str:
        return (f"<p>{ExpPowerLaw.formula}: a = {self.law.a:.4g}, b = {self.law.b:.4g} "
                f"(fit on {self.k.size} k values, RMSE of log(−log c) = {self.rmse_loglog:.3g}; {self.message})</p>")


def _line_fit(k: np.ndarray, coverage: np.ndarray) -> tuple[float, float, float, int]:
    ok = (coverage > 0) & (coverage < 1)
    if ok.sum() < 2:
        return np.nan, np.nan, np.nan, int(ok.sum())
    x, y = np.log(k[ok]), np.log(-np.log(coverage[ok]))
    slope, intercept = np.polyfit(x, y, 1)
    rmse = float(np.sqrt(np.mean((intercept + slope * x - y) ** 2)))
    return float(np.exp(intercept)), float(-slope), rmse, int(ok.sum())


def default_k_grid(n_max: int, n_points: int = 40) -> np.ndarray:
    """Log-spaced integer k from 1 to ``n_max`` (unique)."""
    return np.unique(np.round(np.logspace(0, np.log10(n_max), n_points)).astype(int))


def fit_power_law(n, correct, *, k=None, n_boot: int = 200, seed: int = 0) -> PowerLawFit:
    """Fit the exponentiated power law to the mean unbiased pass@k of these problems at the given k (≤ min n)."""
    n_arr, c_arr = validate_counts(np.atleast_1d(n), np.atleast_1d(correct))
    k_arr = default_k_grid(int(n_arr.min())) if k is None else np.atleast_1d(np.asarray(k))
    per = pass_at_k(n_arr, c_arr, k_arr)
    cov = per.mean(axis=1)
    a, b, rmse, used = _line_fit(k_arr.astype(float), cov)
    if not np.isfinite(a):
        return PowerLawFit(ExpPowerLaw(np.nan, np.nan), k_arr, cov, np.nan, False,
                           f"need ≥ 2 values of k with 0 < coverage < 1, have {used}", np.empty(0), np.empty(0))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, per.shape[1], per.shape[1])
        ba, bb, _, _ = _line_fit(k_arr.astype(float), per[:, idx].mean(axis=1))
        if np.isfinite(ba):
            boots.append((ba, bb))
    boot = np.array(boots).reshape(-1, 2)
    return PowerLawFit(ExpPowerLaw(a, b), k_arr, cov, rmse, True, f"line fit on {used} points", boot[:, 0],
                       boot[:, 1])
