"""Non-parametric bootstrap over runs: intervals for every parameter and derived quantity, solved as one batch.

Each resample draws the runs with replacement (seeded); its multiplicities become per-point weights, and all
resamples are refitted together by the batched solver, each from the full-data optimum and the other near-optimal
local minima (the best one kept). Reported intervals are percentile intervals; because a bootstrap over runs captures
noise but not the choice among near-equal optima of a flat objective, each quantity also carries the range it spans
across the near-optimal fits, and ``lo_total``/``hi_total`` cover both.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.laws.fit import FitResult, fit as fit_law, make_objective, parameters_at_bound, stack_runs
from scalinglab.laws.forms import Law
from scalinglab.laws.objective import StackedObjective
from scalinglab.laws.optimal import compute_optimal, optimal_exponents
from scalinglab.laws.solver import BatchResult, minimize_batched, single_threaded
from scalinglab.runs import load_runs

MAX_EXTRA_STARTS = 4
# Resamples start at the full-data optimum and most finish in under 300 steps; an ill-conditioned resample can follow
# a long curved valley for longer (up to ~700 steps on the OLMo ladder), and only the active rows pay for the rest.
MAX_ITER = 2000
MIN_SHARE = 0.9  # an interval resting on fewer than 90 % of the resamples says so beside the number
# Memory per solver row (a resample × start): per-point weights and ~5 [p, p] and ~10 [p] arrays in the solver; per
# resample: its counts and one record of derived quantities (a Python dict of floats, ~150 B per entry).
RECORD_BYTES_PER_QUANTITY = 150
# Fits whose resamples are little work (rows × runs below this) share one solve in ``refit_resamples_many``: there
# the per-iteration cost of a call dominates. Larger ones are solved alone, as every row of a shared solve works on
# the union of the fits' runs (backtest folds of Epoch's 240 runs: ~25 % more work, for no fewer steps).
SHARED_SOLVE_WORK = 20_000


@dataclass(frozen=True)
class BootstrapResult:
    fit: FitResult
    samples: pd.DataFrame = field(repr=False)   # one row per resample that was refitted
    table: pd.DataFrame                         # quantity, estimate, se, lo, hi, near_lo, near_hi, lo_total,
    level: float                                # hi_total, n_used (resamples behind the interval)
    n_resamples: int
    seed: int
    n_failed: int
    failures: dict[str, int] = field(default_factory=dict)  # why resamples failed → how many
    at_bound: dict[str, dict[str, int]] = field(default_factory=dict)  # e.g. {"E": {"lower": 278}}

    def interval(self, quantity: str) -> dict:
        rows = self.table[self.table["quantity"] == quantity]
        if rows.empty:
            raise InputError(f"no bootstrap quantity '{quantity}' (have {', '.join(self.table['quantity'])})")
        return rows.iloc[0].to_dict()

    @property
    def se(self) -> dict[str, float]:
        return dict(zip(self.table["quantity"], self.table["se"]))

    def share_note(self, n_used: int) -> str:
        """'' or, for an interval resting on fewer than MIN_SHARE of the resamples, e.g. 'on 85 % of resamples'."""
        share = n_used / self.n_resamples
        return "" if share >= MIN_SHARE else f"on {share:.0%} of resamples"

    def summary(self) -> str:
        """One line: resamples, how many failed and why, and how many ended with a parameter on its bound."""
        out = f"bootstrap: {self.n_resamples} resamples (seed {self.seed}), {self.n_failed} failed to refit"
        if self.failures:
            out += " (" + "; ".join(f"{n}: {why}" for why, n in self.failures.items()) + ")"
        for name, sides in self.at_bound.items():
            out += "".join(f"; {name} at its {side} bound in {n}" for side, n in sides.items())
        return out

    def to_dict(self) -> dict:
        return {"n_resamples": self.n_resamples, "seed": self.seed, "level": self.level, "n_failed": self.n_failed,
                "failures": dict(self.failures), "at_bound": {k: dict(v) for k, v in self.at_bound.items()},
                "intervals": self.table.to_dict(orient="records")}

    def _repr_html_(self) -> str:
        return (f"<p>{self.summary()}; {self.level:.0%} intervals</p>"
                + self.table.to_html(index=False, float_format=lambda v: f"{v:.5g}"))


def available_memory_bytes() -> float:
    """Memory the system can give now (Linux MemAvailable), else physical memory; inf when neither is known."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def bootstrap_memory_bytes(n_resamples: int, n_runs: int, n_starts: int, n_params: int, n_quantities: int) -> float:
    """Estimated peak memory of a bootstrap, in bytes (see RECORD_BYTES_PER_QUANTITY)."""
    per_row = 8.0 * (n_runs + 5 * n_params * n_params + 10 * n_params + 16)
    per_resample = 8.0 * n_runs + RECORD_BYTES_PER_QUANTITY * n_quantities + 8.0 * n_quantities
    return float(n_resamples) * (n_starts * per_row + per_resample)


def refuse_over_memory(n_resamples: int, bytes_per_resample: float, what: str = "a bootstrap") -> None:
    """Refuse, with the estimate and the most resamples that fit, ``what`` of ``n_resamples`` resamples whose
    estimated peak memory is more than the memory available now (one-line ``InputError``)."""
    need, have = n_resamples * bytes_per_resample, available_memory_bytes()
    if need > have:
        raise InputError(f"{what} of {n_resamples:,} resamples needs about {need / 1e9:,.1f} GB of memory, more than "
                         f"the {have / 1e9:,.1f} GB available; use at most {int(have / bytes_per_resample):,} resamples")


def check_bootstrap_memory(n_resamples, n_runs, n_starts, n_params, n_quantities) -> None:
    """Refuse a bootstrap of a fit larger than the memory available (``bootstrap_memory_bytes``)."""
    refuse_over_memory(n_resamples, bootstrap_memory_bytes(1, n_runs, n_starts, n_params, n_quantities))


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


def refit_resamples(base: FitResult, counts: np.ndarray, max_iter: int | None = None):
    """Refit ``base`` on bootstrap resamples (rows of run multiplicities ``counts``) in one batched solve, each from
    the best fit and up to MAX_EXTRA_STARTS near-optimal ones; the best start of each resample is kept. Returns the
    objective and a ``BatchResult`` of one row per resample."""
    obj, (res,) = refit_resamples_many([base], [counts], max_iter=max_iter)
    return obj, res


def refit_resamples_many(bases, counts, max_iter: int | None = None):
    """``refit_resamples`` for several fits of one law with the same options (e.g. backtest folds, or ladders of one
    design) in one batched solve over all their resamples (a ``RunsStack`` of their runs); ``counts``: one array of
    multiplicities per fit. Returns the objective (of the last solve) and one ``BatchResult`` per fit. Fits with
    little work each (SHARED_SOLVE_WORK) share one solve; the others are solved one by one."""
    law_cls, first = type(bases[0].law), bases[0]
    if any(type(b.law) is not law_cls or (b.loss, b.delta, b.asymmetry, b.held, b.bound_e)
           != (first.loss, first.delta, first.asymmetry, first.held, first.bound_e) for b in bases):
        raise ValueError("refit_resamples_many needs fits of one law with the same options")
    work = [len(c) * (1 + len(b.near_optima[1:MAX_EXTRA_STARTS + 1])) * len(b.runs) for b, c in zip(bases, counts)]
    small = [i for i, w in enumerate(work) if w < SHARED_SOLVE_WORK]
    batches = ([small] if len(small) > 1 else []) + [[i] for i in range(len(bases)) if len(small) < 2 or i not in small]
    out: list = [None] * len(bases)
    for batch in batches:
        obj, results = _refit_together([bases[i] for i in batch], [counts[i] for i in batch], max_iter)
        for i, r in zip(batch, results):
            out[i] = r
    return obj, out


def _refit_together(bases, counts, max_iter):
    law_cls, first = type(bases[0].law), bases[0]
    starts = [[b.law] + [o.law for o in b.near_optima[1:MAX_EXTRA_STARTS + 1]] for b in bases]
    k = np.array([len(s) for s in starts])
    R = np.array([len(c) for c in counts])
    opts = dict(loss=first.loss, delta=first.delta, asymmetry=first.asymmetry, hold=first.held, start=first.law,
                bound_e=first.bound_e)
    if len(bases) == 1:
        obj, free = make_objective(law_cls, first.runs, **opts, weights=np.repeat(counts[0], k[0], axis=0))
    else:
        stack = stack_runs(law_cls, [b.runs for b in bases])
        groups = np.repeat(np.arange(len(bases)), R * k)
        weights = np.vstack([stack.spread(i, np.repeat(c, ki, axis=0)) for i, (c, ki) in enumerate(zip(counts, k))])
        obj, free = make_objective(law_cls, stack, **opts, weights=weights, groups=groups)
    theta0 = np.vstack([np.tile(np.array([s.theta()[free] for s in st]), (r, 1)) for st, r in zip(starts, R)])
    with single_threaded():
        res = minimize_batched(obj, theta0, **({} if max_iter is None else {"max_iter": max_iter}))
    out, offset = [], 0
    for ki, r in zip(k, R):
        rows = offset + np.arange(r) * ki + np.argmin(res.objective[offset:offset + r * ki].reshape(r, ki), axis=1)
        out.append(BatchResult(theta=res.theta[rows], objective=res.objective[rows], converged=res.converged[rows],
                               n_iter=res.n_iter[rows], message=res.message[rows]))
        offset += r * ki
    return obj, out


def refit_resamples_stacked(bases: list[FitResult], counts: list[np.ndarray], max_iter: int | None = None):
    """``refit_resamples`` for several fits of laws with the same number of free parameters at once (e.g. one law
    fitted to each task of a ladder): every base's resamples (rows of ``counts[t]``, run multiplicities over
    ``bases[t].runs``), each from its best fit and near-optimal ones, in ONE batched solve. Returns, per base, its
    objective and a ``BatchResult`` of one row per resample (its best start)."""
    if not bases:
        return []
    parts, theta0, ks = [], [], []
    for base, c in zip(bases, counts):
        starts = [base.law] + [o.law for o in base.near_optima[1:MAX_EXTRA_STARTS + 1]]
        obj, free = make_objective(type(base.law), base.runs, loss=base.loss, delta=base.delta,
                                   asymmetry=base.asymmetry, hold=base.held, start=base.law,
                                   weights=np.repeat(c, len(starts), axis=0), bound_e=base.bound_e)
        parts.append(obj)
        theta0.append(np.tile(np.array([s.theta()[free] for s in starts]), (len(c), 1)))
        ks.append(len(starts))
    stacked = StackedObjective(parts)
    with single_threaded():
        res = minimize_batched(stacked, stacked.stack(theta0), **({} if max_iter is None else {"max_iter": max_iter}))
    out = []
    for t, (obj, theta, k, c) in enumerate(zip(parts, stacked.unstack(res.theta), ks, counts)):
        R, a = len(c), stacked.offsets[t]
        best = np.arange(R) * k + np.argmin(res.objective[a:a + R * k].reshape(R, k), axis=1)
        out.append((obj, BatchResult(theta=theta[best], objective=res.objective[a + best],
                                     converged=res.converged[a + best], n_iter=res.n_iter[a + best],
                                     message=res.message[a + best])))
    return out


def bootstrap(runs, law="chinchilla", *, n_resamples: int = 1000, seed: int = 0, level: float = 0.9,
              flops=(), points=(), fit_result: FitResult | None = None, **fit_kwargs) -> BootstrapResult:
    """Bootstrap a fit over runs. ``flops``: budgets for N_opt/D_opt/loss intervals; ``points``: dicts of law inputs
    at which to give predicted-loss intervals. ``fit_kwargs`` go to ``fit`` (loss, delta, hold, start, grid, fix,
    bound_e…). A ``weight`` column multiplies each resample's counts. Resamples that cannot be refitted are counted
    by reason (``failures``), never dropped in silence; refused up front when it would not fit in memory."""
    if not (isinstance(n_resamples, (int, np.integer)) and n_resamples >= 2):
        raise InputError(f"bootstrap needs at least 2 resamples, got {n_resamples}")
    if not (0 < level < 1):
        raise InputError(f"interval level must be between 0 and 1, got {level}")
    base = fit_result if fit_result is not None else fit_law(load_runs(runs), law, **fit_kwargs)
    runs, law_cls = base.runs, type(base.law)
    n = len(runs)
    k = 1 + len(base.near_optima[1:MAX_EXTRA_STARTS + 1])
    estimate = derived_quantities(base.law, flops, points)
    check_bootstrap_memory(int(n_resamples), n, k, law_cls.n_fit_params(), len(estimate))
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(float)
    obj, best = refit_resamples(base, counts, max_iter=MAX_ITER)
    full = obj.full_theta(best.theta)
    ok = best.converged & np.isfinite(best.objective)
    failures = Counter(str(m) for m in best.message[~ok])
    records = []
    for th in full[ok]:
        try:
            records.append(derived_quantities(law_cls.from_theta(th), flops, points))
        except InputError as exc:
            failures[str(exc)] += 1
    samples = pd.DataFrame.from_records(records)
    if len(samples) < 2:
        raise InputError("bootstrap failed: fewer than 2 resamples could be refitted"
                         + "".join(f"; {c}: {why}" for why, c in failures.items()))
    at_bound: dict[str, Counter] = {}
    for row in parameters_at_bound(law_cls, obj, best.theta[ok]):
        for name, side in row.items():
            at_bound.setdefault(name, Counter())[side] += 1
    near = [derived_quantities(o.law, flops, points) for o in base.near_optima] or [estimate]
    q = (1 - level) / 2
    table = []
    for name, est in estimate.items():
        col = samples[name].to_numpy(float)
        col = col[np.isfinite(col)]
        lo, hi = np.quantile(col, [q, 1 - q]) if col.size else (np.nan, np.nan)
        vals = [d[name] for d in near]
        with np.errstate(over="ignore", invalid="ignore"):  # draws near the largest double: the spread is inf
            se = float(np.std(col, ddof=1)) if col.size > 1 else np.nan
        table.append({"quantity": name, "estimate": est, "se": se,
                      "lo": float(lo), "hi": float(hi), "near_lo": float(min(vals)), "near_hi": float(max(vals)),
                      "lo_total": float(min(lo, min(vals))), "hi_total": float(max(hi, max(vals))),
                      "n_used": int(col.size)})
    return BootstrapResult(fit=base, samples=samples, table=pd.DataFrame(table), level=level,
                           n_resamples=int(n_resamples), seed=int(seed), n_failed=int(n_resamples - len(samples)),
                           failures=dict(failures), at_bound={k_: dict(v) for k_, v in at_bound.items()})
