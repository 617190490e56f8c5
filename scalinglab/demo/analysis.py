"""What the demo concludes from its ladder, computed with the fitting core (``scalinglab.laws``).

- Chinchilla's parametric law L = E + A/N^α + B/D^β (approach 3) with bootstrap-over-runs intervals (90 %) on every
  parameter, the allocation exponents a, b, and N_opt, D_opt, loss at the forecast budgets.
- Approaches 1 (loss-curve envelope) and 2 (isoFLOP minima) for a and b, compared with approach 3 (80 % intervals,
  as in Hoffmann et al. 2022 Table 2).
- A backtest: fit on every budget but the largest, predict the largest budget's runs, report the relative errors.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from scalinglab.errors import InputError
from scalinglab.laws.approaches import ApproachComparison, compare_approaches
from scalinglab.laws.backtest import BacktestResult, backtest
from scalinglab.laws.bootstrap import BootstrapResult, bootstrap
from scalinglab.laws.fit import FitResult, fit
from scalinglab.laws.optimal import Allocation, compute_optimal
from scalinglab.runs import Runs

LEVEL = 0.9
APPROACH_LEVEL = 0.8


@dataclass(frozen=True)
class DemoAnalysis:
    runs: Runs
    fit: FitResult
    boot: BootstrapResult | None
    approaches: ApproachComparison | None
    backtest: BacktestResult | None
    optimal: Allocation | None
    budgets: tuple[float, ...]
    notes: tuple[str, ...] = ()   # why a part was skipped (a fit the data cannot support is reported, not hidden)

    def to_dict(self) -> dict:
        out = {
            "law": self.fit.to_dict(),
            "bootstrap": self.boot.to_dict() if self.boot is not None else None,
            "approaches": self.approaches.to_dict() if self.approaches is not None else None,
            "compute_optimal": self.optimal.rows() if self.optimal is not None else None,
            "backtest": self.backtest.to_dict() if self.backtest is not None else None,
            "notes": list(self.notes),
        }
        return _plain(out)


def backtest_cutoff(flops: np.ndarray) -> float | None:
    """The cut between the largest budget and the one below it (geometric midpoint); None with one budget."""
    budgets = np.unique(np.round(np.log10(flops), 1))
    if budgets.size < 2:
        return None
    return float(10 ** ((budgets[-1] + budgets[-2]) / 2))


def analyse(runs: Runs, budgets=(1e13, 1e15, 1e18, 1e21), *, n_resamples: int = 400, seed: int = 0) -> DemoAnalysis:
    # Bootstrap resamples of a small ladder include degenerate fits; their overflow warnings are noise here
    # (failed resamples are counted in the result instead).
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return _analyse(runs, budgets, n_resamples, seed)


def _analyse(runs: Runs, budgets, n_resamples: int, seed: int) -> DemoAnalysis:
    result = fit(runs, "chinchilla")
    notes = []
    law = result.law
    if not (law.alpha > 0 and law.beta > 0):
        notes.append(f"the fitted exponents are not both positive (alpha={law.alpha:.3g}, beta={law.beta:.3g}): "
                     "loss does not fall with both N and D in these runs, so no compute-optimal allocation")
        return DemoAnalysis(runs, result, None, None, None, None, tuple(budgets), tuple(notes))
    boot = approaches = bt = None
    try:
        boot = bootstrap(runs, "chinchilla", n_resamples=n_resamples, seed=seed, level=LEVEL, flops=list(budgets),
                         fit_result=result)
    except InputError as exc:
        notes.append(f"bootstrap: {exc}")
    try:
        approaches = compare_approaches(runs, n_resamples=min(n_resamples, 200), seed=seed, level=APPROACH_LEVEL,
                                        fit_result=result)
    except InputError as exc:
        notes.append(f"approaches: {exc}")
    cutoff = backtest_cutoff(runs.flops)
    if cutoff is None:
        notes.append("backtest: the ladder has a single compute budget")
    else:
        try:
            bt = backtest(runs, "chinchilla", cutoff_flops=cutoff)
        except InputError as exc:
            notes.append(f"backtest: {exc}")
    optimal = None
    try:
        optimal = compute_optimal(law, np.asarray(budgets, float))
    except InputError as exc:  # e.g. an allocation that overflows for extreme fitted constants
        notes.append(f"compute-optimal allocation: {exc}")
    return DemoAnalysis(runs=runs, fit=result, boot=boot, approaches=approaches, backtest=bt, optimal=optimal,
                        budgets=tuple(budgets), notes=tuple(notes))


def _plain(obj):
    """JSON-ready copy: numpy scalars to floats, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
