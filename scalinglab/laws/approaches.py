"""Chinchilla's three ways to the compute-optimal exponents N_opt ∝ C^a, D_opt ∝ C^b (Hoffmann et al. 2022, Sec. 3).

1. Lower envelope of loss over compute from per-run loss curves: for each FLOP count, the run with the lowest loss
   (for a WSD ladder, each size's curve through its cooldown branches' end points).
2. IsoFLOP profiles: per compute budget, a parabola of loss in log N near the budget's lowest loss; its minimum gives
   N_opt(C) (``scalinglab.laws.isoflop``, which documents the window, the noise bootstrap and the dropped budgets).
3. The parametric fit L = E + A/N^α + B/D^β: a = β/(α+β), b = α/(α+β).
Each reports a and b with intervals at ``level`` from ``n_resamples`` resamples (approaches 1 and 3 resample the runs,
approach 2 the noise about each budget's parabola); Hoffmann's Table 2 gives 10th–90th percentiles, the default here.
``compare_approaches`` says when two approaches' intervals for a do not overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.laws.bootstrap import bootstrap
from scalinglab.laws.forms import FLOPS_PER_PARAM_TOKEN
from scalinglab.laws.isoflop import DEFAULT_WINDOW_DECADES, isoflop_analysis
from scalinglab.laws.isoflop import isoflop_budgets, isoflop_minima  # noqa: F401  (callers import them from here)
from scalinglab.runs import Runs, load_runs


@dataclass(frozen=True)
class ApproachResult:
    number: int                        # Chinchilla's approach 1, 2 or 3 (Hoffmann et al. 2022, Sec. 3)
    name: str
    a: float
    b: float
    a_lo: float
    a_hi: float
    b_lo: float
    b_hi: float
    n_points: int                      # envelope points / budgets / runs behind the estimate
    note: str = ""
    detail: pd.DataFrame | None = field(default=None, repr=False)  # per-budget optima (approaches 1 and 2)

    @property
    def approach(self) -> str:
        """The label shown in tables, e.g. "2: isoFLOP profiles"."""
        return f"{self.number}: {self.name}"


@dataclass(frozen=True)
class ApproachComparison:
    results: tuple[ApproachResult, ...]
    skipped: tuple[str, ...]
    disagreements: tuple[str, ...]
    level: float

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{k: getattr(r, k) for k in ("approach", "number", "a", "a_lo", "a_hi", "b", "b_lo",
                                                          "b_hi", "n_points", "note")} for r in self.results])

    def to_dict(self) -> dict:
        return {"level": self.level, "approaches": self.table().to_dict(orient="records"),
                "skipped": list(self.skipped), "disagreements": list(self.disagreements)}

    def _repr_html_(self) -> str:
        extra = "".join(f"<p>⚠ {d}</p>" for d in self.disagreements)
        return self.table().to_html(index=False, float_format=lambda v: f"{v:.4g}") + extra


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
                                "enough points to estimate a")
    q = (1 - level) / 2
    lo, hi = np.quantile(vals, [q, 1 - q])
    if hi - lo <= 1e-9 * max(1.0, abs(hi)):
        # E.g. two envelope points held by two sizes: every resample draws the same line. A zero-width interval
        # would claim a precision the data do not have.
        return np.nan, np.nan, ("no interval: every resample gives the same a (no residual left to resample: "
                                "train more sizes or longer curves)")
    return float(lo), float(hi), ""


def _dropped_summary(dropped: pd.DataFrame, listed: int = 3) -> str:
    """Which budgets approach 2 left out and why: each one when few, else a count per kind of reason."""
    if len(dropped) <= listed:
        return "; ".join(f"dropped budget {r.budget_flops:.3g} ({r.reason})" for r in dropped.itertuples())
    kinds = dropped["reason"].str.split(r" \(|:", regex=True).str[0].value_counts()
    return (f"dropped {len(dropped)} budgets: " + ", ".join(f"{n} × {k}" for k, n in kinds.items())
            + " (scalinglab isoflop lists each)")


def approach2(runs, *, n_resamples: int = 200, seed: int = 0, level: float = 0.8,
              window_decades: float = DEFAULT_WINDOW_DECADES) -> ApproachResult:
    """The isoFLOP analysis as one approach among three; ``detail`` is its per-budget table, ``note`` says which
    budgets were dropped and why, and whether the runs are an isoFLOP design at all."""
    iso = isoflop_analysis(runs, window_decades=window_decades, n_resamples=n_resamples, level=level, seed=seed)
    parts = [iso.note, *iso.warnings, _dropped_summary(iso.dropped)]
    return ApproachResult(2, "isoFLOP profiles", iso.a, iso.b, iso.a_lo, iso.a_hi, iso.b_lo, iso.b_hi,
                          len(iso.budgets), note="; ".join(p for p in parts if p), detail=iso.budgets)


# --- approach 1 --------------------------------------------------------------------------------------------------
def _envelope_curves(runs: Runs, rows: np.ndarray) -> tuple[list, list, list]:
    """(sizes, log-FLOPs/log-loss curves, ids) of the chosen rows. A plain run's curve is its own loss curve; the
    cooldown branches of one stable phase make one curve together, through their end points (each a cooled-down
    loss at its D; Hägele et al. 2024, arXiv:2405.18392), since a branch's own curve before its branch point is the
    stable phase at constant learning rate, above what an annealed run reaches at the same D."""
    frame = runs.frame
    n_of = dict(zip(frame["run_id"].to_numpy(), runs.n_params))
    branch = runs.branches
    sizes, curves, ids = [], [], []
    plain = set(frame["run_id"].to_numpy()[rows & ~branch])
    if runs.curves is not None and plain:
        for rid, grp in runs.curves.groupby("run_id", sort=False):
            if len(grp) >= 2 and rid in plain:
                sizes.append(n_of[rid])
                ids.append(rid)
                curves.append((np.log(FLOPS_PER_PARAM_TOKEN * n_of[rid] * grp["n_tokens"].to_numpy()),
                               np.log(grp["loss"].to_numpy())))
    chosen = frame[rows & branch]
    for parent, grp in (chosen.groupby(chosen["parent"].astype(str), sort=False) if len(chosen) else ()):
        grp = grp.sort_values("n_tokens")
        if len(grp) >= 2:
            n = float(grp["n_params"].iloc[0])
            sizes.append(n)
            ids.append(parent)
            curves.append((np.log(FLOPS_PER_PARAM_TOKEN * n * grp["n_tokens"].to_numpy(float)),
                           np.log(grp["loss"].to_numpy(float))))
    return sizes, curves, ids


def _envelope_matrix(runs: Runs, n_grid: int = 40, rows: np.ndarray | None = None, grid: np.ndarray | None = None):
    """Each curve's log loss interpolated (log-log) on a shared grid of log FLOPs; NaN outside the curve."""
    rows = np.ones(len(runs), bool) if rows is None else rows
    sizes, curves, ids = _envelope_curves(runs, rows)
    if len(curves) < 2:
        return np.array(sizes), np.empty(0), np.empty((len(curves), 0)), ids
    if grid is None:
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
    sizes, grid, L, ids = _envelope_matrix(runs, n_grid, rows=None if run_mask is None else np.asarray(run_mask, bool))
    return _envelope(sizes, grid, L, np.ones(len(ids), bool))


def approach1(runs, *, n_resamples: int = 200, seed: int = 0, level: float = 0.8) -> ApproachResult:
    runs = load_runs(runs).fitted()
    branches = runs.branches
    if "run_id" not in runs.frame or (runs.curves is None and not branches.any()):
        raise InputError("approach 1 needs per-run loss curves (run_id, n_tokens, loss) or WSD cooldown branches",
                         source=runs.source)
    sizes, grid, L, ids = _envelope_matrix(runs)
    env = _envelope(sizes, grid, L, np.ones(len(ids), bool))
    if env["n_opt"].nunique() < 2:
        raise InputError("approach 1: the loss envelope is held by a single model size; no trend to fit",
                         source=runs.source)
    position = {rid: i for i, rid in enumerate(runs.frame["run_id"].to_numpy())}
    rows_of_curves = np.array([position.get(rid, -1) for rid in ids])

    def stat(w):
        if branches.any():  # a branch family's curve is made of the resampled branches' end points
            s, _, Lw, _ = _envelope_matrix(runs, rows=w > 0, grid=grid)
            e = _envelope(s, grid, Lw, np.ones(len(s), bool)) if Lw.size else pd.DataFrame(columns=["n_opt"])
        else:
            e = _envelope(sizes, grid, L, w[rows_of_curves] > 0)
        return _power_exponent(e["flops"].to_numpy(), e["n_opt"].to_numpy()) if e["n_opt"].nunique() >= 2 else None

    a = _power_exponent(env["flops"].to_numpy(), env["n_opt"].to_numpy())
    lo, hi, note = _resampled(runs, stat, n_resamples, seed, level)
    return ApproachResult(1, "loss-curve envelope", a, 1 - a, lo, hi, 1 - hi, 1 - lo, len(env), note=note,
                          detail=env)


# --- approach 3 and the comparison ---------------------------------------------------------------------------------
def approach3(runs, *, n_resamples: int = 200, seed: int = 0, level: float = 0.8, fit_result=None,
              **fit_kwargs) -> ApproachResult:
    boot = bootstrap(runs, "chinchilla", n_resamples=n_resamples, seed=seed, level=level, fit_result=fit_result,
                     **fit_kwargs)
    a, b = boot.interval("a"), boot.interval("b")
    return ApproachResult(3, "parametric fit", a["estimate"], b["estimate"], a["lo_total"], a["hi_total"],
                          b["lo_total"], b["hi_total"], boot.fit.n_points)


def compare_approaches(runs, *, n_resamples: int = 200, seed: int = 0, level: float = 0.8,
                       fit_result=None) -> ApproachComparison:
    """Approaches 1–3 at one ``level`` from ``n_resamples`` resamples each; approaches 1 and 2 are skipped, with
    the reason, when the runs cannot support them (no loss curves, no isoFLOP budgets)."""
    if int(n_resamples) < 2:
        raise InputError(f"the approaches need at least 2 resamples, got {n_resamples}")
    if not 0 < level < 1:
        raise InputError(f"the interval level must lie strictly between 0 and 1, got {level:g}")
    runs = load_runs(runs).fitted()
    results, skipped = [], []
    for number, fn in ((1, approach1), (2, approach2)):
        try:
            results.append(fn(runs, n_resamples=n_resamples, seed=seed, level=level))
        except InputError as exc:
            skipped.append(f"approach {number}: {exc}")
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
                out.append(f"approaches {r.number} and {s.number} disagree on a: "
                           f"{r.a:.3f} [{r.a_lo:.3f}, {r.a_hi:.3f}] vs {s.a:.3f} [{s.a_lo:.3f}, {s.a_hi:.3f}]")
    return out
