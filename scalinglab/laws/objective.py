"""Robust objectives on log-loss residuals, with exact gradients and Hessians for a batch of parameter vectors.

The residual of point i is r_i = log L̂_i(θ) − log L_i. Supported losses (``kind``):
- ``huber`` (Hoffmann et al. 2022, App. D.2): ρ(r) = r²/2 for |r| ≤ δ, δ(|r| − δ/2) otherwise; δ = 1e-3 by default;
- ``ls``: plain least squares ρ(r) = r².
An ``asymmetry`` κ > 1 multiplies ρ for over-predictions (r > 0), pulling the fit toward the lower envelope.
The objective is Σ_i w_i ρ(r_i), summed (not averaged) over points as Besiroglu et al. 2024 recommend; w_i are
per-point multiplicities (1 for a plain fit, bootstrap resample counts otherwise).
"""

from __future__ import annotations

import numpy as np

from scalinglab.laws.forms import Law


class Objective:
    """Σ w ρ(log L̂(θ) − log L) for one law on fixed data; evaluated for batches of θ (rows of ``theta``)."""

    def __init__(self, law: type[Law], X: dict[str, np.ndarray], loss: np.ndarray, *, kind: str = "huber",
                 delta: float = 1e-3, asymmetry: float = 1.0, weights: np.ndarray | None = None,
                 free: np.ndarray | None = None, theta_fixed: np.ndarray | None = None):
        self.law, self.X, self.y = law, X, np.log(np.asarray(loss, float))
        self.kind, self.delta, self.kappa = kind, float(delta), float(asymmetry)
        n = self.y.size
        self.weights = np.ones((1, n)) if weights is None else np.atleast_2d(np.asarray(weights, float))
        P = law.n_fit_params()
        self.free = np.arange(P) if free is None else np.asarray(free, int)
        self.theta_fixed = np.zeros(P) if theta_fixed is None else np.asarray(theta_fixed, float)
        full = law.lse_design(X)
        if full is not None:
            fixed_mask = np.ones(P, bool)
            fixed_mask[self.free] = False
            M = np.ascontiguousarray(full[:, :, self.free].transpose(1, 0, 2))       # [K, n, p]
            self.M = M
            K, n_, p = M.shape
            # Outer products M_k M_lᵀ per point, flattened, so Hessian blocks are plain [B, n] @ [n, p²] matmuls.
            self.MM = np.einsum("knp,lnq->klnpq", M, M).reshape(K, K, n_, p * p)
            # Fixed parameters contribute constant offsets to each LSE term.
            self.offset = np.einsum("nkp,p->kn", full[:, :, fixed_mask], self.theta_fixed[fixed_mask])
        else:
            self.M = None

    def full_theta(self, theta_free: np.ndarray) -> np.ndarray:
        full = np.broadcast_to(self.theta_fixed, (theta_free.shape[0], self.theta_fixed.size)).copy()
        full[:, self.free] = theta_free
        return full

    def _w(self, rows: np.ndarray | None) -> np.ndarray:
        if self.weights.shape[0] == 1 or rows is None:
            return self.weights
        return self.weights[rows]

    # --- the per-point loss and its first two derivatives ---------------------------------------------------------
    def _rho(self, r: np.ndarray) -> np.ndarray:
        if self.kind == "huber":
            a = np.abs(r)
            out = np.where(a <= self.delta, 0.5 * r * r, self.delta * (a - 0.5 * self.delta))
        else:
            out = r * r
        return out if self.kappa == 1.0 else out * np.where(r > 0, self.kappa, 1.0)

    def _psi(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "huber":
            psi = np.clip(r, -self.delta, self.delta)
            dpsi = (np.abs(r) <= self.delta).astype(float)
        else:
            psi, dpsi = 2.0 * r, np.full_like(r, 2.0)
        if self.kappa != 1.0:
            k = np.where(r > 0, self.kappa, 1.0)
            psi, dpsi = psi * k, dpsi * k
        return psi, dpsi

    # --- evaluation -----------------------------------------------------------------------------------------------
    def log_predict(self, theta_free: np.ndarray) -> np.ndarray:
        if self.M is not None:
            u = self._terms(theta_free)
            m = u.max(axis=0)
            return m + np.log(np.exp(u - m).sum(axis=0))
        return self.law.log_predict(self.full_theta(theta_free), self.X)

    def value(self, theta_free: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        with np.errstate(all="ignore"):
            r = self.log_predict(theta_free) - self.y
            f = (self._w(rows) * self._rho(r)).sum(axis=1)
        return np.where(np.isfinite(f), f, np.inf)

    def value_grad_hess(self, theta_free: np.ndarray, rows: np.ndarray | None = None):
        """Objective [B], gradient [B, p] and Hessian [B, p, p] at a batch of free-parameter vectors."""
        with np.errstate(all="ignore"):
            if self.M is not None:
                return self._vgh_lse(theta_free, rows)
            return self._vgh_fd(theta_free, rows)

    def _terms(self, theta: np.ndarray) -> np.ndarray:
        """LSE terms u_k = M_k θ + offset_k, as [K, B, n]."""
        return np.stack([theta @ Mk.T + off for Mk, off in zip(self.M, self.offset)])

    def _vgh_lse(self, theta, rows):
        # log L̂ = LSE_k(u_k), u_k = M_k θ: ∇f = Σ_k s_k M_k and ∇²f = Σ_k s_k M_k M_kᵀ − ∇f ∇fᵀ with s = softmax(u);
        # exact. Expanding ∇f ∇fᵀ = Σ_kl s_k s_l M_k M_lᵀ turns every sum over points into a [B, n] @ [n, ·] matmul.
        u = self._terms(theta)
        m = u.max(axis=0)
        e = np.exp(u - m)
        z = e.sum(axis=0)
        s = e / z
        r = m + np.log(z) - self.y
        w = self._w(rows)
        psi, dpsi = self._psi(r)
        c1, c2 = w * psi, w * dpsi
        f = (w * self._rho(r)).sum(axis=1)
        K, _, p = self.M.shape
        g = sum((c1 * s[k]) @ self.M[k] for k in range(K))
        H = np.zeros((theta.shape[0], p * p))
        a = c2 - c1
        for k in range(K):
            ask = a * s[k]
            H += (c1 * s[k] + ask * s[k]) @ self.MM[k, k]
            for l in range(k + 1, K):
                cross = (ask * s[l]) @ self.MM[k, l]
                H += cross + cross.reshape(-1, p, p).swapaxes(1, 2).reshape(-1, p * p)
        return f, g, H.reshape(-1, p, p)

    def _vgh_fd(self, theta, rows):
        # Central finite differences of log L̂ for laws without the LSE-linear structure (few parameters).
        B, p = theta.shape
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
        r = f0 - self.y
        w = self._w(rows)
        psi, dpsi = self._psi(r)
        c1, c2 = w * psi, w * dpsi
        f = (w * self._rho(r)).sum(axis=1)
        g = np.einsum("bn,bnp->bp", c1, J)
        H = np.einsum("bn,bnp,bnq->bpq", c2, J, J) + np.einsum("bn,bnpq->bpq", c1, Hf)
        return f, g, H
