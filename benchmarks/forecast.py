"""Forecast check: fit a ladder spanning ≥ 1.5 decades of compute, predict one run at 10× its largest compute, train
that run, and compare. Goal: |error| ≤ 1.5 % and the actual loss inside the 90 % interval.

The held-out run keeps the tokens-per-parameter ratio of the best run at the ladder's largest budget and spends 10×
its compute (the run a user would train next), shaped by the ladder's own rule and trained with the same settings.
The interval is the bootstrap-over-runs 90 % interval of the predicted loss at that (N, D), widened to cover
near-optimal fits.

Long (tens of minutes on 2 cores); not part of the test suite. Re-running resumes: the ladder and the held-out run
live in ``--out`` (default ``results/forecast``), so a finished ladder, e.g. the demo's, is not trained again.

    .venv/bin/python benchmarks/forecast.py                      # ladder = the demo's default `small` preset
    .venv/bin/python benchmarks/forecast.py --preset medium --out results/forecast-medium
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from scalinglab.demo.presets import get_preset
from scalinglab.ladder import LadderSettings, RunStore, register, run_ladder, shape_for
from scalinglab.ladder.design import make_spec
from scalinglab.laws.bootstrap import bootstrap
from scalinglab.laws.fit import fit
from scalinglab.laws.optimal import compute_optimal

GOAL_ERROR = 0.015
LEVEL = 0.9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", help="the ladder (a demo preset)")
    parser.add_argument("--out", type=Path, default=Path("results/forecast"))
    parser.add_argument("--ladder", type=Path, default=None, help="an existing ladder directory of that preset")
    parser.add_argument("--factor", type=float, default=10.0, help="held-out compute / largest ladder compute")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--trainer", default="torch", help="torch, or synthetic to try the script in seconds")
    args = parser.parse_args()
    preset = get_preset(args.preset)
    start = time.perf_counter()

    ladder = RunStore(args.ladder or args.out / "ladder")
    if args.ladder is None or not ladder.runs():
        register(ladder, preset.specs(), preset.settings)
    summary = run_ladder(ladder, jobs=args.jobs, threads=1, trainer=args.trainer)
    if summary.stopped or ladder.counts()["done"] != len(ladder.runs()):
        raise SystemExit("the ladder did not finish; run the benchmark again to resume")
    runs = ladder.to_runs()
    decades = math.log10(runs.flops.max() / runs.flops.min())
    print(f"ladder: {len(runs)} runs, compute {runs.flops.min():.3g} … {runs.flops.max():.3g} "
          f"({decades:.2f} decades)")

    result = fit(runs, "chinchilla")
    law = result.law
    target_c = args.factor * float(runs.flops.max())
    # The next run a user would train: the best tokens-per-parameter ratio seen at the largest budget, at 10x
    # compute. (The fitted N_opt is printed too; far outside the trained sizes it is not a trainable choice.)
    top = runs.frame[runs.flops > runs.flops.max() / 1.5]
    best = top.loc[top["loss"].idxmin()]
    ratio = float(best["n_tokens"] / best["n_params"])
    n_next = math.sqrt(target_c / (6.0 * ratio))
    n_opt = float(compute_optimal(law, target_c).n_params) if law.alpha > 0 and law.beta > 0 else float("nan")
    settings = LadderSettings(**ladder.get_meta("settings"))
    ctx = settings.shape_context()
    n_layer, d_model = shape_for(n_next, ctx)
    total = make_spec("holdout", n_layer, d_model, 1.0, ctx).n_params
    spec = make_spec("holdout", n_layer, d_model, target_c / (6.0 * total), ctx, settings.seed)
    point = {"n_params": float(spec.n_params), "n_tokens": float(spec.n_tokens)}
    boot = bootstrap(runs, "chinchilla", n_resamples=args.resamples, level=LEVEL, points=[point], fit_result=result)
    label = next(q for q in boot.table["quantity"] if q.startswith("loss@"))
    iv = boot.interval(label)
    predicted, lo, hi = iv["estimate"], iv["lo_total"], iv["hi_total"]
    print(f"fit: {law.formula} with " + ", ".join(f"{k}={v:.4g}" for k, v in law.params().items()))
    print(f"held-out run: {spec.run_id} (N={spec.n_params:,}, D={spec.n_tokens:,}, "
          f"C={6 * spec.n_params * spec.n_tokens:.3g}"
          f" = {args.factor:g}x the ladder's largest, at its best D/N = {ratio:.0f}; the fit's N_opt is {n_opt:,.0f})")
    print(f"predicted loss {predicted:.4f}, {LEVEL:.0%} interval [{lo:.4f}, {hi:.4f}]")

    holdout = RunStore(args.out / "holdout")
    register(holdout, [spec], settings)
    summary = run_ladder(holdout, jobs=1, threads=args.jobs, trainer=args.trainer)
    if summary.stopped or summary.failed:
        raise SystemExit("the held-out run did not finish; run the benchmark again to resume")
    actual = holdout.runs("done")[0].metrics["final_loss"]
    error = (predicted - actual) / actual
    inside = lo <= actual <= hi
    print(f"actual loss {actual:.4f}; forecast error {error:+.2%} (goal ≤ {GOAL_ERROR:.1%}: "
          f"{'met' if abs(error) <= GOAL_ERROR else 'missed'}); truth {'inside' if inside else 'OUTSIDE'} the interval")
    print(f"total time {(time.perf_counter() - start) / 60:.1f} min")
    np.savetxt(args.out / "forecast.txt", [[predicted, lo, hi, actual, error]],
               header="predicted lo90 hi90 actual rel_error", fmt="%.6f")


if __name__ == "__main__":
    main()
