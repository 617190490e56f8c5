"""Non-parametric bootstrap over runs: intervals for every parameter and derived quantity, solved as one batch.

Each resample draws the runs with replacement (seeded); its multiplicities become per-point weights, and all
resamples are refitted together by the batched solver, each from the full-data optimum and the other near-optimal
local minima (the best one kept). Reported intervals are percentile intervals; because a bootstrap over runs captures
noise but not the choice among near-equal optima of a flat objective, each quantity also carries the range it spans
across the near-optimal fits, and ``lo_total``/``hi_total`` cover both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from scalinglab.errors import InputError
from scalinglab.laws.fit import FitResult, fit as fit_law, make_objective
from scalinglab.laws.forms import Law
from scalinglab.laws.optimal import compute_optimal, optimal_exponents
from scalinglab.laws.solver import minimize_batched
from scalinglab.runs import load_runs

MAX_EXTRA_STARTS = 4


@dataclass(frozen=True)
class BootstrapResult:
    fit: FitResult
    samples: pd.DataFrame = field(repr=False)   # one row per resample
    table: pd.DataFrame                         # quantity, estimate, se, lo, hi, near_lo, near_hi, lo_total, hi_total
    level: float
    n_resamples: int
    seed: int
    n_failed: int

    def interval(self, quantity: str) -> dict:
        rows = self.table[self.table["quantity"] == quantity]
        if rows.empty:
            raise InputError(f"no bootstrap quantity '{quantity}' (have {', '.join(self.table['quantity'])})")
        return rows.iloc[0].to_dict()

    @property
    def se(self) -> dict[str, float]:
        return dict(zip(self.table["quantity"], self.table["se"]))

    def to_dict(self) -> dict:
        return {"n_resamples": self.n_resamples, "seed": self.seed, "level": self.level, "n_failed": self.n_failed,
                "intervals": self.table.to_dict(orient="records")}

    def _repr_html_(self) -> str:
        return (f"<p>Bootstrap: {self.n_resamples} resamples (seed {self.seed}), {self.level:.0%} intervals</p>"
                + self.table.to_html(index=False, float_format=lambda v: f"{v:.5g}"))


def derived_quantities(law: Law, flops=(), points=()) -> dict[str, float]:
    """Parameters plus, for laws of N and D: exponents a, b and N_opt, D_opt, loss at each budget; loss at points."""
    out = dict(law.params())
    if {"n_params", "n_tokens"} <= set(law.inputs) and "unique_tokens" not in law.inputs:
        ref = float(flops[0]) if len(flops) else 1e21
        out["a"], out["b"] = optimal_exponents(law, ref)
        if len(flops):
            alloc = compute_optimal(law, np.asarray(flops, float))
            for c, n, d, l in zip(alloc.flops, alloc.n_params, alloc.n_tokens, alloc.loss):
                out[f"n_opt@{c:.3g}"], out[f"d_opt@{c:.3g}"], out[f"loss_opt@{c:.3g}"] = n, d, l
    for pt in points:
        label = ",".join(f"{k}={v:.3g}" for k, v in pt.items())
        out[f"loss@{label}"] = float(law.predict(**pt))
    return out


def bootstrap(runs, law="chinchilla", *, n_resamples: int = 1000, seed: int = 0, level: float = 0.9,
              flops=(), points=(), fit_result: FitResult | None = None, **fit_kwargs) -> BootstrapResult:
    """Bootstrap a fit over runs. ``flops``: budgets for N_opt/D_opt/loss intervals; ``points``: dicts of law inputs
    at which to give predicted-loss intervals. ``fit_kwargs`` go to ``fit`` (loss, delta, hold, start, grid…)."""
    if not (isinstance(n_resamples, (int, np.integer)) and n_resamples >= 2):
        raise InputError(f"bootstrap needs at least 2 resamples, got {n_resamples}")
    if not (0 < level < 1):
        raise InputError(f"interval level must be between 0 and 1, got {level}")
    base = fit_result if fit_result is not None else fit_law(load_runs(runs), law, **fit_kwargs)
    runs, law_cls = base.runs, type(base.law)
    n = len(runs)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(float)
    starts_law = [base.law] + [o.law for o in base.near_optima[1:MAX_EXTRA_STARTS + 1]]
    k = len(starts_law)
    obj, free = make_objective(law_cls, runs, loss=base.loss, delta=base.delta, asymmetry=base.asymmetry,
                               hold=base.held, start=base.law, weights=np.repeat(counts, k, axis=0))
    theta0 = np.tile(np.array([l.theta()[free] for l in starts_law]), (n_resamples, 1))
    with threadpool_limits(1):
        res = minimize_batched(obj, theta0)
    f = res.objective.reshape(n_resamples, k)
    pick = np.argmin(f, axis=1)
    rows = np.arange(n_resamples) * k + pick
    full = obj.full_theta(res.theta[rows])
    ok = res.converged[rows] & np.isfinite(res.objective[rows])
    records = []
    for th, good in zip(full, ok):
        if not good:
            continue
        try:
            records.append(derived_quantities(law_cls.from_theta(th), flops, points))
        except InputError:
            ok[len(records)] = False
    samples = pd.DataFrame.from_records(records)
    if len(samples) < 2:
        raise InputError("bootstrap failed: fewer than 2 resamples could be refitted")
    estimate = derived_quantities(base.law, flops, points)
    near = [derived_quantities(o.law, flops, points) for o in base.near_optima] or [estimate]
    q = (1 - level) / 2
    table = []
    for name, est in estimate.items():
        col = samples[name].to_numpy(float)
        lo, hi = np.quantile(col, [q, 1 - q])
        vals = [d[name] for d in near]
        table.append({"quantity": name, "estimate": est, "se": float(np.std(col, ddof=1)), "lo": float(lo),
                      "hi": float(hi), "near_lo": float(min(vals)), "near_hi": float(max(vals)),
                      "lo_total": float(min(lo, min(vals))), "hi_total": float(max(hi, max(vals)))})
    return BootstrapResult(fit=base, samples=samples, table=pd.DataFrame(table), level=level,
                           n_resamples=int(n_resamples), seed=int(seed), n_failed=int(n_resamples - len(samples)))
