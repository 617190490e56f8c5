"""Forecast the loss of a run at any target (N, D) or compute budget, with an interval whose parts are stated apart.

For each candidate law form f (``law="auto"``: Chinchilla, Kaplan's joint L(N, D) and the interaction form), in log
loss, the forecast of a run at the target is treated as normal with mean μ_f (the best fit's prediction) and variance

    V_f = s²_boot + s²_near + σ²_f + (γ_f · x)²

- s²_boot (a): variance of the prediction over a bootstrap over runs (resamples refitted on the batched solver);
- s²_near (b): variance of the prediction across the fit's near-optimal local minima (``FitResult.near_optima``);
- σ²_f: scatter of single runs about the fitted surface (degrees-of-freedom-corrected mean squared log residual): a
  held-out run is one noisy draw, so the interval is a prediction interval for one run, not for the surface;
- (γ_f·x)² (d): the extrapolation term, x = decades of compute beyond the largest fitted run (0 inside the range).
  γ_f is calibrated on the ladder itself: each fold of a leave-the-largest-budgets-out backtest (the top 15 %, 30 %,
  50 % of runs by compute held out) is fitted and bootstrapped the same way, and γ²_f is the moment estimate
  Σ x_i²(e_i² − v_i) / Σ x_i⁴ (≥ 0) over the held-out runs, e_i their log error and v_i the fold's own variance
  s²_boot + s²_near + σ²: the squared error the fit's own uncertainty does not explain, taken to grow as x².

The forms are mixed with weights w_f (c) chosen by stacking their backtest predictive densities (Yao et al. 2018,
"Using stacking to average Bayesian predictive distributions"): w maximises Σ_i log Σ_f w_f N(e_fi; 0, v_fi + γ²_f
x²_i) + Σ_f log w_f (a Dirichlet(2) prior against all-or-nothing weights from a few runs) over the simplex (a grid of
step 1/50), so a form that predicted the held-out largest budgets well and honestly gets the weight. The mixture has mean μ = Σ w_f μ_f and, by the law of total variance, variance Σ w_f V_f +
Σ w_f (μ_f − μ)², the last sum being the spread across forms. The interval is exp(μ ± z·√V), z the normal quantile of
``level``; each component is reported as its own half-width z·√(weighted variance), in log loss (≈ relative).

Every fit and bootstrap of a form is one batched solve: over a table's backtest folds, and with ``forecast_many``
over many tables at once (``fit_many``, ``refit_resamples_many``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from scalinglab.errors import InputError
from scalinglab.laws.bootstrap import MAX_EXTRA_STARTS, check_bootstrap_memory, refit_resamples_many
from scalinglab.laws.fit import FitResult, fit, fit_many, resolve_law
from scalinglab.laws.forms import FLOPS_PER_PARAM_TOKEN, Chinchilla, complete_inputs
from scalinglab.laws.interaction import Interaction
from scalinglab.laws.interval import Interval
from scalinglab.runs import Runs, load_runs

AUTO_FORMS = ("chinchilla", "kaplan", "interaction")
HOLDOUT_FRACTIONS = (0.15, 0.3, 0.5)  # backtest folds: the top 15 %, 30 %, 50 % of runs by compute held out
FOLD_RESAMPLES = 200                 # bootstrap resamples per backtest fold (a variance, not a tail quantile)
MIN_SPARE_RUNS = 2                   # a fold keeps at least (free parameters + 2) runs
STACKING_STEP = 1 / 50
INTERACTION_START_G = (-5.0, 0.0, 5.0, 10.0, 15.0, 20.0, 25.0)  # log G of the interaction form's starts
COMPONENTS = ("bootstrap", "near_optima", "forms", "scatter", "extrapolation")


@dataclass(frozen=True)
class TargetForecast:
    """The forecast at one target: ``loss`` with its interval, and each component's half-width in log loss."""

    n_params: float
    n_tokens: float
    flops: float
    loss: Interval
    components: dict[str, float]
    extrapolation_decades: float
    by_form: dict[str, float]   # each form's own prediction (its best fit)
    compute_optimal: bool       # the target was a budget; (N, D) is the compute-optimal point of the top form

    def to_dict(self) -> dict:
        return {"N": self.n_params, "D": self.n_tokens, "flops": self.flops, "loss": self.loss.estimate,
                "lo": self.loss.lo, "hi": self.loss.hi, "level": self.loss.level, "components": self.components,
                "extrapolation_decades": self.extrapolation_decades, "by_form": self.by_form,
                "compute_optimal": self.compute_optimal}


@dataclass(frozen=True)
class FormSummary:
    law: str
    weight: float
    gamma: float                 # extrapolation growth: sd of the unexplained log error per decade extrapolated
    scatter: float               # σ_f, rms log residual of single runs about the fit
    backtest_rms_error: float    # rms log error over the backtests' held-out runs
    n_failed: int                # bootstrap resamples that did not converge (dropped)
    fit: FitResult = field(repr=False)


@dataclass(frozen=True)
class ForecastResult:
    targets: tuple[TargetForecast, ...]
    forms: tuple[FormSummary, ...]
    level: float
    n_resamples: int
    seed: int
    folds: tuple[str, ...]
    notes: tuple[str, ...]
    rule: str = ("V = Σ_f w_f (s²_boot + s²_near + σ²_f + γ²_f·x²) + Σ_f w_f (μ_f − μ)², interval exp(μ ± z√V); "
                 "γ_f from leave-the-largest-budgets-out backtests, x = decades beyond the largest run, w_f by "
                 "stacking the backtests' predictive densities")

    def to_dict(self) -> dict:
        return {"level": self.level, "n_resamples": self.n_resamples, "seed": self.seed, "rule": self.rule,
                "folds": list(self.folds), "notes": list(self.notes),
                "forms": [{"law": f.law, "weight": f.weight, "gamma": f.gamma, "scatter": f.scatter,
                           "backtest_rms_error": f.backtest_rms_error, "n_failed": f.n_failed,
                           "params": f.fit.params} for f in self.forms],
                "targets": [t.to_dict() for t in self.targets]}


# --- pieces ---------------------------------------------------------------------------------------------------
def _log_predict(law_cls, thetas: np.ndarray, X: dict) -> np.ndarray:
    with np.errstate(all="ignore"):
        return law_cls.log_predict(np.atleast_2d(thetas), {k: X[k] for k in law_cls.inputs})


def _uncertainty_many(results: list[FitResult], Xs: list[dict], n_resamples: int, rngs: list) -> list:
    """``_uncertainty`` of several fits of one form, all resamples refitted in one batched solve (each fit's counts
    drawn from its own ``rng``, in order); an ``InputError`` in place of a fit with too few refitted resamples."""
    counts = []
    for result, rng in zip(results, rngs):
        n = len(result.runs)
        counts.append(rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(float))
    obj, bests = refit_resamples_many(results, counts)
    out = []
    for result, X, best in zip(results, Xs, bests):
        law_cls = type(result.law)
        n = len(result.runs)
        thetas, ok = obj.full_theta(best.theta), best.converged & np.isfinite(best.objective)
        pred = _log_predict(law_cls, thetas[ok], X)
        pred = pred[np.all(np.isfinite(pred), axis=1)]
        if len(pred) < 2:
            out.append(InputError(f"law '{law_cls.name}': fewer than 2 bootstrap resamples could be refitted",
                                  source=result.runs.source))
            continue
        near = [o.law.theta() for o in result.near_optima] or [result.law.theta()]
        var_near = np.var(_log_predict(law_cls, np.array(near), X), axis=0)
        dof = max(n - law_cls.n_fit_params() + len(result.held), 1)
        sigma2 = float(np.sum(result.residuals ** 2) / dof)
        out.append((np.var(pred, axis=0, ddof=1), var_near, sigma2, int(n_resamples - len(pred))))
    return out


def _fit_forms(tables: list[Runs], law_cls, chinchillas=None) -> list:
    """The full-data fit of one form on each table (``fit_many``; an InputError in place of a failed one)."""
    if law_cls is Interaction and chinchillas is not None:
        # Nested in Chinchilla: start from its optima with the interaction term switched on at several sizes
        # (a search over g only; the full 6-D grid cost ~10× more for the same optimum on Epoch's runs).
        grids = [np.array([Interaction.from_chinchilla(b, G=float(np.exp(g))).theta()
                           for b in ([o.law for o in c.near_optima] or [c.law]) for g in INTERACTION_START_G])
                 for c in chinchillas]
        return fit_many(tables, law_cls, grid=grids, errors="return")
    return fit_many(tables, law_cls, errors="return")


def _folds(runs: Runs, n_params_max: int) -> list[np.ndarray]:
    C = runs.flops
    out: list[np.ndarray] = []
    for frac in HOLDOUT_FRACTIONS:
        keep = C <= np.quantile(C, 1 - frac, method="lower")
        if keep.all() or keep.sum() < n_params_max + MIN_SPARE_RUNS:
            continue
        if not any(np.array_equal(keep, k) for k in out):
            out.append(keep)
    return out


def _decades(flops, largest: float) -> np.ndarray:
    # a difference of logs: the ratio of a tiny target's compute to the ladder's can underflow to 0
    return np.maximum(np.log10(np.asarray(flops, float)) - np.log10(largest), 0.0)


def _backtest_forms(tables, law_cls, fulls, folds, n_fold_resamples, rngs) -> list:
    """Per table: errors e, own variances v and decades x of every held-out run over all its folds (pooled), for one
    form, the InputError that stopped its backtest, or None for a table without folds. The folds of every table are
    fitted in one ``fit_many`` (each from its table's full-data optima: the same basins, far cheaper) and
    bootstrapped together (``refit_resamples_many``)."""
    jobs = [(t, keep) for t, ks in enumerate(folds) for keep in ks]
    trains = [tables[t].subset(keep) for t, keep in jobs]
    starts = [np.array([f.law.theta()] + [o.law.theta() for o in f.near_optima]) for f in fulls]
    fold_fits = fit_many(trains, law_cls, grid=[starts[t] for t, _ in jobs], errors="return")
    failed = {t: r for (t, _), r in zip(jobs, fold_fits) if isinstance(r, InputError)}
    ok = [j for j, (t, _) in enumerate(jobs) if t not in failed]
    tests = [tables[jobs[j][0]].subset(~jobs[j][1]) for j in ok]
    unc = _uncertainty_many([fold_fits[j] for j in ok], [t.law_inputs() for t in tests], n_fold_resamples,
                            [rngs[jobs[j][0]] for j in ok]) if ok else []
    parts: dict[int, list] = {}
    for j, test, u in zip(ok, tests, unc):
        t = jobs[j][0]
        if isinstance(u, InputError):
            failed.setdefault(t, u)
            continue
        var_boot, var_near, sigma2, _ = u
        res = fold_fits[j]
        e = _log_predict(law_cls, res.law.theta(), test.law_inputs())[0] - np.log(test.loss)
        parts.setdefault(t, []).append((e, var_boot + var_near + sigma2, _decades(test.flops, trains[j].flops.max())))
    return [failed[t] if t in failed else None if t not in parts else
            tuple(np.concatenate([p[i] for p in parts[t]]) for i in range(3)) for t in range(len(tables))]


def extrapolation_gamma2(e: np.ndarray, v: np.ndarray, x: np.ndarray) -> float:
    """Moment estimate of γ² in E[e²] = v + γ²x² (least squares through the origin in x²), floored at 0."""
    x2 = x * x
    denom = float(np.sum(x2 * x2))
    if denom <= 0:
        return 0.0
    return max(float(np.sum(x2 * (e * e - v)) / denom), 0.0)


def stacking_weights(log_dens: np.ndarray, step: float = STACKING_STEP) -> np.ndarray:
    """Weights on the simplex maximising Σ_i log Σ_f w_f p_fi + Σ_f log w_f, given log p [F, n]: stacking with a
    Dirichlet(2) prior, which keeps a handful of held-out runs (OLMo's ladder gives 6) from putting all the weight on
    one form by chance, and fades as runs accumulate. Forms with no finite density (their backtest failed) get 0.
    An exhaustive grid of step ``step`` (F ≤ 3–4)."""
    ok = np.isfinite(log_dens).all(axis=1)
    out = np.zeros(log_dens.shape[0])
    F = int(ok.sum())
    if F <= 1:
        out[ok] = 1.0
        return out
    m = int(round(1 / step))
    grid = np.array([c for c in np.ndindex(*(m + 1,) * (F - 1)) if 0 < sum(c) < m and min(c) > 0], float) / m
    W = np.column_stack([grid, 1.0 - grid.sum(axis=1)])
    dens = log_dens[ok]
    top = dens.max(axis=0)
    score = np.log(W @ np.exp(dens - top)).sum(axis=1) + np.log(W).sum(axis=1)
    out[ok] = W[int(np.argmax(score))]
    return out


def _targets(targets) -> list[dict]:
    """Targets as dicts with n_params and n_tokens, or flops alone (a budget)."""
    if isinstance(targets, dict):
        keys = list(targets)
        cols = np.broadcast_arrays(*(np.atleast_1d(np.asarray(targets[k], float)) for k in keys))
        targets = [dict(zip(keys, vals)) for vals in zip(*cols)]
    out = []
    for t in targets:
        X = complete_inputs(**t)
        if not ({"n_params", "n_tokens"} <= X.keys() or set(X) == {"flops"}):
            raise InputError("a forecast target needs N and D (or N or D with C), or a compute budget C alone")
        out.append({k: float(v) for k, v in X.items()})
    if not out:
        raise InputError("give at least one forecast target")
    return out


# --- the forecast ---------------------------------------------------------------------------------------------
def forecast(runs, targets, law="auto", *, level: float = 0.9, n_resamples: int = 1000, seed: int = 0,
             n_fold_resamples: int = FOLD_RESAMPLES, grid: np.ndarray | None = None,
             fit_result: FitResult | None = None) -> ForecastResult:
    """Forecast the loss of a run at each target, with a ``level`` interval and its components (module docstring).

    ``targets``: dicts (or one dict of arrays) of N and D (aliases n_params/n_tokens; C with one of them also works);
    a target given by C (``flops``) alone means the compute-optimal point of that budget under the form with the
    largest weight. ``law``: "auto" (Chinchilla, Kaplan joint and the interaction form, mixed by backtest stacking)
    or one law name; seeded: the same seed gives the same numbers. ``grid``: starting points for a one-law
    forecast's fit (default: the law's own grid); ``n_fold_resamples``: bootstrap resamples per backtest fold.
    ``fit_result``: a fit of one of the forms on these runs with ``fit``'s default options (e.g. the report's), used
    instead of refitting that form; a fit with other options is ignored.
    """
    return forecast_many([runs], targets, law, level=level, n_resamples=n_resamples, seeds=[seed],
                         n_fold_resamples=n_fold_resamples, grid=grid, fit_results=[fit_result])[0]


def forecast_many(tables, targets, law="auto", *, level: float = 0.9, n_resamples: int = 1000, seeds=None,
                  n_fold_resamples: int = FOLD_RESAMPLES, grid: np.ndarray | None = None,
                  fit_results=None) -> list[ForecastResult]:
    """``forecast`` of each of several Runs tables (e.g. ladders of one design, or one ladder's metrics) at the same
    targets, every fit and bootstrap of a form one batched solve over all tables (``fit_many``,
    ``refit_resamples_many``): the forecasts ``forecast`` gives for each table with its seed (``seeds``, default
    0, 1, …), to solver tolerance. Within a table, its backtest folds are fitted and bootstrapped together too.
    (Where a table's backtest fails part-way, its later random draws differ from those of a lone ``forecast``.)"""
    if not (0 < level < 1):
        raise InputError(f"interval level must be between 0 and 1, got {level}")
    if not (isinstance(n_resamples, (int, np.integer)) and n_resamples >= 2):
        raise InputError(f"a forecast needs at least 2 bootstrap resamples, got {n_resamples}")
    names = AUTO_FORMS if law == "auto" else (resolve_law(law).name,)
    classes = [resolve_law(n) for n in names]
    for cls in classes:
        if not ({"n_params", "n_tokens"} == set(cls.inputs)):
            raise InputError(f"forecast needs a law of N and D; '{cls.name}' depends on {', '.join(cls.inputs)}")
    wanted = _targets(targets)
    tables = [load_runs(r).fitted() for r in tables]
    for cls in classes:  # before any fit: a bootstrap too large for memory is refused with the number
        check_bootstrap_memory(int(n_resamples), sum(len(t) for t in tables), 1 + MAX_EXTRA_STARTS,
                               cls.n_fit_params(), len(wanted))
    P = len(tables)
    seeds = list(range(P)) if seeds is None else list(seeds)
    fit_results = [None] * P if fit_results is None else list(fit_results)
    rngs = [np.random.default_rng(s) for s in seeds]
    if grid is not None and len(classes) > 1:
        raise InputError("starting points (grid) can be given for a forecast with one law only")
    fits: list[list[FitResult]] = []   # [form][table]
    for cls in classes:
        chin = next((f for f in fits if isinstance(f[0].law, Chinchilla)), None)
        reuse = [grid is None and _reusable(fr, cls, t) for fr, t in zip(fit_results, tables)]
        todo = [i for i in range(P) if not reuse[i]]
        made = ([] if not todo else
                fit_many([tables[i] for i in todo], cls, grid=grid, errors="return") if grid is not None else
                _fit_forms([tables[i] for i in todo], cls, None if chin is None else [chin[i] for i in todo]))
        row = [fit_results[i] if reuse[i] else None for i in range(P)]
        for i, r in zip(todo, made):
            if isinstance(r, InputError):
                raise r
            row[i] = r
        fits.append(row)
    folds = [_folds(t, max(c.n_fit_params() for c in classes)) for t in tables]
    n_fold = min(n_fold_resamples, n_resamples)
    backtests = [_backtest_forms(tables, cls, fits[f], folds, n_fold, rngs) for f, cls in enumerate(classes)]
    weights, gammas2, rms, notes = [], [], [], []
    for i, runs in enumerate(tables):
        note = [] if folds[i] else ["too few runs for a backtest: no extrapolation term, forms weighted equally"]
        n_held = sum(int((~k).sum()) for k in folds[i])
        g2s, dens_f, rms_f = [], [], []
        for cls, bt in zip(classes, backtests):
            g2, dens, r = 0.0, np.full(n_held, -np.inf), float("nan")
            if folds[i]:
                if isinstance(bt[i], InputError):
                    note.append(f"law '{cls.name}' could not be backtested ({bt[i]}); it gets no weight")
                else:
                    e, v, x = bt[i]
                    g2 = extrapolation_gamma2(e, v, x)
                    dens, r = norm.logpdf(e, scale=np.sqrt(v + g2 * x * x)), float(np.sqrt(np.mean(e * e)))
            g2s.append(g2)
            dens_f.append(dens)
            rms_f.append(r)
        if folds[i] and np.isfinite(dens_f).any():
            weights.append(stacking_weights(np.array(dens_f)))
        else:
            weights.append(np.full(len(classes), 1 / len(classes)))
        gammas2.append(g2s)
        rms.append(rms_f)
        notes.append(note)
    resolved = []
    for i, runs in enumerate(tables):
        points, is_budget = _resolve_budgets(wanted, fits[int(np.argmax(weights[i]))][i])
        X = {k: np.array([p[k] for p in points]) for k in ("n_params", "n_tokens", "flops")}
        resolved.append((points, is_budget, X, _decades(X["flops"], runs.flops.max())))
    per_form = [[None] * len(classes) for _ in range(P)]
    failed = [[0] * len(classes) for _ in range(P)]
    for f, cls in enumerate(classes):
        use = [i for i in range(P) if weights[i][f] > 0]
        unc = _uncertainty_many([fits[f][i] for i in use], [resolved[i][2] for i in use], n_resamples,
                                [rngs[i] for i in use]) if use else []
        for i, u in zip(use, unc):
            if isinstance(u, InputError):
                raise u
            var_boot, var_near, sigma2, n_failed = u
            mu = _log_predict(cls, fits[f][i].law.theta(), resolved[i][2])[0]
            if n_failed > 0.1 * n_resamples:
                notes[i].append(f"law '{cls.name}': its bootstrap rests on {n_resamples - n_failed} of {n_resamples} "
                                "resamples (the others did not converge and are dropped)")
            x_t = resolved[i][3]
            per_form[i][f] = (mu, var_boot, var_near, np.full_like(mu, sigma2), gammas2[i][f] * x_t * x_t)
            failed[i][f] = n_failed
        for i in range(P):
            if weights[i][f] == 0:  # no weight in the mixture: its spread would be multiplied by 0
                mu = _log_predict(cls, fits[f][i].law.theta(), resolved[i][2])[0]
                per_form[i][f] = (mu, *(np.zeros_like(mu),) * 2, np.full_like(mu, np.nan), np.zeros_like(mu))
    out = []
    for i, runs in enumerate(tables):
        points, is_budget, X, x_t = resolved[i]
        targets_i = _combine(points, X, x_t, is_budget, names, weights[i], per_form[i], level)
        forms = tuple(FormSummary(law=n, weight=float(w), gamma=float(np.sqrt(g2)), scatter=float(np.sqrt(pf[3][0])),
                                  backtest_rms_error=r, n_failed=nf, fit=fits[f][i])
                      for f, (n, w, g2, pf, r, nf) in enumerate(zip(names, weights[i], gammas2[i], per_form[i],
                                                                     rms[i], failed[i])))
        fold_text = tuple(f"fit {int(k.sum())} runs with C ≤ {runs.flops[k].max():.3g}, predict {int((~k).sum())}"
                          for k in folds[i])
        out.append(ForecastResult(targets=targets_i, forms=forms, level=level, n_resamples=int(n_resamples),
                                  seed=int(seeds[i]), folds=fold_text, notes=tuple(notes[i])))
    return out


def _reusable(result: FitResult | None, law_cls, runs: Runs) -> bool:
    """Whether ``result`` is the fit ``_fit_forms`` would make of ``law_cls`` on ``runs`` (fit's default options)."""
    return (result is not None and type(result.law) is law_cls and result.n_points == len(runs)
            and np.array_equal(result.runs.loss, runs.loss) and result.loss == "huber_log" and result.delta == 1e-3
            and result.asymmetry == 1.0 and not result.held and not result.fixed and result.bound_e)


def _resolve_budgets(wanted: list[dict], top: FitResult) -> tuple[list[dict], list[bool]]:
    from scalinglab.laws.optimal import compute_optimal
    points, is_budget = [], []
    for t in wanted:
        if "n_params" in t:
            points.append(t)
            is_budget.append(False)
            continue
        alloc = compute_optimal(top.law, np.array([t["flops"]]))
        n = float(alloc.n_params[0])
        points.append({"n_params": n, "n_tokens": t["flops"] / (FLOPS_PER_PARAM_TOKEN * n), "flops": t["flops"]})
        is_budget.append(True)
    return points, is_budget


def _combine(points, X, x_t, is_budget, names, weights, per_form, level) -> tuple[TargetForecast, ...]:
    z = float(norm.ppf(0.5 + level / 2))
    w = np.asarray(weights)[:, None]
    mu_f = np.array([pf[0] for pf in per_form])                   # [F, T]
    mu = (w * mu_f).sum(axis=0)
    parts = {"bootstrap": 1, "near_optima": 2, "scatter": 3, "extrapolation": 4}
    var = {k: (w * np.nan_to_num(np.array([pf[i] for pf in per_form]))).sum(axis=0) for k, i in parts.items()}
    var["forms"] = (w * (mu_f - mu) ** 2).sum(axis=0)
    total = sum(var.values())
    out = []
    for j, p in enumerate(points):
        half = z * np.sqrt(total[j])
        if not np.isfinite(mu[j] + half) or mu[j] + half > np.log(np.finfo(float).max):
            raise InputError(f"target N={X['n_params'][j]:.3g}, D={X['n_tokens'][j]:.3g}: the predicted loss or its "
                             "interval is beyond floating point (a target far outside any sensible range)")
        interval = Interval(estimate=float(np.exp(mu[j])), lo=float(np.exp(mu[j] - half)),
                            hi=float(np.exp(mu[j] + half)), level=level)
        comps = {k: float(z * np.sqrt(var[k][j])) for k in COMPONENTS}
        out.append(TargetForecast(n_params=float(X["n_params"][j]), n_tokens=float(X["n_tokens"][j]),
                                  flops=float(X["flops"][j]), loss=interval, components=comps,
                                  extrapolation_decades=float(x_t[j]),
                                  by_form={n: float(np.exp(mu_f[i, j])) for i, n in enumerate(names)},
                                  compute_optimal=bool(is_budget[j])))
    return tuple(out)
