"""Extrapolating coverage from 1,000 to 10,000 samples per problem on the Large Language Monkeys Pythia/MATH counts.

Issue 5 acceptance: subsample each problem's 10,000 samples to 1,000 (seeded hypergeometric draw), predict coverage
(fraction of the 128 problems solved within 10,000 samples) for all 7 Pythia models. Naive baselines — a plain
beta-binomial fit and a straight-line fit of log(−log coverage) vs log k (Brown et al. 2024, arXiv:2407.21787) —
were measured in the issue at MAE ≈ 0.027 and worst-model error ≈ 0.065. Goal: MAE ≤ 0.02, worst ≤ 0.04, and 90 %
intervals containing the truth for ≥ 6 of 7 models.

Why the goal is hard: once 1,000 samples are seen, the answer depends only on which still-unsolved problems (35–113
per model) get solved in the other 9,000 samples. Even a predictor that knew the true distribution of p exactly
faces Bernoulli noise with sd = sqrt(Σ q(1−q))/128 ≈ 0.023–0.033 per model here (q ≈ 0.2–0.5 per unsolved problem),
i.e. an expected MAE ≈ 0.8 × 0.027 ≈ 0.02 and an expected worst-of-7 ≈ 0.05 for any method that treats a model's
problems as exchangeable. The test therefore asserts what the library achieves and keeps the issue's goal as a
strict xfail, so that a method that reaches it turns this file red until the marker is removed.

Seed 0 is the hardest of seeds 0–9 for the ceiling law; over seeds 0–9 (``SEEDS``) it averages MAE 0.017 and worst
0.043, meeting the MAE goal on 8/10 seeds and the worst-model goal on 4/10 (2, 3, 6, 9). Its 90 % intervals (200
bootstrap refits) contained the truth for 6/7 models at seed 0 and 7/7 at seeds 1–9 (measured once, too slow for the
suite). The worst model is Pythia 1B at 6 of 10 seeds and Pythia 70M at the other 4; 1B is under-predicted at every
seed (−0.026 … −0.053): the truth is one fixed realisation of which unsolved problems the other 9,000 samples
happened to solve, so re-drawing the 1,000 does not average that error away. Pooling the 7 models through a shared
per-problem difficulty (one-factor logit-normal with an unsolvable atom, fitted by marginal likelihood; wip-tt commit
a8abb09) did worse — MAE 0.050, worst 0.121, 3.0/7 intervals over seeds 0–9 — because a logit-linear factor
transfers the large models' success on hard problems to Pythia 160M (+0.10 … +0.14), and because 7 × 1,000 samples
cannot tell "p = 0" from "p ≈ 1e-4" for the problems no model solved. Letting each model's logit bend with the
difficulty (a per-model z² term) only narrowed this (seeds 0–3: MAE 0.042, worst 0.100, same pattern).
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR

from scalinglab.testtime.distribution import fit_success_distribution
from scalinglab.testtime.power_law import fit_power_law

COUNTS = REFERENCE_DIR / "llmonkeys_pythia_math" / "pythia_math_per_problem_counts.csv"
N_FULL, N_SUB, K_TARGET, SEED = 10_000, 1_000, 10_000, 0
SEEDS = range(10)


def _reference():
    if not COUNTS.exists():
        pytest.skip(f"reference data not found: {COUNTS}")
    return pd.read_csv(COUNTS)


@pytest.fixture(scope="module")
def results():
    d = _reference()
    rng = np.random.default_rng(SEED)
    rows = []
    for model, g in d.groupby("model", sort=False):
        c_full = g["num_correct"].to_numpy()
        assert np.all(g["num_samples"] == N_FULL)
        c = rng.hypergeometric(c_full, N_FULL - c_full, N_SUB)
        n = np.full(c.size, N_SUB)
        truth = float(np.mean(c_full > 0))  # pass@10000 from all 10,000 samples
        line = fit_power_law(n, c, n_boot=0)
        beta = fit_success_distribution(n, c, family="beta")
        ceiling = fit_power_law(n, c, ceiling=True, n_boot=200, seed=SEED)
        lo, hi = ceiling.predict_interval(K_TARGET, level=0.9)
        rows.append({"model": model, "truth": truth, "line": float(line.predict(K_TARGET)),
                     "beta": float(beta.extend_coverage(K_TARGET)), "ceiling": float(ceiling.predict(K_TARGET)),
                     "lo": float(lo), "hi": float(hi)})
    table = pd.DataFrame(rows)
    print("\n" + table.round(4).to_string(index=False))
    summary = {}
    for method in ("line", "beta", "ceiling"):
        err = np.abs(table[method] - table["truth"])
        summary[method] = (float(err.mean()), float(err.max()))
        print(f"{method:8s} MAE {summary[method][0]:.4f}  worst {summary[method][1]:.4f}")
    covered = int(np.sum((table["lo"] <= table["truth"]) & (table["truth"] <= table["hi"])))
    print(f"ceiling 90% intervals contain the truth for {covered}/7 models")
    return table, summary, covered


def test_naive_baselines_miss_the_goal_as_measured_in_the_issue(results):
    _, summary, _ = results
    for method in ("line", "beta"):
        mae, worst = summary[method]
        assert 0.02 < mae < 0.045, method       # issue: ≈ 0.027 (its own subsample); here one seeded draw
        assert 0.05 < worst < 0.10, method      # issue: ≈ 0.065


def test_ceiling_power_law_beats_both_baselines_with_calibrated_intervals(results):
    _, summary, covered = results
    mae, worst = summary["ceiling"]
    assert mae < 0.8 * min(summary["line"][0], summary["beta"][0])
    assert worst < 0.8 * min(summary["line"][1], summary["beta"][1])
    assert mae <= 0.025 and worst <= 0.06
    assert covered >= 6


@pytest.mark.xfail(strict=True, reason="issue-5 goal not reached: ceiling law MAE 0.022, worst 0.053 at seed 0 "
                                       "(per-model noise floor ≈ 0.02 MAE / 0.05 worst, see module docstring)")
def test_issue_goal_mae_002_worst_004_and_6_of_7_intervals(results):
    _, summary, covered = results
    mae, worst = summary["ceiling"]
    assert mae <= 0.02 and worst <= 0.04 and covered >= 6


@pytest.fixture(scope="module")
def over_seeds():
    """Point predictions (no bootstrap, to keep the suite fast) for the same draw at each of ``SEEDS``."""
    d = _reference()
    groups = [g["num_correct"].to_numpy() for _, g in d.groupby("model", sort=False)]
    errors = {"line": [], "beta": [], "ceiling": []}
    for seed in SEEDS:
        rng = np.random.default_rng(seed)  # one generator through the models in file order, as in ``results``
        row = {method: [] for method in errors}
        for c_full in groups:
            c = rng.hypergeometric(c_full, N_FULL - c_full, N_SUB)
            n = np.full(c.size, N_SUB)
            truth = float(np.mean(c_full > 0))
            row["line"].append(float(fit_power_law(n, c, n_boot=0).predict(K_TARGET)) - truth)
            row["beta"].append(float(fit_success_distribution(n, c, family="beta").extend_coverage(K_TARGET)) - truth)
            row["ceiling"].append(float(fit_power_law(n, c, ceiling=True, n_boot=0).predict(K_TARGET)) - truth)
        for method in errors:
            errors[method].append(row[method])
    summary = {}
    for method, e in errors.items():
        err = np.abs(np.array(e))                       # seeds × models
        summary[method] = (float(err.mean(axis=1).mean()), float(err.max(axis=1).mean()))
        print(f"{method:8s} over seeds {SEEDS.start}-{SEEDS.stop - 1}: mean MAE {summary[method][0]:.4f}  "
              f"mean worst {summary[method][1]:.4f}")
    return summary


def test_baselines_averaged_over_seeds_reproduce_the_issue_numbers(over_seeds):
    # issue 5: naive baselines MAE ≈ 0.027, worst ≈ 0.065; measured mean over seeds 0–9: line 0.0275 / 0.0686,
    # beta 0.0309 / 0.0780 — seed 0 alone (0.034 / 0.083) is an unlucky draw for both.
    for method, (mae_lo, mae_hi, worst_lo, worst_hi) in {"line": (0.024, 0.031, 0.060, 0.078),
                                                         "beta": (0.026, 0.036, 0.065, 0.090)}.items():
        mae, worst = over_seeds[method]
        assert mae_lo < mae < mae_hi and worst_lo < worst < worst_hi, (method, mae, worst)


def test_ceiling_law_meets_the_mae_goal_on_average_over_seeds(over_seeds):
    mae, worst = over_seeds["ceiling"]
    assert mae <= 0.02                      # measured 0.0170
    assert worst <= 0.05                    # measured 0.0428
    assert mae < 0.75 * min(over_seeds["line"][0], over_seeds["beta"][0])


@pytest.mark.xfail(strict=True, reason="issue-5 worst-model goal not reached on average: ceiling law mean worst "
                                       "0.0428 over seeds 0-9 (Pythia 1B under-predicted at every seed)")
def test_issue_worst_model_goal_on_average_over_seeds(over_seeds):
    assert over_seeds["ceiling"][1] <= 0.04
