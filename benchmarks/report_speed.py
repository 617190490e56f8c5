"""Benchmark: ``scalinglab report`` on 1,000 runs must take under 10 s on the project's 2-core machine.

The runs are a synthetic isoFLOP ladder (20 budgets × 50 sizes, loss from a known Chinchilla law with 1 % noise, a
10-point loss curve each), written to a CSV like a user's file. The whole command is timed — loading, the fit,
200 bootstrap resamples, Chinchilla's approaches, the backtest, the forecast section (three law forms, 200
resamples), eight figures (SVG + PNG) and the page — and each stage separately, so a slow stage is visible (the
forecast's share as the analysis with it minus without it), against a baseline in the same process: one plain fit
of the law.
Prints seconds and the ratio to the 10 s budget (< 1 is a pass), with the load average (the machine is shared).

Run: .venv/bin/python benchmarks/report_speed.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

BUDGET_SECONDS = 10.0


def synthetic_ladder(n_budgets: int = 20, sizes: int = 50, points: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    C = np.repeat(np.geomspace(1e17, 1e21, n_budgets), sizes)
    N = np.sqrt(C / 120) * np.tile(np.geomspace(1 / 8, 8, sizes), n_budgets)
    D = C / (6 * N)

    def law(n, d):
        return 1.8 + 400 / n ** 0.34 + 1500 / d ** 0.37

    ids = [f"run{i:04d}" for i in range(N.size)]
    loss = law(N, D) * np.exp(0.01 * rng.standard_normal(N.size))
    frac = np.geomspace(0.1, 1.0, points)
    curves = pd.DataFrame({"run_id": np.repeat(ids, points), "n_tokens": (D[:, None] * frac).ravel(),
                           "loss": (law(N[:, None], D[:, None] * frac) * (loss / law(N, D))[:, None]).ravel()})
    return pd.DataFrame({"run_id": ids, "n_params": N, "n_tokens": D, "loss": loss}), curves


def main() -> int:
    from scalinglab.laws.fit import fit
    from scalinglab.report import ReportOptions, analyse, load_input, write_data

    with tempfile.TemporaryDirectory() as tmp:
        runs, curves = synthetic_ladder()
        runs.to_csv(Path(tmp) / "runs.csv", index=False)
        curves.to_csv(Path(tmp) / "curves.csv", index=False)
        cpu0, t0 = time.process_time(), time.perf_counter()
        data = load_input(Path(tmp) / "runs.csv", curves=Path(tmp) / "curves.csv")
        t1, cpu1 = time.perf_counter(), time.process_time()
        result = analyse(data)
        t2, cpu_analysis = time.perf_counter(), time.process_time() - cpu1
        files = write_data(result, Path(tmp) / "report.html")
        t3, cpu = time.perf_counter(), time.process_time() - cpu0
        size = files.html.stat().st_size
    total = t3 - t0
    baseline = time.perf_counter()
    fit(data.runs, "chinchilla")                 # the baseline: one fit of the law, as `scalinglab fit` does it
    baseline = time.perf_counter() - baseline
    without, cpu_without = time.perf_counter(), time.process_time()
    analyse(data, ReportOptions(forecast=False))
    without, cpu_without = time.perf_counter() - without, time.process_time() - cpu_without
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{len(runs)} runs: load {t1 - t0:.2f} s, analysis {t2 - t1:.2f} s (two fits: all runs and the backtest's; "
          f"bootstrap; approaches; forecast), figures + page {t3 - t2:.2f} s")
    print(f"analysis without the forecast section: {without:.2f} s; the forecast's share: {t2 - t1 - without:.2f} s "
          f"(CPU time: analysis {cpu_analysis:.2f} s, without the forecast {cpu_without:.2f} s, the forecast's share "
          f"{cpu_analysis - cpu_without:.2f} s)")
    print(f"baseline, one `scalinglab fit` of the same runs: {baseline:.2f} s; report / fit = {total / baseline:.2f}")
    print(f"CPU time of this process: {cpu:.2f} s (what the wall time would be on an idle machine: the work is "
          f"single-threaded)")
    print(f"report for {len(runs)} runs: {total:.2f} s; ratio to the {BUDGET_SECONDS:g} s budget: "
          f"{total / BUDGET_SECONDS:.2f} ({'pass' if total < BUDGET_SECONDS else 'FAIL'}); page {size / 1e6:.1f} MB")
    return 0 if total < BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
