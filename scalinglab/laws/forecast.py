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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from scalinglab.errors import InputError
from scalinglab.laws.bootstrap import MAX_EXTRA_STARTS, check_bootstrap_memory, refit_resamples
from scalinglab.laws.fit import FitResult, fit, resolve_law
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


def _uncertainty(result: FitResult, X: dict, n_resamples: int, rng) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Per point of X: bootstrap variance and near-optimum variance of the log prediction; run scatter σ²; failures."""
    law_cls = type(result.law)
    n = len(result.runs)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(float)
    obj, best = refit_resamples(result, counts)
    thetas, ok = obj.full_theta(best.theta), best.converged & np.isfinite(best.objective)
    pred = _log_predict(law_cls, thetas[ok], X)
    pred = pred[np.all(np.isfinite(pred), axis=1)]
    if len(pred) < 2:
        raise InputError(f"law '{law_cls.name}': fewer than 2 bootstrap resamples could be refitted",
                         source=result.runs.source)
    near = [o.law.theta() for o in result.near_optima] or [result.law.theta()]
    var_near = np.var(_log_predict(law_cls, np.array(near), X), axis=0)
    dof = max(n - law_cls.n_fit_params() + len(result.held), 1)
    sigma2 = float(np.sum(result.residuals ** 2) / dof)
    return np.var(pred, axis=0, ddof=1), var_near, sigma2, int(n_resamples - len(pred))


def _fit_form(runs: Runs, law_cls, starts=None, chinchilla: FitResult | None = None) -> FitResult:
    if starts is not None:  # a backtest fold: start from the full data's optima (same basins, far cheaper)
        return fit(runs, law_cls, grid=starts)
    if law_cls is Interaction and chinchilla is not None:
        # Nested in Chinchilla: start from its optima with the interaction term switched on at several sizes
        # (a search over g only; the full 6-D grid cost ~10× more for the same optimum on Epoch's runs).
        base = [o.law for o in chinchilla.near_optima] or [chinchilla.law]
        grid = np.array([Interaction.from_chinchilla(b, G=float(np.exp(g))).theta()
                         for b in base for g in INTERACTION_START_G])
        return fit(runs, law_cls, grid=grid)
    return fit(runs, law_cls)


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


def _backtest_form(runs, law_cls, full: FitResult, folds, n_fold_resamples, rng):
    """Errors e, own variances v and decades x of every held-out run over all folds (pooled), for one form."""
    starts = np.array([full.law.theta()] + [o.law.theta() for o in full.near_optima])
    e, v, x = [], [], []
    for keep in folds:
        train, test = runs.subset(keep), runs.subset(~keep)
        res = _fit_form(train, law_cls, starts=starts)
        X = test.law_inputs()
        var_boot, var_near, sigma2, _ = _uncertainty(res, X, n_fold_resamples, rng)
        e.append(_log_predict(law_cls, res.law.theta(), X)[0] - np.log(test.loss))
        v.append(var_boot + var_near + sigma2)
        x.append(_decades(test.flops, train.flops.max()))
    return np.concatenate(e), np.concatenate(v), np.concatenate(x)


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
    runs = load_runs(runs)
    for cls in classes:  # before any fit: a bootstrap too large for memory is refused with the number
        check_bootstrap_memory(int(n_resamples), len(runs), 1 + MAX_EXTRA_STARTS, cls.n_fit_params(), len(wanted))
    rng = np.random.default_rng(seed)
    if grid is not None and len(classes) > 1:
        raise InputError("starting points (grid) can be given for a forecast with one law only")
    fits: list[FitResult] = []
    for cls in classes:
        chin = next((f for f in fits if isinstance(f.law, Chinchilla)), None)
        if grid is None and _reusable(fit_result, cls, runs):
            fits.append(fit_result)
        else:
            fits.append(fit(runs, cls, grid=grid) if grid is not None else _fit_form(runs, cls, chinchilla=chin))
    folds = _folds(runs, max(c.n_fit_params() for c in classes))
    notes = []
    if not folds:
        notes.append("too few runs for a backtest: no extrapolation term, forms weighted equally")
    gammas2, log_dens, rms = [], [], []
    n_held = sum(int((~k).sum()) for k in folds)
    for cls, full in zip(classes, fits):
        g2, dens, r = 0.0, np.full(n_held, -np.inf), float("nan")
        if folds:
            try:
                e, v, x = _backtest_form(runs, cls, full, folds, min(n_fold_resamples, n_resamples), rng)
            except InputError as exc:
                notes.append(f"law '{cls.name}' could not be backtested ({exc}); it gets no weight")
            else:
                g2 = extrapolation_gamma2(e, v, x)
                dens, r = norm.logpdf(e, scale=np.sqrt(v + g2 * x * x)), float(np.sqrt(np.mean(e * e)))
        gammas2.append(g2)
        log_dens.append(dens)
        rms.append(r)
    if folds and np.isfinite(log_dens).any():
        weights = stacking_weights(np.array(log_dens))
    else:
        weights = np.full(len(classes), 1 / len(classes))
    top = int(np.argmax(weights))
    points, is_budget = _resolve_budgets(wanted, fits[top])
    X = {k: np.array([p[k] for p in points]) for k in ("n_params", "n_tokens", "flops")}
    x_t = _decades(X["flops"], runs.flops.max())
    per_form, failed = [], []
    for cls, full, g2, w in zip(classes, fits, gammas2, weights):
        mu = _log_predict(cls, full.law.theta(), X)[0]
        if w == 0:  # no weight in the mixture: its spread would be multiplied by 0
            per_form.append((mu, *(np.zeros_like(mu),) * 2, np.full_like(mu, np.nan), np.zeros_like(mu)))
            failed.append(0)
            continue
        var_boot, var_near, sigma2, n_failed = _uncertainty(full, X, n_resamples, rng)
        if n_failed > 0.1 * n_resamples:
            notes.append(f"law '{cls.name}': its bootstrap rests on {n_resamples - n_failed} of {n_resamples} "
                         "resamples (the others did not converge and are dropped)")
        per_form.append((mu, var_boot, var_near, np.full_like(mu, sigma2), g2 * x_t * x_t))
        failed.append(n_failed)
    out = _combine(points, X, x_t, is_budget, names, weights, per_form, level)
    forms = tuple(FormSummary(law=n, weight=float(w), gamma=float(np.sqrt(g2)), scatter=float(np.sqrt(pf[3][0])),
                              backtest_rms_error=r, n_failed=nf, fit=f)
                  for n, w, g2, pf, r, nf, f in zip(names, weights, gammas2, per_form, rms, failed, fits))
    fold_text = tuple(f"fit {int(k.sum())} runs with C ≤ {runs.flops[k].max():.3g}, predict {int((~k).sum())}"
                      for k in folds)
    return ForecastResult(targets=out, forms=forms, level=level, n_resamples=int(n_resamples), seed=int(seed),
                          folds=fold_text, notes=tuple(notes))


def _reusable(result: FitResult | None, law_cls, runs: Runs) -> bool:
    """Whether ``result`` is the fit ``_fit_form`` would make of ``law_cls`` on ``runs`` (fit's default options)."""
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
