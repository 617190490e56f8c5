"""Fit speed: scalinglab's batched solver vs a reference loop of scipy L-BFGS-B calls, same process, same starts.

The reference is the recipe of Besiroglu et al. 2024 (Epoch AI's notebook): ``scipy.optimize.minimize(method=
"L-BFGS-B")`` with the analytic gradient, once per start of Hoffmann's grid (4,500 starts), then once per bootstrap
resample. Both must reach the same best objective (1e-9 relative). Goal: ≥ 50× faster overall.

    .venv/bin/python benchmarks/fit_speed.py [--resamples 1000] [--rounds 2] [--repeat 3]
Prints wall-clock and CPU-time ratios per round and their median: the sections are interleaved over rounds so that
load from other processes on a shared machine affects both sides alike.
Reads ../shared/reference/epoch_chinchilla/svg_extracted_data.csv (skips with a message when absent).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits

from scalinglab.laws import Chinchilla
from scalinglab.laws.bootstrap import bootstrap
from scalinglab.laws.fit import fit, make_objective
from scalinglab.runs import load_runs

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "epoch_chinchilla" / "svg_extracted_data.csv"
DELTA = 1e-3


def reference_objective(lnN, lnD, y, w):
    """Huber-sum objective and analytic gradient for one parameter vector (a, b, e, α, β), as Epoch wrote it."""
    def fg(t):
        a, b, e, al, be = t
        u = np.stack([a - al * lnN, b - be * lnD, np.full_like(lnN, e)])
        f = logsumexp(u, axis=0)
        s = np.exp(u - f)
        r = f - y
        ab = np.abs(r)
        obj = np.sum(w * np.where(ab <= DELTA, 0.5 * r * r, DELTA * (ab - 0.5 * DELTA)))
        psi = w * np.clip(r, -DELTA, DELTA)
        return obj, np.array([psi @ s[0], psi @ s[1], psi @ s[2], -(psi * s[0]) @ lnN, -(psi * s[1]) @ lnD])
    return fg


TIGHT = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000}  # L-BFGS-B run to convergence instead of scipy's defaults


def reference_fit(fg, starts, options=None):
    best = None
    for x0 in starts:
        res = minimize(fg, x0, jac=True, method="L-BFGS-B", options=options)
        if best is None or res.fun < best.fun:
            best = res
    return best


class Clock:
    """Wall-clock and CPU time (``time.process_time``) of one timed section: the machine may be shared, and CPU time
    is what each solver itself spends. Both sides run single-threaded, so the two agree on a quiet machine."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def timed(fn, repeat=1):
    """(result, wall s, cpu s) of ``fn``: the mean over ``repeat`` calls."""
    with Clock() as c:
        for _ in range(repeat):
            out = fn()
    return out, c.wall / repeat, c.cpu / repeat


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds of all four timed sections")
    ap.add_argument("--repeat", type=int, default=3, help="calls of our (fast) solver per round, timed as a mean")
    ap.add_argument("--tight-reference", action="store_true",
                    help="also time the bootstrap reference run to convergence (ftol 1e-15, gtol 1e-12), once; "
                         "not part of the overall ratio")
    args = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: reference data not available: {DATA}")
        return 0
    runs = load_runs(DATA).drop_highest_loss(5)
    lnN, lnD, y = np.log(runs.n_params), np.log(runs.n_tokens), np.log(runs.loss)
    grid = Chinchilla.default_grid()
    print(f"{len(runs)} runs, {len(grid)} grid starts, {args.resamples} bootstrap resamples, {args.rounds} rounds")
    rng = np.random.default_rng(0)  # the bootstrap's own draw (same seed): both sides refit the same resamples
    counts = rng.multinomial(len(runs), np.full(len(runs), 1.0 / len(runs)), size=args.resamples)

    # Warm-up (untimed) for both sides: first-call costs (allocation, imports inside scipy) are not the solvers'.
    fit(runs, "chinchilla", grid=grid[::90])
    with threadpool_limits(1):
        minimize(reference_objective(lnN, lnD, y, np.ones_like(y)), grid[0], jac=True, method="L-BFGS-B")

    sections = ("grid fit", "bootstrap")
    t = {(side, sec, kind): [] for side in ("ours", "ref") for sec in sections for kind in ("wall", "cpu")}

    def record(side, sec, wall, cpu):
        t[side, sec, "wall"].append(wall)
        t[side, sec, "cpu"].append(cpu)

    # Rounds interleave the four sections, so a burst of load elsewhere on the machine hits both sides alike.
    for _ in range(args.rounds):
        ours, w, c = timed(lambda: fit(runs, "chinchilla"), args.repeat)
        record("ours", "grid fit", w, c)
        with threadpool_limits(1):  # the reference gets the same single-threaded BLAS (faster for it, too)
            ref, w, c = timed(lambda: reference_fit(reference_objective(lnN, lnD, y, np.ones_like(y)), grid))
        record("ref", "grid fit", w, c)
        boot, w, c = timed(lambda: bootstrap(None, fit_result=ours, n_resamples=args.resamples, seed=0), args.repeat)
        record("ours", "bootstrap", w, c)
        # Bootstrap reference: same resamples, same starts (full-data optimum + near optima), best kept.
        starts = [o.law.theta() for o in ours.near_optima[:5]] or [ours.law.theta()]
        with threadpool_limits(1):
            ref_boot, w, c = timed(lambda: [reference_fit(reference_objective(lnN, lnD, y, k.astype(float)), starts)
                                            for k in counts])
        record("ref", "bootstrap", w, c)

    rel = abs(ours.objective - ref.fun) / ref.fun
    ok = ours.objective <= ref.fun * (1 + 1e-9)
    print(f"best objective: ours {ours.objective:.12g}, scipy loop {ref.fun:.12g} (rel. diff {rel:.1e})")
    # Per-resample agreement: our objective for each resample vs the reference's (same weights).
    obj_w, _ = make_objective(Chinchilla, runs, weights=counts.astype(float))
    ours_w = obj_w.value(np.array([Chinchilla(**row).theta() for row in
                                   boot.samples[list(Chinchilla.param_names())].to_dict(orient="records")]),
                         rows=np.arange(args.resamples))
    ref_w = np.array([r.fun for r in ref_boot])
    gap = (ref_w - ours_w) / ours_w
    ref_alpha = [Chinchilla.from_theta(r.x).alpha for r in ref_boot]
    print(f"bootstrap: ours ≤ reference (1e-9 rel.) on {np.mean(gap >= -1e-9):.1%} of resamples; the reference "
          f"stops above ours (> 1e-9 rel.) on {np.mean(gap > 1e-9):.1%}, by up to {gap.max():.1%} (scipy's default "
          f"tolerances); SE(alpha) ours {boot.se['alpha']:.5f}, reference {np.std(ref_alpha, ddof=1):.5f}")

    def ratio(sec, kind):  # per round, then the median over rounds
        per_round = [r / o for r, o in zip(t["ref", sec, kind], t["ours", sec, kind])]
        return float(np.median(per_round)), per_round

    for kind in ("wall", "cpu"):
        for sec in sections:
            med, per = ratio(sec, kind)
            print(f"{kind:4} {sec:9}: ours {np.median(t['ours', sec, kind]):7.3f} s   scipy loop "
                  f"{np.median(t['ref', sec, kind]):7.2f} s   ratio {med:6.1f}×  (rounds: "
                  f"{', '.join(f'{x:.1f}' for x in per)})")
        per = [(rf + rb) / (of + ob) for rf, rb, of, ob in zip(t["ref", "grid fit", kind], t["ref", "bootstrap", kind],
                                                              t["ours", "grid fit", kind], t["ours", "bootstrap", kind])]
        print(f"{kind:4} overall  : ratio {np.median(per):.1f}× (rounds: {', '.join(f'{x:.1f}' for x in per)}; "
              f"goal ≥ 50×)")
    if args.tight_reference:
        starts = [o.law.theta() for o in ours.near_optima[:5]] or [ours.law.theta()]
        with threadpool_limits(1):
            tight, w, c = timed(lambda: [reference_fit(reference_objective(lnN, lnD, y, k.astype(float)), starts, TIGHT)
                                         for k in counts])
        gap_t = (np.array([r.fun for r in tight]) - ours_w) / ours_w
        print(f"bootstrap, reference to convergence: within 1e-9 rel. of ours on {np.mean(np.abs(gap_t) <= 1e-9):.1%}"
              f" of resamples (max gap {np.abs(gap_t).max():.1e}); {w:.2f} s wall, {c:.2f} s CPU → ratio "
              f"{w / np.median(t['ours', 'bootstrap', 'wall']):.1f}× wall, {c / np.median(t['ours', 'bootstrap', 'cpu']):.1f}× CPU")
    print(f"same best objective: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
