"""What the demo concludes from its ladder, computed with the fitting core (``scalinglab.laws``).

- Chinchilla's parametric law L = E + A/N^α + B/D^β (approach 3) with bootstrap-over-runs intervals (90 %) on every
  parameter, the allocation exponents a, b, and N_opt, D_opt, loss at the forecast budgets.
- Approaches 1 (loss-curve envelope) and 2 (isoFLOP minima) for a and b, compared with approach 3 (80 % intervals,
  as in Hoffmann et al. 2022 Table 2).
- A backtest: fit on every budget but the largest, predict the largest budget's runs, report the relative errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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
    boot: BootstrapResult
    approaches: ApproachComparison
    backtest: BacktestResult | None
    backtest_note: str
    optimal: Allocation
    budgets: tuple[float, ...]

    def to_dict(self) -> dict:
        out = {
            "law": self.fit.to_dict(),
            "bootstrap": self.boot.to_dict(),
            "approaches": self.approaches.to_dict(),
            "compute_optimal": self.optimal.rows(),
            "backtest": self.backtest.to_dict() if self.backtest is not None else {"skipped": self.backtest_note},
        }
        return _plain(out)


def backtest_cutoff(flops: np.ndarray) -> float | None:
    """The cut between the largest budget and the one below it (geometric midpoint); None with one budget."""
    budgets = np.unique(np.round(np.log10(flops), 1))
    if budgets.size < 2:
        return None
    return float(10 ** ((budgets[-1] + budgets[-2]) / 2))


def analyse(runs: Runs, budgets=(1e13, 1e15, 1e18, 1e21), *, n_resamples: int = 400, seed: int = 0) -> DemoAnalysis:
    result = fit(runs, "chinchilla")
    boot = bootstrap(runs, "chinchilla", n_resamples=n_resamples, seed=seed, level=LEVEL, flops=list(budgets),
                     fit_result=result)
    approaches = compare_approaches(runs, n_resamples=min(n_resamples, 200), seed=seed, level=APPROACH_LEVEL,
                                    fit_result=result)
    cutoff = backtest_cutoff(runs.flops)
    bt, note = None, "the ladder has a single compute budget"
    if cutoff is not None:
        try:
            bt, note = backtest(runs, "chinchilla", cutoff_flops=cutoff), ""
        except Exception as exc:  # too few smaller runs for five parameters: say so instead of failing the demo
            note = " ".join(str(exc).split())
    return DemoAnalysis(runs=runs, fit=result, boot=boot, approaches=approaches, backtest=bt, backtest_note=note,
                        optimal=compute_optimal(result.law, np.asarray(budgets, float)), budgets=tuple(budgets))


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
