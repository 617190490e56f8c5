"""Test-time compute experiment: train ≥ 4 GPT sizes on a verifiable task, sample 256 answers per held-out problem,
fit coverage laws and print the train↔test exchange rate with an interval (issue 5, part 4).

    .venv/bin/python benchmarks/testtime.py [--preset small] [--out bench_testtime]

Writes counts.csv, result.json, passk.png (pass@k vs k per model) and isoaccuracy.png (iso-coverage curves in
training vs inference compute) into --out. Budget: ≤ 20 minutes on 2 cores for the ``small`` preset.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from scalinglab.testtime.counts import counts_from_frame
from scalinglab.testtime.estimators import pass_at_k
from scalinglab.testtime.exchange import exchange_rate
from scalinglab.testtime.experiment import PRESETS, run_experiment
from scalinglab.testtime.power_law import default_k_grid, fit_power_law


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS))
    parser.add_argument("--out", type=Path, default=Path("bench_testtime"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = PRESETS[args.preset]
    print(f"config: {cfg}")
    t0 = time.perf_counter()
    result = run_experiment(cfg, args.out, progress=lambda m: print(f"[{time.perf_counter() - t0:6.0f}s] {m}",
                                                                     flush=True))
    counts = result.counts
    counts.to_csv(args.out / "counts.csv", index=False)
    table = counts_from_frame(counts, "experiment")
    k = default_k_grid(cfg.k, 30)

    print("\nmodel        N        train FLOPs  val loss  pass@1   pass@16  pass@k   law c_max·exp(−a·k^−b)")
    curves = {}
    for model in table.models:
        g = table.group(model)
        curve = pass_at_k(g["n"], g["correct"], k).mean(axis=1)
        curves[model] = curve
        law = fit_power_law(g["n"], g["correct"], ceiling=True, n_boot=0)
        i16 = int(np.searchsorted(k, 16))
        print(f"{model:11s} {g['n_params'].iloc[0]:8.0f} {g['train_flops'].iloc[0]:12.3g} "
              f"{result.train_losses[model]:8.3f}  {curve[0]:.4f}  {curve[i16]:.4f}  {curve[-1]:.4f}  "
              f"a={law.law.a:.3g} b={law.law.b:.3g} c_max={law.law.c_max:.3g}")

    rate = result.exchange
    lo, hi = rate.test_factor_interval
    print(f"\ntarget coverage {rate.target:.4f}: samples needed {np.round(rate.samples_needed, 2).tolist()}")
    print(f"slope d log(test FLOPs) / d log(train FLOPs) = {rate.slope:.3f} "
          f"[{rate.slope_lo:.3f}, {rate.slope_hi:.3f}] ({rate.level:.0%} bootstrap over problems)")
    print(f"exchange rate: 10x training compute multiplies the inference compute needed by "
          f"{1 / rate.test_factor_per_10x_train:.3g}x (interval {1 / hi:.3g}x to {1 / lo:.3g}x)")
    print(f"total-compute-optimal model for {rate.queries:.0e} queries: {rate.optimal_model}")

    targets = np.quantile([c[-1] for c in curves.values()], [0.0]) * np.array([0.4, 0.6, 0.8])
    iso = [exchange_rate(table, target=float(t), n_boot=0) for t in targets if t > 0]
    _plots(args.out, k, curves, iso)
    (args.out / "result.json").write_text(json.dumps(
        {**result.as_dict(), "iso_accuracy": [r.as_dict() for r in iso]}, indent=1, default=str))
    print(f"\nwall time {time.perf_counter() - t0:.0f} s; files in {args.out}")


def _plots(out: Path, k, curves, iso) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for model, curve in curves.items():
        ax.plot(k, curve, marker=".", label=model)
    ax.set(xscale="log", xlabel="samples per problem k", ylabel="coverage (mean pass@k)", title="pass@k")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "passk.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for rate in iso:
        ok = np.isfinite(rate.test_flops_per_problem)
        ax.plot(rate.train_flops[ok], rate.test_flops_per_problem[ok], marker="o", label=f"coverage {rate.target:.3f}")
    ax.set(xscale="log", yscale="log", xlabel="training FLOPs", ylabel="inference FLOPs per problem",
           title="iso-coverage curves")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "isoaccuracy.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
