"""Accuracy as a sigmoid of task loss, fitted for many weightings (starts, bootstrap resamples) in one batch.

    acc(L) = chance + (ceiling − chance) / (1 + exp(slope · (L − midpoint)))

Bhagia et al. 2024 (arXiv:2412.04403, Sec. 3) fit a/(1 + e^(−k(L − L0))) + b with a free floor b; here the
floor is the task's chance level, so three parameters remain: the ceiling (chance < ceiling ≤ 1), the slope k > 0
(accuracy rises as loss falls) and the midpoint L0, where accuracy is half-way between chance and ceiling.
Internally θ = (logit((ceiling − chance)/(1 − chance)), log k, L0), so every θ is a valid sigmoid. Weighted least
squares, solved by Levenberg–Marquardt steps vectorised over the batch (a 3 × 3 system per row, its normal
equations summed over points directly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

MAX_ITER = 200
FTOL = 1e-10   # relative decrease of the weighted SSE below which a row has converged
# θ box: the ceiling's logit within ±30 and the slope within e^±8 per unit of task loss (beyond: a step or a line),
# so exp(log k) and the sigmoid never overflow along a step.
S_MAX, LOGK_MAX = 30.0, 8.0


@dataclass(frozen=True)
class SigmoidParams:
    chance: float
    ceiling: float
    slope: float
    midpoint: float

    def __call__(self, task_loss) -> np.ndarray:
        x = np.asarray(task_loss, float)
        return accuracy(x.ravel(), self.chance, theta_of(self)[None, :])[0].reshape(x.shape)

    def position(self, task_loss) -> np.ndarray:
        """Where on the sigmoid a task loss sits: 0 at the floor (chance), 0.5 at the midpoint, 1 at the ceiling."""
        with np.errstate(over="ignore"):
            return expit(-self.slope * (np.asarray(task_loss, float) - self.midpoint))


def theta_of(p: SigmoidParams) -> np.ndarray:
    frac = np.clip((p.ceiling - p.chance) / (1.0 - p.chance), 1e-12, 1 - 1e-12)
    return np.array([logit(frac), np.log(p.slope), p.midpoint])


def params_of(theta: np.ndarray, chance: float) -> SigmoidParams:
    s, logk, mid = (float(t) for t in theta)
    return SigmoidParams(chance=chance, ceiling=chance + (1 - chance) * float(expit(s)), slope=float(np.exp(logk)),
                         midpoint=mid)


def accuracy(task_loss: np.ndarray, chance: float, theta: np.ndarray) -> np.ndarray:
    """acc [B, n] for parameter rows θ [B, 3] at task losses [n] (or [B, n])."""
    h = (1 - chance) * expit(theta[:, 0:1])
    with np.errstate(over="ignore"):
        q = expit(-np.exp(theta[:, 1:2]) * (task_loss - theta[:, 2:3]))
    return chance + h * q


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_n a·b per row of [B, n] arrays, without a [B, n] temporary."""
    return np.einsum("bn,bn->b", a, b)


def _normal_equations(theta, x, y, W, chance):
    """Weighted SSE [B], the Gauss–Newton matrix JᵀWJ [B, 3, 3] and JᵀWr [B, 3] at rows θ.

    d acc/dθ = (h(1 − σ(s))·q, −hk·q(1 − q)·Δ, hk·q(1 − q)) with h = ceiling − chance, q = σ(−kΔ), Δ = L − L0: each
    entry of JᵀWJ is a per-row constant times one weighted sum over points, so J itself ([B, n, 3]) is never formed."""
    e_s = expit(theta[:, 0:1])
    h = (1 - chance) * e_s
    k = np.exp(theta[:, 1:2])
    dx = x[None, :] - theta[:, 2:3]
    with np.errstate(over="ignore"):
        q = expit(-k * dx)
    r = y - chance - h * q
    Wb = np.broadcast_to(W, r.shape)
    sse = _dot(Wb * r, r)
    t = q * (1 - q)
    tdx = t * dx
    wq, wt = Wb * q, Wb * t
    wtdx = wt * dx
    a0, hk = (h * (1 - e_s))[:, 0], (h * k)[:, 0]
    A = np.empty((theta.shape[0], 3, 3))
    A[:, 0, 0] = a0 * a0 * _dot(wq, q)
    A[:, 0, 1] = A[:, 1, 0] = -a0 * hk * _dot(wq, tdx)
    A[:, 0, 2] = A[:, 2, 0] = a0 * hk * _dot(wq, t)
    A[:, 1, 1] = hk * hk * _dot(wtdx, tdx)
    A[:, 1, 2] = A[:, 2, 1] = -hk * hk * _dot(wt, tdx)
    A[:, 2, 2] = hk * hk * _dot(wt, t)
    g = np.stack([a0 * _dot(wq, r), -hk * _dot(wtdx, r), hk * _dot(wt, r)], axis=1)
    return sse, A, g


def fit_batched(x: np.ndarray, y: np.ndarray, chance: float, theta0: np.ndarray, weights: np.ndarray, *,
                max_iter: int = MAX_ITER, ftol: float = FTOL):
    """Minimise Σ w (y − acc(x))² from each row of θ0 [B, 3] with its weights [B, n] (or [1, n], shared).

    Returns (θ [B, 3], weighted SSE [B], converged [B]). Every trial point gets its normal equations in the same pass
    over the points as its SSE: most steps are accepted, and an accepted one then needs no second pass."""
    theta = np.array(theta0, float, copy=True)
    B = theta.shape[0]
    shared = weights.shape[0] == 1
    lam = np.full(B, 1e-3)
    sse, A, g = _normal_equations(theta, x, y, weights, chance)
    active = np.ones(B, bool)
    converged = np.zeros(B, bool)
    for _ in range(max_iter):
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        every = a.size == B
        th_a = theta if every else theta[a]
        Wa = weights if shared or every else weights[a]
        A_a, g_a = (A, g) if every else (A[a], g[a])
        diag = np.einsum("bii->bi", A_a)
        A_damped = A_a + (lam[a, None] * np.maximum(diag, 1e-12))[:, :, None] * np.eye(3)
        step = np.linalg.solve(A_damped, g_a[:, :, None])[:, :, 0]
        trial = th_a + step
        trial[:, 0] = np.clip(trial[:, 0], -S_MAX, S_MAX)
        trial[:, 1] = np.clip(trial[:, 1], -LOGK_MAX, LOGK_MAX)
        sse_t, A_t, g_t = _normal_equations(trial, x, y, Wa, chance)
        better = np.isfinite(sse_t) & (sse_t < sse[a])
        gain = np.where(better, (sse[a] - sse_t) / np.maximum(sse[a], 1e-300), 0.0)
        idx = a[better]
        theta[idx], sse[idx], A[idx], g[idx] = trial[better], sse_t[better], A_t[better], g_t[better]
        lam[idx] = np.maximum(lam[idx] / 3, 1e-12)
        lam[a[~better]] *= 4
        small_step = np.max(np.abs(step), axis=1) < 1e-10 * (1 + np.max(np.abs(th_a), axis=1))
        done = (better & (gain < ftol)) | (~better & (small_step | (lam[a] > 1e12)))
        converged[a[done]] = True
        active[a[done]] = False
    return theta, sse, converged


def default_starts(x: np.ndarray, chance: float) -> np.ndarray:
    """Midpoints over and beyond the covered task-loss range, slopes spanning gentle to steep, three ceilings."""
    lo, hi = float(np.min(x)), float(np.max(x))
    span = max(hi - lo, 1e-3)
    mids = np.linspace(lo - span, hi + 0.5 * span, 7)
    slopes = np.array([0.5, 2.0, 8.0]) / span
    ceils = np.array([0.5, 0.8, 0.97])
    frac = (np.maximum(ceils, chance + 0.02) - chance) / (1 - chance)
    grid = np.array(np.meshgrid(logit(np.clip(frac, 0.01, 0.99)), np.log(slopes), mids)).reshape(3, -1).T
    return grid
