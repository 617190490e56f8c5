"""Task laws on the OLMo ladder (Bhagia et al. 2024, arXiv:2412.04403), read in place: forecast held-out runs'
accuracy on the paper's eight tasks through the two steps of Sec. 3 (task loss of (N, D); accuracy as a sigmoid of
task loss on final and intermediate checkpoints), against a plain two-step baseline.

Each task has four held-out runs. A task counts as inside its 90 % intervals when at least 3 of its 4 runs are: a
calibrated 90 % interval holds about 3.6 of 4, and all four only 0.9⁴ ≈ 66 % of the time, so "all four" would fail
calibrated intervals on 8 tasks most of the time.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import reference_file
from scalinglab.runs.history import load_history
from scalinglab.tasks import fit_task_laws, run_finals

TASKS = ("hellaswag", "arc_easy", "arc_challenge", "piqa", "csqa", "socialiqa", "openbookqa", "mmlu")
N_RESAMPLES = 400   # percentile bounds of 90 % intervals; benchmarks/tasks_speed.py runs the full 1,000


@pytest.fixture(scope="module")
def history():
    return load_history(reference_file("olmo_ladder", "ladder-runs"),
                        params_file=reference_file("olmo_ladder", "final.json"))


def _evaluate(history, held_out):
    train = [r for r in history.run_ids if not held_out(r)]
    test = history.subset([r for r in history.run_ids if held_out(r)])
    ours = fit_task_laws(history, TASKS, train_runs=train, n_resamples=N_RESAMPLES, seed=0)
    # the plain two-step: each run's last evaluation only, one point per run in step 2, no intervals
    plain = fit_task_laws(history, TASKS, train_runs=train, n_resamples=0, smooth=1, checkpoints="final")
    rows = []
    for law, base in zip(ours, plain):
        truth = run_finals(test, law.task, smooth=law.smooth)
        err, base_err, inside = [], [], 0
        for r in truth.itertuples():
            f = law.forecast(r.n_params, r.n_tokens, level=0.9)
            err.append(f.accuracy.estimate - r.accuracy)
            base_err.append(base.forecast(r.n_params, r.n_tokens).accuracy.estimate - r.accuracy)
            inside += r.accuracy in f.accuracy
        rows.append({"task": law.task, "err": float(np.mean(np.abs(err))), "base": float(np.mean(np.abs(base_err))),
                     "inside": inside, "n": len(truth), "predictable": law.verdict.predictable,
                     "reason": law.verdict.reason})
    print(f"\n{'task':14s} {'|err| ours':>10s} {'plain':>7s} {'inside 90%':>10s}  verdict")
    for r in rows:
        print(f"{r['task']:14s} {r['err']:10.4f} {r['base']:7.4f} {r['inside']:>6d}/{r['n']}  "
              f"{'predictable' if r['predictable'] else 'NOT predictable: ' + r['reason']}")
    ours_mean, plain_mean = np.mean([r["err"] for r in rows]), np.mean([r["base"] for r in rows])
    print(f"mean |acc error| ours {ours_mean:.4f}, plain {plain_mean:.4f}; "
          f"runs inside {sum(r['inside'] for r in rows)}/{sum(r['n'] for r in rows)}")
    return rows


@pytest.mark.slow
def test_ladder_up_to_5x_forecasts_the_10x_runs_within_3_points(history):
    rows = _evaluate(history, lambda run: run.endswith("-10xC"))
    assert len(rows) == 8 and all(r["n"] == 4 for r in rows)
    # Issue 13 acceptance: mean |accuracy error| ≤ 0.03 over the 8 tasks, ≥ 6 of 8 tasks inside their intervals
    assert np.mean([r["err"] for r in rows]) <= 0.03
    assert sum(r["inside"] >= 3 for r in rows) >= 6


@pytest.mark.slow
def test_three_smaller_sizes_forecast_the_1_3b_runs(history):
    rows = _evaluate(history, lambda run: run.startswith("1B-"))
    missed = [f"{r['task']} ({r['inside']}/{r['n']} inside)" for r in rows if r["predictable"] and r["inside"] < r["n"]]
    print("predictable tasks with a 1.3B run outside its interval:", ", ".join(missed) or "none")
    assert all(r["n"] == 4 for r in rows)
    # Extrapolating 1.7× in N is harder than 2× in D; the chained error stays within the 10× goal here too.
    assert np.mean([r["err"] for r in rows]) <= 0.03
