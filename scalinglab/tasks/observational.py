"""Observational scaling (Ruan, Maddison & Hashimoto 2024, arXiv:2405.10938, Sec. 3): benchmarks of public models
from a few capability components instead of a ladder of one's own.

1. Principal components of the standardised benchmark scores of the fitting models (k = 3 components;
   missing scores filled by iterating a rank-k PCA reconstruction, starting from column means).
2. Within each model family, each component is linear in log compute: a family's own slope where
   it has ≥ 3 fitting models spanning ≥ 1 decade of compute, else the slope pooled within families; the family's
   intercept where it has any fitting model, else the pooled one.
3. A benchmark is a sigmoid of a linear combination of the components, floor at its chance level:
   Y = floor + (1 − floor) · σ(wᵀS + c).
A held-out model's benchmark is predicted from its compute and family through 2 then 3. Intervals: a bootstrap over
fitting models through all three steps, each draw adding one of that draw's chained residuals (a new model deviates
from the curves as the fitting models do). ``log_linear_baseline`` is the plain benchmark-vs-log-compute line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.special import expit

from scalinglab.errors import InputError
from scalinglab.runs.io import read_table

BASE_METRICS = ("MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K", "XWinograd", "HumanEval")
FLOPS_COLUMN, FAMILY_COLUMN, MODEL_COLUMN = "FLOPs (1E21)", "Model Family", "Model"
N_COMPONENTS = 3
IMPUTE_ITER = 50


def load_benchmarks(path, metrics=BASE_METRICS) -> pd.DataFrame:
    """A models × benchmarks table (ObsScaling's columns), validated: scores in [0, 1], FLOPs > 0 where given."""
    src = str(path)
    df = read_table(path)
    need = [MODEL_COLUMN, FAMILY_COLUMN, FLOPS_COLUMN, *metrics]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"missing column '{missing[0]}' (need {', '.join(need)})", source=src)
    out = pd.DataFrame({"model": df[MODEL_COLUMN].astype(str), "family": df[FAMILY_COLUMN].astype(str)})
    for col, name in [(FLOPS_COLUMN, "flops")] + [(m, m) for m in metrics]:
        raw = df[col].replace("", np.nan)
        val = pd.to_numeric(raw, errors="coerce")
        bad = val.isna() & raw.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"expected a number, found {raw.iloc[i]!r}", source=src, row=i + 1, column=col)
        v = val.to_numpy(float)
        if name == "flops":
            wrong, what = v <= 0, "FLOPs must be > 0"
            v = v * 1e21
        else:
            wrong, what = (v < 0) | (v > 1), "a benchmark score must lie in [0, 1]"
        if np.any(wrong):
            i = int(np.flatnonzero(wrong)[0])
            raise InputError(f"{what}, found {df[col].iloc[i]!r}", source=src, row=i + 1, column=col)
        out[name] = v
    return out


@dataclass(frozen=True)
class Components:
    mean: np.ndarray      # [m] per-metric mean of the fitting models
    std: np.ndarray       # [m]
    loadings: np.ndarray  # [m, k]
    explained: np.ndarray  # [k] fraction of variance explained

    def scores(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.std) @ self.loadings


def principal_components(X: np.ndarray, k: int = N_COMPONENTS) -> tuple[Components, np.ndarray]:
    """PCA of standardised scores with NaNs filled by iterated rank-k reconstruction; returns (PCs, scores)."""
    X = np.array(X, float)
    miss = np.isnan(X)
    mean = np.nanmean(X, axis=0)
    std = np.nanstd(X, axis=0)
    std = np.where(std > 0, std, 1.0)
    Z = np.where(miss, 0.0, (X - mean) / std)
    for _ in range(IMPUTE_ITER if miss.any() else 1):
        _, s, Vt = np.linalg.svd(Z - Z.mean(axis=0), full_matrices=False)
        recon = Z.mean(axis=0) + (Z - Z.mean(axis=0)) @ Vt[:k].T @ Vt[:k]
        Z = np.where(miss, recon, Z)
    V = Vt[:k].T
    V = V * np.sign(V.sum(axis=0))   # orient each component so that higher means more capable on average
    comps = Components(mean=mean, std=std, loadings=V, explained=(s[:k] ** 2) / np.sum(s ** 2))
    return comps, Z @ V


@dataclass(frozen=True)
class ObservationalFit:
    benchmark: str
    floor: float
    components: Components
    slopes: dict           # family → [k] slope of each component in log10 FLOPs (families with their own)
    intercepts: dict       # family → [k]
    pooled_slope: np.ndarray
    pooled_intercept: np.ndarray
    weights: np.ndarray    # [k + 1]: w, c of the benchmark's sigmoid
    residuals: np.ndarray  # chained residuals of the fitting models (observed − predicted from compute)

    def predicted_components(self, flops, family) -> np.ndarray:
        x = np.log10(np.asarray(flops, float))
        fam = np.asarray(family, object)
        out = np.empty((x.size, self.pooled_slope.size))
        for i, (xi, f) in enumerate(zip(x, fam)):
            slope = self.slopes.get(f, self.pooled_slope)
            out[i] = self.intercepts.get(f, self.pooled_intercept) + slope * xi
        return out

    def predict(self, flops, family) -> np.ndarray:
        return _link(self.predicted_components(flops, family), self.weights, self.floor)


def _link(S, weights, floor):
    return floor + (1 - floor) * expit(S @ weights[:-1] + weights[-1])


def _family_lines(x, S, family):
    """Per-component lines in log compute: pooled within-family slope, family intercepts, own slopes if well
    spread."""
    fams = pd.unique(family)
    xc, Sc = x.copy(), S.copy()
    for f in fams:
        m = family == f
        xc[m] -= x[m].mean()
        Sc[m] -= S[m].mean(axis=0)
    denom = float(xc @ xc)
    pooled = (xc @ Sc) / denom if denom > 0 else np.zeros(S.shape[1])
    slopes, intercepts = {}, {}
    for f in fams:
        m = family == f
        slope = pooled
        if m.sum() >= 3 and np.ptp(x[m]) >= 1.0:
            slope = (xc[m] @ Sc[m]) / float(xc[m] @ xc[m])
            slopes[f] = slope
        intercepts[f] = S[m].mean(axis=0) - slope * x[m].mean()
    pooled_intercept = S.mean(axis=0) - pooled * x.mean()
    return slopes, intercepts, pooled, pooled_intercept


def _fit_link(S, y, floor, start=None):
    def resid(p):
        return _link(S, p, floor) - y
    p0 = np.zeros(S.shape[1] + 1) if start is None else start
    return least_squares(resid, p0, method="lm").x


def fit_observational(table: pd.DataFrame, benchmark: str, *, metrics=BASE_METRICS, floor: float = 0.25,
                      k: int = N_COMPONENTS, start=None) -> ObservationalFit:
    """Fit the three steps on the models of ``table`` (from ``load_benchmarks``)."""
    if benchmark not in table.columns:
        raise InputError(f"unknown benchmark '{benchmark}'")
    comps, scores = principal_components(table[list(metrics)].to_numpy(float), k)
    has_c = np.isfinite(table["flops"].to_numpy(float))
    if has_c.sum() < k + 2:
        raise InputError(f"observational scaling needs at least {k + 2} models with FLOPs, got {int(has_c.sum())}")
    x = np.log10(table["flops"].to_numpy(float)[has_c])
    fam = table["family"].to_numpy(object)[has_c]
    slopes, intercepts, pooled, pooled_b = _family_lines(x, scores[has_c], fam)
    y = table[benchmark].to_numpy(float)
    ok = np.isfinite(y)
    weights = _fit_link(scores[ok], y[ok], floor, start)
    fit = ObservationalFit(benchmark, floor, comps, slopes, intercepts, pooled, pooled_b, weights, np.empty(0))
    sel = has_c & ok
    chained = y[sel] - fit.predict(table["flops"].to_numpy(float)[sel], table["family"].to_numpy(object)[sel])
    return ObservationalFit(benchmark, floor, comps, slopes, intercepts, pooled, pooled_b, weights, chained)


def observational_forecast(train: pd.DataFrame, test: pd.DataFrame, benchmark: str, *, floor: float = 0.25,
                           n_boot: int = 200, level: float = 0.9, seed: int = 0) -> pd.DataFrame:
    """Predict ``benchmark`` for the models of ``test`` from their compute and family, with percentile intervals."""
    base = fit_observational(train, benchmark, floor=floor)
    flops, fam = test["flops"].to_numpy(float), test["family"].to_numpy(object)
    est = base.predict(flops, fam)
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, len(test)))
    for b in range(n_boot):
        idx = rng.integers(0, len(train), len(train))
        fit_b = fit_observational(train.iloc[idx].reset_index(drop=True), benchmark, floor=floor, start=base.weights)
        draws[b] = fit_b.predict(flops, fam) + rng.choice(fit_b.residuals, size=len(test))
    q = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return pd.DataFrame({"model": test["model"].to_numpy(), "family": fam, "flops": flops, "estimate": est,
                         "lo": q[0], "hi": q[1]})


def log_linear_baseline(train: pd.DataFrame, test: pd.DataFrame, benchmark: str) -> np.ndarray:
    """Benchmark = a + b·log10 C, least squares over the fitting models with compute (no families, no link)."""
    m = np.isfinite(train["flops"].to_numpy(float)) & np.isfinite(train[benchmark].to_numpy(float))
    b, a = np.polyfit(np.log10(train["flops"].to_numpy(float)[m]), train[benchmark].to_numpy(float)[m], 1)
    return a + b * np.log10(test["flops"].to_numpy(float))


def holdout_top_compute(table: pd.DataFrame, fraction: float = 0.1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fitting models, held-out models): the ``fraction`` highest-compute models with known FLOPs held out."""
    with_c = table[np.isfinite(table["flops"].to_numpy(float))]
    n_out = int(np.ceil(fraction * len(with_c)))
    cut = with_c["flops"].sort_values(ascending=False, kind="stable").index[:n_out]
    return table.drop(index=cut).reset_index(drop=True), table.loc[cut].reset_index(drop=True)
