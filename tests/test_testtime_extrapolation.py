"""Extrapolating coverage from 1,000 to 10,000 samples per problem on the Large Language Monkeys Pythia/MATH counts.

Issue 5 acceptance: subsample each problem's 10,000 samples to 1,000 (seeded hypergeometric draw), predict coverage
(fraction of the 128 problems solved within 10,000 samples) for all 7 Pythia models. Naive baselines — a plain
beta-binomial fit and a straight-line fit of log(−log coverage) vs log k (Brown et al. 2024, arXiv:2407.21787) —
were measured in the issue at MAE ≈ 0.027 and worst-model error ≈ 0.065. Goal: MAE ≤ 0.02, worst ≤ 0.04, and 90 %
intervals containing the truth for ≥ 6 of 7 models.

Why the goal is hard — the noise floor (``noise_floor`` below): once 1,000 samples are seen, the answer depends only
on which still-unsolved problems (35–113 per model) the other 9,000 samples happen to solve, and a model's unsolved
problems are exchangeable for any per-model method. Simulating worlds from g (zi-beta fitted to the seed-0 1,000
counts) and scoring the Bayes-optimal predictor that knows g exactly, as the issue scores methods (10 re-subsamples of
one 10,000-sample world): mean MAE 0.021, mean worst-of-7 0.046 (5–95 %: 0.031–0.067), per-model error sd 0.024–0.030;
it meets worst ≤ 0.04 in only ≈ 30 % of worlds and the full goal (MAE ≤ 0.02 and worst ≤ 0.04) in ≈ 30 %. g fitted to
the 10,000 counts instead gives the same (0.022 / 0.047, P(goal) 0.27). Averaging over subsample seeds removes
little: the seed-mean error keeps sd 0.020–0.027 per model, 85–93 % of a single draw's, because the 10,000-sample
world is fixed. So the worst-model goal sits below the floor for this data size; the test asserts what the library
achieves and keeps the issue's goal as a strict xfail, so that a method that reaches it turns this file red until the
marker is removed.

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

Per-problem decomposition (coverage(10,000) = share solved in the 1,000 + Σ over unsolved problems of P(solved in the
other 9,000 | none in 1,000)), each estimating the left tail of g from the counts; mean over seeds 0–9 MAE / worst,
seed 0 in brackets: grid NPMLE of g on 120 log-spaced p in [1e-6, 1) plus p = 0 (Kiefer–Wolfowitz, EM) fails — the
likelihood is flat for p ≲ 1e-4, and at 100 → 1,000 it scored MAE 0.10; an Efron (2016) log-polynomial g-model on log
p (degree 3–5, ridge penalty, optional atom) over-predicts: 0.037 / 0.10 at seeds 0–1, +0.09 … +0.10 on 160M; a beta
fitted only to the problems with c ≤ T (likelihood conditional on c ≤ T): T = 10 0.028 / 0.063 [0.032 / 0.047], T =
30 0.032 / 0.082, T = 60 0.032 / 0.077; zi-beta 0.033 / 0.084. Smoothed Good–Toulmin was not run (time; at
extrapolation ratio t = 9 its weights grow like 9^j, and 128 problems give few counts to damp them).
Selection without the truth (predict each seed's 1,000 from 100-sample subsamples of it, 2 per seed, seeds 0–9):
validation MAE / worst — line 0.036 / 0.083, T = 30 tail beta 0.045 / 0.096, beta 0.051 / 0.13, ceiling 0.051 / 0.11
(bias −0.049, below the truth for every model), zi-beta 0.065 / 0.18. The protocol
therefore picks the plain line, which at 1,000 → 10,000 is worse than the ceiling law (0.0275 / 0.069), and the
weights it picks for averaging the ceiling law with a per-problem estimate are worse too: 0.4·ceiling + 0.6·tail(30)
0.025 / 0.059, 0.5·ceiling + 0.5·tail(10) 0.021 / 0.047, 0.45·ceiling + 0.55·beta 0.024 / 0.058. A 100-sample fit is
not a faithful small copy of a 1,000-sample one, so this protocol cannot be trusted to choose here.
Diagnostic only (g fitted to the 10,000 counts themselves, so optimistic): zi-beta 0.016 / 0.037, beta-mix 0.015 /
0.037 — the ceiling law's 0.017 / 0.043 is already close to what an in-sample g achieves on this world.
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
                                       "(oracle noise floor: MAE 0.021, worst 0.046, see module docstring)")
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


@pytest.fixture(scope="module")
def noise_floor():
    """Errors of the Bayes-optimal exchangeable predictor — one that knows each model's p distribution g exactly —
    scored the way the issue scores methods, on worlds simulated from g (zi-beta fitted to the seed-0 1,000-sample
    counts, so the truth is never used). Returns replicates × seeds × models of (truth − oracle prediction)."""
    d = _reference()
    rng_sub = np.random.default_rng(SEED)
    rng = np.random.default_rng(1)
    n_rep, n_seeds, n_prob = 300, len(SEEDS), 128
    err = np.empty((n_rep, n_seeds, 7))
    for m, (_, g) in enumerate(d.groupby("model", sort=False)):
        c_full = g["num_correct"].to_numpy()
        c = rng_sub.hypergeometric(c_full, N_FULL - c_full, N_SUB)
        fit = fit_success_distribution(np.full(n_prob, N_SUB), c, family="zi-beta")
        q0 = float(fit.solve_probability(K_TARGET)[c == 0][0])  # P(solved by 10,000 | none in 1,000) under g
        comp = rng.choice(fit.weights.size + 1, size=(n_rep, n_prob), p=np.r_[fit.atom_weight, fit.weights])
        p = np.zeros((n_rep, n_prob))
        for j, (a, b) in enumerate(zip(fit.a, fit.b)):
            p[comp == j + 1] = rng.beta(a, b, size=int(np.sum(comp == j + 1)))
        sim_full = rng.binomial(N_FULL, p)            # one simulated 10,000-sample world per replicate
        sim_truth = np.mean(sim_full > 0, axis=1)
        for s in range(n_seeds):                       # re-subsampled like SEEDS: the world stays fixed
            sim = rng.hypergeometric(sim_full, N_FULL - sim_full, N_SUB)
            err[:, s, m] = sim_truth - (np.mean(sim > 0, axis=1) + np.mean(sim == 0, axis=1) * q0)
    mae, worst = np.abs(err).mean(axis=2).mean(axis=1), np.abs(err).max(axis=2).mean(axis=1)
    print(f"oracle, mean over seeds: MAE {mae.mean():.4f}, worst {worst.mean():.4f} "
          f"(5-95 %: {np.quantile(worst, 0.05):.4f}-{np.quantile(worst, 0.95):.4f}); "
          f"P(worst ≤ 0.04) {np.mean(worst <= 0.04):.2f}, P(goal) {np.mean((worst <= 0.04) & (mae <= 0.02)):.2f}")
    return err


def test_noise_floor_even_an_oracle_misses_the_worst_model_goal_most_of_the_time(noise_floor):
    # measured (300 worlds): oracle mean MAE 0.021, mean worst 0.046 (5-95 %: 0.031-0.067), P(worst ≤ 0.04) ≈ 0.3,
    # P(MAE ≤ 0.02 and worst ≤ 0.04) ≈ 0.3; 4,000 worlds and g fitted to the 10,000 counts give the same numbers.
    abs_err = np.abs(noise_floor)
    mae, worst = abs_err.mean(axis=2).mean(axis=1), abs_err.max(axis=2).mean(axis=1)
    assert 0.017 < mae.mean() < 0.026
    assert 0.040 < worst.mean() < 0.055
    assert np.mean((worst <= 0.04) & (mae <= 0.02)) < 0.5
    # re-subsampling does not average the error away: most of it is fixed by the one 10,000-sample world
    fixed_sd, per_seed_sd = noise_floor.mean(axis=1).std(axis=0), noise_floor[:, 0].std(axis=0)
    assert np.all(fixed_sd > 0.75 * per_seed_sd)
