"""Fit a law to a Runs table: robust objective, multi-start grid, one batched solve, a result that says how it went."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from scalinglab.errors import InputError
from scalinglab.laws.forms import Law
from scalinglab.laws.objective import LOSS_ALIASES, LOSSES, Objective, canonical_loss
from scalinglab.laws.solver import minimize_batched, single_threaded
from scalinglab.runs import Runs, load_runs

SMOOTH_DELTA = 0.1        # continuation: starts first descend a smoother Huber (δ = 0.1), then the requested δ
SCREEN_POINTS = 24        # screening stage: every grid start first descends on this many runs spread over compute
N_BEST_RAW = 8            # the best raw starts (by full objective) always join the stage after screening too
NEAR_OPTIMUM_RTOL = 0.03  # local optima within 3 % of the best objective count as "near-optimal" (see FitResult)
# The lower bound on E, relative to the lowest observed loss: E → 0 in effect (its share of any prediction is below
# 1e-8, far under run-to-run noise), while e = log E stays finite so that the run to E = 0 ends at a bound.
E_FLOOR_REL = 1e-8


@dataclass(frozen=True)
class Optimum:
    law: Law
    objective: float


@dataclass(frozen=True)
class FitResult:
    """Outcome of a fit. ``near_optima`` are distinct local minima found by the multi-start whose objective is within
    3 % of the best: the data cannot tell them apart well, so forecasts should be read across all of them."""

    law: Law
    objective: float
    converged: bool
    message: str
    n_points: int
    n_starts: int
    loss: str
    delta: float
    asymmetry: float
    held: tuple[str, ...]
    runs: Runs = field(repr=False)
    near_optima: tuple[Optimum, ...] = field(default=(), repr=False)
    bound_e: bool = True                                   # E kept within [0, lowest observed loss]
    at_bound: dict[str, str] = field(default_factory=dict)  # public parameter → "lower" | "upper"
    fixed: dict[str, float] = field(default_factory=dict)   # parameters held at user-given values (``fix``)

    @property
    def params(self) -> dict[str, float]:
        return self.law.params()

    def predict(self, **inputs) -> np.ndarray:
        return self.law.predict(**inputs)

    @property
    def residuals(self) -> np.ndarray:
        """log(predicted loss) − log(actual loss) at the fitted runs."""
        pred = self.law.predict(**{k: v for k, v in self.runs.law_inputs().items() if k in self.law.inputs})
        return np.log(pred) - np.log(self.runs.loss)

    @property
    def r_squared(self) -> float:
        """R² of predicted vs actual loss (not log loss) over the fitted runs."""
        y = self.runs.loss
        pred = np.exp(np.log(y) + self.residuals)
        total = np.sum((y - y.mean()) ** 2)
        if total == 0:  # every run has the same loss: there is no variance to explain, so R² is undefined
            return float("nan")
        return float(1.0 - np.sum((y - pred) ** 2) / total)

    def to_dict(self) -> dict:
        return {
            "law": self.law.name, "formula": self.law.formula, "params": self.params,
            "objective": self.objective, "converged": self.converged, "message": self.message,
            "n_points": self.n_points, "n_starts": self.n_starts, "loss": self.loss, "delta": self.delta,
            "asymmetry": self.asymmetry, "held_fixed": list(self.held), "fixed": dict(self.fixed),
            "bounds": {k: list(v) for k, v in self.bounds.items()}, "at_bound": dict(self.at_bound),
            "weighted": self.runs.weight is not None, "r_squared": _finite_or_none(self.r_squared),
            "source": self.runs.source, "notes": list(self.runs.notes),
            "near_optima": [{"objective": o.objective, "params": o.law.params()} for o in self.near_optima],
        }

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        """Bounds the fit kept on public parameters, e.g. {"E": (0.0, lowest loss)} (empty when lifted)."""
        j = type(self.law).irreducible_index()
        if not self.bound_e or j is None or type(self.law).theta_names[j] in self.held:
            return {}
        return {"E": (0.0, float(np.min(self.runs.loss)))}

    def _repr_html_(self) -> str:
        from html import escape
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{v:.6g}</td></tr>" for k, v in self.params.items())
        status = "converged" if self.converged else f"NOT converged: {escape(self.message)}"
        return (f"<p><b>{escape(self.law.name)}</b> fit: {escape(self.law.formula)} — {self.n_points} runs, "
                f"{self.loss} objective {self.objective:.6g}, {status}</p><table>{rows}</table>")


DATA_CONSTRAINED_BASE = ("a", "b", "e", "alpha", "beta")


def standard_fit_options(law: str, *, free_base: bool = False) -> dict:
    """The project's default ``fit`` options for a law: the data-constrained law holds its base (Chinchilla) part at
    Muennighoff et al.'s published C4 values and fits R_D*, R_N* only, as the paper does (unless ``free_base``)."""
    if law == "data_constrained" and not free_base:
        from scalinglab.laws.data_constrained import DataConstrained
        return {"hold": DATA_CONSTRAINED_BASE, "start": DataConstrained.published()}
    return {}


def resolve_law(law) -> type[Law]:
    from scalinglab.laws import LAWS
    if isinstance(law, type) and issubclass(law, Law):
        return law
    if isinstance(law, str) and law in LAWS:
        return LAWS[law]
    raise InputError(f"unknown law '{law}' (choose from {', '.join(LAWS)})")


def law_inputs_for(law_cls: type[Law], runs: Runs) -> dict[str, np.ndarray]:
    X = runs.law_inputs()
    missing = [k for k in law_cls.inputs if k not in X]
    if missing:
        raise InputError(f"law '{law_cls.name}' needs column(s) {', '.join(missing)}", source=runs.source)
    return {k: X[k] for k in law_cls.inputs}


def _validate_options(loss: str, delta: float, asymmetry: float) -> str:
    """Checks the objective's options; returns the canonical loss name."""
    name = canonical_loss(loss) if isinstance(loss, str) else None
    if name is None:
        aliases = ", ".join(f"{a} = {c}" for a, c in LOSS_ALIASES.items())
        raise InputError(f"unknown loss '{loss}' (choose {', '.join(LOSSES)}; {aliases})")
    if not (np.isfinite(delta) and delta > 0):
        raise InputError(f"huber delta must be > 0, got {delta}")
    if not (np.isfinite(asymmetry) and asymmetry >= 1):
        raise InputError(f"asymmetry must be ≥ 1 (weight on over-predictions), got {asymmetry}")
    return name


def theta_bounds(law_cls: type[Law], runs: Runs, bound_e: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """Box bounds on ``theta``: e = log E within [log(E_FLOOR_REL·L_min), log L_min], L_min the lowest observed
    loss (a floor above the lowest loss would predict that run's loss from the floor alone); None when lifted."""
    j = law_cls.irreducible_index()
    if not bound_e or j is None:
        return None
    P = law_cls.n_fit_params()
    lo, hi = np.full(P, -np.inf), np.full(P, np.inf)
    hi[j] = np.log(np.min(runs.loss))
    lo[j] = hi[j] + np.log(E_FLOOR_REL)
    return lo, hi


@dataclass(frozen=True)
class RunsStack:
    """Several Runs tables laid on one set of points, the union of theirs, so that fits of all of them (or of
    resamples of each) are one batched solve: a row of the batch sees its own table's losses and weights, and weight
    0 at the points that are not its table's. Tables with the same inputs in the same order share their points."""

    tables: tuple[Runs, ...]
    inputs: dict[str, np.ndarray]   # law inputs at the points [n]
    loss: np.ndarray                # [n] where the tables agree at every point they share, else [G, n]
    weight: np.ndarray              # [G, n]: each table's ``weight`` column (1 without one) at its points, else 0
    index: tuple[np.ndarray, ...]   # per table: the point of each of its runs

    @property
    def n_points(self) -> int:
        return self.weight.shape[1]

    def spread(self, g: int, values: np.ndarray) -> np.ndarray:
        """Per-run values of table ``g`` ([..., n_g], e.g. bootstrap counts) on the points ([..., n]), 0 elsewhere."""
        values = np.asarray(values, float)
        out = np.zeros(values.shape[:-1] + (self.n_points,))
        out[..., self.index[g]] = values
        return out


def stack_runs(law_cls: type[Law], tables: Sequence[Runs]) -> RunsStack:
    """Lay ``tables`` on the union of their points (a point: one run's law inputs; a table's repeats of the same
    inputs, e.g. seeds, are points of their own)."""
    tables = tuple(tables)
    ins = [law_inputs_for(law_cls, t) for t in tables]
    keys = list(ins[0])
    if all(len(t) == len(tables[0]) and all(np.array_equal(x[k], ins[0][k]) for k in keys)
           for x, t in zip(ins, tables)):
        inputs, index = ins[0], (np.arange(len(tables[0])),) * len(tables)
    else:
        slots: dict = {}
        index = []
        for x in ins:
            seen: Counter = Counter()
            idx = np.empty(len(x[keys[0]]), int)
            for i, key in enumerate(zip(*(x[k].tolist() for k in keys))):
                idx[i] = slots.setdefault((key, seen[key]), len(slots))
                seen[key] += 1
            index.append(idx)
        inputs = {k: np.empty(len(slots)) for k in keys}
        for x, idx in zip(ins, index):
            for k in keys:
                inputs[k][idx] = x[k]
        index = tuple(index)
    n = len(inputs[keys[0]])
    loss, weight, present = np.ones((len(tables), n)), np.zeros((len(tables), n)), np.zeros((len(tables), n), bool)
    for g, (t, idx) in enumerate(zip(tables, index)):
        loss[g, idx] = t.loss
        weight[g, idx] = 1.0 if t.weight is None else t.weight
        present[g, idx] = True
    loss = np.where(present, loss, loss[np.argmax(present, axis=0), np.arange(n)])  # a point's loss where absent
    if np.all(loss == loss[0]):
        loss = loss[0]
    return RunsStack(tables=tables, inputs=inputs, loss=loss, weight=weight, index=index)


def make_objective(law_cls, runs, *, loss="huber_log", delta=1e-3, asymmetry=1.0, hold=(), start=None,
                   weights=None, bound_e=True, groups=None) -> tuple[Objective, np.ndarray]:
    """The objective for a law on runs, with ``hold`` parameters fixed at their values in ``start``. ``weights``
    (per point, or per row of a batch: bootstrap counts) multiply the table's ``weight`` column when it has one.
    ``runs`` may be a ``RunsStack``, with ``groups`` the table of each row of the batch (``weights`` then on the
    stack's points): each row sees its own table's losses, weights and bounds."""
    names = law_cls.theta_names
    unknown = [h for h in hold if h not in names]
    if unknown:
        raise InputError(f"cannot hold '{unknown[0]}': law '{law_cls.name}' has parameters {', '.join(names)}")
    if hold and start is None:
        raise InputError("holding parameters fixed needs a starting law that gives their values")
    theta_fixed = start.theta() if start is not None else np.zeros(len(names))
    free = np.array([i for i, n in enumerate(names) if n not in hold], int)
    if isinstance(runs, RunsStack):
        groups = np.asarray(groups, int)
        w = runs.weight[groups] * (1.0 if weights is None else np.asarray(weights, float))
        b = [theta_bounds(law_cls, t, bound_e) for t in runs.tables]
        if b[0] is not None and not all(np.array_equal(x[1], b[0][1]) for x in b):
            b[0] = tuple(np.stack([x[i] for x in b])[groups] for i in (0, 1))
        obj = Objective(law_cls, runs.inputs, runs.loss if runs.loss.ndim == 1 else runs.loss[groups], kind=loss,
                        delta=delta, asymmetry=asymmetry, free=free, theta_fixed=theta_fixed, weights=w,
                        bounds=b[0])
        return obj, free
    if runs.weight is not None:
        weights = runs.weight if weights is None else np.asarray(weights, float) * runs.weight
    obj = Objective(law_cls, law_inputs_for(law_cls, runs), runs.loss, kind=loss, delta=delta,
                    asymmetry=asymmetry, free=free, theta_fixed=theta_fixed, weights=weights,
                    bounds=theta_bounds(law_cls, runs, bound_e))
    return obj, free


def resolve_fix(law_cls: type[Law], fix: dict | None, hold: Sequence[str], start: Law | None):
    """Map ``fix`` (public parameter → value, e.g. {"E": 1.6}) onto held ``theta`` coordinates: returns the hold
    list and a start law carrying the fixed values."""
    if not fix:
        return tuple(hold), start
    if not isinstance(fix, dict):
        raise InputError(f"fix must map parameter names to values, e.g. {{'E': 1.6}}; got {type(fix).__name__}")
    mapping = law_cls.parameter_map()
    theta = (start.theta() if start is not None else law_cls.default_grid().mean(axis=0)).astype(float)
    hold = list(hold)
    for name, value in fix.items():
        if name not in law_cls.param_names():
            raise InputError(f"cannot fix '{name}': law '{law_cls.name}' has parameters "
                             f"{', '.join(law_cls.param_names())}")
        if name not in mapping:
            raise InputError(f"cannot fix '{name}' of law '{law_cls.name}': it is fitted together with other "
                             f"parameters; fixable: {', '.join(mapping) or 'none'}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(f"fixed value of '{name}' must be a number, got {value!r}") from None
        with np.errstate(all="ignore"):
            t = replace(law_cls.from_theta(theta), **{name: value}).theta()[mapping[name]]
        if not (np.isfinite(value) and np.isfinite(t)):
            raise InputError(f"cannot fix {name}={value:g}: outside the range of law '{law_cls.name}' "
                             f"(e.g. E, A, B must be > 0)")
        theta[mapping[name]] = t
        hold.append(law_cls.theta_names[mapping[name]])
    return tuple(dict.fromkeys(hold)), law_cls.from_theta(theta)


def fit(runs, law="chinchilla", *, loss: str = "huber_log", delta: float = 1e-3, asymmetry: float = 1.0,
        grid: np.ndarray | None = None, hold: Sequence[str] = (), start: Law | None = None,
        max_iter: int = 500, fix: dict | None = None, bound_e: bool = True) -> FitResult:
    """Fit ``law`` to ``runs`` (a Runs table, path or DataFrame) from every start of a grid, solved as one batch.

    - ``loss``: ``huber_log`` (alias ``huber``) on log-loss residuals (δ = ``delta``, summed; Hoffmann et al. 2022
      App. D.2), ``ls_log`` (alias ``ls``) least squares on log loss, or ``mse`` least squares on the raw loss.
      A ``weight`` column of the table weighs each run's term.
    - ``asymmetry`` κ ≥ 1 weighs over-predictions κ× (a lower-envelope fit).
    - ``grid``: starting points in the law's internal parameters (``law.theta_names``); default ``law.default_grid()``
      (Hoffmann's grid for Chinchilla). ``start`` adds one more start and supplies the values of ``hold`` parameters.
    - ``fix``: public parameters held at given values, e.g. ``{"E": 1.6, "beta": 0.3}``.
    - ``bound_e``: keep the irreducible loss within 0 ≤ E ≤ the lowest observed loss (a parameter that runs to its
      bound ends there, converged, and ``at_bound`` says so); ``False`` lifts the bound.
    """
    return fit_many([runs], law, loss=loss, delta=delta, asymmetry=asymmetry, grid=grid, hold=hold, start=start,
                    max_iter=max_iter, fix=fix, bound_e=bound_e)[0]


def fit_many(tables: Sequence, law="chinchilla", *, loss: str = "huber_log", delta: float = 1e-3,
             asymmetry: float = 1.0, grid=None, hold: Sequence[str] = (), start: Law | None = None,
             max_iter: int = 500, fix: dict | None = None, bound_e: bool = True, errors: str = "raise") -> list:
    """``fit`` of one law to each of several Runs tables (or paths, DataFrames), every stage of the multi-start one
    batched solve over all of them (``RunsStack``): the results of ``fit`` on each table, to solver tolerance, at a
    fraction of the calls. The options are ``fit``'s, shared; ``grid``: one array for all tables or a list of one
    per table. ``errors="return"`` puts a table's ``InputError`` in its place in the list instead of raising it."""
    law_cls = resolve_law(law)
    tables = [load_runs(t).fitted() for t in tables]
    loss = _validate_options(loss, delta, asymmetry)
    hold, start = resolve_fix(law_cls, fix, hold, start)
    opts = dict(loss=loss, delta=delta, asymmetry=asymmetry, hold=hold, start=start, bound_e=bound_e)
    free = np.array([i for i, n in enumerate(law_cls.theta_names) if n not in hold], int)
    grids = list(grid) if isinstance(grid, (list, tuple)) else [grid] * len(tables)
    out: list = [None] * len(tables)
    starts_of = {}
    for g, (runs, gr) in enumerate(zip(tables, grids)):
        if len(runs) < free.size:
            out[g] = InputError(f"law '{law_cls.name}' has {free.size} free parameters; need at least {free.size} "
                                f"runs, got {len(runs)}", source=runs.source)
            continue
        starts = law_cls.default_grid() if gr is None else np.atleast_2d(np.asarray(gr, float))
        if starts.shape[1] != law_cls.n_fit_params():
            raise InputError(f"grid for law '{law_cls.name}' needs {law_cls.n_fit_params()} columns "
                             f"({', '.join(law_cls.theta_names)})")
        if start is not None:
            starts = np.vstack([starts, start.theta()])
        starts = starts[:, free]
        bounds = theta_bounds(law_cls, runs, bound_e)
        if bounds is not None:
            starts = np.clip(starts, bounds[0][free], bounds[1][free])  # before de-duplication: they meet on it
        starts_of[g] = np.unique(starts, axis=0)
    todo = sorted(starts_of)
    if todo:
        data = tables[todo[0]] if len(todo) == 1 else stack_runs(law_cls, [tables[g] for g in todo])
        starts = np.vstack([starts_of[g] for g in todo])
        groups = np.repeat(np.arange(len(todo)), [len(starts_of[g]) for g in todo])
        with single_threaded():  # tiny matmuls: BLAS threading costs more than it saves
            obj, res, groups = _multistart(data, law_cls, starts, groups, **opts, max_iter=max_iter)
        full = obj.full_theta(res.theta)
        for j, g in enumerate(todo):
            try:
                out[g] = _result(law_cls, obj, res, full, np.flatnonzero(groups == j), tables[g],
                                 data.index[j] if len(todo) > 1 else slice(None), len(starts_of[g]), opts, fix)
            except InputError as exc:
                out[g] = exc
    if errors == "raise":
        for r in out:
            if isinstance(r, InputError):
                raise r
    return out


def _result(law_cls, obj, res, full, rows, runs, points, n_starts, opts, fix) -> FitResult:
    """The FitResult of one table from its rows of a (stacked) multi-start."""
    order = rows[np.argsort(res.objective[rows], kind="stable")]
    best = int(order[0])
    if not np.isfinite(res.objective[best]):
        raise InputError(f"law '{law_cls.name}': the objective is not finite at any start (check the data)",
                         source=runs.source)
    near = _distinct_optima(law_cls, obj, full[order], res.objective[order], res.converged[order], points)
    at_bound = parameters_at_bound(law_cls, obj, res.theta[best:best + 1], rows=[best])[0]
    message = str(res.message[best]) + "".join(f"; {k} at its {v} bound" for k, v in at_bound.items())
    return FitResult(law=law_cls.from_theta(full[best]), objective=float(res.objective[best]),
                     converged=bool(res.converged[best]), message=message, n_points=len(runs), n_starts=n_starts,
                     loss=opts["loss"], delta=opts["delta"], asymmetry=opts["asymmetry"], held=tuple(opts["hold"]),
                     runs=runs, near_optima=near, bound_e=opts["bound_e"], at_bound=at_bound,
                     fixed={k: float(v) for k, v in (fix or {}).items()})


def _finite_or_none(x: float) -> float | None:
    return x if np.isfinite(x) else None  # JSON has no NaN


def parameters_at_bound(law_cls, obj, theta_free: np.ndarray, rows=None) -> list[dict[str, str]]:
    """For each row of free parameters: the public parameters that sit on a bound, "lower" or "upper" (``rows``: the
    objective's batch rows they belong to, where its bounds are per row)."""
    out = [{} for _ in range(len(theta_free))]
    if obj.bounds is None:
        return out
    public = {j: name for name, j in law_cls.parameter_map().items()}
    for k, j in enumerate(obj.free):
        lo, hi = (np.broadcast_to(b[..., k] if b.ndim == 1 or rows is None else b[rows, k], len(theta_free))
                  for b in obj.bounds)
        for i in np.flatnonzero((theta_free[:, k] <= lo) | (theta_free[:, k] >= hi)):
            out[i][public.get(j, law_cls.theta_names[j])] = "lower" if theta_free[i, k] <= lo[i] else "upper"
    return out


def _multistart(data, law_cls, starts, groups, *, loss, delta, asymmetry, hold, start, bound_e, max_iter):
    """Solve from every start in stages, each a single batched solve, keeping every distinct end point:

    1. screening — on SCREEN_POINTS runs spread evenly over compute, with the Huber δ raised to SMOOTH_DELTA (a
       smoother surface); thousands of starts collapse into a few dozen basins cheaply;
    2. smoothing — those end points (plus the N_BEST_RAW best raw starts) on all runs at δ = SMOOTH_DELTA;
    3. final — the distinct results on the requested objective, to full precision.
    Stages are skipped when they would not help (few runs, least squares, or δ already ≥ SMOOTH_DELTA). The raw
    starts are not solved again from scratch in the final stage once smoothing has carried them there: at δ = 1e-3
    a raw start crawls for ~100–180 steps to a minimum its smoothed end point reaches in ~10 (on Epoch's data and
    on 23 subsets/variants of it and of datablations' C4 runs, the same best objective and near-optima either way).

    ``data`` is one Runs table or a ``RunsStack`` (``groups``: the table of each start), every table going through
    the same stages as it would alone. Returns the final objective, its result and the table of each of its rows.
    """
    stacked = isinstance(data, RunsStack)
    tables = data.tables if stacked else (data,)
    opts = dict(loss=loss, asymmetry=asymmetry, hold=hold, start=start, bound_e=bound_e)

    def objective(source, rows_groups, d):
        return make_objective(law_cls, source, delta=d, **opts, groups=rows_groups if stacked else None)[0]

    def solve(obj, theta, rows_groups, **kw):
        return minimize_batched(obj, theta, max_iter=max_iter, groups=rows_groups if stacked else None, **kw)

    def distinct(result, rows_groups, decimals, extra, extra_groups):
        ok = np.isfinite(result.objective)
        keys = np.column_stack([rows_groups[ok], np.round(result.theta[ok], decimals)])
        first = np.sort(np.unique(keys, axis=0, return_index=True)[1])
        return (np.vstack([result.theta[ok][first], extra]),
                np.concatenate([rows_groups[ok][first], extra_groups]).astype(int))

    smooth_delta = max(delta, SMOOTH_DELTA)
    obj = objective(data, groups, delta)
    raw = obj.value(starts)
    best = np.concatenate([np.flatnonzero(groups == g)[np.argsort(raw[groups == g], kind="stable")[:N_BEST_RAW]]
                           for g in range(len(tables))])
    best_raw, best_groups = starts[best], groups[best]
    candidates, cand_groups = starts, groups
    n_starts = np.bincount(groups, minlength=len(tables))
    screened = np.array([len(t) > 2 * SCREEN_POINTS and n > N_BEST_RAW for t, n in zip(tables, n_starts)])
    if screened.any():
        subsets = []
        for g in np.flatnonzero(screened):
            t = tables[g]
            idx = np.argsort(t.flops, kind="stable")[np.linspace(0, len(t) - 1, SCREEN_POINTS).round().astype(int)]
            subsets.append(t.subset(idx))
        rows = np.isin(groups, np.flatnonzero(screened))
        relabel = np.cumsum(screened) - 1
        source = subsets[0] if not stacked else stack_runs(law_cls, subsets)
        screen = make_objective(law_cls, source, delta=smooth_delta, **opts,
                                groups=relabel[groups[rows]] if stacked else None)[0]
        # Screening only needs basins: starts within ~0.05 of each other in every parameter are merged.
        result = solve(screen, starts[rows], relabel[groups[rows]], ftol=1e-5, merge_decimals=1, merge_every=2)
        theta, grp = distinct(result, groups[rows], 2, best_raw[screened[best_groups]],
                              best_groups[screened[best_groups]])
        candidates = np.vstack([theta, starts[~rows]])
        cand_groups = np.concatenate([grp, groups[~rows]])
    if loss == "huber_log" and delta < SMOOTH_DELTA:
        smooth = solve(objective(data, cand_groups, SMOOTH_DELTA), candidates, cand_groups, ftol=1e-6,
                       merge_decimals=3)
        candidates, cand_groups = distinct(smooth, cand_groups, 3, np.empty((0, starts.shape[1])), np.empty(0))
    final = objective(data, cand_groups, delta) if stacked else obj
    return final, solve(final, candidates, cand_groups, merge_decimals=6), cand_groups


def _distinct_optima(law_cls, obj, thetas, objectives, converged, points=slice(None)) -> tuple[Optimum, ...]:
    """Converged minima within NEAR_OPTIMUM_RTOL of the best, kept when their predictions differ (by > 1e-4 in log
    loss at some fitted run): parameter values alone can differ along directions the data never see. ``points``:
    the fitted runs among the objective's points (a table's, in a stack)."""
    best = objectives[0]
    kept: list[np.ndarray] = []
    out = []
    for th, f, ok in zip(thetas, objectives, converged):
        if not (ok and f <= best * (1 + NEAR_OPTIMUM_RTOL) + 1e-300):
            continue
        pred = obj.log_predict(th[None, obj.free])[0][points]
        if any(np.max(np.abs(pred - k)) < 1e-4 for k in kept):
            continue
        try:
            law = law_cls.from_theta(th)
        except InputError:
            continue
        kept.append(pred)
        out.append(Optimum(law=law, objective=float(f)))
    return tuple(out)
