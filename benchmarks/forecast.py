"""Forecast check: fit a ladder spanning ≥ 1.5 decades of compute, predict one run at 10× its largest compute, train
that run, and compare. Goal: |error| ≤ 1.5 % and the actual loss inside the 90 % interval.

The held-out run keeps the tokens-per-parameter ratio of the best run at the ladder's largest budget and spends 10×
its compute (the run a user would train next), shaped by the ladder's own rule and trained with the same settings.
The interval is a 90 % prediction interval for that one run: the bootstrap-over-runs interval of the law's
prediction at that (N, D) (widened to cover near-optimal fits), which is the uncertainty of the fitted surface,
combined in quadrature (in log loss) with the scatter of single runs about the surface, z·σ with σ the rms log
residual of the ladder's runs about the fit (degrees of freedom corrected). A held-out run is itself one draw — the
same 144k-parameter run lands 0.45 % apart on two seeds — so an interval for the surface alone is too narrow for it.

The law is chosen from the ladder alone (``--law auto``): each candidate form (Chinchilla's E + A/N^α + B/D^β,
Kaplan's [(N_c/N)^(α_N/α_D) + D_c/D]^α_D) is backtested by fitting the ladder without its largest budget and
predicting that budget; the form whose backtest is least biased (smallest |mean signed error|) makes the forecast.
Bias, not scatter, is the score because the forecast repeats the backtest's extrapolation ~3x further: a law that
saturates too early over-predicts every run of the backtest and then over-predicts the forecast by more, while the
run-to-run scatter of shapes and seeds does not grow with distance. The held-out run never enters the choice.

Long (tens of minutes on 2 cores); not part of the test suite. Re-running resumes: the ladder and the held-out run
live in ``--out`` (default ``results/forecast``), so a finished ladder, e.g. the demo's, is not trained again.

    .venv/bin/python benchmarks/forecast.py                      # the `forecast` preset: 2 decades, ≈ 35 min
    .venv/bin/python benchmarks/forecast.py --preset small --out results/forecast-small   # 1.5 decades (misses)
    .venv/bin/python benchmarks/forecast.py --preset wsd --out results/forecast-wsd      # the WSD demo ladder

On the ``wsd`` preset the held-out run is itself a WSD run (its own stable phase and a 20 % cooldown), since the
ladder's points are cooldowns (measured ~2 % below cosine runs of the same N and D, benchmarks/wsd_validation.py);
the preset's own held-out run is left out of the fit as everywhere.

Measured (2 cores): `forecast`, seeds 0 / 1 / 2: +0.84 % / +0.49 % / +1.85 %, truth inside the 90 % prediction
interval each time (seed 2, run after the selection rule and the interval were fixed, misses the 1.5 % goal; all
three over-predict); `small`: +5.6 % / +5.4 % (inside). ``--preset forecast`` took 32 min on a quiet machine.
See ``scalinglab/demo/presets.py`` for why the shorter ladder misses.
`wsd` (2026-12-02; 10× run: 206k parameters on 25.9M tokens at the top budgets' best D/N = 115): seed 0 (the fresh
clone's demo ladder) +1.87 %, inside [1.352, 1.490], law kaplan, the 10× run 27.4 min while the test suite shared
the cores; seed 1 +2.30 %, inside [1.350, 1.549], law chinchilla (E at its bound 0), 33.7 min in all (ladder 8.5
min) with CI sharing the cores; seed 2 (2026-12-03, quiet machine) +1.09 %, inside [1.323, 1.540], law chinchilla
(backtests chinchilla −0.63 %, kaplan +1.07 % mean; E at 1.7e-8), 23.2 min in all (ladder 9.1 min, 10× run 13.9
min). So 1 of 3 seeds within 1.5 %, 3 of 3 inside, all three over-predict, like the ladder's own backtest.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path

import numpy as np
from scipy.stats import norm

from scalinglab.demo.presets import get_preset
from scalinglab.ladder import LadderSettings, RunStore, register, run_ladder, shape_for
from scalinglab.ladder.design import make_spec
from scalinglab.ladder.wsd import wsd
from scalinglab.laws.approaches import isoflop_budgets
from scalinglab.laws.backtest import backtest
from scalinglab.laws.bootstrap import bootstrap
from scalinglab.laws.fit import fit
from scalinglab.laws.optimal import compute_optimal

GOAL_ERROR = 0.015
LEVEL = 0.9
CANDIDATE_LAWS = ("chinchilla", "kaplan")


def prediction_interval(result, predicted: float, lo_fit: float, hi_fit: float) -> tuple[float, float, float]:
    """Widen the fitted surface's interval by the single-run scatter (see the module docstring); also returns σ."""
    r = np.asarray(result.residuals, float)
    dof = max(1, r.size - result.law.n_fit_params())
    sigma = float(np.sqrt(np.sum(r ** 2) / dof))
    z = float(norm.ppf(0.5 + LEVEL / 2))
    below = math.hypot(math.log(predicted / lo_fit), z * sigma)
    above = math.hypot(math.log(hi_fit / predicted), z * sigma)
    return predicted * math.exp(-below), predicted * math.exp(above), sigma


def choose_law(runs, top: np.ndarray) -> str:
    """The candidate law whose backtest on the ladder's largest budget (``top``) is least biased (scores printed)."""
    cutoff = float(runs.flops[~top].max())
    scores = {}
    for name in CANDIDATE_LAWS:
        bt = backtest(runs, name, cutoff_flops=cutoff)
        bias = float(np.mean(bt.table["rel_error"]))
        scores[name] = abs(bias)
        print(f"backtest of {name}: fit {bt.fit.n_points} runs, predict {len(bt.table)} at the largest budget: "
              f"mean error {bias:+.2%}, median |error| {bt.median_abs_rel_error:.2%}, max {bt.max_abs_rel_error:.2%}")
    return min(scores, key=scores.get)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="forecast", help="the ladder (a demo preset; small for the 1.5-decade one)")
    parser.add_argument("--out", type=Path, default=Path("results/forecast"))
    parser.add_argument("--ladder", type=Path, default=None, help="an existing ladder directory of that preset")
    parser.add_argument("--factor", type=float, default=10.0, help="held-out compute / largest ladder compute")
    parser.add_argument("--seed", type=int, default=None, help="ladder seed (data order and init), default the preset's")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--law", default="auto", help="auto (chosen by backtest), " + ", ".join(CANDIDATE_LAWS))
    parser.add_argument("--trainer", default="torch", help="torch, or synthetic to try the script in seconds")
    args = parser.parse_args()
    preset = get_preset(args.preset)
    if args.seed is not None:
        preset = dataclasses.replace(preset, settings=dataclasses.replace(preset.settings, seed=args.seed))
    start = time.perf_counter()

    ladder = RunStore(args.ladder or args.out / "ladder")
    specs = preset.specs()
    register(ladder, specs, preset.settings)  # idempotent: a finished ladder's runs are kept
    summary = run_ladder(ladder, jobs=args.jobs, threads=1, trainer=args.trainer)
    if summary.stopped or ladder.counts()["done"] != len(ladder.runs()):
        raise SystemExit("the ladder did not finish; run the benchmark again to resume")
    runs = ladder.to_runs()
    runs = runs.subset(runs.frame["run_id"].isin({s.run_id for s in specs}).to_numpy())  # this preset's runs only
    runs = runs.fitted()  # a preset's own held-out run (the wsd preset's) is not part of the ladder here
    decades = math.log10(runs.flops.max() / runs.flops.min())
    print(f"ladder: {len(runs)} runs, compute {runs.flops.min():.3g} … {runs.flops.max():.3g} "
          f"({decades:.2f} decades)")

    budgets = isoflop_budgets(runs.flops)
    # the runs of the largest budget; on a WSD grid, whose top budget may hold one size, from the largest with two up
    held = [b for b in np.unique(budgets) if (budgets == b).sum() >= 2]
    top = budgets >= (max(held) if held else budgets.max())
    law_name = choose_law(runs, top) if args.law == "auto" else args.law
    result = fit(runs, law_name)
    law = result.law
    target_c = args.factor * float(runs.flops.max())
    # The next run a user would train: the best tokens-per-parameter ratio seen at the largest budget, at 10x
    # compute. (The fitted N_opt is printed too; far outside the trained sizes it is not a trainable choice.)
    largest = runs.frame[top]
    best = largest.loc[largest["loss"].idxmin()]
    ratio = float(best["n_tokens"] / best["n_params"])
    n_next = math.sqrt(target_c / (6.0 * ratio))
    chinchilla_ok = law_name == "chinchilla" and law.alpha > 0 and law.beta > 0
    n_opt = float(compute_optimal(law, target_c).n_params) if chinchilla_ok else float("nan")
    settings = LadderSettings(**ladder.get_meta("settings"))
    ctx = settings.shape_context()
    n_layer, d_model = shape_for(n_next, ctx)
    total = make_spec("holdout", n_layer, d_model, 1.0, ctx).n_params
    if preset.design == "wsd":  # trained as the ladder's points are: a stable phase and its cooldown
        held = wsd(ctx, sizes=[total], tokens_per_param=[target_c / (6.0 * total) / total], seed=settings.seed)
        spec = next(s for s in held if s.role == "branch")
    else:
        held = [make_spec("holdout", n_layer, d_model, target_c / (6.0 * total), ctx, settings.seed)]
        spec = held[0]
    point = {"n_params": float(spec.n_params), "n_tokens": float(spec.n_tokens)}
    boot = bootstrap(runs, law_name, n_resamples=args.resamples, level=LEVEL, points=[point], fit_result=result)
    label = next(q for q in boot.table["quantity"] if q.startswith("loss@"))
    iv = boot.interval(label)
    predicted, lo_fit, hi_fit = iv["estimate"], iv["lo_total"], iv["hi_total"]
    lo, hi, sigma = prediction_interval(result, predicted, lo_fit, hi_fit)
    print(f"fit: {law.formula} with " + ", ".join(f"{k}={v:.4g}" for k, v in law.params().items()))
    print(f"held-out run: {spec.run_id} (N={spec.n_params:,}, D={spec.n_tokens:,}, "
          f"C={6 * spec.n_params * spec.n_tokens:.3g}"
          f" = {args.factor:g}x the ladder's largest, at its best D/N = {ratio:.0f}; the fit's N_opt is {n_opt:,.0f})")
    print(f"predicted loss {predicted:.4f}, {LEVEL:.0%} prediction interval [{lo:.4f}, {hi:.4f}] (fitted surface "
          f"alone [{lo_fit:.4f}, {hi_fit:.4f}]; single-run scatter about it {sigma:.2%} rms)")

    holdout = RunStore(args.out / "holdout")
    register(holdout, held, settings)
    summary = run_ladder(holdout, jobs=1, threads=args.jobs, trainer=args.trainer)
    if summary.stopped or summary.failed:
        raise SystemExit("the held-out run did not finish; run the benchmark again to resume")
    actual = next(r for r in holdout.runs("done") if r.run_id == spec.run_id).metrics["final_loss"]
    error = (predicted - actual) / actual
    inside = lo <= actual <= hi
    print(f"actual loss {actual:.4f}; forecast error {error:+.2%} (goal ≤ {GOAL_ERROR:.1%}: "
          f"{'met' if abs(error) <= GOAL_ERROR else 'missed'}); truth {'inside' if inside else 'OUTSIDE'} the interval")
    print(f"total time {(time.perf_counter() - start) / 60:.1f} min")
    np.savetxt(args.out / "forecast.txt", [[predicted, lo, hi, actual, error]],
               header="predicted lo90 hi90 actual rel_error", fmt="%.6f")


if __name__ == "__main__":
    main()
