"""The train↔test exchange rate: how much inference compute substitutes for training compute at fixed accuracy.

For a target coverage A, each model m needs k_m(A) samples per problem (read off its unbiased pass@k curve, log-
interpolated in k; beyond its n samples, from its fitted power law with a ceiling). Its inference compute per problem
is 2·N_m FLOPs per generated token × tokens per sample × k_m(A). Regressing log(inference FLOPs) on log(training
FLOPs) across models gives the slope s: a 10× larger training budget cuts the inference compute needed for A by a
factor 10^(−s). The interval is a bootstrap over test problems (the same resampled problems for every model, since
they share the test set). The total-compute-optimal model for Q queries minimises training + Q × inference FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.errors import InputError
from scalinglab.testtime.counts import SampleCounts, load_counts
from scalinglab.testtime.estimators import pass_at_k
from scalinglab.testtime.power_law import default_k_grid, fit_power_law


@dataclass(frozen=True)
class ExchangeRate:
    target: float
    models: list[str]
    train_flops: np.ndarray
    samples_needed: np.ndarray          # k_m(A); inf where the model cannot reach A
    extrapolated: np.ndarray            # True where k_m(A) > n came from the fitted law
    test_flops_per_problem: np.ndarray
    slope: float                        # d log(test FLOPs) / d log(train FLOPs)
    slope_lo: float
    slope_hi: float
    level: float
    queries: float
    optimal_model: str
    total_flops: np.ndarray

    @property
    def test_factor_per_10x_train(self) -> float:
        """Inference compute saved by 10× more training compute (at the target accuracy)."""
        return float(10 ** (-self.slope))

    @property
    def test_factor_interval(self) -> tuple[float, float]:
        return float(10 ** (-self.slope_hi)), float(10 ** (-self.slope_lo))

    def as_dict(self) -> dict:
        return {"target": self.target, "models": self.models, "train_flops": self.train_flops.tolist(),
                "samples_needed": self.samples_needed.tolist(), "extrapolated": self.extrapolated.tolist(),
                "test_flops_per_problem": self.test_flops_per_problem.tolist(), "slope": self.slope,
                "slope_interval": [self.slope_lo, self.slope_hi], "level": self.level,
                "test_factor_per_10x_train": self.test_factor_per_10x_train,
                "test_factor_interval": list(self.test_factor_interval), "queries": self.queries,
                "optimal_model": self.optimal_model, "total_flops": self.total_flops.tolist()}

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{m}</td><td>{c:.3g}</td><td>{k:.3g}</td><td>{t:.3g}</td></tr>" for m, c, k, t in
                       zip(self.models, self.train_flops, self.samples_needed, self.test_flops_per_problem))
        lo, hi = self.test_factor_interval
        return (f"<p>coverage {self.target:.3f}: 10× training compute saves {self.test_factor_per_10x_train:.3g}× "
                f"inference compute ({self.level:.0%} interval {lo:.3g}–{hi:.3g})</p><table><tr><th>model</th>"
                f"<th>train FLOPs</th><th>k needed</th><th>test FLOPs/problem</th></tr>{rows}</table>")


def _samples_needed(curve: np.ndarray, k: np.ndarray, target: float, law) -> tuple[float, bool]:
    if curve[0] >= target:
        return 1.0, False
    if curve[-1] >= target:
        i = int(np.argmax(curve >= target))
        lo, hi = curve[i - 1], curve[i]
        frac = (target - lo) / (hi - lo) if hi > lo else 1.0
        return float(np.exp(np.log(k[i - 1]) + frac * (np.log(k[i]) - np.log(k[i - 1])))), False
    if law is not None and law.success:
        return law.law.samples_for(target), True
    return float("inf"), True


def _slope(train_flops: np.ndarray, test_flops: np.ndarray) -> float:
    ok = np.isfinite(test_flops)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(train_flops[ok]), np.log(test_flops[ok]), 1)[0])


def exchange_rate(counts, *, target: float | None = None, queries: float = 1e6, level: float = 0.9,
                  n_boot: int = 200, seed: int = 0) -> ExchangeRate:
    """Exchange rate between training and inference compute for a counts table with compute metadata.

    Needs columns ``train_flops``, ``n_params`` and ``tokens_per_sample`` per model and ≥ 2 models on the same
    problems. ``target`` defaults to the geometric mean of the best pass@1 and the worst pass@n, a coverage every
    model reaches or nearly reaches.
    """
    table: SampleCounts = load_counts(counts)
    for col in ("train_flops", "n_params", "tokens_per_sample"):
        if col not in table.frame:
            raise InputError(f"exchange rate needs a '{col}' column", source=table.source)
    models = table.models
    if len(models) < 2:
        raise InputError("exchange rate needs at least 2 models", source=table.source)
    wide = table.frame.pivot(index="problem", columns="model", values="correct")
    n_wide = table.frame.pivot(index="problem", columns="model", values="n")
    if wide.isna().any().any():
        raise InputError("every model must be sampled on the same problems", source=table.source)
    n_min = int(n_wide.to_numpy().min())
    k = default_k_grid(n_min, 80)
    meta = [table.metadata(m) for m in models]
    train = np.array([x["train_flops"] for x in meta])
    per_sample = np.array([2.0 * x["n_params"] * x["tokens_per_sample"] for x in meta])
    curves = {m: pass_at_k(n_wide[m].to_numpy(), wide[m].to_numpy(), k) for m in models}  # (k, problems)
    laws = {m: fit_power_law(n_wide[m].to_numpy(), wide[m].to_numpy(), ceiling=True, n_boot=0) for m in models}
    mean_curves = {m: curves[m].mean(axis=1) for m in models}
    if target is None:
        best_first = max(c[0] for c in mean_curves.values())
        worst_last = min(c[-1] for c in mean_curves.values())
        target = float(np.sqrt(max(best_first, 1e-6) * max(worst_last, 1e-6)))
    if not 0 < target < 1:
        raise InputError(f"target coverage must be in (0, 1), got {target}")

    def analyse(idx):
        needed = [_samples_needed(curves[m][:, idx].mean(axis=1), k, target, laws[m]) for m in models]
        ks = np.array([x[0] for x in needed])
        return ks, np.array([x[1] for x in needed]), ks * per_sample

    ks, extrap, test = analyse(np.arange(wide.shape[0]))
    slope = _slope(train, test)
    rng = np.random.default_rng(seed)
    boots = [_slope(train, analyse(rng.integers(0, wide.shape[0], wide.shape[0]))[2]) for _ in range(n_boot)]
    boots = np.array([b for b in boots if np.isfinite(b)])
    lo, hi = (np.quantile(boots, [(1 - level) / 2, (1 + level) / 2]) if boots.size else (np.nan, np.nan))
    total = train + queries * test
    return ExchangeRate(target=target, models=models, train_flops=train, samples_needed=ks, extrapolated=extrap,
                        test_flops_per_problem=test, slope=slope, slope_lo=float(lo), slope_hi=float(hi),
                        level=level, queries=queries, optimal_model=models[int(np.argmin(total))],
                        total_flops=total)
