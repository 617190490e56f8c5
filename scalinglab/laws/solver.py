"""One batched, vectorised trust-region Newton solver for many starts (or bootstrap resamples) at once.

Every start minimises its own objective with exact-Hessian trust-region steps (Moré & Sorensen 1983): the step
minimises the local quadratic model within a radius Δ, found through the Hessian's eigen-decomposition and a
vectorised solve of the secular equation, so negative curvature and flat plateaus are handled without special cases.
Δ grows after steps the model predicted well and shrinks after poor ones. All starts advance together as arrays; a
start leaves the active set once the decrease its Newton step could still bring is below ``ftol`` (relative), or its
radius collapses (no step of any length decreases the objective: a minimum to machine precision).

Box bounds (an objective's ``bounds``, e.g. 0 ≤ E ≤ the lowest loss on e = log E) are kept by projection in the
manner of Bertsekas's projected Newton method (SIAM J. Control Optim. 20, 1982): a coordinate at a bound whose
gradient points outward is held there for the step (its row and column leave the quadratic model), the trial point is
clipped to the box, and the model decrease is that of the clipped step. Bounded coordinates are logarithms of positive
quantities (e = log E), and the solver moves them as the quantity itself, z = exp(θ − hi) ∈ [exp(lo − hi), 1] (exact
chain-rule derivatives): E → 0 is an endless, ever flatter road in log E, crawled until the iteration limit, but a
short one in E, so a fit whose E runs to zero reaches the bound in a few steps and ends there, converged, with the
reduced Newton decrement below tolerance.

Rows may carry data sets of their own (an objective that is ``per_row``: bootstrap resamples, backtest folds, ladders
of one design), bounds included; with ``groups``, rows that share one data set are told apart from the others, so
that starts are merged only within their own data set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RADIUS_START, RADIUS_MAX, RADIUS_MIN = 1.0, 1e3, 1e-14
SECULAR_MAX_ITER, SECULAR_RTOL = 12, 1e-13  # the step length matches the radius to 1e-13 (relative)
STALL_WINDOW, STALL_RTOL = 25, 1e-10  # a start whose objective fell < 1e-10 (relative) in 25 steps has stalled


_THREADPOOLS = None


def single_threaded():
    """A context in which BLAS runs on one thread (the solver's matmuls are tiny: threading costs more than it
    saves), through one cached controller: finding the BLAS libraries anew cost milliseconds per call."""
    global _THREADPOOLS
    if _THREADPOOLS is None:
        from threadpoolctl import ThreadpoolController
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1)


@dataclass(frozen=True)
class BatchResult:
    theta: np.ndarray      # [B, p]
    objective: np.ndarray  # [B]
    converged: np.ndarray  # [B] bool
    n_iter: np.ndarray     # [B]
    message: np.ndarray    # [B] str


def _rowsum(x: np.ndarray) -> np.ndarray:
    # Sums over a short last axis as a matrix-vector product: several times faster than .sum(axis=1) for [B, 5].
    return x @ np.ones(x.shape[1])


def _trust_region_step(ev: np.ndarray, V: np.ndarray, g: np.ndarray, radius: np.ndarray):
    """Minimise gᵀs + ½sᵀHs over ‖s‖ ≤ Δ for each row, given H = V diag(ev) Vᵀ (``ev`` ascending, as ``eigh``
    returns it). Returns (s, predicted decrease, Newton decrement ½gᵀH⁻¹g — infinite where H is not positive definite).
    """
    gV = np.einsum("bpk,bp->bk", V, g)
    g2 = gV * gV
    ev_min = ev[:, 0]
    pd = ev_min > 0
    scale = np.maximum(np.maximum(-ev_min, ev[:, -1]), 1e-300)
    lo = np.maximum(0.0, -ev_min) + 1e-12 * scale          # smallest shift keeping H + μI positive definite
    r2 = radius * radius
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x0 = gV / ev                                       # Newton step in the eigenbasis
        interior = pd & (_rowsum(x0 * x0) <= r2)    # it fits: ‖H⁻¹g‖ ≤ Δ
        x_lo = gV / (ev + lo[:, None])
        need = ~interior & (_rowsum(x_lo * x_lo) > r2)
    mu = np.where(interior, 0.0, lo)
    if need.any():
        # ‖s(μ)‖ = Δ: Newton's method on 1/‖s(μ)‖ − 1/Δ, which is nearly linear in μ (Moré & Sorensen 1983);
        # started left of the root at the positive-definite shift, its iterates rise monotonically to it.
        e_n, g2_n, r_n = ev[need], g2[need], radius[need]
        m = lo[need]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            for i in range(SECULAR_MAX_ITER):
                inv = 1.0 / (e_n + m[:, None])
                t2 = g2_n * inv * inv
                s2 = _rowsum(t2)
                s3 = _rowsum(t2 * inv)
                norm_s = np.sqrt(s2)
                m = m + (norm_s - r_n) / r_n * s2 / s3
                # Converged rows stop moving (Newton's quadratic convergence): no need to run out the count.
                if i >= 2 and not np.any(np.abs(norm_s - r_n) > SECULAR_RTOL * r_n):
                    break
        mu[need] = np.where(np.isfinite(m), m, lo[need] + np.sqrt(_rowsum(g2_n)) / r_n)
    coef = -gV / (ev + mu[:, None])
    step = np.einsum("bpk,bk->bp", V, coef)
    predicted = -_rowsum(coef * (gV + 0.5 * ev * coef))
    with np.errstate(invalid="ignore"):
        newton_decrement = np.where(pd, 0.5 * _rowsum(gV * x0), np.inf)
    return step, predicted, newton_decrement


def _binding(theta, g, lo, hi) -> np.ndarray:
    """Coordinates held at a bound for this step: on the bound with the gradient pointing out of the box."""
    return ((theta <= lo) & (g > 0)) | ((theta >= hi) & (g < 0))


def _reduced_hessian(H, held):
    """The Hessian with the held coordinates decoupled (zero off-diagonal, unit diagonal): with their gradient
    zeroed too, the trust-region step leaves them where they are, and the Newton decrement is the free ones'."""
    H = H.copy()
    H[held[:, :, None] | held[:, None, :]] = 0.0
    H[held[:, :, None] & np.eye(H.shape[1], dtype=bool)] = 1.0
    return H


def _first_equal_row(keys: np.ndarray) -> np.ndarray:
    """For each row of ``keys``, the index of the first row equal to it (``np.unique(axis=0)``'s grouping, through
    one stable lexicographic sort: several times cheaper for the few thousand rows merged at every call)."""
    order = np.lexsort(keys.T[::-1])
    sorted_keys = keys[order]
    starts = np.ones(len(keys), bool)
    starts[1:] = np.any(sorted_keys[1:] != sorted_keys[:-1], axis=1)
    out = np.empty(len(keys), int)
    out[order] = order[np.flatnonzero(starts)][np.cumsum(starts) - 1]
    return out


def _box(objective, p: int):
    """The objective's bounds on the free coordinates as (lo, hi), each [p] or, per row of the batch, [B, p]; None
    when it has none."""
    bounds = getattr(objective, "bounds", None)
    if bounds is None:
        return None
    shape = (p,) if all(np.ndim(b) < 2 for b in bounds) else (max(np.shape(b)[0] for b in bounds if np.ndim(b) == 2), p)
    lo, hi = (np.broadcast_to(np.asarray(b, float), shape) for b in bounds)
    return None if np.all(lo == -np.inf) and np.all(hi == np.inf) else (lo, hi)


def _sel(a: np.ndarray, rows) -> np.ndarray:
    """Rows of a per-row array ([B, p]); a shared one ([p]) as it is."""
    return a if a.ndim == 1 or rows is None else a[rows]


def _decompose(theta, g, H, box):
    """Eigen-decompositions of the Hessians of a block of rows as their steps will use them: with the coordinates
    held at a bound decoupled (``_reduced_hessian``). Which are held follows from θ and g alone, so a decomposition
    made when a step is accepted serves every trial from that point."""
    if box is None:
        return np.linalg.eigh(H)
    held = _binding(theta, g, *box)
    rows = np.flatnonzero(held.any(axis=1))
    if rows.size:
        H = H.copy()
        H[rows] = _reduced_hessian(H[rows], held[rows])
    return np.linalg.eigh(H)


def _propose(theta, g, H, ev, V, radius, box):
    """Trial points, steps, predicted decreases and Newton decrements for a block of rows (``ev``, ``V``: the cached
    decompositions of ``_decompose``); within ``box`` when given (see the module docstring)."""
    if box is None:
        step, predicted, decrement = _trust_region_step(ev, V, g, radius)
        return theta + step, step, predicted, decrement
    lo, hi = box
    held = _binding(theta, g, lo, hi)
    step, predicted, decrement = _trust_region_step(ev, V, np.where(held, 0.0, g), radius)
    step[held] = 0.0
    trial = theta + step
    out = (trial < lo) | (trial > hi)
    clipped = np.flatnonzero(out.any(axis=1))
    if clipped.size:
        # Exactly on the bound (so that the next binding test sees it there); the model decrease of the clipped step.
        trial[clipped] = np.clip(trial[clipped], _sel(lo, clipped), _sel(hi, clipped))
        s = step[clipped] = trial[clipped] - theta[clipped]
        predicted[clipped] = -(np.einsum("bp,bp->b", g[clipped], s)
                               + 0.5 * np.einsum("bp,bpq,bq->b", s, H[clipped], s))
    return trial, step, predicted, decrement


class _LinearBounded:
    """An objective seen in solver coordinates: the bounded log-coordinates θ_j as z_j = exp(θ_j − hi_j) (bounds
    shared, [p], or per row, [B, p]: then every call names its ``rows``)."""

    def __init__(self, objective, box):
        self.objective, (self.lo, self.hi) = objective, box
        finite = np.isfinite(self.lo) & np.isfinite(self.hi)
        self.idx = np.flatnonzero(finite if finite.ndim == 1 else finite.all(axis=0))
        self.weights = objective.weights
        self.per_row = getattr(objective, "per_row", objective.weights.shape[0] > 1)
        self.cheap_derivatives = getattr(objective, "cheap_derivatives", False)
        linear = np.isin(np.arange(self.lo.shape[-1]), self.idx)
        self.box = (np.where(linear, np.exp(self.lo - self.hi), self.lo), np.where(linear, 1.0, self.hi))

    def to_z(self, theta, rows=None):
        lo, hi = _sel(self.lo, rows), _sel(self.hi, rows)
        z = np.clip(theta, lo, hi)
        z[:, self.idx] = np.exp(z[:, self.idx] - hi[..., self.idx])
        return z

    def to_theta(self, z, rows=None):
        lo, hi, z_lo = _sel(self.lo, rows), _sel(self.hi, rows), _sel(self.box[0], rows)
        theta = z.copy()
        j = self.idx
        theta[:, j] = np.log(z[:, j]) + hi[..., j]
        # Exactly on a bound where z is (so that callers can tell a bounded solution by comparison).
        theta[:, j] = np.where(z[:, j] <= z_lo[..., j], lo[..., j], np.where(z[:, j] >= 1.0, hi[..., j],
                                                                             theta[:, j]))
        return theta

    def value(self, z, rows=None):
        return self.objective.value(self.to_theta(z, rows), rows)

    def value_grad_hess(self, z, rows=None):
        # θ_j = log z_j + hi_j: ∂f/∂z_j = g_j / z_j and ∂²f/∂z_j² = (H_jj − g_j) / z_j², ∂²f/∂z_j∂θ_k = H_jk / z_j.
        f, g, H = self.objective.value_grad_hess(self.to_theta(z, rows), rows)
        jac = np.ones_like(z)
        jac[:, self.idx] = 1.0 / z[:, self.idx]
        H = H * jac[:, :, None] * jac[:, None, :]
        H[:, self.idx, self.idx] -= g[:, self.idx] * jac[:, self.idx] ** 2
        return f, g * jac, H


def _merge_followers(theta, done, leader, decimals, groups=None):
    """Active starts whose parameters agree to ``decimals`` (within their group) follow the first of them."""
    act = np.flatnonzero(~done)
    keys = np.round(theta[act], decimals)
    if groups is not None:
        keys = np.column_stack([groups[act], keys])
    first = act[_first_equal_row(keys)]
    followers = first != act
    leader[act[followers]] = first[followers]
    done[act[followers]] = True


def minimize_batched(objective, theta0: np.ndarray, *, max_iter: int = 500, ftol: float = 1e-13,
                     merge_decimals: int | None = None, merge_every: int = 8,
                     groups: np.ndarray | None = None) -> BatchResult:
    """Minimise ``objective`` (an ``Objective``) from every row of ``theta0`` simultaneously.

    With ``merge_decimals`` (multi-start), every ``merge_every`` iterations active starts whose parameters agree to
    that many decimals are merged: they follow the same path from then on, so one carries on and the others receive
    its result at the end. Rows with data sets of their own are merged only within their ``groups`` (one label per
    row; rows with one label must share one data set). Starts outside the objective's ``bounds`` begin at their
    projection.
    """
    theta = np.array(theta0, dtype=float, copy=True)
    B, p = theta.shape
    box = _box(objective, p)
    if box is not None:
        objective = _LinearBounded(objective, box)
        theta, box = objective.to_z(theta), objective.box
    per_row = getattr(objective, "per_row", objective.weights.shape[0] > 1)
    # Where derivatives cost a small multiple of the value (exact log-sum-exp ones), every trial point gets them in
    # the same pass: the accepted majority then needs no second pass over the data.
    fused = getattr(objective, "cheap_derivatives", False)
    f, g, H = objective.value_grad_hess(theta, np.arange(B) if per_row else None)
    radius = np.full(B, RADIUS_START)
    n_iter = np.zeros(B, int)
    done = ~np.isfinite(f) | ~np.all(np.isfinite(g), axis=1) | ~np.all(np.isfinite(H), axis=(1, 2))
    converged = np.zeros(B, bool)
    message = np.full(B, "maximum iterations reached", dtype=object)
    message[done] = "objective not finite at start"
    leader = np.arange(B)
    f_window = f.copy()
    # refreshed only for rows whose Hessian changed (accepted steps)
    ev_all, V_all = _decompose(theta, g, H, box and (_sel(box[0], None), _sel(box[1], None)))
    if merge_decimals is not None and per_row and groups is None:
        raise ValueError("merging starts is only valid among rows that share one objective (give groups)")
    groups = None if groups is None else np.asarray(groups)

    for it in range(max_iter):
        if merge_decimals is not None and it % merge_every == merge_every - 1:
            _merge_followers(theta, done, leader, merge_decimals, groups)
        act = np.flatnonzero(~done)
        if it and it % STALL_WINDOW == 0:
            # Creeping along a flat valley toward a parameter at infinity (e.g. E → 0): the objective has settled.
            stalled = act[f_window[act] - f[act] <= STALL_RTOL * np.abs(f[act])]
            done[stalled], converged[stalled] = True, True
            message[stalled] = "converged (objective stalled; a parameter may be running to its limit)"
            f_window[act] = f[act]
            act = np.flatnonzero(~done)
        if act.size == 0:
            break
        trial, step, predicted, decrement = _propose(theta[act], g[act], H[act] if box else None, ev_all[act],
                                                     V_all[act], radius[act],
                                                     box and (_sel(box[0], act), _sel(box[1], act)))
        tiny = decrement <= ftol * np.maximum(np.abs(f[act]), 1e-300)
        if tiny.any():
            idx = act[tiny]
            done[idx], converged[idx] = True, True
            message[idx] = "converged (Newton decrement below tolerance)"
            act, trial, step, predicted = act[~tiny], trial[~tiny], step[~tiny], predicted[~tiny]
            if act.size == 0:
                break
        n_iter[act] += 1
        if fused:
            f_trial, g_trial, H_trial = objective.value_grad_hess(trial, act if per_row else None)
            f_trial = np.where(np.isfinite(f_trial), f_trial, np.inf)
        else:
            f_trial = objective.value(trial, act if per_row else None)
        actual = f[act] - f_trial
        with np.errstate(over="ignore"):  # a huge decrease against a tiny prediction: ρ = inf, a very good step
            rho = np.where(predicted > 0, actual / np.maximum(predicted, 1e-300), -1.0)
        step_len = np.linalg.norm(step, axis=1)
        shrink = rho < 0.25
        grow = (rho > 0.75) & (step_len >= 0.99 * radius[act])
        radius[act[shrink]] = 0.25 * step_len[shrink]
        radius[act[grow]] = np.minimum(2.0 * radius[act[grow]], RADIUS_MAX)
        ok = (actual > 0) & (rho > 1e-4)
        acc = act[ok]
        collapsed = act[radius[act] < RADIUS_MIN * np.maximum(1.0, np.abs(theta[act]).max(axis=1))]
        if collapsed.size:
            done[collapsed], converged[collapsed] = True, True
            message[collapsed] = "converged (no step decreases the objective)"
        if acc.size:
            theta[acc] = trial[ok]
            if fused:
                fa, ga, Ha = f_trial[ok], g_trial[ok], H_trial[ok]
            else:
                fa, ga, Ha = objective.value_grad_hess(theta[acc], acc if per_row else None)
            f[acc], g[acc], H[acc] = fa, ga, Ha
            ev_all[acc], V_all[acc] = _decompose(theta[acc], ga, Ha,
                                                 box and (_sel(box[0], acc), _sel(box[1], acc)))
    while np.any(leader[leader] != leader):
        leader = leader[leader]
    merged = leader != np.arange(B)
    theta[merged], f[merged], converged[merged] = theta[leader[merged]], f[leader[merged]], converged[leader[merged]]
    message[merged] = message[leader[merged]]
    n_iter[merged] += n_iter[leader[merged]]
    if isinstance(objective, _LinearBounded):
        theta = objective.to_theta(theta)
    return BatchResult(theta=theta, objective=f, converged=converged, n_iter=n_iter, message=message)
