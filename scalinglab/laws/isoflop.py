"""IsoFLOP analysis (Chinchilla's approach 2, Hoffmann et al. 2022 Sec. 3.2): per compute budget, the loss-minimising
model size N* and token count D*; then N* = k_N·C^a and D* = k_D·C^b by weighted regression on log C.

Per budget (runs within 0.1 decade of compute, ≥ 3 model sizes):
1. **Window.** The size with the lowest observed loss and every run within ``window_decades`` of it in log10 N, the
   width cut to the nearer end of the sampled sizes (a symmetric window) and always holding the nearest size on
   either side. One parabola over all sizes is biased when a budget spans 1–3 decades of N (Porian et al. 2024,
   arXiv:2406.19146, whose budgets span 0.6–3.1 decades; they used Akima interpolation): the profile
   L(N) = E + A/N^α + B·(6N/C)^β is not a parabola in log N, and the longer side of a lopsided window pulls the
   vertex. Measured by ``benchmarks/isoflop_window.py`` on Porian's OpenWebText2 isoFLOP points, the Table 1
   exponent a of all 5 configurations lands inside the paper's 95 % interval for every half-width 0.2–10 decades
   with the symmetric cut (without it: 4 of 5 at ±0.5, 3 of 5 with all sizes). On synthetic Chinchilla ladders
   (sizes 0.15 decade apart, log-loss noise 0.003) the RMS error of a falls from 0.015 at ±0.4 to 0.008 at ±0.5 and
   0.006 at ±1, while Porian's a drift from the paper's as the window widens (Correcting warmup 0.604 at ±0.4,
   0.594 at ±0.5, 0.570 at ±1): the default ±0.5 decade balances the two (its 90 % interval held the true a in
   37 of 40 synthetic draws).
2. **Edge minima are dropped, with the reason**: lowest loss at the smallest or largest sampled size (the minimum may
   lie outside the sizes trained), no valley (the parabola opens downwards), its vertex outside the fitted sizes, or
   fewer than half the noise resamples still putting a valley inside them.
3. **Noise bootstrap** (``n_resamples``, seeded): the parabola's fitted log losses plus Gaussian noise of the pooled
   residual scale σ (all budgets' window fits, Σ RSS / Σ (points − 3)), refitted in the same window. This resamples
   the noise, not the runs, since a budget has only a handful of points near its minimum (Porian et al. also
   bootstrap the noise). σ = 0 (e.g. exactly 3 sizes per window) gives no interval, never a zero-width one.
4. **Weighted regression** of log N* (and log D*) on log C, weights 1/s² with s the bootstrap standard deviation of
   each budget's log N* (log D*). The interval on a (b) and on N*, D* at any budget comes from refitting the line to
   each resample's minima, widened by the Birge ratio √(χ²/(n−2)) when the minima scatter about the line more than
   their own spread allows (per-budget noise alone would then understate the uncertainty).
D* at a budget is read off the budget's own (N, D) pairs (a line in log-log through the window at N*), so b = 1 − a
only when every run spends exactly C = 6ND.

Not an isoFLOP design: when no group of runs within 0.1 decade of compute holds ≥ 3 sizes, the analysis refuses;
when a used budget's runs differ in compute by more than ``ISO_SPREAD_DECADES`` (≈ 5 %), it warns in plain words,
since such a "budget" is a group of nearby compute, not a profile at fixed C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.runs import Runs, load_runs

BUDGET_TOL_DECADES = 0.1     # a budget groups runs within this many decades of its smallest run's compute
ISO_SPREAD_DECADES = 0.02    # an isoFLOP profile's runs spend the same compute to within ≈ 5 %
DEFAULT_WINDOW_DECADES = 0.5  # measured: see the module docstring and benchmarks/isoflop_window.py
MIN_SIZES = 3
MIN_VALID_SHARE = 0.5        # a budget is dropped when its minimum leaves the fitted sizes in more resamples than this
BUDGET_COLUMNS = ["budget_flops", "n_opt", "n_lo", "n_hi", "n_tokens_opt", "d_lo", "d_hi", "loss_min", "n_runs",
                  "n_sizes", "n_lo_fitted", "n_hi_fitted", "log_n_sd", "log_d_sd"]


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


@dataclass(frozen=True)
class _Budget:
    """One budget's window fit: x = ln N − x0 (x0: the lowest-loss size), fitted log losses and the vertex."""
    flops: float
    x0: float
    x: np.ndarray
    fitted: np.ndarray
    rss: float
    x_opt: float
    loss_opt: float
    d_line: tuple[float, float]   # ln D = d_line[0] + d_line[1]·x  (x centred)
    n_runs: int
    n_sizes: int
    n_span: tuple[float, float]   # smallest and largest N in the window


def _window(x: np.ndarray, sizes: np.ndarray, i: int, half_width: float) -> np.ndarray:
    """Runs within ``half_width`` (natural log) of size ``sizes[i]`` (the lowest mean loss), the width cut to the
    nearer end of the sampled sizes so the window is symmetric, and always the nearest size on either side."""
    half = min(half_width, sizes[i] - sizes[0], sizes[-1] - sizes[i])
    keep = np.abs(sizes - sizes[i]) <= half * (1 + 1e-9)
    keep[i - 1:i + 2] = True
    return np.isin(x, sizes[keep])


def _fit_budget(c: float, n: np.ndarray, d: np.ndarray, loss: np.ndarray, half_width: float) -> _Budget | str:
    """The window parabola of one budget, or the reason it gives no minimum."""
    x_all = np.round(np.log(n), 9)  # equal sizes compare equal
    sizes = np.unique(x_all)
    if sizes.size < MIN_SIZES:
        return f"only {sizes.size} model size{'s' * (sizes.size != 1)} (need ≥ {MIN_SIZES})"
    y_all = np.log(loss)
    i = int(np.argmin([y_all[x_all == s].mean() for s in sizes]))  # repeated sizes (seeds): their mean
    if i in (0, sizes.size - 1):
        end = "smallest" if i == 0 else "largest"
        return (f"lowest loss at the {end} sampled size (N={math.exp(sizes[i]):.3g}): the minimum may lie outside "
                "the sizes trained")
    m = _window(x_all, sizes, i, half_width)
    x0 = float(sizes[i])
    x, y = x_all[m] - x0, y_all[m]
    coef = np.polyfit(x, y, 2)
    if coef[0] <= 0:
        return "no valley: the loss does not turn up on both sides of the lowest point"
    x_opt = -coef[1] / (2 * coef[0])
    if not (x.min() <= x_opt <= x.max()):
        return "the parabola's minimum lies outside the sizes it was fitted to"
    fitted = np.polyval(coef, x)
    d_line = np.polyfit(x, np.log(d[m]), 1)[::-1]
    return _Budget(c, x0, x, fitted, float(np.sum((y - fitted) ** 2)), float(x_opt),
                   float(math.exp(np.polyval(coef, x_opt))), (float(d_line[0]), float(d_line[1])), int(m.sum()),
                   int(np.unique(x).size), (float(n[m].min()), float(n[m].max())))


def _noise_vertices(b: _Budget, sigma: float, n_resamples: int, rng) -> np.ndarray:
    """Vertex x of the window parabola refitted to fitted + N(0, σ²) noise; NaN where no valley lies in the window."""
    V = np.vander(b.x, 3)
    Y = b.fitted[:, None] + sigma * rng.standard_normal((b.x.size, n_resamples))
    c2, c1, _ = np.linalg.lstsq(V, Y, rcond=None)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        xv = -c1 / (2 * c2)
    ok = (c2 > 0) & (xv >= b.x.min()) & (xv <= b.x.max())
    return np.where(ok, xv, np.nan)


def _line(lc: np.ndarray, lv: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """Weighted least-squares line lv = k + s·lc: (slope, intercept, Birge ratio ≥ 1)."""
    s, k = np.polyfit(lc, lv, 1, w=np.sqrt(w))
    dof = lc.size - 2
    chi2 = float(np.sum(w * (lv - (k + s * lc)) ** 2))
    return float(s), float(k), max(1.0, math.sqrt(chi2 / dof)) if dof > 0 else 1.0


@dataclass(frozen=True)
class IsoflopAnalysis:
    """Per-budget minima (``budgets``), the budgets left out and why (``dropped``), the exponents with intervals and
    the coefficients of N* = k_N·C^a and D* = k_D·C^b; ``at(flops)`` gives N*, D* with intervals at any budget."""
    budgets: pd.DataFrame
    dropped: pd.DataFrame
    a: float
    a_lo: float
    a_hi: float
    b: float
    b_lo: float
    b_hi: float
    k_n: float
    k_d: float
    level: float
    n_resamples: int
    seed: int
    window_decades: float
    noise_sigma: float              # pooled residual s.d. of log loss about the window parabolas
    birge: tuple[float, float]      # interval widening for a and b (1: the minima scatter as their spread says)
    warnings: tuple[str, ...]
    note: str = ""                  # why there is no interval, when there is none
    source: str = "<table>"
    replicates: np.ndarray = field(default=None, repr=False)  # per resample: a, ln k_N, b, ln k_D (NaN: failed)

    def at(self, flops) -> pd.DataFrame:
        """N*, D* (with ``level`` intervals) at each budget, and how far each lies beyond the largest budget used."""
        c = np.atleast_1d(np.asarray(flops, float))
        for v in c:
            if not (np.isfinite(v) and v > 0):
                raise InputError(f"flops must be finite FLOP counts > 0, got {v:g}")
        lc = np.log(c)
        rows = {"flops": c, "n_opt": np.exp(math.log(self.k_n) + self.a * lc),
                "n_tokens_opt": np.exp(math.log(self.k_d) + self.b * lc)}
        for name, col, birge in (("n", 0, self.birge[0]), ("d", 2, self.birge[1])):
            est = np.log(rows["n_opt" if name == "n" else "n_tokens_opt"])
            lo, hi = self._band(lc, col, est, birge)
            rows[f"{name}_lo"], rows[f"{name}_hi"] = np.exp(lo), np.exp(hi)
        rows["decades_beyond"] = np.log10(c / self.budgets["budget_flops"].max())
        return pd.DataFrame(rows, columns=["flops", "n_opt", "n_lo", "n_hi", "n_tokens_opt", "d_lo", "d_hi",
                                           "decades_beyond"])

    def _band(self, lc, col, est, birge):
        if self.note or self.replicates is None:
            return np.full_like(est, np.nan), np.full_like(est, np.nan)
        R = self.replicates
        ok = np.isfinite(R[:, col])
        pred = R[ok, col + 1][:, None] + R[ok, col][:, None] * lc[None, :]
        q = (1 - self.level) / 2
        lo, hi = np.quantile(pred, [q, 1 - q], axis=0)
        return est - birge * (est - lo), est + birge * (hi - est)

    def to_dict(self, flops=()) -> dict:
        out = {"method": "isoflop", "a": self.a, "a_lo": self.a_lo, "a_hi": self.a_hi, "b": self.b,
               "b_lo": self.b_lo, "b_hi": self.b_hi, "k_n": self.k_n, "k_d": self.k_d, "level": self.level,
               "n_resamples": self.n_resamples, "seed": self.seed, "window_decades": self.window_decades,
               "noise_sigma": self.noise_sigma, "birge_a": self.birge[0], "birge_b": self.birge[1],
               "budgets": self.budgets.to_dict(orient="records"), "dropped": self.dropped.to_dict(orient="records"),
               "warnings": list(self.warnings), "note": self.note, "source": self.source}
        if len(flops):
            out["at"] = self.at(flops).to_dict(orient="records")
        return out


def _check_options(window_decades: float, n_resamples: int, level: float) -> None:
    if not (np.isfinite(window_decades) and window_decades > 0):
        raise InputError(f"--window must be a finite number of decades > 0, got {window_decades:g}")
    if n_resamples < 2:
        raise InputError(f"--resamples must be at least 2, got {n_resamples}")
    if not 0 < level < 1:
        raise InputError(f"--level must lie strictly between 0 and 1, got {level:g}")


def _group(runs: Runs, half_width: float) -> tuple[list[_Budget], list[dict], list[str]]:
    """Window fits of every budget, the dropped ones with reasons, and plain-words design warnings."""
    labels = isoflop_budgets(runs.flops)
    kept, dropped, loose = [], [], []
    for g in np.unique(labels):
        m = labels == g
        c = float(np.exp(np.mean(np.log(runs.flops[m]))))
        res = _fit_budget(c, runs.n_params[m], runs.n_tokens[m], runs.loss[m], half_width)
        if isinstance(res, str):
            dropped.append({"budget_flops": c, "n_runs": int(m.sum()), "reason": res})
            continue
        kept.append(res)
        spread = float(np.ptp(np.log10(runs.flops[m])))
        if spread > ISO_SPREAD_DECADES:
            loose.append((c, spread))
    if not kept and all(r["reason"].startswith("only") for r in dropped):
        raise InputError("not an isoFLOP design: no compute budget (runs within 0.1 decade of compute) holds "
                         f"≥ {MIN_SIZES} model sizes; train several sizes at each of a few fixed budgets",
                         source=runs.source)
    warnings = []
    if loose:
        worst = max(s for _, s in loose)
        warnings.append(f"not an isoFLOP design: in {len(loose)} of {len(kept)} budgets the runs' compute differs "
                        f"by up to {10 ** worst - 1:.0%} (an isoFLOP profile holds compute fixed), so those "
                        "'budgets' are groups of nearby compute and their minima mix compute levels")
    return kept, dropped, warnings


def _pooled_sigma(kept: list[_Budget]) -> float:
    dof = sum(b.x.size - 3 for b in kept)
    return math.sqrt(sum(b.rss for b in kept) / dof) if dof > 0 else 0.0


def _replicate_lines(lc, V, w) -> np.ndarray:
    """Weighted line through each resample's minima (rows of V, NaN = failed): slope and intercept per resample."""
    m = np.isfinite(V)
    W = np.where(m, w[None, :], 0.0)
    Vz = np.where(m, V, 0.0)
    s0, s1, s2 = W.sum(1), (W * lc).sum(1), (W * lc**2).sum(1)
    t0, t1 = (W * Vz).sum(1), (W * Vz * lc).sum(1)
    det = s0 * s2 - s1**2
    ok = (m.sum(1) >= 2) & (det > 1e-12 * np.maximum(s0 * s2, 1e-300))
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(ok, (s0 * t1 - s1 * t0) / det, np.nan)
        icpt = np.where(ok, (t0 - slope * s1) / s0, np.nan)
    return np.column_stack([slope, icpt])


def _interval(est: float, samples: np.ndarray, level: float, birge: float) -> tuple[float, float]:
    q = (1 - level) / 2
    lo, hi = np.quantile(samples[np.isfinite(samples)], [q, 1 - q])
    return est - birge * (est - lo), est + birge * (hi - est)


def _check_memory(kept: list[_Budget], n_resamples: int) -> None:
    """Refuse a noise bootstrap larger than the memory available, with the number (before any resample is drawn):
    per resample, a budget's window (noise, lstsq copies) and the replicate lines hold a few doubles per point."""
    from scalinglab.laws.bootstrap import refuse_over_memory

    per_resample = 8.0 * (8 * max((b.x.size for b in kept), default=0) + 8 * len(kept) + 8)
    refuse_over_memory(n_resamples, per_resample, "an isoFLOP bootstrap")


def isoflop_analysis(runs, *, window_decades: float = DEFAULT_WINDOW_DECADES, n_resamples: int = 1000,
                     level: float = 0.9, seed: int = 0) -> IsoflopAnalysis:
    """Chinchilla approach 2 as in the module docstring. Raises ``InputError`` when the runs hold fewer than 2
    budgets with an interior minimum (naming each dropped budget's reason) or are not an isoFLOP design at all."""
    _check_options(window_decades, n_resamples, level)
    runs = load_runs(runs).fitted()
    kept, dropped, warnings = _group(runs, window_decades * math.log(10))
    _check_memory(kept, n_resamples)
    sigma = _pooled_sigma(kept)
    rng = np.random.default_rng(seed)
    usable, xs = [], []
    for b in kept:
        xv = _noise_vertices(b, sigma, n_resamples, rng) if sigma > 0 else np.full(n_resamples, b.x_opt)
        valid = np.isfinite(xv).mean()
        if valid < MIN_VALID_SHARE:
            dropped.append({"budget_flops": b.flops, "n_runs": b.n_runs, "reason": (
                f"minimum not pinned down: only {valid:.0%} of the noise resamples keep a valley inside the "
                "fitted sizes")})
            continue
        usable.append(b)
        xs.append(xv)
    dropped_frame = pd.DataFrame(sorted(dropped, key=lambda r: r["budget_flops"]),
                                 columns=["budget_flops", "n_runs", "reason"])
    if len(usable) < 2:
        why = "; ".join(f"{r.budget_flops:.3g}: {r.reason}" for r in dropped_frame.itertuples())
        raise InputError(f"the isoFLOP analysis needs ≥ 2 budgets with a minimum inside their sampled sizes, "
                         f"found {len(usable)}" + (f" (dropped {why})" if why else ""), source=runs.source)
    return _regress(runs, usable, np.array(xs), dropped_frame, warnings, sigma, window_decades, n_resamples,
                    level, seed)


def _regress(runs, usable, xs, dropped, warnings, sigma, window_decades, n_resamples, level, seed):
    lc = np.log([b.flops for b in usable])
    ln_n = np.array([b.x0 + b.x_opt for b in usable])
    ln_d = np.array([b.d_line[0] + b.d_line[1] * b.x_opt for b in usable])
    rep_n = np.array([b.x0 for b in usable])[:, None] + xs                    # budgets × resamples
    rep_d = np.array([b.d_line[0] for b in usable])[:, None] + np.array([b.d_line[1] for b in usable])[:, None] * xs
    note = "" if sigma > 0 else ("no interval: every window holds exactly 3 sizes, so each parabola passes through "
                                 "its points and leaves no noise to resample (widen --window or train more sizes "
                                 "near each budget's minimum)")
    sd_n, sd_d = (np.nanstd(r, axis=1) for r in (rep_n, rep_d))
    w_n, w_d = ((1 / np.maximum(s, 1e-12) ** 2) if sigma > 0 else np.ones(len(usable)) for s in (sd_n, sd_d))
    a, ln_kn, birge_a = _line(lc, ln_n, w_n)
    b, ln_kd, birge_b = _line(lc, ln_d, w_d)
    if sigma == 0:
        birge_a = birge_b = 1.0  # no spread to compare the scatter with (and no interval to widen)
    reps = np.column_stack([_replicate_lines(lc, rep_n.T, w_n), _replicate_lines(lc, rep_d.T, w_d)])
    if not note and np.isfinite(reps[:, 0]).sum() < max(2, MIN_VALID_SHARE * n_resamples):
        note = f"no interval: only {int(np.isfinite(reps[:, 0]).sum())} of {n_resamples} resamples left ≥ 2 budgets"
    q = (1 - level) / 2
    pct = (lambda r: np.nanquantile(r, [q, 1 - q], axis=1)) if not note else (lambda r: np.full((2, len(r)), np.nan))
    (n_lo, n_hi), (d_lo, d_hi) = pct(rep_n), pct(rep_d)
    budgets = pd.DataFrame({
        "budget_flops": np.exp(lc), "n_opt": np.exp(ln_n), "n_lo": np.exp(n_lo), "n_hi": np.exp(n_hi),
        "n_tokens_opt": np.exp(ln_d), "d_lo": np.exp(d_lo), "d_hi": np.exp(d_hi),
        "loss_min": [u.loss_opt for u in usable], "n_runs": [u.n_runs for u in usable],
        "n_sizes": [u.n_sizes for u in usable], "n_lo_fitted": [u.n_span[0] for u in usable],
        "n_hi_fitted": [u.n_span[1] for u in usable],
        "log_n_sd": sd_n if not note else np.nan, "log_d_sd": sd_d if not note else np.nan}, columns=BUDGET_COLUMNS)
    a_lo, a_hi = _interval(a, reps[:, 0], level, birge_a) if not note else (np.nan, np.nan)
    b_lo, b_hi = _interval(b, reps[:, 2], level, birge_b) if not note else (np.nan, np.nan)
    return IsoflopAnalysis(budgets, dropped, a, a_lo, a_hi, b, b_lo, b_hi, math.exp(ln_kn), math.exp(ln_kd), level,
                           n_resamples, seed, window_decades, sigma, (birge_a, birge_b), tuple(warnings), note,
                           runs.source, reps)


def isoflop_minima(runs, window_decades: float = DEFAULT_WINDOW_DECADES) -> pd.DataFrame:
    """The per-budget table alone (no intervals): budget_flops, n_opt, n_tokens_opt, loss_min, points used, …"""
    return isoflop_analysis(runs, window_decades=window_decades, n_resamples=2).budgets
