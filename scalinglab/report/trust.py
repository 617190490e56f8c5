"""How far to trust a report's forecasts: plain checks on extrapolation, approach agreement, interval widths,
near-optimal fits and the backtest, each with a level (ok / caution / warning) and one sentence.

The thresholds are rules of thumb stated here once, not statistics:
- extrapolation (decades beyond the largest fitted run): ≤ 1 ok, ≤ 2 caution, more is a warning;
- N_opt interval (ratio of the upper to the lower end at a budget): ≤ 1.5 ok, ≤ 3 caution, more is a warning;
- Chinchilla approaches: intervals on a that do not overlap are a warning; estimates more than 0.05 apart, caution;
- backtest median |relative error| on held-out runs: ≤ 2 % ok, ≤ 5 % caution, more is a warning.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

EXTRAPOLATION_DECADES = (1.0, 2.0)
NOPT_RATIO = (1.5, 3.0)
APPROACH_SPREAD = 0.05
BACKTEST_ERROR = (0.02, 0.05)
LEVELS = ("ok", "caution", "warning")


@dataclass(frozen=True)
class Check:
    topic: str
    level: str
    text: str


@dataclass(frozen=True)
class Trust:
    max_fitted_flops: float
    fitted_decades: float                 # log10(largest / smallest fitted compute)
    budgets: tuple[dict, ...]             # per budget: flops, decades, n_opt_lo/hi and ratio, loss_lo/hi
    approaches: tuple[dict, ...]          # approach, a, a_lo, a_hi
    approach_spread: float | None         # largest minus smallest estimate of a
    n_near_optima: int
    checks: tuple[Check, ...]

    @property
    def worst(self) -> str:
        return max((c.level for c in self.checks), key=LEVELS.index, default="ok")

    def _repr_html_(self) -> str:
        from html import escape
        rows = "".join(f"<tr><td><b>{c.level}</b></td><td>{escape(c.topic)}</td><td>{escape(c.text)}</td></tr>"
                       for c in self.checks)
        return f"<p><b>How far to trust this</b> (worst: {self.worst})</p><table>{rows}</table>"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["worst"] = self.worst
        return out


def _c(value: float) -> str:
    """A FLOP or parameter count in plain text: 3 significant digits, 1e15 rather than 1e+15."""
    return f"{value:.3g}".replace("e+", "e")


def _grade(value: float, limits: tuple[float, float]) -> str:
    return "ok" if value <= limits[0] else ("caution" if value <= limits[1] else "warning")


def decades_beyond(max_fitted: float, flops: float) -> float:
    """log10 of how far a budget lies beyond the largest fitted compute (≤ 0: inside the fitted range)."""
    return math.log10(flops / max_fitted)


def _budget_rows(optimal, boot, max_c: float) -> list[dict]:
    rows = []
    if optimal is None:
        return rows
    for r in optimal.rows():
        c = r["flops"]
        row = {"flops": c, "decades": decades_beyond(max_c, c), "n_opt": r["n_params"], "loss": r["loss"]}
        if boot is not None:
            n_iv, l_iv = boot.interval(f"n_opt@{c:.3g}"), boot.interval(f"loss_opt@{c:.3g}")
            row.update(n_opt_lo=n_iv["lo_total"], n_opt_hi=n_iv["hi_total"],
                       n_opt_ratio=n_iv["hi_total"] / n_iv["lo_total"], loss_lo=l_iv["lo_total"],
                       loss_hi=l_iv["hi_total"])
        rows.append(row)
    return rows


def _extrapolation_check(rows: list[dict], fitted_decades: float) -> Check | None:
    if not rows:
        return None
    far = max(rows, key=lambda r: r["decades"])
    d = far["decades"]
    if d <= 0:
        return Check("extrapolation", "ok", "every budget lies inside the range of fitted compute")
    level = _grade(d, EXTRAPOLATION_DECADES)
    text = (f"the largest budget, {_c(far['flops'])} FLOP, lies {d:.1f} decades beyond the largest fitted run; "
            f"the fitted runs span {fitted_decades:.1f} decades")
    if d > fitted_decades:
        text += ", so the forecast reaches further than the data it rests on"
        level = "warning" if level != "ok" else "caution"
    return Check("extrapolation", level, text)


def _interval_check(rows: list[dict], boot) -> Check:
    if boot is None:
        return Check("intervals", "caution", "no bootstrap was run: the numbers carry no intervals (use --bootstrap)")
    with_iv = [r for r in rows if "n_opt_ratio" in r]
    if not with_iv:
        return Check("intervals", "ok", f"{boot.level:.0%} bootstrap intervals over {boot.n_resamples} resamples")
    far = max(with_iv, key=lambda r: r["flops"])
    return Check("intervals", _grade(far["n_opt_ratio"], NOPT_RATIO),
                 f"at {_c(far['flops'])} FLOP the {boot.level:.0%} interval on N_opt spans "
                 f"{_c(far['n_opt_lo'])}–{_c(far['n_opt_hi'])} parameters (×{far['n_opt_ratio']:.2f}); predicted "
                 f"loss {far['loss_lo']:.4g}–{far['loss_hi']:.4g}")


def _approach_check(comparison) -> tuple[tuple[dict, ...], float | None, Check | None]:
    if comparison is None:
        return (), None, None
    rows = tuple({"approach": r.approach, "a": r.a, "a_lo": r.a_lo, "a_hi": r.a_hi} for r in comparison.results)
    a = [r["a"] for r in rows]
    spread = float(max(a) - min(a)) if len(a) > 1 else None
    if comparison.disagreements:
        return rows, spread, Check("approaches", "warning", "; ".join(comparison.disagreements))
    if spread is None:
        return rows, spread, Check("approaches", "caution", "only one approach could be computed on these runs")
    level = "caution" if spread > APPROACH_SPREAD else "ok"
    return rows, spread, Check("approaches", level, f"{len(a)} approaches give a = {min(a):.3f}–{max(a):.3f} "
                                                    f"(N_opt ∝ C^a); their {comparison.level:.0%} intervals overlap")


def _near_optima_check(fit_result, boot) -> Check:
    k = len(fit_result.near_optima)
    if k <= 1:
        return Check("near-optimal fits", "ok", "the multi-start found one optimum (no other within 3 %)")
    text = f"{k} distinct optima lie within 3 % of the best objective"
    if boot is not None and "a" in set(boot.table["quantity"]):
        iv = boot.interval("a")
        text += f"; across them a ranges {iv['near_lo']:.3f}–{iv['near_hi']:.3f} (included in the intervals)"
    return Check("near-optimal fits", "caution", text)


def _backtest_check(bt) -> Check | None:
    if bt is None:
        return None
    err = bt.median_abs_rel_error
    reach = float(np.log10(bt.table["extrapolation"].max()))
    return Check("backtest", _grade(err, BACKTEST_ERROR),
                 f"fitted on {bt.fit.n_points} runs with C ≤ {_c(bt.cutoff_flops)}, it predicted {len(bt.table)} "
                 f"held-out runs up to {reach:.1f} decades further with median |error| {err:.2%} "
                 f"(max {bt.max_abs_rel_error:.2%})")


def assess(runs, fit_result, boot, comparison, bt, optimal) -> Trust:
    max_c, min_c = float(np.max(runs.flops)), float(np.min(runs.flops))
    fitted_decades = math.log10(max_c / min_c)
    rows = _budget_rows(optimal, boot, max_c)
    approach_rows, spread, approach_check = _approach_check(comparison)
    checks = [_extrapolation_check(rows, fitted_decades), _interval_check(rows, boot), approach_check,
              _near_optima_check(fit_result, boot), _backtest_check(bt)]
    if not fit_result.converged:
        checks.insert(0, Check("fit", "warning", f"the fit did not converge: {fit_result.message}"))
    return Trust(max_fitted_flops=max_c, fitted_decades=fitted_decades, budgets=tuple(rows),
                 approaches=approach_rows, approach_spread=spread, n_near_optima=len(fit_result.near_optima),
                 checks=tuple(c for c in checks if c is not None))
