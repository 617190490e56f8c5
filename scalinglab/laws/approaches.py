"""Chinchilla's three ways to the compute-optimal exponents N_opt ∝ C^a, D_opt ∝ C^b (Hoffmann et al. 2022, Sec. 3).

1. Lower envelope of loss over compute from per-run loss curves: for each FLOP count, the run with the lowest loss.
2. IsoFLOP profiles: per compute budget, a parabola of loss in log N; its minimum gives N_opt(C).
3. The parametric fit L = E + A/N^α + B/D^β: a = β/(α+β), b = α/(α+β).
Each reports a and b with bootstrap-over-runs intervals (10th–90th percentiles by default, as in Hoffmann's Table 2),
and ``compare_approaches`` says when two approaches' intervals for a do not overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.laws.bootstrap import bootstrap
from scalinglab.laws.forms import FLOPS_PER_PARAM_TOKEN
from scalinglab.runs import Runs, load_runs

BUDGET_TOL_DECADES = 0.1  # a budget groups runs within this many decades of its smallest run's compute


@dataclass(frozen=True)
class ApproachResult:
    approach: str
    a: float
    b: float
    a_lo: float
    a_hi: float
    b_lo: float
    b_hi: float
    n_points: int                      # envelope points / budgets / runs behind the estimate
    note: str = ""
    detail: pd.DataFrame | None = field(default=None, repr=False)  # per-budget optima (approaches 1 and 2)


@dataclass(frozen=True)
class ApproachComparison:
    results: tuple[ApproachResult, ...]
    skipped: tuple[str, ...]
    disagreements: tuple[str, ...]
    level: float

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{k: getattr(r, k) for k in ("approach", "a", "a_lo", "a_hi", "b", "b_lo", "b_hi",
                                                          "n_points", "note")} for r in self.results])

    def to_dict(self) -> dict:
        return {"level": self.level, "approaches": self.table().to_dict(orient="records"),
                "skipped": list(self.skipped), "disagreements": list(self.disagreements)}

    def _repr_html_(self) -> str:
        extra = "".join(f"<p>⚠ {d}</p>" for d in self.disagreements)
        return self.table().to_html(index=False, float_format=lambda v: f"{v:.4g}") + extra


# --- approach 2 --------------------------------------------------------------------------------------------------
def isoflop_budgets(flops: np.ndarray, tol_decades: float = BUDGET_TOL_DECADES) -> np.ndarray:
    """Group label per run: in order of compute, a new budget starts at the first run more than ``tol_decades``
    above the current budget's smallest run (so no budget is wider than ``tol_decades``)."""
    lc = np.log10(flops)
    order = np.argsort(lc, kind="stable")
    labels = np.empty(lc.size, int)
    group, anchor = 0, lc[order[0]]
    for j in order:
        if lc[j] - anchor > tol_decades:
            group, anchor = group + 1, lc[j]
        labels[j] = group
    return labels


def isoflop_minima(runs: Runs, weights: np.ndarray | None = None, tol_decades: float = BUDGET_TOL_DECADES):
    """Per budget with ≥ 3 model sizes: the parabola-in-log-N minimum. Returns a DataFrame of budget, n_opt, loss_min."""
    w = np.ones(len(runs)) if weights is None else weights
    labels = isoflop_budgets(runs.flops, tol_decades)
    rows = []
    for g in np.unique(labels):
        m = (labels == g) & (w > 0)
        x, y, c = np.log(runs.n_params[m]), runs.loss[m], runs.flops[m]
        if np.unique(np.round(x, 6)).size < 3:
            continue
        xc = x.mean()
        coef = np.polyfit(x - xc, y, 2, w=np.sqrt(w[m]))
        if coef[0] <= 0:
            continue  # no valley: loss does not turn up at either end
        x_min = -coef[1] / (2 * coef[0]) + xc
        if not (x.min() <= x_min <= x.max()):
            continue  # the minimum lies outside the sizes trained at this budget
        rows.append({"budget_flops": float(np.exp(np.average(np.log(c), weights=w[m]))), "n_opt": float(np.exp(x_min)),
                     "loss_min": float(np.polyval(coef, x_min - xc)), "n_runs": int(m.sum())})
    return pd.DataFrame(rows, columns=["budget_flops", "n_opt", "loss_min", "n_runs"])


def _power_exponent(c: np.ndarray, n: np.ndarray) -> float:
    return float(np.polyfit(np.log(c), np.log(n), 1)[0])


MIN_VALID_FRACTION = 0.5  # below this share of usable resamples, the bootstrap says nothing about the spread


def _resampled(runs: Runs, stat, n_resamples: int, seed: int, level: float) -> tuple[float, float, str]:
    """Bootstrap-over-runs interval of ``stat`` and a note; (NaN, NaN, why) when the resamples cannot give one."""
    rng = np.random.default_rng(seed)
    n = len(runs)
    vals = []
    for counts in rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples):
        try:
            v = stat(counts.astype(float))
        except (ValueError, np.linalg.LinAlgError, InputError):
            continue
        if v is not None and np.isfinite(v):
            vals.append(v)
    if len(vals) < max(2, MIN_VALID_FRACTION * n_resamples):
        return np.nan, np.nan, (f"no interval: only {len(vals)} of {n_resamples} resamples of the runs still had "
                                "enough budgets/sizes to estimate a")
    q = (1 - level) / 2
    lo, hi = np.quantile(vals, [q, 1 - q])
    if hi - lo <= 1e-9 * max(1.0, abs(hi)):
        # E.g. exactly 3 sizes per budget and 2 budgets: every parabola and the line through the minima pass exactly
        # through their points, so resampling runs cannot move the estimate. A zero-width interval would claim a
        # precision the data do not have.
        return np.nan, np.nan, ("no interval: every resample gives the same a (no residual left to resample: "
                                "train more sizes per budget or more budgets)")
    return float(lo), float(hi), ""


def approach2(runs, *, n_resamples: int = 200, seed: int = 0, level: float = 0.8,
              tol_decades: float = BUDGET_TOL_DECADES) -> ApproachResult:
    runs = load_runs(runs)
    minima = isoflop_minima(runs, tol_decades=tol_decades)
    if len(minima) < 2:
        raise InputError("approach 2 needs ≥ 2 isoFLOP budgets, each with ≥ 3 model sizes and a valley inside them",
                         source=runs.source)

    def stat(w):
        m = isoflop_minima(runs, w, tol_decades)
        return _power_exponent(m["budget_flops"].to_numpy(), m["n_opt"].to_numpy()) if len(m) >= 2 else None

    a = _power_exponent(minima["budget_flops"].to_numpy(), minima["n_opt"].to_numpy())
    lo, hi, note = _resampled(runs, stat, n_resamples, seed, level)
    # D_opt = C / (6 N_opt) at each budget, so b = 1 − a exactly.
    return ApproachResult("2: isoFLOP profiles", a, 1 - a, lo, hi, 1 - hi, 1 - lo, len(minima), note=note,
                          detail=minima)


# --- approach 1 --------------------------------------------------------------------------------------------------
def _envelope_matrix(runs: Runs, n_grid: int = 40):
    """Each run's log loss interpolated (log-log) on a shared grid of log FLOPs; NaN outside the run's curve."""
    n_of = dict(zip(runs.frame["run_id"].to_numpy(), runs.n_params))
    sizes, curves, ids = [], [], []
    for rid, grp in runs.curves.groupby("run_id", sort=False):
        if len(grp) >= 2:
            n = n_of[rid]
            sizes.append(n)
            ids.append(rid)
            curves.append((np.log(FLOPS_PER_PARAM_TOKEN * n * grp["n_tokens"].to_numpy()),
                           np.log(grp["loss"].to_numpy())))
    if len(curves) < 2:
        return np.array(sizes), np.empty(0), np.empty((len(curves), 0)), ids
    grid = np.linspace(min(c[0] for c, _ in curves), max(c[-1] for c, _ in curves), n_grid)
    L = np.array([np.where((grid >= c[0]) & (grid <= c[-1]), np.interp(grid, c, l), np.nan) for c, l in curves])
    return np.array(sizes), grid, L, ids


def _envelope(sizes, grid, L, use) -> pd.DataFrame:
    cols = ["flops", "n_opt", "loss"]
    if use.sum() < 2:
        return pd.DataFrame(columns=cols)
    Lu, su = L[use], sizes[use]
    covered = ~np.all(np.isnan(Lu), axis=0)
    Lc = Lu[:, covered]
    best = np.nanargmin(np.where(np.isnan(Lc), np.inf, Lc), axis=0)
    env = pd.DataFrame({"flops": np.exp(grid[covered]), "n_opt": su[best],
                        "loss": np.exp(Lc[best, np.arange(Lc.shape[1])])}, columns=cols)
    # Where the smallest or largest model holds the envelope, the optimum may lie outside the ladder: drop those.
    return env[(env["n_opt"] > su.min()) & (env["n_opt"] < su.max())].reset_index(drop=True)


def loss_envelope(runs: Runs, run_mask: np.ndarray | None = None, n_grid: int = 40) -> pd.DataFrame:
    """For log-spaced FLOP counts, the run with the lowest (log-log interpolated) loss there, where that run is
    neither the smallest nor the largest model (whose envelope share may be clipped by the ladder's range)."""
    sizes, grid, L, ids = _envelope_matrix(runs, n_grid)
    use = np.ones(len(ids), bool)
    if run_mask is not None:
        chosen = set(runs.frame["run_id"].to_numpy()[run_mask])
        use = np.array([rid in chosen for rid in ids], bool)
    return _envelope(sizes, grid, L, use)


def approach1(runs, *, n_resamples: int = 200, seed: int = 0, level: float = 0.8) -> ApproachResult:
    runs = load_runs(runs)
    if runs.curves is None or "run_id" not in runs.frame:
        raise InputError("approach 1 needs per-run loss curves (run_id, n_tokens, loss)", source=runs.source)
    sizes, grid, L, ids = _envelope_matrix(runs)
    env = _envelope(sizes, grid, L, np.ones(len(ids), bool))
    if env["n_opt"].nunique() < 2:
        raise InputError("approach 1: the loss envelope is held by a single model size; no trend to fit",
                         source=runs.source)
    position = {rid: i for i, rid in enumerate(runs.frame["run_id"].to_numpy())}
    rows_of_curves = np.array([position[rid] for rid in ids])

    def stat(w):
        e = _envelope(sizes, grid, L, w[rows_of_curves] > 0)
        return _power_exponent(e["flops"].to_numpy(), e["n_opt"].to_numpy()) if e["n_opt"].nunique() >= 2 else None

    a = _power_exponent(env["flops"].to_numpy(), env["n_opt"].to_numpy())
    lo, hi, note = _resampled(runs, stat, n_resamples, seed, level)
    return ApproachResult("1: loss-curve envelope", a, 1 - a, lo, hi, 1 - hi, 1 - lo, len(env), note=note,
                          detail=env)


# --- approach 3 and the comparison ---------------------------------------------------------------------------------
def approach3(runs, *, n_resamples: int = 200, seed: int = 0, level: float = 0.8, fit_result=None,
              **fit_kwargs) -> ApproachResult:
    boot = bootstrap(runs, "chinchilla", n_resamples=n_resamples, seed=seed, level=level, fit_result=fit_result,
                     **fit_kwargs)
    a, b = boot.interval("a"), boot.interval("b")
    return ApproachResult("3: parametric fit", a["estimate"], b["estimate"], a["lo_total"], a["hi_total"],
                          b["lo_total"], b["hi_total"], boot.fit.n_points)


def compare_approaches(runs, *, n_resamples: int = 200, seed: int = 0, level: float = 0.8,
                       fit_result=None) -> ApproachComparison:
    runs = load_runs(runs)
    results, skipped = [], []
    for name, fn in (("1", approach1), ("2", approach2)):
        try:
            results.append(fn(runs, n_resamples=n_resamples, seed=seed, level=level))
        except InputError as exc:
            skipped.append(f"approach {name}: {exc}")
    results.append(approach3(runs, n_resamples=n_resamples, seed=seed, level=level, fit_result=fit_result))
    disagreements = find_disagreements(results)
    return ApproachComparison(tuple(results), tuple(skipped), tuple(disagreements), level)


def find_disagreements(results) -> list[str]:
    """A message for every pair of approaches whose intervals for a do not overlap."""
    out = []
    for i in range(len(results)):
        for j in range(i + 1, len(results)):
            r, s = results[i], results[j]
            if np.isfinite([r.a_lo, r.a_hi, s.a_lo, s.a_hi]).all() and (r.a_hi < s.a_lo or s.a_hi < r.a_lo):
                out.append(f"approaches {r.approach.split(':')[0]} and {s.approach.split(':')[0]} disagree on a: "
                           f"{r.a:.3f} [{r.a_lo:.3f}, {r.a_hi:.3f}] vs {s.a:.3f} [{s.a_lo:.3f}, {s.a_hi:.3f}]")
    return out
