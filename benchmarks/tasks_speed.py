"""Speed of ``scalinglab tasks fit`` on the OLMo ladder: 16 runs × 8 tasks, 1,000 bootstrap resamples (goal ≤ 20 s
on 2 cores), against the path it replaced, in the same process.

    .venv/bin/python benchmarks/tasks_speed.py [--resamples 1000] [--loop 50] [--workers 1] [--no-old]

- new: ``tasks.fit_task_laws`` — one bootstrap over runs through both steps (shared draws), every task's step-1
  resamples in ONE stacked batched solve (``laws.bootstrap.refit_resamples_stacked``), each task's sigmoid resamples
  in one Levenberg–Marquardt batch that sums its normal equations over points directly.
- old: per task, step 1 by ``laws.fit`` + ``laws.bootstrap`` (its own batched solve, its own draws), then step 2's
  resamples on a second, independent draw, by the former sigmoid solver that formed the Jacobian [B, n, 3] (kept
  below as the baseline).
- the sigmoid bootstrap alone: batched vs a loop of ``scipy.optimize.curve_fit`` calls on the same resamples (the
  loop runs ``--loop`` resamples and is scaled to ``--resamples``).
Prints wall-clock and CPU seconds (this process and its children) and the ratios; on a shared machine read the CPU
times and the ratios. Reads ../shared/reference/olmo_ladder (skips with a message when absent).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import expit

from scalinglab.laws import bootstrap, fit
from scalinglab.runs.history import load_history
from scalinglab.tasks import fit_task_laws
from scalinglab.tasks import law as task_law
from scalinglab.tasks import sigmoid as sg

REF = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "olmo_ladder"
TASKS = ("hellaswag", "arc_easy", "arc_challenge", "piqa", "csqa", "socialiqa", "openbookqa", "mmlu")


def _cpu() -> float:
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def timed(fn):
    w, c = time.perf_counter(), _cpu()
    out = fn()
    return out, time.perf_counter() - w, _cpu() - c


def old_sigmoid_fit(x, y, chance, theta0, weights, *, max_iter=sg.MAX_ITER, ftol=sg.FTOL):
    """The former batched sigmoid solver (same Levenberg–Marquardt steps), which formed J [B, n, 3] every step."""
    def residual(theta, jacobian):
        e_s = expit(theta[:, 0:1])
        h, k = (1 - chance) * e_s, np.exp(theta[:, 1:2])
        dx = x[None, :] - theta[:, 2:3]
        with np.errstate(over="ignore"):
            q = expit(-k * dx)
        r = y[None, :] - (chance + h * q)
        if not jacobian:
            return r, None
        dq = h * k * q * (1 - q)
        J = np.empty(r.shape + (3,))
        J[:, :, 0], J[:, :, 1], J[:, :, 2] = (1 - chance) * (1 - e_s) * e_s * q, -dq * dx, dq
        return r, J

    def wsse(W, r):
        return (W * r * r) @ np.ones(r.shape[1])

    theta = np.array(theta0, float, copy=True)
    B = theta.shape[0]
    shared = weights.shape[0] == 1
    W = np.broadcast_to(weights, (B, x.size))
    lam = np.full(B, 1e-3)
    sse = wsse(W, residual(theta, False)[0])
    active, converged = np.ones(B, bool), np.zeros(B, bool)
    for _ in range(max_iter):
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        every = a.size == B
        th_a = theta if every else theta[a]
        Wa = weights if shared else (W if every else W[a])
        r, J = residual(th_a, True)
        WJt = (Wa[:, :, None] * J).transpose(0, 2, 1)
        A, g = WJt @ J, (WJt @ r[:, :, None])[:, :, 0]
        diag = np.einsum("bii->bi", A)
        step = np.linalg.solve(A + (lam[a, None] * np.maximum(diag, 1e-12))[:, :, None] * np.eye(3),
                               g[:, :, None])[:, :, 0]
        trial = th_a + step
        trial[:, 0] = np.clip(trial[:, 0], -sg.S_MAX, sg.S_MAX)
        trial[:, 1] = np.clip(trial[:, 1], -sg.LOGK_MAX, sg.LOGK_MAX)
        sse_t = wsse(Wa, residual(trial, False)[0])
        better = np.isfinite(sse_t) & (sse_t < sse[a])
        gain = np.where(better, (sse[a] - sse_t) / np.maximum(sse[a], 1e-300), 0.0)
        idx = a[better]
        theta[idx], sse[idx] = trial[better], sse_t[better]
        lam[idx] = np.maximum(lam[idx] / 3, 1e-12)
        lam[a[~better]] *= 4
        small = np.max(np.abs(step), axis=1) < 1e-10 * (1 + np.max(np.abs(th_a), axis=1))
        done = (better & (gain < ftol)) | (~better & (small | (lam[a] > 1e12)))
        converged[a[done]], active[a[done]] = True, False
    return theta, sse, converged


def old_path(history, n_resamples: int, seed: int = 0):
    """The replaced path, task by task: step 1 bootstrapped by laws.bootstrap, step 2 on an independent draw."""
    out = []
    for task in TASKS:
        finals, points = task_law._step_points(task_law._paired(history, task), 5, "intermediate",
                                               task_law.SKIP_FRACTION)
        step1 = fit(finals, "chinchilla", grid=task_law.TASK_LOSS_GRID)
        with np.errstate(over="ignore"):
            boot = bootstrap(finals, "chinchilla", n_resamples=n_resamples, seed=seed, fit_result=step1)
        x, y = points["task_loss"].to_numpy(float), points["accuracy"].to_numpy(float)
        chance, one = task_law.CHANCE[task], np.ones((1, x.size))
        theta, sse, _ = old_sigmoid_fit(x, y, chance, sg.default_starts(x, chance), one,
                                        max_iter=task_law.SCREEN_ITER)
        best = np.argsort(np.where(np.isfinite(sse), sse, np.inf))[:task_law.N_FINAL_STARTS]
        theta, sse, _ = old_sigmoid_fit(x, y, chance, theta[best], one)
        theta_hat = theta[int(np.argmin(np.where(np.isfinite(sse), sse, np.inf)))]
        runs, run_index = np.unique(points["run_id"].to_numpy(str), return_inverse=True)
        counts = np.random.default_rng(seed + 1).multinomial(len(runs), np.full(len(runs), 1 / len(runs)),
                                                             size=n_resamples).astype(float)
        th_b, _, conv = old_sigmoid_fit(x, y, chance, np.tile(theta_hat, (n_resamples, 1)), counts[:, run_index],
                                        ftol=task_law.BOOT_FTOL)
        out.append((boot, th_b[conv]))
    return out


def sigmoid_loop(points, chance, theta0, counts):
    """The reference: one weighted curve_fit per resample (scipy's LM), from the same start."""
    x, y = points["task_loss"].to_numpy(float), points["accuracy"].to_numpy(float)
    _, run_index = np.unique(points["run_id"].to_numpy(str), return_inverse=True)

    def f(xx, s, logk, mid):
        return sg.accuracy(xx, chance, np.array([[s, logk, mid]]))[0]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        for c in counts:
            w = c[run_index]
            keep = w > 0
            curve_fit(f, x[keep], y[keep], p0=theta0, sigma=1 / np.sqrt(w[keep]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--loop", type=int, default=50)
    ap.add_argument("--workers", type=int, nargs="+", default=[1])
    ap.add_argument("--no-old", action="store_true", help="skip the old path (about twice as long)")
    args = ap.parse_args()
    if not REF.exists():
        print(f"reference data not available: {REF}")
        return 0
    history, w_load, c_load = timed(lambda: load_history(REF / "ladder-runs", params_file=REF / "final.json"))
    print(f"load: {w_load:.1f} s wall ({c_load:.1f} s CPU)")
    fit_task_laws(history, TASKS[:1], n_resamples=10)   # warm-up: first-call costs are neither path's
    new = {}
    for workers in args.workers:
        laws, w_fit, c_fit = timed(lambda: fit_task_laws(history, TASKS, n_resamples=args.resamples, seed=0,
                                                         workers=workers))
        new[workers] = (w_fit, c_fit)
        used = sum(tl.draws.n_used for tl in laws)
        print(f"tasks fit (new), 16 runs x {len(TASKS)} tasks, {args.resamples} resamples, {workers} worker(s): "
              f"{w_load + w_fit:.1f} s wall ({c_load + c_fit:.1f} s CPU) with the load; fit {w_fit:.1f} s wall "
              f"({c_fit:.1f} s CPU); {used}/{len(TASKS) * args.resamples} resamples refitted on both steps",
              flush=True)
    if not args.no_old:
        _, w_old, c_old = timed(lambda: old_path(history, args.resamples))
        w_new, c_new = new[min(new)]
        print(f"old path (per-task laws.bootstrap + separate sigmoid bootstrap, Jacobian formed): fit {w_old:.1f} s "
              f"wall ({c_old:.1f} s CPU) → new {w_old / w_new:.2f}× faster wall, {c_old / c_new:.2f}× CPU "
              f"({min(new)} worker)", flush=True)
    law = laws[0]
    x = law.points["task_loss"].to_numpy(float)
    weights = law.draws.counts[:, [law.draws.run_ids.index(r) for r in law.points["run_id"].astype(str)]]
    theta_hat = sg.theta_of(law.sigmoid)
    _, w_batch, c_batch = timed(lambda: task_law._sigmoid_resamples(law.points, law.chance, theta_hat, weights))
    y = law.points["accuracy"].to_numpy(float)
    _, w_ob, c_ob = timed(lambda: old_sigmoid_fit(x, y, law.chance, np.tile(theta_hat, (len(weights), 1)), weights,
                                                  ftol=task_law.BOOT_FTOL))
    counts = law.draws.counts[:args.loop]
    _, w_loop, c_loop = timed(lambda: sigmoid_loop(law.points, law.chance, theta_hat, counts))
    scale = args.resamples / args.loop
    print(f"sigmoid bootstrap ({law.task}, {len(law.points)} points, {args.resamples} resamples): batched "
          f"{w_batch:.2f} s wall ({c_batch:.2f} s CPU); former batched solver {w_ob:.2f} s ({c_ob:.2f} s CPU) → "
          f"{c_ob / c_batch:.1f}× CPU; curve_fit loop {w_loop * scale:.2f} s ({c_loop * scale:.2f} s CPU, from "
          f"{args.loop}) → {c_loop * scale / c_batch:.1f}× CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
