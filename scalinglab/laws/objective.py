"""Fit objectives on loss residuals, with exact gradients and Hessians for a batch of parameter vectors.

The residual of point i is r_i = log L̂_i(θ) − log L_i. Supported losses (``kind``):
- ``huber_log`` (alias ``huber``; Hoffmann et al. 2022, App. D.2): ρ(r) = r²/2 for |r| ≤ δ, δ(|r| − δ/2) otherwise,
  on the log residual; δ = 1e-3 by default;
- ``ls_log`` (alias ``ls``): least squares on the log residual, ρ(r) = r²;
- ``mse``: least squares on the raw loss, ρ = (L̂ − L)² = L²(eʳ − 1)² (apple/ml-scalefit's MSE objective); its
  derivatives in r, 2L²(eʳ − 1)eʳ and 2L²eʳ(2eʳ − 1), keep the exact log-sum-exp gradients and Hessians below.
An ``asymmetry`` κ > 1 multiplies ρ for over-predictions (r > 0), pulling the fit toward the lower envelope.
The objective is Σ_i w_i ρ(r_i), summed (not averaged) over points as Besiroglu et al. 2024 recommend; w_i are
per-point weights (the Runs table's ``weight`` column, times bootstrap resample counts).

Many data sets on one set of points solve as one batch: weights, losses and bounds may each be given per row of the
batch ([B, n], [B, n] and [B, p]; a zero weight leaves a point out of that row's data set), so bootstrap resamples,
backtest folds and ladders of one design share a solver call.
"""

from __future__ import annotations

import numpy as np

from scalinglab.errors import InputError

from scalinglab.laws.forms import Law

CHUNK_ELEMENTS = 1 << 15  # per-block size of the largest temporaries (see Objective._blocks)
LOSSES = {"huber_log": "Huber on log loss", "ls_log": "least squares on log loss",
          "mse": "least squares on raw loss"}
LOSS_ALIASES = {"huber": "huber_log", "ls": "ls_log"}  # the names used before the raw-loss objective existed


def canonical_loss(name: str) -> str | None:
    """The canonical name of a loss (``huber`` → ``huber_log``), or None for an unknown one."""
    name = LOSS_ALIASES.get(name, name)
    return name if name in LOSSES else None


def _sum_terms(e: np.ndarray) -> np.ndarray:
    """Σ_k e[:, k] of [B, K, n] by K − 1 additions (same order as .sum(axis=1), about twice as fast)."""
    out = e[:, 0].copy()
    for k in range(1, e.shape[1]):
        out += e[:, k]
    return out


DELTA_RANGE = (1e-12, 1e3)  # Huber delta on log residuals: above 1e3 it is least squares, below 1e-12 it is L1 × 0
ASYMMETRY_RANGE = (1e-6, 1e6)


def check_loss_options(delta: float, asymmetry: float) -> None:
    """Refuse a Huber delta or an asymmetry outside the range where the objective means something and its products
    stay finite (one-line ``InputError``)."""
    for name, value, (lo, hi) in (("delta", delta, DELTA_RANGE), ("asymmetry", asymmetry, ASYMMETRY_RANGE)):
        if not (lo <= value <= hi):  # also refuses nan
            raise InputError(f"--{name} must be between {lo:g} and {hi:g}, got {value:g}")


class Objective:
    """Σ w ρ(log L̂(θ) − log L) for one law on fixed data; evaluated for batches of θ (rows of ``theta``).

    ``loss`` [n] or, one data set per row of the batch, [B, n]; likewise ``weights`` [n] or [B, n] and each of
    ``bounds`` [P] or [B, P]. Calls then pass ``rows``, the batch rows being evaluated (``per_row``)."""

    def __init__(self, law: type[Law], X: dict[str, np.ndarray], loss: np.ndarray, *, kind: str = "huber",
                 delta: float = 1e-3, asymmetry: float = 1.0, weights: np.ndarray | None = None,
                 free: np.ndarray | None = None, theta_fixed: np.ndarray | None = None,
                 bounds: tuple[np.ndarray, np.ndarray] | None = None):
        loss = np.asarray(loss, float)
        self.law, self.X, self.y = law, X, np.log(loss if loss.ndim < 2 or loss.shape[0] > 1 else loss[0])
        self.kind, self.delta, self.kappa = canonical_loss(kind), float(delta), float(asymmetry)
        if self.kind is None:
            raise ValueError(f"unknown loss '{kind}'")
        check_loss_options(self.delta, self.kappa)
        with np.errstate(over="ignore"):  # a loss above 1e154 (only in made-up tables): its L² is inf
            self._loss2 = np.exp(2.0 * self.y)  # L², the scale of the raw-loss residual (mse)
        n = self.y.shape[-1]
        self.weights = np.ones((1, n)) if weights is None else np.atleast_2d(np.asarray(weights, float))
        self._unit_weights = weights is None  # then every multiplication by w is skipped
        P = law.n_fit_params()
        self.free = np.arange(P) if free is None else np.asarray(free, int)
        self.theta_fixed = np.zeros(P) if theta_fixed is None else np.asarray(theta_fixed, float)
        # Box bounds on the free parameters (lo, hi), kept by the solver's projection; None: unbounded. A coordinate
        # bounded on both sides is the log of a positive quantity (e = log E), which the solver moves linearly.
        self.bounds = None if bounds is None else tuple(np.asarray(b, float)[..., self.free] for b in bounds)
        full = law.lse_design(X)
        if full is not None:
            fixed_mask = np.ones(P, bool)
            fixed_mask[self.free] = False
            M = np.ascontiguousarray(full[:, :, self.free].transpose(1, 0, 2))       # [K, n, p]
            self.M = M
            K, n_, p = M.shape
            # Every sum over points below is one [B, ·] @ [·, ·] matmul over all terms at once (few, large calls
            # instead of many small ones: per-call overhead dominates at these sizes).
            self._M_terms = np.ascontiguousarray(M.transpose(2, 0, 1).reshape(p, K * n_))   # θ → all u_k at once
            self._M_grad = M.reshape(K * n_, p)
            # Hessian blocks: M_k M_kᵀ per term and M_k M_lᵀ + M_l M_kᵀ per pair k < l, flattened to p².
            self._pairs = [(k, k) for k in range(K)] + [(k, l) for k in range(K) for l in range(k + 1, K)]
            MM = np.einsum("knp,lnq->klnpq", M, M)
            blocks = [MM[k, k] if k == l else MM[k, l] + MM[l, k] for k, l in self._pairs]
            self._M_hess = np.concatenate(blocks).reshape(len(blocks) * n_, p * p)
            # Fixed parameters contribute constant offsets to each LSE term.
            offset = np.einsum("nkp,p->kn", full[:, :, fixed_mask], self.theta_fixed[fixed_mask])
            self.offset = offset if np.any(offset) else None
        else:
            self.M = None

    @property
    def cheap_derivatives(self) -> bool:
        """Exact gradient and Hessian at a few times the cost of the value (finite differences cost ~p² values)."""
        return self.M is not None or hasattr(self.law, "log_predict_derivatives")

    def full_theta(self, theta_free: np.ndarray) -> np.ndarray:
        full = np.broadcast_to(self.theta_fixed, (theta_free.shape[0], self.theta_fixed.size)).copy()
        full[:, self.free] = theta_free
        return full

    @property
    def per_row(self) -> bool:
        """Whether rows of a batch have data of their own (weights, losses or bounds): calls then pass ``rows``."""
        return (self.weights.shape[0] > 1 or self.y.ndim == 2
                or (self.bounds is not None and np.ndim(self.bounds[0]) == 2))

    def _w(self, rows: np.ndarray | None) -> np.ndarray:
        if self.weights.shape[0] == 1 or rows is None:
            return self.weights
        return self.weights[rows]

    def _y(self, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """log L and L² for ``rows`` (shared ones whatever the rows)."""
        if self.y.ndim == 1 or rows is None:
            return self.y, self._loss2
        return self.y[rows], self._loss2[rows]

    # --- the per-point loss and its first two derivatives ---------------------------------------------------------
    # Huber through its clipped residual ψ = clip(r, ±δ): ρ = ψ (r − ψ/2) and ψ' = [ψ = r] give, bit for bit, the
    # textbook r²/2 inside and δ(|r| − δ/2) outside in a third of the array passes.
    def _rho(self, r: np.ndarray, loss2: np.ndarray | None = None) -> np.ndarray:
        if self.kind == "huber_log":
            psi = np.clip(r, -self.delta, self.delta)
            out = psi * (r - 0.5 * psi)
        elif self.kind == "mse":
            out = (self._loss2 if loss2 is None else loss2) * np.square(np.expm1(r))
        else:
            out = r * r
        return out if self.kappa == 1.0 else out * np.where(r > 0, self.kappa, 1.0)

    def _loss(self, r: np.ndarray, loss2: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ρ(r), ψ = ρ'(r) and ψ'(r) (``loss2``: L² of the rows, when they have losses of their own)."""
        if self.kind == "huber_log":
            psi = np.clip(r, -self.delta, self.delta)
            rho, dpsi = psi * (r - 0.5 * psi), (psi == r).astype(float)
        elif self.kind == "mse":
            d = np.expm1(r)  # (L̂ − L)/L, accurate near 0
            t = d + 1.0
            L2 = self._loss2 if loss2 is None else loss2
            rho, psi, dpsi = L2 * d * d, 2.0 * L2 * d * t, 2.0 * L2 * t * (2.0 * t - 1.0)
        else:
            rho, psi, dpsi = r * r, 2.0 * r, np.full_like(r, 2.0)
        if self.kappa != 1.0:
            k = np.where(r > 0, self.kappa, 1.0)
            rho, psi, dpsi = rho * k, psi * k, dpsi * k
        return rho, psi, dpsi

    # --- evaluation -----------------------------------------------------------------------------------------------
    def log_predict(self, theta_free: np.ndarray) -> np.ndarray:
        if self.M is not None:
            u = self._terms(theta_free)
            m = u.max(axis=1)
            return m + np.log(_sum_terms(np.exp(u - m[:, None])))
        return self.law.log_predict(self.full_theta(theta_free), self.X)

    def _blocks(self, n_rows: int):
        # Row blocks whose [rows, terms, points] temporaries stay near CHUNK_ELEMENTS: a few hundred KB stay in
        # cache, while one pass over thousands of rows streams tens of MB through memory (and page faults).
        K = 1 if self.M is None else self.M.shape[0]
        size = max(1, CHUNK_ELEMENTS // (K * self.y.shape[-1]))
        return [slice(i, i + size) for i in range(0, n_rows, size)]

    def value(self, theta_free: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        f = np.empty(theta_free.shape[0])
        if rows is None and self.per_row:
            rows = np.arange(f.size)
        with np.errstate(all="ignore"):
            for sl in self._blocks(f.size):
                sub = None if rows is None else rows[sl]
                y, loss2 = self._y(sub)
                rho = self._rho(self.log_predict(theta_free[sl]) - y, loss2)
                if not self._unit_weights:
                    rho = self._w(sub) * rho
                f[sl] = rho @ np.ones(rho.shape[1])
        return np.where(np.isfinite(f), f, np.inf)

    def value_grad_hess(self, theta_free: np.ndarray, rows: np.ndarray | None = None):
        """Objective [B], gradient [B, p] and Hessian [B, p, p] at a batch of free-parameter vectors."""
        B, p = theta_free.shape
        f, g, H = np.empty(B), np.empty((B, p)), np.empty((B, p, p))
        if rows is None and self.per_row:
            rows = np.arange(B)
        vgh = self._vgh_lse if self.M is not None else self._vgh_fd
        with np.errstate(all="ignore"):
            for sl in self._blocks(B):
                f[sl], g[sl], H[sl] = vgh(theta_free[sl], None if rows is None else rows[sl])
        return f, g, H

    def _terms(self, theta: np.ndarray) -> np.ndarray:
        """LSE terms u_k = M_k θ + offset_k, as [B, K, n]."""
        K, n, _ = self.M.shape
        u = (theta @ self._M_terms).reshape(-1, K, n)
        return u if self.offset is None else u + self.offset

    def _vgh_lse(self, theta, rows):
        # log L̂ = LSE_k(u_k), u_k = M_k θ: ∇f = Σ_k s_k M_k and ∇²f = Σ_k s_k M_k M_kᵀ − ∇f ∇fᵀ with s = softmax(u);
        # exact. Expanding ∇f ∇fᵀ = Σ_kl s_k s_l M_k M_lᵀ turns every sum over points into a [B, n] @ [n, ·] matmul.
        u = self._terms(theta)
        m = u.max(axis=1)
        e = np.exp(u - m[:, None])
        z = _sum_terms(e)
        s = e / z[:, None]
        y, loss2 = self._y(rows)
        r = m + np.log(z) - y
        rho, c1, c2 = self._loss(r, loss2)
        if not self._unit_weights:
            w = self._w(rows)
            rho, c1, c2 = w * rho, w * c1, w * c2
        f = rho @ np.ones(rho.shape[1])
        B, K, n = s.shape
        p = self.M.shape[2]
        g = (c1[:, None] * s).reshape(B, K * n) @ self._M_grad
        a = (c2 - c1)[:, None]
        # Weight of block (k, l): δ_kl c1 s_k + (c2 − c1) s_k s_l, one row of weights per point and block.
        W = np.empty((B, len(self._pairs), n))
        W[:, :K] = s * (c1[:, None] + a * s)
        for j, (k, l) in enumerate(self._pairs[K:], start=K):
            W[:, j] = a[:, 0] * s[:, k] * s[:, l]
        H = W.reshape(B, -1) @ self._M_hess
        return f, g, H.reshape(-1, p, p)

    def _vgh_fd(self, theta, rows):
        # Central finite differences of log L̂ for laws without the LSE-linear structure (few parameters), unless the
        # law gives its derivatives exactly (``log_predict_derivatives``).
        B, p = theta.shape
        if hasattr(self.law, "log_predict_derivatives"):
            f0, J, hess_dot = self.law.log_predict_derivatives(self.full_theta(theta), self.X)
            free = self.free
            return self._combine(f0, J[..., free], lambda c: hess_dot(c)[:, free[:, None], free], rows)
        h = 1e-4 * np.maximum(1.0, np.abs(theta))
        f0 = self.log_predict(theta)
        shifted = {}

        def fpred(*moves):
            key = tuple(sorted(moves))
            if key not in shifted:
                t = theta.copy()
                for j, sgn in moves:
                    t[:, j] += sgn * h[:, j]
                shifted[key] = self.log_predict(t)
            return shifted[key]

        J = np.stack([(fpred((j, 1)) - fpred((j, -1))) / (2 * h[:, j, None]) for j in range(p)], axis=-1)
        Hf = np.empty((B, f0.shape[1], p, p))
        for j in range(p):
            Hf[:, :, j, j] = (fpred((j, 1)) - 2 * f0 + fpred((j, -1))) / (h[:, j, None] ** 2)
            for k in range(j + 1, p):
                v = (fpred((j, 1), (k, 1)) - fpred((j, 1), (k, -1)) - fpred((j, -1), (k, 1))
                     + fpred((j, -1), (k, -1))) / (4 * h[:, j, None] * h[:, k, None])
                Hf[:, :, j, k] = Hf[:, :, k, j] = v
        return self._combine(f0, J, lambda c: (c[:, None, :] @ Hf.reshape(B, -1, p * p)).reshape(B, p, p), rows)

    def _combine(self, f0, J, hess_dot, rows):
        """Objective, gradient and Hessian from log L̂ [B, n], its Jacobian [B, n, p] and ``hess_dot(c)`` =
        Σ_n c_n ∇²log L̂_n [B, p, p]."""
        y, loss2 = self._y(rows)
        r = f0 - y
        w = self._w(rows)
        rho, psi, dpsi = self._loss(r, loss2)
        c1, c2 = w * psi, w * dpsi
        f = (w * rho).sum(axis=1)
        # Batched matmuls over the points: plain einsum here cost milliseconds per row on a few hundred runs.
        g = (c1[:, None, :] @ J)[:, 0]
        H = (J.transpose(0, 2, 1) * c2[:, None, :]) @ J + hess_dot(c1)
        return f, g, H


class StackedObjective:
    """Several objectives of one parameter count side by side as one batch, for one batched solve of them all (e.g.
    the bootstrap resamples of one law fitted to several tasks' runs).

    Part t contributes as many batch rows as its weight rows (one per resample × start; one when its weights are
    shared), in order: batch row r is row ``local[r]`` of part ``part[r]``. Box bounds must agree across parts up to
    a shift of the coordinates bounded on both sides (e = log E within [log(ε·L_min), log L_min], ε =
    ``fit.E_FLOOR_REL``, L_min each data set's lowest loss): the batch is solved in coordinates where each part's such
    coordinates are moved by its upper bound (θ' = θ − hi_t), which leaves gradients and Hessians unchanged and gives
    every part one box.
    ``stack`` and ``unstack`` convert between the parts' coordinates and the batch's."""

    def __init__(self, parts: list[Objective]):
        if not parts:
            raise ValueError("a stacked objective needs at least one part")
        self.parts = list(parts)
        p = self.parts[0].free.size
        if any(o.free.size != p for o in self.parts):
            raise ValueError("stacked objectives must have the same number of free parameters")
        sizes = np.array([o.weights.shape[0] for o in self.parts])
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.part = np.repeat(np.arange(len(sizes)), sizes)
        self.local = np.arange(self.offsets[-1]) - self.offsets[self.part]
        # The solver reads the number of weight rows only (> 1: every row is its own objective and gets its index).
        self.weights = np.empty((max(int(self.offsets[-1]), 2), 0))
        self.shift = np.zeros((len(sizes), p))
        self.bounds = self._common_bounds()

    def _common_bounds(self):
        boxes = [o.bounds for o in self.parts]
        if all(b is None for b in boxes):
            return None
        if any(b is None for b in boxes):
            raise ValueError("stacked objectives must all have bounds or none")
        lo0, hi0 = boxes[0]
        both = np.isfinite(lo0) & np.isfinite(hi0)
        for t, (lo, hi) in enumerate(boxes):
            shift = np.where(both, hi, 0.0)
            same = (np.isfinite(lo) == np.isfinite(lo0)) & (np.isfinite(hi) == np.isfinite(hi0))
            if not (np.all(same) and np.allclose(lo - shift, lo0 - np.where(both, hi0, 0.0))
                    and np.allclose(hi - shift, hi0 - np.where(both, hi0, 0.0))):
                raise ValueError("stacked objectives' bounds differ by more than a shift of the bounded coordinates")
            self.shift[t] = shift
        return lo0 - self.shift[0], hi0 - self.shift[0]

    @property
    def cheap_derivatives(self) -> bool:
        return all(o.cheap_derivatives for o in self.parts)

    def stack(self, thetas: list[np.ndarray]) -> np.ndarray:
        """Batch rows from each part's rows of free parameters (in the parts' own coordinates)."""
        return np.vstack([np.asarray(th, float) - s for th, s in zip(thetas, self.shift)])

    def unstack(self, theta: np.ndarray) -> list[np.ndarray]:
        """Each part's rows of free parameters, in its own coordinates, from batch rows (all of them, in order)."""
        return [theta[a:b] + s for a, b, s in zip(self.offsets[:-1], self.offsets[1:], self.shift)]

    def _by_part(self, theta, rows):
        rows = np.arange(theta.shape[0]) if rows is None else np.asarray(rows)
        part = self.part[rows]
        for t, obj in enumerate(self.parts):
            sel = np.flatnonzero(part == t)
            if sel.size:
                yield sel, obj, theta[sel] + self.shift[t], self.local[rows[sel]]

    def value(self, theta: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        f = np.empty(theta.shape[0])
        for sel, obj, th, local in self._by_part(theta, rows):
            f[sel] = obj.value(th, local)
        return f

    def value_grad_hess(self, theta: np.ndarray, rows: np.ndarray | None = None):
        B, p = theta.shape
        f, g, H = np.empty(B), np.empty((B, p)), np.empty((B, p, p))
        for sel, obj, th, local in self._by_part(theta, rows):
            f[sel], g[sel], H[sel] = obj.value_grad_hess(th, local)
        return f, g, H
