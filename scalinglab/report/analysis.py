"""The numbers a report shows, computed once with the fitting core and kept together for the page, figures and JSON.

One fit of the chosen law; a bootstrap over runs for intervals on every parameter and on N_opt, D_opt and loss at the
report's budgets; Chinchilla's three approaches to the allocation exponents (Chinchilla law only); a backtest that
fits the smaller runs and predicts the largest compute budget; the compute-optimal allocation at the budgets; the
forecast with its interval and components at the budgets, beyond the ladder and at the runs marked ``held_out``, which
no part fits (``report.forecast``); the abilities
(task accuracy through task laws, ``report.abilities``) when there is an eval history.
Parts the data cannot support are skipped with a note, never hidden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from scalinglab.errors import InputError
from scalinglab.laws.approaches import ApproachComparison, compare_approaches, isoflop_budgets
from scalinglab.laws.backtest import BacktestResult, backtest
from scalinglab.laws.bootstrap import BootstrapResult, bootstrap
from scalinglab.laws.fit import FitResult, fit, resolve_law, standard_fit_options
from scalinglab.laws.optimal import Allocation, compute_optimal
from scalinglab.report.abilities import AbilitiesSection, abilities_section
from scalinglab.report.forecast import ForecastSection, check_options, forecast_section
from scalinglab.report.planning import PlanSection, parse_request, plan_sections
from scalinglab.report.sources import ReportInput
from scalinglab.report.testtime import TestTimeSection, testtime_section
from scalinglab.report.trust import Trust, assess

BACKTEST_HOLDOUT = 0.2      # hold out about the top 20 % of runs by compute, cut between isoFLOP budgets
APPROACH_LEVEL = 0.8        # Hoffmann et al. 2022 Table 2 report 10th-90th percentiles for the approaches

@dataclass(frozen=True)
class ReportOptions:
    law: str = "chinchilla"
    n_resamples: int = 200      # bootstrap resamples over runs (0: no intervals)
    seed: int = 0
    level: float = 0.9
    budgets: tuple[float, ...] | None = None   # default: four decades from the largest run's compute upwards
    approaches: bool = True
    backtest: bool = True
    plans: tuple[str, ...] = ()   # planner requests, each 'key=value,…' (see report.planning)
    counts: str | None = None     # per-problem sample counts for the test-time section
    forecast: bool = True         # the forecast section (scalinglab.laws.forecast)
    forecast_resamples: int = 200
    forecast_law: str = "auto"
    targets: tuple[tuple[float, float], ...] = ()   # (N, D) to forecast besides the budgets
    tasks: tuple[str, ...] = ()   # eval histories for the abilities section (default: a ladder's own task suite)
    tasks_params_file: str | None = None   # N per run of those histories (run_id,N CSV or final.json)
    task_chance: tuple[tuple[str, float], ...] = ()   # chance accuracy of tasks not built in


@dataclass(frozen=True)
class ReportData:
    input: ReportInput
    options: ReportOptions
    fit: FitResult
    boot: BootstrapResult | None
    approaches: ApproachComparison | None
    backtest: BacktestResult | None
    optimal: Allocation | None
    budgets: tuple[float, ...]
    trust: Trust
    plans: tuple[PlanSection, ...] = ()
    testtime: TestTimeSection | None = None
    forecast: ForecastSection | None = None
    abilities: AbilitiesSection | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def runs(self):
        return self.input.runs

    def _repr_html_(self) -> str:
        from scalinglab.report.render import render_fragment
        return render_fragment(self)

    def to_dict(self) -> dict:
        return plain({
            "source": self.input.source, "n_runs_fitted": len(self.runs), "n_runs_excluded": len(self.input.excluded),
            "n_runs_held_out": 0 if self.input.held_out is None else len(self.input.held_out),
            "runs": self.runs.frame.assign(fit_rel_error=np.expm1(self.fit.residuals)).to_dict(orient="records"),
            "excluded": self.input.excluded.to_dict(orient="records"),
            "fit": self.fit.to_dict(),
            "bootstrap": self.boot.to_dict() if self.boot is not None else None,
            "approaches": self.approaches.to_dict() if self.approaches is not None else None,
            "backtest": _backtest_dict(self.backtest),
            "compute_optimal": self.optimal.rows() if self.optimal is not None else None,
            "budgets": list(self.budgets), "trust": self.trust.to_dict(),
            "plans": [p.to_dict() for p in self.plans],
            "testtime": self.testtime.to_dict() if self.testtime is not None else None,
            "forecast": self.forecast.to_dict() if self.forecast is not None else None,
            "abilities": self.abilities.to_dict() if self.abilities is not None else None,
            "notes": list(self.notes),
        })


def _backtest_dict(bt: BacktestResult | None):
    if bt is None:
        return None
    out = bt.to_dict()
    out.pop("fit")
    out["fit_params"] = bt.fit.params
    return out


def default_budgets(flops: np.ndarray) -> tuple[float, ...]:
    """Four decades from the first power of ten at or above the largest run's compute."""
    start = 10.0 ** math.ceil(math.log10(float(np.max(flops))) - 1e-9)
    return tuple(start * 10.0 ** k for k in range(4))


def backtest_cutoff(flops: np.ndarray, n_min: int) -> float | None:
    """A compute cut between isoFLOP budgets (groups of runs within 0.1 decade) that holds out the share of runs
    closest to BACKTEST_HOLDOUT, keeping at least ``n_min`` runs to fit; None when no such cut exists."""
    labels = isoflop_budgets(flops)
    best, best_gap = None, math.inf
    for g in range(labels.max()):
        held = labels > g
        if (~held).sum() < n_min or not held.any():
            continue
        gap = abs(held.mean() - BACKTEST_HOLDOUT)
        if gap < best_gap:
            best, best_gap = float(np.max(flops[~held])), gap
    return best


def _allocates(fit_result: FitResult) -> bool:
    inputs = set(fit_result.law.inputs)
    return {"n_params", "n_tokens"} <= inputs and "unique_tokens" not in inputs


def analyse(data: ReportInput, options: ReportOptions = ReportOptions()) -> ReportData:
    """Fit, bootstrap, compare approaches, backtest and allocate; each part that fails leaves a note."""
    resolve_law(options.law)
    if options.n_resamples and options.n_resamples < 2:
        raise InputError(f"--bootstrap needs 0 (no intervals) or at least 2 resamples, got {options.n_resamples}")
    for request in options.plans:
        parse_request(request)  # bad requests fail before the slow part
    if options.forecast:
        if options.forecast_resamples < 2:
            raise InputError(f"--forecast-resamples needs at least 2 resamples, got {options.forecast_resamples}")
        check_options(options.forecast_law, options.targets)
    tt = testtime_section(options.counts, seed=options.seed) if options.counts is not None else None
    history, task_info = _task_history(data, options)
    runs, notes = data.runs, []
    result = fit(runs, options.law, **standard_fit_options(options.law))
    if not result.converged:
        notes.append(f"the fit did not converge ({result.message}); read every number below with that in mind")
    budgets = tuple(float(b) for b in (options.budgets or default_budgets(runs.flops)))
    for b in budgets:
        if not (math.isfinite(b) and b > 0):
            raise InputError(f"budgets must be finite FLOP counts > 0, got {b!r}")
    allocates = _allocates(result)
    optimal = boot = comparison = bt = None
    if allocates:
        try:
            optimal = compute_optimal(result.law, np.asarray(budgets))
        except InputError as exc:
            notes.append(f"compute-optimal allocation: {exc}")
    else:
        notes.append(f"law '{result.law.name}' does not split compute between N and D: no allocation table")
    if options.n_resamples:
        try:
            boot = bootstrap(runs, options.law, n_resamples=int(options.n_resamples), seed=options.seed,
                             level=options.level, flops=budgets if allocates else (), fit_result=result)
        except InputError as exc:
            notes.append(f"bootstrap: {exc}")
    if options.approaches and result.law.name == "chinchilla":
        try:
            comparison = compare_approaches(runs, n_resamples=max(int(options.n_resamples), 50),
                                            seed=options.seed, level=APPROACH_LEVEL, fit_result=result)
        except InputError as exc:
            notes.append(f"approaches: {exc}")
    if options.backtest:
        law_cls = type(result.law)
        cutoff = backtest_cutoff(runs.flops, law_cls.n_fit_params() + 1)
        if cutoff is None:
            notes.append("backtest: no compute cut leaves enough runs on both sides")
        else:
            try:
                bt = backtest(runs, options.law, cutoff_flops=cutoff, **standard_fit_options(options.law))
            except InputError as exc:
                notes.append(f"backtest: {exc}")
    plans = plan_sections(options.plans, result) if options.plans else ()
    fc = None
    if options.forecast:
        fc = forecast_section(runs, result.law if allocates else None, budgets=budgets, targets=options.targets,
                              held_out=data.held_out, forecast_law=options.forecast_law, level=options.level,
                              n_resamples=options.forecast_resamples, seed=options.seed, fit_result=result)
    elif data.held_out is not None:
        notes.append("the forecast section is off (--no-forecast), so the held-out runs are not forecast")
    abilities = _abilities(history, task_info, optimal, options, notes) if history is not None else None
    trust = assess(runs, result, boot, comparison, bt, optimal)
    return ReportData(input=data, options=options, fit=result, boot=boot, approaches=comparison, backtest=bt,
                      optimal=optimal, budgets=budgets, trust=trust, plans=tuple(plans), testtime=tt,
                      forecast=fc, abilities=abilities, notes=tuple(notes))


def _task_history(data: ReportInput, options: ReportOptions):
    """The eval history of the abilities section: ``--tasks`` files, else the ladder's own task evaluations."""
    if options.tasks:
        from scalinglab.runs.history import load_history

        info = {task: (c, None) for task, c in options.task_chance}
        return load_history(list(options.tasks), params_file=options.tasks_params_file), info
    return data.history, {**data.task_info, **{task: (c, data.task_info.get(task, (None, None))[1])
                                               for task, c in options.task_chance}}


def _abilities(history, task_info: dict, optimal, options: ReportOptions, notes: list) -> AbilitiesSection:
    targets, labels = [], []
    if optimal is not None:
        for row in optimal.rows():
            targets.append((float(row["n_params"]), float(row["n_tokens"])))
            labels.append(f"report budget {row['flops']:.0e}")
    else:
        notes.append("abilities: no compute-optimal allocation, so no accuracy forecasts at the budgets")
    return abilities_section(history, targets=targets, labels=labels,
                             chance={t: c for t, (c, _) in task_info.items() if c is not None},
                             n_items={t: n for t, (_, n) in task_info.items() if n is not None},
                             level=options.level, n_resamples=int(options.n_resamples), seed=options.seed)


def plain(obj):
    """A JSON-ready copy: numpy scalars and arrays to Python numbers and lists, NaN and infinities to None."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj
