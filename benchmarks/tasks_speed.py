"""Speed of ``scalinglab tasks fit`` on the OLMo ladder: 16 runs × 8 tasks, 1,000 bootstrap resamples (goal ≤ 20 s
on 2 cores), with the batched sigmoid bootstrap timed against a loop of ``scipy.optimize.curve_fit`` calls on the
same resamples, in the same process.

    .venv/bin/python benchmarks/tasks_speed.py [--resamples 1000] [--loop 50] [--workers 1 2]
Prints wall-clock and CPU seconds (this process and its children): the whole fit (load, step 1 via laws.fit +
laws.bootstrap, step 2) once per ``--workers`` value, and the sigmoid bootstrap alone, batched vs looped (the loop
runs ``--loop`` resamples and is scaled to ``--resamples``). Read wall times on a quiet machine only.
Reads ../shared/reference/olmo_ladder (skips with a message when absent).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit

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


def sigmoid_loop(points, chance, theta0, counts):
    """The reference: one weighted curve_fit per resample (scipy's LM), from the same start."""
    x, y = points["task_loss"].to_numpy(float), points["accuracy"].to_numpy(float)
    _, run_index = np.unique(points["run_id"].to_numpy(str), return_inverse=True)

    def f(xx, s, logk, mid):
        return sg.accuracy(xx, chance, np.array([[s, logk, mid]]))[0]

    for c in counts:
        w = c[run_index]
        keep = w > 0
        curve_fit(f, x[keep], y[keep], p0=theta0, sigma=1 / np.sqrt(w[keep]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--loop", type=int, default=50)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    if not REF.exists():
        print(f"reference data not available: {REF}")
        return 0
    history, w_load, c_load = timed(lambda: load_history(REF / "ladder-runs", params_file=REF / "final.json"))
    for workers in args.workers:
        laws, w_fit, c_fit = timed(lambda: fit_task_laws(history, TASKS, n_resamples=args.resamples, seed=0,
                                                         workers=workers))
        print(f"tasks fit, 16 runs x {len(TASKS)} tasks, {args.resamples} resamples, {workers} worker(s): "
              f"{w_load + w_fit:.1f} s wall ({c_load + c_fit:.1f} s CPU); load {w_load:.1f} s, fit {w_fit:.1f} s",
              flush=True)
    law = laws[0]
    rng = np.random.default_rng(0)
    _, w_batch, c_batch = timed(lambda: task_law._fit_sigmoid(law.points, law.chance, args.resamples, 1))
    runs = law.points["run_id"].nunique()
    counts = rng.multinomial(runs, np.full(runs, 1 / runs), size=args.loop)
    from scalinglab.tasks.sigmoid import theta_of
    _, w_loop, c_loop = timed(lambda: sigmoid_loop(law.points, law.chance, theta_of(law.sigmoid), counts))
    scale = args.resamples / args.loop
    print(f"sigmoid bootstrap ({law.task}, {len(law.points)} points, {args.resamples} resamples): batched "
          f"{w_batch:.2f} s wall ({c_batch:.2f} s CPU) vs curve_fit loop {w_loop * scale:.2f} s "
          f"({c_loop * scale:.2f} s CPU, from {args.loop}) → {w_loop * scale / w_batch:.1f}× wall, "
          f"{c_loop * scale / c_batch:.1f}× CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
